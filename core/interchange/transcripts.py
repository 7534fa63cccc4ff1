"""Verbatim interview transcripts, read from text for import.

Two layouts are understood.

The thesis layout, as typed by hand and often passed through a PDF: an optional title line, a
header declaring the speaker codes, optional notes in parentheses, then turns.

    Interview 1: Maandag 8 juni 2021
    X = Interviewer
    Y = Geïnterviewde
    (Van tevoren is toestemming gevraagd om het interview op te nemen)
    X = We hebben maar een uurtje dus we zullen snel starten ...
    wrapped continuation of the same turn
    Y: Uhm... ik werk bij de reclassering ...

A turn starts with a declared code and `=` or `:`. Only declared codes start turns, so a
continuation line that happens to hold "=" or ":" stays text; a line shaped like a turn by a
code nobody declared ("Z: ...") is an error rather than a silent merge into the turn above. A
turn whose separator was forgotten ("Y Uhm ...") is still a turn when the code is not the
current speaker's and the next word is capitalised.

The named layout: `Name: text` lines with continuation lines allowed, an optional title line and
no header.

Both tolerate what PDF extraction leaves behind: blank lines between lines, indentation at page
breaks, stray page numbers on their own line, and words hyphenated across a wrap. Nothing here
touches the store; the caller decodes the file and turns `ImportFormatError` into a message.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from core.base.errors import ImportFormatError


@dataclass(frozen=True)
class Turn:
    speaker: str  # the code or name as written: "X", "Y1", "Anna"
    text: str  # wrapped lines joined with single spaces
    line: int  # 1-based line where the turn starts


@dataclass(frozen=True)
class ParsedTranscript:
    speakers: dict[str, str]  # code -> label ("X" -> "Interviewer"); for named files name -> name
    turns: list[Turn]
    title: str | None


@dataclass(frozen=True)
class ImportedTurn:
    speaker: str  # as written: a code ("X"), a name ("Anna de Vries")
    text: str
    line: int  # 1-based line where the turn starts; in a Word document, its paragraph
    start: float | None = None  # seconds from the start of the recording
    end: float | None = None


@dataclass(frozen=True)
class ImportedTranscript:
    """What every import format gives (core/interchange/formats.py): a ParsedTranscript with
    times on the turns. It lives here, below formats.py and word.py, so both can name it."""

    speakers: dict[str, str]  # speaker as written -> label ("X" -> "Interviewer"; a name -> itself)
    turns: list[ImportedTurn]
    title: str | None
    format: str


# A speaker code in the thesis layout: one capital letter, optionally followed by digits.
_CODE = r"[A-Z][0-9]{0,2}"
_DECLARATION = re.compile(rf"^\s*(?P<code>{_CODE})\s*(?P<sep>[=:])\s*(?P<label>\S.*?)\s*$")
# Only "=" marks the thesis layout when guessing it: "X: ..." could just as well be a named turn.
_EQ_DECLARATION = re.compile(rf"^\s*({_CODE})\s*=\s*(\S.*?)\s*$")
# A line shaped like a turn: used to catch turns by codes the header does not declare.
_TURN_SHAPE = re.compile(rf"^\s*({_CODE})\s*[=:](\s|$)")
# Page numbers left by PDF extraction: a line of one to three digits and nothing else. Four
# digits are kept, because a wrapped line can be just a year.
_PAGE_NUMBER = re.compile(r"^\s*\d{1,3}\s*$")
_NOTE_OPEN = re.compile(r"^\s*\(")
# A declaration's label names a role ("Interviewer", "Geïnterviewde 1", "Communicatieadviseur
# Koers en kansen"); a sentence is an utterance, so "Q = Ja." after the header is not one.
_MAX_LABEL_WORDS = 6
_SENTENCE_END = tuple(".?!…")
# The header sits at the top: a title, a few declarations, a note.
_DETECT_LINES = 12

# A name is up to four capitalised words, surname particles allowed ("Bert de Vries"), so
# "Let op: ..." or "om 10:00" inside a turn never looks like one.
_PARTICLES = "van|de|der|den|te|ter|ten|het|la|le|du|von|da|di|del"
_NAME_WORD = r"[A-ZÀ-ÖØ-Þ0-9][\w.'’-]*"
_NAME = rf"{_NAME_WORD}(?: (?:{_NAME_WORD}|{_PARTICLES})){{0,3}}"
_NAMED_TURN = re.compile(rf"^\s*({_NAME})\s*:(?:\s+(.*)|\s*)$")


def line_error(source: str, line: int, problem: str) -> ImportFormatError:
    """The error of every import format: the file, the line, what is wrong there."""
    return ImportFormatError(f"{source}, line {line}: {problem}")


# What to do about a file that is no text at all. The subtitle and Teams readers pass none:
# "export it as plain text" would be wrong advice for a .vtt or an .srt.
_EXPORT_AS_TEXT = "; export the transcript as plain text and try again"


def text_lines(text: str, source: str, advice: str = _EXPORT_AS_TEXT) -> list[str]:
    """The lines of a transcript's text; an empty file or one holding binary data is refused."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise line_error(source, 1, f"the file is empty{advice}")
    if "\x00" in text:
        raise line_error(source, text[: text.index("\x00")].count("\n") + 1,
                         f"the file holds binary data, not text{advice}")
    return text.splitlines()


def _join(parts: list[str]) -> str:
    """Join wrapped lines with single spaces, keeping a hyphenated wrap ("re-" + "integratie")."""
    out = ""
    for part in parts:
        part = " ".join(part.split())
        if not part:
            continue
        if not out:
            out = part
        elif re.search(r"\w-$", out):
            # Dutch compounds keep their hyphen ("informatie-uitwisseling"), so the hyphen at a
            # wrap is the word's own, not a break added by the typesetter.
            out += part
        else:
            out += " " + part
    return out


def _skippable(line: str) -> bool:
    return not line.strip() or bool(_PAGE_NUMBER.match(line))


def _note_end(lines: list[str], start: int, source: str) -> int:
    """Index of the line that closes the parenthesised note opened at `start`."""
    depth = 0
    for i in range(start, len(lines)):
        depth += lines[i].count("(") - lines[i].count(")")
        if depth <= 0:
            return i
    raise line_error(source, start + 1, "a note opened with '(' is never closed with ')'")


def _is_declaration_label(label: str) -> bool:
    return len(label.split()) <= _MAX_LABEL_WORDS and not label.endswith(_SENTENCE_END)


def _turn(speaker: str, parts: list[str], start: int, source: str) -> Turn:
    joined = _join(parts)
    if not joined:
        raise line_error(source, start, f"the turn by {speaker} has no text")
    return Turn(speaker=speaker, text=joined, line=start)


def parse_thesis_transcript(text: str, source: str) -> ParsedTranscript:
    """Read a transcript with a `X = Interviewer` header and turns `X = ...` or `X: ...`."""
    lines = text_lines(text, source)
    speakers: dict[str, str] = {}
    separator: str | None = None
    title: str | None = None
    header_closed = False
    i = 0
    # Header: a title, then declarations in one style ("X = ..." or "X: ..."), then notes. A
    # note ends the declarations, so a turn by an undeclared "Z: Hallo" after it is not taken
    # for one more declaration.
    while i < len(lines):
        line = lines[i]
        if _skippable(line):
            i += 1
            continue
        if _NOTE_OPEN.match(line):
            i = _note_end(lines, i, source) + 1
            header_closed = bool(speakers)
            continue
        m = _DECLARATION.match(line)
        if (m and not header_closed and m["code"] not in speakers
                and _is_declaration_label(m["label"]) and separator in (None, m["sep"])):
            speakers[m["code"]] = m["label"]
            separator = m["sep"]
            i += 1
            continue
        if not speakers and title is None and not m:
            title = " ".join(line.split())
            i += 1
            continue
        break
    if not speakers:
        raise line_error(source, i + 1 if i < len(lines) else len(lines),
                         "no speakers are declared; start the file with lines such as "
                         "'X = Interviewer' and 'Y = Geïnterviewde'")

    # Longest codes first, so "Y1" is not read as "Y" followed by "1".
    codes = "|".join(re.escape(c) for c in sorted(speakers, key=len, reverse=True))
    turn_start = re.compile(rf"^\s*({codes})\s*[=:]\s*(.*)$")
    # The separator is sometimes forgotten ("Y Uhm ja ..."). Without it a line counts as a turn
    # only when the next word is capitalised, as a turn's first word is, so a wrapped "Y en X"
    # stays text.
    bare_start = re.compile(rf"^\s*({codes})\s+([A-ZÀ-Þ].*)$")

    turns: list[Turn] = []
    speaker: str | None = None
    start = 0
    parts: list[str] = []

    while i < len(lines):
        line = lines[i]
        number = i + 1
        i += 1
        if _skippable(line):
            continue
        m = turn_start.match(line)
        if not m and speaker is not None:
            bare = bare_start.match(line)
            if bare and bare.group(1) != speaker:
                m = bare
        if m:
            if speaker is not None:
                turns.append(_turn(speaker, parts, start, source))
            speaker, start, parts = m.group(1), number, [m.group(2)]
            continue
        shape = _TURN_SHAPE.match(line)
        if shape:
            code, declared = shape.group(1), ", ".join(speakers)
            raise line_error(source, number,
                             f"a turn by speaker '{code}', who is not declared in the header "
                             f"(declared: {declared}); add a line '{code} = <role>' to the header")
        if speaker is None:
            if _NOTE_OPEN.match(line):
                i = _note_end(lines, i - 1, source) + 1
                continue
            excerpt = " ".join(line.split())[:60]
            raise line_error(source, number,
                             f"text before the first turn that is not part of the header: '{excerpt}'")
        parts.append(line)
    if speaker is not None:
        turns.append(_turn(speaker, parts, start, source))
    if not turns:
        raise line_error(source, len(lines), "the file has a header but no turns")
    return ParsedTranscript(speakers=speakers, turns=turns, title=title)


def parse_named_transcript(text: str, source: str) -> ParsedTranscript:
    """Read `Name: text` lines, each starting a turn, with wrapped continuation lines.

    A name starts turns only if it starts at least two lines, so a one-off "Noot: ..." inside
    a turn stays part of that turn (a file so short that no name repeats is the exception).
    The first line may be a title ("Interview 3, 15 juni").
    """
    lines = text_lines(text, source)
    starts: Counter[str] = Counter()
    for line in lines:
        m = _NAMED_TURN.match(line)
        if m:
            starts[m.group(1)] += 1
    names = {name for name, count in starts.items() if count >= 2} or set(starts)

    title: str | None = None
    turns: list[Turn] = []
    speaker: str | None = None
    start = 0
    parts: list[str] = []
    seen_text = False
    i = 0
    while i < len(lines):
        line = lines[i]
        number = i + 1
        i += 1
        if _skippable(line):
            continue
        m = _NAMED_TURN.match(line)
        if m and m.group(1) in names:
            if speaker is not None:
                turns.append(_turn(speaker, parts, start, source))
            speaker, start, parts = m.group(1), number, [m.group(2) or ""]
            seen_text = True
            continue
        if speaker is None:
            if _NOTE_OPEN.match(line):
                i = _note_end(lines, i - 1, source) + 1
                continue
            if not seen_text:
                title = " ".join(line.split())
                seen_text = True
                continue
            excerpt = " ".join(line.split())[:60]
            raise line_error(source, number,
                             f"text before the first turn, which should start 'Name: ...': '{excerpt}'")
        parts.append(line)
    if speaker is not None:
        turns.append(_turn(speaker, parts, start, source))
    if not turns:
        raise line_error(source, len(lines), "no turns found; each turn should start 'Name: ...'")
    ordered = dict.fromkeys(t.speaker for t in turns)
    return ParsedTranscript(speakers={n: n for n in ordered}, turns=turns, title=title)


def parse_transcript(text: str, source: str) -> ParsedTranscript:
    """Read either layout: a `CODE = role` line among the first lines means the thesis layout."""
    lines = text_lines(text, source)
    opening = [line for line in lines if not _skippable(line)][:_DETECT_LINES]
    for line in opening:
        m = _EQ_DECLARATION.match(line)
        if m and _is_declaration_label(m.group(2)):
            return parse_thesis_transcript(text, source)
    return parse_named_transcript(text, source)
