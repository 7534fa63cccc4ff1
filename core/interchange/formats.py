"""Transcript import formats, one registry: each reads a file's text into turns, all or nothing.

| format  | what it reads |
|---------|---------------|
| thesis  | the thesis layout: `X = Interviewer` header, turns `X = ...` / `X: ...` (core/interchange/transcripts.py) |
| named   | `Name: text` lines (core/interchange/transcripts.py) |
| text    | either of the two, told apart by the header (core/interchange/transcripts.py) |
| vtt     | WebVTT, as Microsoft Teams writes its transcripts: `<v Speaker Name>` voice tags, cue ids, multi-line cues |
| srt     | SubRip subtitles; the speaker is named at the start of a cue (`Name: ...` or `<v Name>`) |
| docx    | a Word document: its paragraphs in the thesis or named layout, or a Teams transcript download |

A parser returns an `ImportedTranscript` (speakers, turns with start/end seconds where the
format has times, title) or raises `ImportFormatError` naming the file and line. Subtitle cues
that follow each other with the same speaker are one turn: Teams cuts a turn into many cues,
and fieldnote's own SRT/VTT export cuts long turns too. `detect` picks a format by extension,
then by content; `--format` overrides it.

A Word document is read as text, a line per paragraph (a line break inside a paragraph, Shift+Enter,
starts a line too), and its text goes to the same parsers; their errors then name the paragraph
("paragraph 12", counted from the top, empty paragraphs included). The `docx` format picks the
layout from that text: Teams' download in either of its layouts (below), else the thesis or
named layout. `--format thesis` (or `named`, `text`) forces a layout on a Word document's text.

- newer Teams: a title, a date and a duration, then per turn "Speaker Name   0:03" (the time in
  m:ss or h:mm:ss, after a gap or on its own paragraph; after one space, or with the cue's end
  "--> 0:00:07.400", when what comes before has the shape of a name) and the paragraphs said. A turn ends
  where the next begins; the last has no end. "Anna de Vries started transcription" and the
  like are left out.
- older Teams: per cue "0:0:0.0 --> 0:0:3.720", the speaker's name, then the text.

Turns of one speaker that follow each other are one turn, as with subtitles.

What is read of a Word document, and which files named .docx are refused, is in core/interchange/word.py.

Nothing here touches the store: core/pipeline/importing.py stores the turns (in one transaction).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from core.base.errors import ImportFormatError
from core.interchange.limits import LATEST_HOUR
from core.interchange.textfiles import decode, read_bytes, within_text_limit
from core.interchange.transcripts import (
    ImportedTranscript,
    ImportedTurn,
    ParsedTranscript,
    line_error,
    parse_named_transcript,
    parse_thesis_transcript,
    parse_transcript,
    text_lines,
)
from core.interchange.word import is_word_package, parse_word, read_word


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


# subtitles ------------------------------------------------------------------------------------------

_VTT_TIME = r"(?:(\d+):)?([0-5]?\d):([0-5]\d)[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d+:\d+[^>]*>")
# "Name: text" at the start of a cue: up to five words, each starting with a capital or a digit.
_NAME_PREFIX = re.compile(r"^\s*((?:[A-ZÀ-ÖØ-Þ0-9][\w.'’-]*)(?: [\w.'’-]+){0,4})\s*:\s+(.*)$")


def _seconds(groups: tuple[str | None, ...]) -> float:
    """Hours (or None), minutes, seconds and, if given, the fraction's digits (to the millisecond)."""
    h, m, s, *frac = groups
    fraction = frac[0] if frac else None
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + (int(fraction[:3].ljust(3, "0")) / 1000 if fraction else 0.0)


def _cue_times(m: re.Match, source: str, number: int) -> tuple[float, float]:
    """A cue timing's start and end (the hours, minutes, seconds and fraction of each), refused
    with the line named when an hour is later than any recording runs (a 400-digit hour is no
    number of seconds a float can hold)."""
    for hours in (m.group(1) or "0", m.group(5) or "0"):
        # The length first: int() refuses more than 4,300 digits.
        if len(hours.lstrip("0")) > len(str(LATEST_HOUR)) or int(hours) > LATEST_HOUR:
            raise line_error(source, number, f"the cue's time has {hours[:12]}{'...' if len(hours) > 12 else ''} "
                             f"hours; no recording runs past {LATEST_HOUR} hours")
    return _seconds(m.groups()[:4]), _seconds(m.groups()[4:])


@dataclass
class _Cue:
    line: int  # the timing line
    start: float
    end: float | None  # None: runs on to the end of the recording (a Teams .docx gives no ends)
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
            raise line_error(source, number, f"expected a cue timing such as '00:00:01{sep}000 --> 00:00:04{sep}000', "
                             f"found '{timing.strip()[:60]}'")
        if kind == "srt" and timing_at == 1 and not block[0][1].strip().isdigit():
            raise line_error(source, block[0][0], f"a subtitle number should stand here, found '{head[:60]}'")
        start, end = _cue_times(m, source, number)
        if end < start:
            raise line_error(source, number, f"the cue ends ({timing.split('-->')[1].strip()}) before it starts")
        payload = [line for _, line in block[timing_at + 1 :]]
        if not any(p.strip() for p in payload):
            raise line_error(source, number, "the cue has no text")
        cues.append(_Cue(number, start, end, payload))
    if not cues:
        raise line_error(source, len(lines), "the file holds no cues")
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
            end = None if cue.end is None else max(last.end or 0, cue.end)
            turns[-1] = ImportedTurn(speaker, f"{last.text} {text}", last.line, last.start, end)
        else:
            turns.append(ImportedTurn(speaker, text, cue.line, cue.start, cue.end))
    if not turns:
        raise line_error(source, cues[-1][0].line if cues else 1, "the cues hold no text")
    return ImportedTranscript(
        speakers={name: name for name in dict.fromkeys(t.speaker for t in turns)},
        turns=turns,
        title=None,
        format=fmt,
    )


def _prefix_names(bodies: list[str]) -> set[str]:
    """Names that start cues as `Name: `: those starting two cues or more, or the first cue, so
    a one-off "Nou: ..." inside a turn stays text (as core/interchange/transcripts.py does for text). In a
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
    lines = text_lines(text, source, advice="")
    if not lines[0].strip().startswith("WEBVTT"):
        raise line_error(source, 1, "a WebVTT file starts with 'WEBVTT'; this looks like another format "
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
            raise line_error(source, cue.line + 1, f"one cue holds several speakers ({', '.join(sorted(voices))}); "
                             "split it into one cue per speaker")
        body = _clean(raw)
        if voices:
            speaker = voices.pop()
        else:
            named, rest = _prefixed_speaker(body, names)
            if named:
                speaker, body = named, rest
        if speaker is None:
            raise line_error(source, cue.line + 1, "the cue names no speaker; Teams writes '<v Speaker Name>', "
                             "other files can start the text with 'Name: '")
        out.append((cue, speaker, body))
    return _merge(out, source, "vtt")


def parse_srt(text: str, source: str) -> ImportedTranscript:
    """SubRip subtitles; the speaker is named at the start of a cue (`Name: ` or `<v Name>`)
    and carries on until another is named."""
    lines = text_lines(text, source, advice="")
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
            raise line_error(source, cue.line + 1, "the subtitle names no speaker; start it with 'Name: '")
        out.append((cue, speaker, body))
    return _merge(out, source, "srt")


# Teams transcripts as Word documents ----------------------------------------------------------------

_CLOCK = r"(?:(\d{1,2}):)?(\d{1,2}):([0-5]\d)"
# "Anna de Vries   0:03": Teams leaves a gap (spaces or a tab) between the name and the time. A
# single space does not count, so a sentence ending in a time ("we start at 9:30") is no header.
_SPEAKER_TIME = re.compile(rf"^\s*(\S.*?)(?:\s{{2,}}|\t|\u00a0)\s*{_CLOCK}\s*$")
# Some Teams versions leave one space ("Anna de Vries 0:03"), or give the cue's end too ("Anna de
# Vries 0:00:03.120 --> 0:00:07.400"). Then only a name's shape counts: capitalised words, name
# particles and a bracketed note such as "(Guest)", so "We start at 9:30" is no header.
_NAME_SPACE_TIME = re.compile(
    rf"^\s*(\S.*?)\s+{_CLOCK}(?:[.,]\d{{1,3}}\s*-->\s*(?:\d{{1,2}}:)?\d{{1,2}}:[0-5]\d(?:[.,]\d{{1,3}})?)?\s*$")
_NAME_PARTICLES = frozenset("van de der den von zu da di du le la ten ter del della dos das bin al el y 't".split())
_TIME_ONLY = re.compile(rf"^\s*{_CLOCK}\s*$")
# The date line above the turns ("3 maart 2024, 14:00") has a name-and-time shape too.
_DATE_LIKE = re.compile(r"\b(?:19|20)\d\d\b|,\s*$")
# Lines Teams writes about the transcription, in English, Dutch and German; they are not speech.
_TEAMS_EVENT = re.compile(
    r"^\s*\S.{0,80}?\s(?:(?:started|stopped) transcription"
    r"|(?:heeft\s+)?(?:de\s+)?transcriptie\s+(?:gestart|gestopt|beëindigd)"
    r"|(?:hat\s+)?(?:die\s+)?transkription\s+(?:gestartet|beendet))\.?\s*$",
    re.IGNORECASE,
)
_OLD_TEAMS_CLOCK = r"(\d+):(\d{1,2}):(\d{1,2})(?:[.,](\d+))?"
_OLD_TEAMS_TIMING = re.compile(rf"^\s*{_OLD_TEAMS_CLOCK}\s*-->\s*{_OLD_TEAMS_CLOCK}\s*$")
# Title, date, duration, perhaps a heading: more lines than this before the first turn are not
# Teams' header but a layout this reader does not know, and are refused rather than dropped.
_TEAMS_PREAMBLE = 6
_OPENING_LINES = 12


def _looks_like_a_name(text: str) -> bool:
    """A person's name as Teams writes it: up to six capitalised words and name particles, with
    perhaps a note in brackets ("Anna de Vries (Guest)")."""
    text = re.sub(r"\s*\([^()]*\)\s*$", "", text).strip()
    tokens = text.replace(",", " ").split()
    if not tokens or len(tokens) > 6 or _DATE_LIKE.search(text) or not tokens[0][:1].isupper():
        return False
    return all(t[:1].isupper() or t.lower() in _NAME_PARTICLES for t in tokens)


def _speaker_header(lines: list[str], i: int) -> tuple[str, float, str, int] | None:
    """(name, seconds, time as written, index after the header) if a turn starts at line i."""
    m = _SPEAKER_TIME.match(lines[i])
    if m and not _DATE_LIKE.search(m.group(1)):
        return " ".join(m.group(1).split()), _seconds(m.groups()[1:]), lines[i].split()[-1], i + 1
    m = _NAME_SPACE_TIME.match(lines[i])
    if m and _looks_like_a_name(m.group(1)):
        return " ".join(m.group(1).split()), _seconds(m.groups()[1:4]), lines[i].split()[len(m.group(1).split())], i + 1
    name = lines[i].strip()
    if not name or _TIME_ONLY.match(name) or _DATE_LIKE.search(name) or len(name.split()) > 8:
        return None
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    t = _TIME_ONLY.match(lines[j]) if j < len(lines) else None
    if t:
        return " ".join(name.split()), _seconds(t.groups()), lines[j].strip(), j + 1
    return None


def _preamble(preamble: list[str], line: str, number: int, source: str, expected: str) -> None:
    preamble.append(" ".join(line.split()))
    if len(preamble) > _TEAMS_PREAMBLE:
        raise line_error(source, number, f"text before the first turn, which should start {expected}: "
                         f"'{preamble[-1][:60]}'")


def _with_title(parsed: ImportedTranscript, preamble: list[str]) -> ImportedTranscript:
    return replace(parsed, title=preamble[0] if preamble else None)


def parse_teams(text: str, source: str) -> ImportedTranscript:
    """Teams' newer transcript download: "Speaker Name   0:03" (or the time on the next line),
    then what was said. Each turn ends where the next starts; the last has no end."""
    lines = text_lines(text, source, advice="")
    preamble: list[str] = []
    heads: list[tuple[int, str, float]] = []  # (line, speaker, start)
    said: list[list[str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or _TEAMS_EVENT.match(line):
            i += 1
            continue
        header = _speaker_header(lines, i)
        if header:
            name, start, written, after = header
            if heads and start < heads[-1][2]:
                raise line_error(source, i + 1, f"the turn of {name} starts at {written}, "
                                 "before the turn above it; Teams writes turns in time order")
            heads.append((i + 1, name, start))
            said.append([])
            i = after
            continue
        if not heads:
            _preamble(preamble, line, i + 1, source, "with the speaker's name and a time ('Anna de Vries   0:03')")
        else:
            said[-1].append(line)
        i += 1
    if not heads:
        raise line_error(source, len(lines), "no turns found; each should start with the speaker's name and "
                         "a time ('Anna de Vries   0:03')")
    cues = []
    for n, (number, name, start) in enumerate(heads):
        end = heads[n + 1][2] if n + 1 < len(heads) else None
        cues.append((_Cue(number, start, end, said[n]), name, " ".join(" ".join(said[n]).split())))
    return _with_title(_merge(cues, source, "docx"), preamble)


def parse_old_teams(text: str, source: str) -> ImportedTranscript:
    """Teams' older transcript download: per cue "0:0:0.0 --> 0:0:3.720", the speaker's name,
    then the text (WebVTT without its voice tags)."""
    lines = text_lines(text, source, advice="")
    preamble: list[str] = []
    blocks: list[tuple[int, float, float, list[tuple[int, str]]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or _TEAMS_EVENT.match(line):
            continue
        m = _OLD_TEAMS_TIMING.match(line)
        if m:
            start, end = _cue_times(m, source, number)
            if end < start:
                raise line_error(source, number, f"the cue ends ({line.split('-->')[1].strip()}) before it starts")
            blocks.append((number, start, end, []))
        elif not blocks:
            _preamble(preamble, line, number, source, "with a timing ('0:0:0.0 --> 0:0:3.720')")
        else:
            blocks[-1][3].append((number, line))
    cues = []
    for number, start, end, body in blocks:
        if len(body) < 2:
            raise line_error(source, number, "the cue should hold the speaker's name and then what was said, "
                             f"found {'only ' + repr(body[0][1].strip()[:60]) if body else 'nothing'}")
        name = " ".join(body[0][1].split())
        cues.append((_Cue(number, start, end, []), name, " ".join(" ".join(t for _, t in body[1:]).split())))
    return _with_title(_merge(cues, source, "docx"), preamble)


def parse_word_text(text: str, source: str) -> ImportedTranscript:
    """A Word document's text, in whichever layout it holds: Teams' older download (cue timings),
    Teams' newer one (name-and-time lines outnumber `Name: text` lines), else a typed transcript."""
    lines = text_lines(text, source, advice="")
    opening = [line for line in lines if line.strip()][:_OPENING_LINES]
    if any(_OLD_TEAMS_TIMING.match(line) for line in opening):
        return parse_old_teams(text, source)
    headers = sum(1 for i in range(len(lines)) if lines[i].strip() and _speaker_header(lines, i))
    named = sum(1 for line in lines if _NAME_PREFIX.match(line))
    if headers and headers >= named:
        return parse_teams(text, source)
    return _from_parsed(parse_transcript(text, source), "docx")


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
        ImportFormat("docx", (".docx",), "Word document: thesis layout, Name: text, or Teams' transcript download",
                     parse_word_text),
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


def read_transcript(path: Path | str, fmt: str | None = None) -> ImportedTranscript:
    """Read a transcript file in `fmt` (a FORMATS name) or the format `detect` finds.

    A Word document (named .docx, given as --format docx, or a Word file by its bytes whatever its
    name) is read as its paragraphs' text; `fmt` then names the layout of that text (`docx`, the
    default, picks it). `--format text` on a file named .docx reads it as the text it holds."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ImportFormatError(f"no import format {fmt!r} (formats: {', '.join(FORMATS)})")
    data = read_bytes(path)
    named_word = fmt is None and path.suffix.lower() in FORMATS["docx"].extensions
    if fmt == "docx" or named_word or is_word_package(data):
        return parse_word(read_word(data, path), FORMATS[fmt or "docx"].parse, str(path))
    text = decode(within_text_limit(data, path), path)
    return FORMATS[fmt or detect(path, text)].parse(text, str(path))


def read_lines(path: Path | str) -> list[str]:
    """A document's lines, for readers of other lists than transcripts (an interview guide): a
    text file's lines (UTF-8 or Windows-1252), or a Word document's paragraphs, each item of a
    Word list with its number or bullet written out ("1. ", "- ")."""
    path = Path(path)
    data = read_bytes(path)
    if path.suffix.lower() in FORMATS["docx"].extensions or is_word_package(data):
        return read_word(data, path).marked_lines()
    return decode(within_text_limit(data, path), path).removeprefix("\ufeff").splitlines()
