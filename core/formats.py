"""Transcript import formats, one registry: each reads a file's text into turns, all or nothing.

| format  | what it reads |
|---------|---------------|
| thesis  | the thesis layout: `X = Interviewer` header, turns `X = ...` / `X: ...` (core/transcripts.py) |
| named   | `Name: text` lines (core/transcripts.py) |
| text    | either of the two, told apart by the header (core/transcripts.py) |
| vtt     | WebVTT, as Microsoft Teams writes its transcripts: `<v Speaker Name>` voice tags, cue ids, multi-line cues |
| srt     | SubRip subtitles; the speaker is named at the start of a cue (`Name: ...` or `<v Name>`) |

A parser returns an `ImportedTranscript` (speakers, turns with start/end seconds where the
format has times, title) or raises `ImportFormatError` naming the file and line. Subtitle cues
that follow each other with the same speaker are one turn: Teams cuts a turn into many cues,
and fieldnote's own SRT/VTT export cuts long turns too. `detect` picks a format by extension,
then by content; `--format` overrides it.

Nothing here touches the store: core/importing.py stores the turns (in one transaction).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ImportFormatError
from .transcripts import ParsedTranscript, parse_named_transcript, parse_thesis_transcript, parse_transcript


@dataclass(frozen=True)
class ImportedTurn:
    speaker: str  # as written: a code ("X"), a name ("Anna de Vries")
    text: str
    line: int  # 1-based line where the turn starts
    start: float | None = None  # seconds from the start of the recording
    end: float | None = None


@dataclass(frozen=True)
class ImportedTranscript:
    """Shaped like core.transcripts.ParsedTranscript, with times on the turns."""

    speakers: dict[str, str]  # speaker as written -> label ("X" -> "Interviewer"; a name -> itself)
    turns: list[ImportedTurn]
    title: str | None
    format: str


@dataclass(frozen=True)
class ImportFormat:
    name: str
    extensions: tuple[str, ...]
    description: str
    parse: Callable[[str, str], ImportedTranscript]


def _from_parsed(parsed: ParsedTranscript, fmt: str) -> ImportedTranscript:
    return ImportedTranscript(
        speakers=dict(parsed.speakers),
        turns=[ImportedTurn(t.speaker, t.text, t.line) for t in parsed.turns],
        title=parsed.title,
        format=fmt,
    )


def _error(source: str, line: int, problem: str) -> ImportFormatError:
    return ImportFormatError(f"{source}, line {line}: {problem}")


def _lines(text: str, source: str) -> list[str]:
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _error(source, 1, "the file is empty")
    if "\x00" in text:
        raise _error(source, text[: text.index("\x00")].count("\n") + 1, "the file holds binary data, not text")
    return text.splitlines()


# subtitles ------------------------------------------------------------------------------------------

_VTT_TIME = r"(?:(\d+):)?([0-5]?\d):([0-5]\d)[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d+:\d+[^>]*>")
# "Name: text" at the start of a cue: up to five words, each starting with a capital or a digit.
_NAME_PREFIX = re.compile(r"^\s*((?:[A-ZÀ-ÖØ-Þ0-9][\w.'’-]*)(?: [\w.'’-]+){0,4})\s*:\s+(.*)$")


def _seconds(groups: tuple[str | None, ...]) -> float:
    h, m, s, frac = groups
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


@dataclass
class _Cue:
    line: int  # the timing line
    start: float
    end: float
    payload: list[str]


def _cues(lines: list[str], first: int, source: str, kind: str) -> list[_Cue]:
    """Blocks separated by blank lines: an optional id line, a timing line, then text."""
    cues: list[_Cue] = []
    i = first
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        block: list[tuple[int, str]] = []
        while i < len(lines) and lines[i].strip():
            block.append((i + 1, lines[i]))
            i += 1
        head = block[0][1].strip()
        if kind == "vtt" and (head.startswith("NOTE") or head in ("STYLE", "REGION")):
            continue
        # The timing is the first line, or the second after a cue id (Teams writes ids).
        timing_at = 0 if "-->" in block[0][1] or len(block) == 1 else 1
        number, timing = block[timing_at]
        m = _TIMING.match(timing)
        if not m:
            sep = "." if kind == "vtt" else ","
            raise _error(source, number, f"expected a cue timing such as '00:00:01{sep}000 --> 00:00:04{sep}000', "
                         f"found '{timing.strip()[:60]}'")
        if kind == "srt" and timing_at == 1 and not block[0][1].strip().isdigit():
            raise _error(source, block[0][0], f"a subtitle number should stand here, found '{head[:60]}'")
        start, end = _seconds(m.groups()[:4]), _seconds(m.groups()[4:])
        if end < start:
            raise _error(source, number, f"the cue ends ({timing.split('-->')[1].strip()}) before it starts")
        payload = [line for _, line in block[timing_at + 1 :]]
        if not any(p.strip() for p in payload):
            raise _error(source, number, "the cue has no text")
        cues.append(_Cue(number, start, end, payload))
    if not cues:
        raise _error(source, len(lines), "the file holds no cues")
    return cues


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _merge(cues: list[tuple[_Cue, str, str]], source: str, fmt: str) -> ImportedTranscript:
    """Consecutive cues of one speaker become one turn."""
    turns: list[ImportedTurn] = []
    for cue, speaker, text in cues:
        if not text:
            continue
        if turns and turns[-1].speaker == speaker:
            last = turns[-1]
            turns[-1] = ImportedTurn(speaker, f"{last.text} {text}", last.line, last.start, max(last.end or 0, cue.end))
        else:
            turns.append(ImportedTurn(speaker, text, cue.line, cue.start, cue.end))
    if not turns:
        raise _error(source, cues[-1][0].line if cues else 1, "the cues hold no text")
    return ImportedTranscript(
        speakers={name: name for name in dict.fromkeys(t.speaker for t in turns)},
        turns=turns,
        title=None,
        format=fmt,
    )


def _prefix_names(bodies: list[str]) -> set[str]:
    """Names that start cues as `Name: `: those starting two cues or more, or the first cue, so
    a one-off "Nou: ..." inside a turn stays text (as core/transcripts.py does for text). In a
    file that names the speaker on every cue (fieldnote's own export), every name counts."""
    counts: dict[str, int] = {}
    for body in bodies:
        m = _NAME_PREFIX.match(body)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    if sum(counts.values()) == len(bodies):
        return set(counts)
    names = {name for name, n in counts.items() if n >= 2}
    head = _NAME_PREFIX.match(bodies[0]) if bodies else None
    if head:
        names.add(head.group(1))
    return names


def _prefixed_speaker(text: str, names: set[str]) -> tuple[str | None, str]:
    m = _NAME_PREFIX.match(text)
    if m and m.group(1) in names:
        return m.group(1), m.group(2)
    return None, text


def parse_vtt(text: str, source: str) -> ImportedTranscript:
    """WebVTT with speakers: Teams' `<v Name>` voice tags, or a `Name:` prefix on the cue text.

    A cue that names nobody continues the speaker before it; a file whose first cue names
    nobody is refused, because every turn of an interview needs its speaker."""
    lines = _lines(text, source)
    if not lines[0].strip().startswith("WEBVTT"):
        raise _error(source, 1, "a WebVTT file starts with 'WEBVTT'; this looks like another format "
                     "(try --format srt or --format text)")
    # The header runs to the first blank line.
    first = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    out = []
    speaker: str | None = None
    cues = _cues(lines, first, source, "vtt")
    names = _prefix_names([_clean("\n".join(c.payload)) for c in cues if not _VOICE.search("\n".join(c.payload))])
    for cue in cues:
        raw = "\n".join(cue.payload)
        voices = {" ".join(v.split()) for v in _VOICE.findall(raw)}
        if len(voices) > 1:
            raise _error(source, cue.line + 1, f"one cue holds several speakers ({', '.join(sorted(voices))}); "
                         "split it into one cue per speaker")
        body = _clean(raw)
        if voices:
            speaker = voices.pop()
        else:
            named, rest = _prefixed_speaker(body, names)
            if named:
                speaker, body = named, rest
        if speaker is None:
            raise _error(source, cue.line + 1, "the cue names no speaker; Teams writes '<v Speaker Name>', "
                         "other files can start the text with 'Name: '")
        out.append((cue, speaker, body))
    return _merge(out, source, "vtt")


def parse_srt(text: str, source: str) -> ImportedTranscript:
    """SubRip subtitles; the speaker is named at the start of a cue (`Name: ` or `<v Name>`)
    and carries on until another is named."""
    lines = _lines(text, source)
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    out = []
    speaker: str | None = None
    cues = _cues(lines, first, source, "srt")
    names = _prefix_names([_clean("\n".join(c.payload)) for c in cues])
    for cue in cues:
        raw = "\n".join(cue.payload)
        voice = _VOICE.search(raw)
        body = _clean(raw)
        if voice:
            speaker = " ".join(voice.group(1).split())
        else:
            named, rest = _prefixed_speaker(body, names)
            if named:
                speaker, body = named, rest
        if speaker is None:
            raise _error(source, cue.line + 1, "the subtitle names no speaker; start it with 'Name: '")
        out.append((cue, speaker, body))
    return _merge(out, source, "srt")


# registry -----------------------------------------------------------------------------------------------

FORMATS: dict[str, ImportFormat] = {
    f.name: f
    for f in [
        ImportFormat("text", (".txt", ".md"), "thesis layout or Name: text, told apart by the header",
                     lambda text, source: _from_parsed(parse_transcript(text, source), "text")),
        ImportFormat("thesis", (), "thesis layout: 'X = Interviewer' header, turns 'X: ...'",
                     lambda text, source: _from_parsed(parse_thesis_transcript(text, source), "thesis")),
        ImportFormat("named", (), "'Name: text' lines",
                     lambda text, source: _from_parsed(parse_named_transcript(text, source), "named")),
        ImportFormat("vtt", (".vtt",), "WebVTT, as Microsoft Teams writes transcripts", parse_vtt),
        ImportFormat("srt", (".srt",), "SubRip subtitles with speaker names", parse_srt),
    ]
}


def detect(path: Path, text: str) -> str:
    """The format of a file: by its extension, else by its first line."""
    suffix = path.suffix.lower()
    for fmt in FORMATS.values():
        if suffix in fmt.extensions:
            return fmt.name
    opening = [line.strip() for line in text.removeprefix("\ufeff").splitlines() if line.strip()][:2]
    if opening and opening[0].startswith("WEBVTT"):
        return "vtt"
    if len(opening) == 2 and opening[0].isdigit() and _TIMING.match(opening[1]):
        return "srt"
    return "text"


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFormatError(f"{path}: neither UTF-8 nor Windows-1252 text; save it as UTF-8 and try again")


def read_transcript(path: Path | str, fmt: str | None = None) -> ImportedTranscript:
    """Read a transcript file in `fmt` (a FORMATS name) or the format `detect` finds."""
    path = Path(path)
    text = read_text(path)
    name = fmt or detect(path, text)
    if name not in FORMATS:
        raise ImportFormatError(f"no import format {name!r} (formats: {', '.join(FORMATS)})")
    return FORMATS[name].parse(text, str(path))
