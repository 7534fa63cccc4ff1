"""Word documents (.docx) read as text: a line per paragraph, for the transcript formats
(core/interchange/formats.py) and for guides written from a question list (core/interchange/guide_draft.py).

What is read of a Word document: the body's paragraphs, tracked insertions included and
deletions left out (as Word shows the text with changes accepted), a tab as whitespace; a table
a row at a time, each row one paragraph whose first cell names the speaker ("X | text" reads as
"X: text"). Headers, footers, footnotes, comments and text boxes are not transcript and are left
out. A file named .docx that is no Word document (a .doc, a password-protected document, RTF,
OpenDocument, a renamed text file, a damaged zip) is refused with one message naming the file,
as is one beyond the limits of core/interchange/limits.py (a zip bomb, text nested thousands deep,
a document.xml of hundreds of megabytes).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree

from core.base.errors import ImportFormatError
from core.interchange.limits import Damaged, Package, TooLarge, parse_xml
from core.interchange.transcripts import ImportedTranscript


_ZIP = b"PK\x03\x04"
_OLE = bytes.fromhex("d0cf11e0a1b11ae1")  # Word 97-2003 .doc, and any password-protected Office file
_WORD_MAIN = ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",
              "http://purl.oclc.org/ooxml/wordprocessingml/main")  # Word's "Strict Open XML Document"
_MARKUP_COMPATIBILITY = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"


def is_word_package(data: bytes) -> bool:
    """Bytes that are a Word document, or a file Word wrote that fieldnote cannot read (.doc),
    and so go to `read_word`, which says which."""
    return data.startswith(_ZIP) or data.startswith(_OLE)


@dataclass(frozen=True)
class WordText:
    """A Word document's text: a line per paragraph, more where one holds line breaks."""

    lines: list[str]
    paragraphs: list[int]  # the 1-based paragraph of each line (a table row counts as one)
    rows: frozenset[int]  # the paragraphs that are table rows
    # Paragraphs that are items of Word's own lists: (level from 0, numbered rather than bulleted).
    # Word draws the number or bullet; it is not in the text.
    list_items: dict[int, tuple[int, bool]] = field(default_factory=dict)

    def marked_lines(self) -> list[str]:
        """The lines with each list item's number or bullet written out, as typed lists have
        them: "1. " before a numbered item at the top level, "- " before any other."""
        out, seen = [], set()
        for line, n in zip(self.lines, self.paragraphs):
            item = self.list_items.get(n)
            if item is not None and n not in seen and line.strip():
                level, numbered = item
                line = ("1. " if numbered and level == 0 else "- ") + line.strip()
            seen.add(n)
            out.append(line)
        return out

    def paragraph(self, line: int) -> int:
        return self.paragraphs[min(max(line, 1), len(self.paragraphs)) - 1] if self.paragraphs else 1

    def place(self, line: int) -> str:
        n = self.paragraph(line)
        return f"paragraph {n}" + (" (a table row)" if n in self.rows else "")


def _not_word(source: str, problem: str) -> ImportFormatError:
    return ImportFormatError(f"{source}: {problem}")


def _main_part(package: Package) -> str:
    """The document's main part, as the package's relationships name it."""
    try:
        rels = parse_xml(package.read("_rels/.rels"), "_rels/.rels")
    except (KeyError, ElementTree.ParseError):
        return "word/document.xml"
    for rel in rels:
        if rel.get("Type", "").endswith("/officeDocument") and rel.get("Target"):
            return rel.get("Target", "").lstrip("/")
    return "word/document.xml"


def _paragraph_text(element, w: str, skip: set[str], out: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag in skip:
            continue
        if tag == w + "t":
            out.append(child.text or "")
        elif tag in (w + "tab", w + "ptab"):
            out.append("\t")
        elif tag in (w + "br", w + "cr"):
            out.append("\n")
        elif tag == w + "noBreakHyphen":
            out.append("-")
        else:
            _paragraph_text(child, w, skip, out)


def _blocks(element, w: str, into: tuple[str, ...] = ()):
    """Paragraphs and tables in order, through content controls and tracked insertions (and
    through the names in `into`)."""
    for child in element:
        if child.tag in (w + "p", w + "tbl") and child.tag not in into:
            yield child
        elif child.tag in (w + "sdt", w + "sdtContent", w + "customXml", w + "ins", w + "moveTo", *into):
            yield from _blocks(child, w, into)


def read_word(data: bytes, path: Path) -> WordText:
    """The text of a Word document (.docx), or one message naming the file if it is not one."""
    source = str(path)
    if not data:
        raise _not_word(source, "the file is empty, not a Word document")
    if data.startswith(_OLE):
        raise _not_word(source, "an old Word document (.doc) or a password-protected one, which fieldnote "
                        "cannot read; open it in Word, remove any password and save it as Word Document (.docx)")
    if data.startswith(b"{\\rtf"):
        raise _not_word(source, "a Rich Text (RTF) file, not a Word document; open it in Word and save it as "
                        "Word Document (.docx)")
    if not data.startswith(_ZIP):
        raise _not_word(source, "not a Word document (.docx); if it is a text transcript, name it .txt or "
                        "pass --format text")
    try:
        with Package(io.BytesIO(data)) as package:
            names = set(package.names())
            if "mimetype" in names and package.read("mimetype").startswith(b"application/vnd.oasis.opendocument"):
                raise _not_word(source, "an OpenDocument file (.odt), not a Word document; save it as "
                                "Word Document (.docx) and try again")
            part = _main_part(package)
            if part not in names:
                raise _not_word(source, f"a zip file but not a Word document (it has no {part})")
            xml = package.read(part)
            extra = {}
            for name in ("word/numbering.xml", "word/styles.xml"):
                if name in names:
                    try:
                        extra[name] = package.read(name)
                    except TooLarge:
                        pass  # lists are a nicety (_ListFormats): a part too large leaves them out
    except (zipfile.BadZipFile, Damaged) as exc:
        raise _not_word(source, f"a damaged Word document ({exc}); open it in Word and save it again") from None
    except TooLarge as exc:
        raise _not_word(source, str(exc)) from None
    try:
        root = parse_xml(xml, part)
    except ElementTree.ParseError as exc:
        raise _not_word(source, f"a damaged Word document ({part}: {exc}); open it in Word and save it again") from None
    except TooLarge as exc:
        raise _not_word(source, str(exc)) from None
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    body = root.find(f"{{{namespace}}}body")
    if namespace not in _WORD_MAIN or root.tag != f"{{{namespace}}}document" or body is None:
        raise _not_word(source, f"not a Word document ({part} holds no Word text)")
    w = f"{{{namespace}}}"
    # Deleted and moved-away text, run and paragraph properties (which hold tab stops), text
    # boxes, and the copy of a drawing kept for older readers.
    skip = {w + "pPr", w + "rPr", w + "del", w + "moveFrom", w + "txbxContent", _MARKUP_COMPATIBILITY + "Fallback"}

    def text_of(p) -> str:
        out: list[str] = []
        _paragraph_text(p, w, skip, out)
        return "".join(out)

    lists = _ListFormats(w, extra)
    lines: list[str] = []
    paragraphs: list[int] = []
    rows: set[int] = set()
    list_items: dict[int, tuple[int, bool]] = {}
    number = 0
    for block in _blocks(body, w):
        if block.tag == w + "p":
            texts = [text_of(block)]
            item = lists.item(block)
            if item is not None:
                list_items[number + 1] = item
        else:
            texts = []
            for tr in block.findall(w + "tr"):
                # A cell's paragraphs, those of tables nested in it included, as one line.
                cells = [" ".join(" ".join(text_of(p) for p in _blocks(tc, w, (w + "tbl", w + "tr", w + "tc"))).split())
                         for tc in tr.findall(w + "tc")]
                cells = [c for c in cells if c]
                if len(cells) > 1 and not cells[0].endswith((":", "=")):
                    cells[0] += ":"
                texts.append(" ".join(cells))
        for text in texts:
            number += 1
            if block.tag == w + "tbl":
                rows.add(number)
            # splitlines, as the parsers split: their line numbers then map back to paragraphs.
            split = text.splitlines() or [""]
            lines.extend(split)
            paragraphs.extend([number] * len(split))
    return WordText(lines, paragraphs, frozenset(rows), list_items)


class _ListFormats:
    """Which paragraphs are items of Word's lists, at which level, numbered or bulleted: from
    the paragraph's own numbering, or its style's (Word's "List Number" style)."""

    def __init__(self, w: str, parts: dict[str, bytes]):
        self.w = w
        self.formats: dict[tuple[str, int], str] = {}  # (numId, level) -> numFmt
        self.styles: dict[str, tuple[str, int]] = {}  # style id -> (numId, level)
        try:
            self._read(parts)
        except (ElementTree.ParseError, TooLarge, ValueError, AttributeError):
            self.formats, self.styles = {}, {}  # lists are a nicety: a damaged part leaves them out

    def _read(self, parts: dict[str, bytes]) -> None:
        w = self.w
        if "word/numbering.xml" in parts:
            root = parse_xml(parts["word/numbering.xml"], "word/numbering.xml")
            abstract = {}
            for a in root.findall(w + "abstractNum"):
                abstract[a.get(w + "abstractNumId")] = {
                    int(lvl.get(w + "ilvl", "0")): (lvl.find(w + "numFmt").get(w + "val", "decimal")
                                                    if lvl.find(w + "numFmt") is not None else "decimal")
                    for lvl in a.findall(w + "lvl")
                }
            for num in root.findall(w + "num"):
                ref = num.find(w + "abstractNumId")
                for level, fmt in abstract.get(ref.get(w + "val") if ref is not None else None, {}).items():
                    self.formats[(num.get(w + "numId"), level)] = fmt
        if "word/styles.xml" in parts:
            root = parse_xml(parts["word/styles.xml"], "word/styles.xml")
            for style in root.findall(w + "style"):
                found = self._numbering(style.find(w + "pPr"))
                if found is not None:
                    self.styles[style.get(w + "styleId")] = found

    def _numbering(self, ppr) -> tuple[str, int] | None:
        numpr = ppr.find(self.w + "numPr") if ppr is not None else None
        if numpr is None:
            return None
        num, level = numpr.find(self.w + "numId"), numpr.find(self.w + "ilvl")
        num_id = num.get(self.w + "val") if num is not None else None
        if num_id in (None, "0"):  # numId 0 takes a style's numbering away
            return None
        value = level.get(self.w + "val", "0") if level is not None else "0"
        return num_id, int(value) if value.isdigit() else 0

    def item(self, p) -> tuple[int, bool] | None:
        ppr = p.find(self.w + "pPr")
        found = self._numbering(ppr)
        own = ppr is not None and ppr.find(self.w + "numPr") is not None  # numId 0: none, whatever the style
        if found is None and ppr is not None and not own:
            style = ppr.find(self.w + "pStyle")
            found = self.styles.get(style.get(self.w + "val")) if style is not None else None
        if found is None:
            return None
        num_id, level = found
        fmt = self.formats.get((num_id, level), "decimal")
        return level, fmt not in ("bullet", "none")


def parse_word(document: WordText, parse: Callable[[str, str], ImportedTranscript], source: str) -> ImportedTranscript:
    """Run a text parser over a Word document's text; its errors and turns name paragraphs."""
    if not any(line.strip() for line in document.lines):
        raise _not_word(source, "the Word document holds no text")
    try:
        parsed = parse("\n".join(document.lines), source)
    except ImportFormatError as exc:
        message = str(exc)
        m = re.match(rf"{re.escape(source)}, line (\d+): ", message)
        if not m:
            raise
        raise ImportFormatError(f"{source}, {document.place(int(m.group(1)))}: {message[m.end():]}") from None
    return replace(parsed, turns=[replace(t, line=document.paragraph(t.line)) for t in parsed.turns])


