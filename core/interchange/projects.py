"""A REFI-QDA project (.qdpx) read back: its text sources, the coded selections in them, the
codes and the users, for comparing a colleague's coding with this database's
(core/analysis/agreement.py).

A damaged project (not a zip, no project.qde, bad XML, positions that are no whole numbers, a
text that is not UTF-8, a member whose data is damaged) is one UserError naming the file and what
is wrong, as is one beyond the limits of core/interchange/limits.py (a zip bomb, codes nested
thousands deep). Positions given back by a program that wrote the text with Windows line ends
(CRLF) are mapped onto the text as fieldnote wrote it.
"""

from __future__ import annotations

import bisect
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.base.errors import UserError
from core.interchange.exporters.refi import PROJECT_NS
from core.interchange.limits import Package, Unreadable, parse_xml

_NS = f"{{{PROJECT_NS}}}"


@dataclass(frozen=True)
class Selection:
    start: int
    end: int
    code: str  # the code's GUID
    user: str | None  # the user's GUID


@dataclass
class Source:
    guid: str
    name: str
    text: str | None  # None: the project does not hold the text
    selections: list[Selection]


@dataclass
class Project:
    path: Path
    sources: list[Source]
    codes: dict[str, tuple[str, str | None]]  # GUID -> (name, parent GUID)
    users: dict[str, str]  # GUID -> name


def _read_zip(path: Path) -> tuple[bytes, dict[str, bytes]]:
    try:
        with Package(path) as z:
            project = z.read("project.qde")
            texts = {n[len("sources/"):]: z.read(n) for n in z.names()
                     if n.startswith("sources/") and n.lower().endswith(".txt")}
    except KeyError:
        raise UserError(f"{path}: not a REFI-QDA project: it has no project.qde") from None
    except zipfile.BadZipFile:
        raise UserError(f"{path}: not a REFI-QDA project (.qdpx): not a zip file") from None
    except Unreadable as exc:
        raise UserError(f"{path}: the project cannot be read: {exc}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the project ({exc.strerror or exc})") from None
    return project, texts


def _position(path: Path, el: ET.Element, attribute: str) -> int:
    value = el.get(attribute)
    try:
        number = int(value or "")
    except ValueError:
        raise UserError(f"{path}: the selection {el.get('guid')} has no whole number as its {attribute} "
                        f"({value!r})") from None
    if number < 0:
        raise UserError(f"{path}: the selection {el.get('guid')} has a negative {attribute} ({number})")
    return number


def read_project(path: Path) -> Project:
    """The text sources, their coded selections, the codes and the users of a .qdpx project."""
    data, texts = _read_zip(path)
    try:
        root = parse_xml(data, "project.qde")
    except ET.ParseError as exc:
        raise UserError(f"{path}, project.qde line {exc.position[0]}: not valid XML ({exc})") from None
    except Unreadable as exc:
        raise UserError(f"{path}: the project cannot be read: {exc}") from None
    if root.tag != f"{_NS}Project":
        raise UserError(f"{path}: not a REFI-QDA project: project.qde holds no Project")

    users = {u.get("guid", ""): " ".join((u.get("name") or "").split()) or u.get("guid", "")
             for u in root.iter(f"{_NS}User")}
    codes: dict[str, tuple[str, str | None]] = {}

    def walk(el: ET.Element, parent: str | None) -> None:
        for code in el.findall(f"{_NS}Code"):
            g = code.get("guid", "")
            codes[g] = (" ".join((code.get("name") or "").split()), parent)
            walk(code, g)

    book = root.find(f"{_NS}CodeBook/{_NS}Codes")
    if book is not None:
        walk(book, None)

    sources = []
    for src in root.iter(f"{_NS}TextSource"):
        name = src.get("name") or src.get("guid", "")
        text = None
        inline = src.find(f"{_NS}PlainTextContent")
        if inline is not None:
            text = inline.text or ""
        elif (src.get("plainTextPath") or "").startswith("internal://"):
            raw = texts.get(src.get("plainTextPath")[len("internal://"):])
            if raw is not None:
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise UserError(f"{path}: the text of source '{name}' is not UTF-8") from None
        # A program on Windows may give the text back with CRLF line ends: positions then count
        # each CR, which the text fieldnote wrote does not have.
        returns = [m.start() for m in re.finditer("\r\n", text)] if text else []
        if returns:
            text = text.replace("\r\n", "\n")

        def at(position: int) -> int:
            return position - bisect.bisect_left(returns, position)

        selections = []
        for sel in src.findall(f"{_NS}PlainTextSelection"):
            start, end = _position(path, sel, "startPosition"), _position(path, sel, "endPosition")
            start, end = at(start), at(end)
            for coding in sel.findall(f"{_NS}Coding"):
                ref = coding.find(f"{_NS}CodeRef")
                if ref is not None and ref.get("targetGUID"):
                    user = coding.get("creatingUser") or sel.get("creatingUser")
                    selections.append(Selection(min(start, end), max(start, end), ref.get("targetGUID"), user))
        sources.append(Source(src.get("guid", ""), name, text, selections))
    if not sources:
        raise UserError(f"{path}: the project holds no text sources to compare")
    return Project(path, sources, codes, users)
