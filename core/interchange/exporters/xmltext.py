"""Texts made writable into the XML inside a Word document or a spreadsheet.

XML 1.0 cannot hold most control characters (U+0000 to U+001F but tab, newline and carriage
return), lone surrogates, U+FFFE and U+FFFF; python-docx and openpyxl refuse them with a
traceback. A transcript can carry them: an imported file, a paste, an edit. Each is written as
U+FFFD (the replacement character), one for one, so every coding's offsets still point at its
passage, and the export says where it replaced them.
"""

from __future__ import annotations

import dataclasses
import re

from core.interchange.exporters import model
from core.interchange.exporters.model import ExportSet

NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"


def xml_text(text: str) -> str:
    return NOT_XML.sub(REPLACEMENT, text)


def _clean(value, count: list[int]):
    """The value with each text in it made XML-safe; `count` gains the characters replaced.
    Only the export model's own views are copied: the guide comes from a TOML file, which
    cannot hold these characters."""
    if isinstance(value, str):
        text, n = NOT_XML.subn(REPLACEMENT, value)
        count[0] += n
        return text
    if isinstance(value, list):
        return [_clean(v, count) for v in value]
    if isinstance(value, tuple):
        return tuple(_clean(v, count) for v in value)
    if isinstance(value, dict):
        return {_clean(k, count): _clean(v, count) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and type(value).__module__ == model.__name__:
        # A coding's passage is a copy of its turn's text, counted there.
        changes = {f.name: _clean(getattr(value, f.name), [0] if f.name == "passage" else count)
                   for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def xml_safe(export: ExportSet, what: str) -> tuple[ExportSet, str | None]:
    """The export with every text XML can hold, and a note saying how many characters were
    replaced and where (None when none were)."""
    places: list[str] = []
    total = [0]
    sessions = []
    for session in export.sessions:
        segments, turns = [], []
        for number, seg in enumerate(session.segments, start=1):
            count = [0]
            segments.append(_clean(seg, count))
            if count[0]:
                turns.append(number)
                total[0] += count[0]
        before = total[0]
        rest = _clean(dataclasses.replace(session, segments=[]), total)
        where = []
        if turns:
            shown = ", ".join(map(str, turns[:5])) + (f" and {len(turns) - 5} more" if len(turns) > 5 else "")
            where.append(f"turn{'s' if len(turns) > 1 else ''} {shown}")
        if total[0] > before:
            where.append("its title, facts or memos")
        if where:
            places.append(f"session {session.id} ({'; '.join(where)})")
        sessions.append(dataclasses.replace(rest, segments=segments))
    before = total[0]
    dimensions = _clean(export.dimensions, total)
    respondents = _clean(export.respondents, total)
    study = _clean(export.study, total)
    if total[0] > before:
        places.append("the codebook or respondents")
    if not total[0]:
        return export, None
    cleaned = dataclasses.replace(export, study=study, sessions=sessions, dimensions=dimensions,
                                  respondents=respondents)
    return cleaned, (f"{what}: {total[0]} control character(s) that XML cannot hold written as U+FFFD, "
                     f"in {', '.join(places)}")
