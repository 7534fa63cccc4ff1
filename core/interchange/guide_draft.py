"""A new guide from the interview questions as the researcher has them: a text or Word file.

Researchers keep their interview guide as a list in a document, not as TOML. `draft_guide`
reads such a list and `create_guide` writes it as a guide in the user's guides folder, ready to
record with; cues, probes, minutes and the codebook (`fieldnote codebook import`) can be added
to the file afterwards.

How the list is read, line by line (a Word document: a line per paragraph, the items of its
numbered and bulleted lists with the number or bullet Word draws written out):

- A question is a line that starts with its number ("1.", "2)", "Q3:", "Vraag 4:"), or, in a
  list without numbers, a line that ends with a question mark. A question wrapped over several
  lines (as text copied out of a PDF is) is joined up: with numbers, a line that goes on in
  lower case after one without end punctuation; without, up to the line that ends with the
  question mark.
- A line starting with a bullet ("-", "*", "•", "–", "a.", "a)") is a probe of the question above.
- Any other line between questions is the heading of the section that follows when a question
  comes right after it, else a probe of the question above it. A Markdown heading ("## Deel 2")
  is always a section heading.
- Lines before the first question: the first is the document's title (the guide's title unless
  one is given), one right before the first question its section heading.
- Questions are numbered 1, 2, 3 ... in the order they come, whatever numbers the file uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.base import paths
from core.base.errors import UserError
from core.interchange.formats import read_lines
from core.study.guide import Guide, parse_guide, user_guide_path
from core.study.language import is_language_code

_NUMBERED = re.compile(r"^(?:(?:vraag|question|frage|q)\s*)?(\d{1,3})\s*[.):]\s*(\S.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*•–·▪◦]|[a-z][.)])\s+(\S.*)$")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(\S.*)$")
_ENDED = ("?", ".", "!", ")", "?)", ".)", "…")


@dataclass
class DraftQuestion:
    text: str
    line: int  # where it starts in the file (a paragraph of a Word document)
    section: str | None = None
    probes: list[str] = field(default_factory=list)


@dataclass
class DraftGuide:
    title: str | None
    questions: list[DraftQuestion]


def _plain(line: str) -> str:
    return " ".join(line.split())


def draft_guide(lines: list[str], source: str) -> DraftGuide:
    """The questions, sections and probes of an interview guide written as a list."""
    rows = [(n, _plain(line)) for n, line in enumerate(lines, 1) if line.strip()]
    numbered = sum(1 for _, text in rows if _NUMBERED.match(text)) >= 2
    questions: list[DraftQuestion] = []
    preamble: list[str] = []
    section: str | None = None
    pending: list[tuple[int, str]] = []  # unnumbered lines not yet placed (a question's start)
    loose: list[str] = []  # unnumbered lines since the last question that are no part of one

    def opening_section() -> str | None:
        # Before the first question: the first line is the title, the last one (if another) the
        # heading of the first section.
        if not questions and section is None and len(preamble) > 1:
            return preamble[-1].rstrip(":")
        return section

    def is_question_start(k: int) -> bool:
        if k >= len(rows):
            return False
        text = rows[k][1]
        if _BULLET.match(text) or _MARKDOWN_HEADING.match(text):
            return False
        return bool(_NUMBERED.match(text)) if numbered else True

    for k, (number, text) in enumerate(rows):
        heading = _MARKDOWN_HEADING.match(text)
        if heading:
            section = heading.group(1)
            continue
        bullet = _BULLET.match(text)
        if bullet:
            if questions:
                questions[-1].probes.append(bullet.group(1))
            else:
                preamble.append(text)
            continue
        if numbered:
            m = _NUMBERED.match(text)
            if m:
                section = opening_section()
                questions.append(DraftQuestion(m.group(2), number, section))
            elif not questions:
                preamble.append(text)
            elif not questions[-1].text.endswith(_ENDED) and not questions[-1].probes and text[:1].islower():
                questions[-1].text += " " + text  # wrapped: the sentence goes on
            elif is_question_start(k + 1) and not text.endswith((".", "!")):
                section = text.rstrip(":")
            else:
                questions[-1].probes.append(text)
            continue
        # Without numbers: a question runs up to the line that ends with its question mark. A
        # line that does not run on into the next (it ends in ':', '.' or '!', or the next line
        # opens with a capital) is no part of one: a title, a heading or a remark.
        pending.append((number, text))
        if text.endswith(("?", "?)")):
            if loose and questions:
                questions[-1].probes.extend(loose[:-1])
                if loose[-1].endswith((".", "!")):
                    questions[-1].probes.append(loose[-1])  # a remark, not a heading
                else:
                    section = loose[-1].rstrip(":")
            else:
                preamble.extend(loose)
            loose = []
            section = opening_section()
            questions.append(DraftQuestion(" ".join(t for _, t in pending), pending[0][0], section))
            pending = []
        elif text.endswith((":", ".", "!")) or k + 1 >= len(rows) or rows[k + 1][1][:1].isupper():
            loose.extend(t for _, t in pending)
            pending = []
    if questions:
        questions[-1].probes.extend(loose + [t for _, t in pending])  # remarks after the last question
    if not questions:
        raise UserError(f"{source}: no questions: number them ('1. ...') or end each with a question mark")
    return DraftGuide(preamble[0] if preamble else None, questions)


def guide_text(draft: DraftGuide, *, guide_id: str, title: str | None, language: str, planned_minutes: float) -> str:
    """The draft as a guide file, with a note on what to add."""
    from core.interchange.codebook import dump_guide

    study = {"id": guide_id, "title": title or draft.title or guide_id, "language": language,
             "planned_minutes": planned_minutes}
    raw_questions = []
    for n, q in enumerate(draft.questions, 1):
        entry: dict = {"number": n, "text": q.text}
        if q.section:
            entry["section"] = q.section
        if q.probes:
            entry["probes"] = q.probes
        raw_questions.append(entry)
    header = [
        "# Written by `fieldnote guides new` from the interview questions. Add to it as you like:",
        "# - cues = [...] under a question: other ways you ask it (\"how often do you meet\"). Until a",
        "#   question has cues, fieldnote follows it by the parts of its own text; cues in your own words",
        "#   help it follow you when you ask differently;",
        "# - probes = [...]: follow-up prompts shown under the current question; minutes = N: time planned;",
        "# - the codebook: `fieldnote codebook import FILE.qdc --guide " + guide_id + " --force` adds the codes",
        "#   of a REFI-QDA codebook (from ATLAS.ti, NVivo, MAXQDA, QualCoder) as dimensions and indicators,",
        "#   and links each question to the dimension it shares the rarest words with, for you to check;",
        "# The format is described at the top of core/study/guide.py.",
    ]
    return dump_guide({"study": study, "question": raw_questions}, header=header)


def create_guide(questions: Path, guide_id: str, *, language: str, title: str | None = None,
                 planned_minutes: float = 60, force: bool = False) -> tuple[Path, Guide]:
    """Write a new guide from a list of interview questions to the user's guides folder."""
    from core.interchange.exporters import write_atomic

    target = user_guide_path(guide_id, force=force)
    if not is_language_code(language):
        raise UserError(f"{language!r} is not a language code: give Whisper's code, e.g. en, nl, de, fr")
    if not planned_minutes > 0:
        raise UserError(f"the planned length must be a positive number of minutes, not {planned_minutes:g}")
    draft = draft_guide(read_lines(questions), str(questions))
    text = guide_text(draft, guide_id=guide_id, title=title, language=language, planned_minutes=planned_minutes)
    guide = parse_guide(text, source=f"the guide made from {questions}")
    paths.make_private_dir(target.parent, "your guides")
    write_atomic(target, text.encode("utf-8"))
    return target, guide
