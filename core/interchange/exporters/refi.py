"""REFI-QDA exchange: a project (.qdpx) and a codebook (.qdc) that ATLAS.ti, NVivo, MAXQDA and
QualCoder open, and reading a codebook back into a guide.

Project layout (QDA-XML 1.0, see ../shared/refi-qda/): `project.qde` plus a flat `sources/`
folder, zipped. Each session is a plain-text source we write ourselves, one line per turn
(`[mm:ss] Speaker: text`); every coding is a PlainTextSelection whose positions are code points
in that text, end exclusive. Dimensions are code folders (not codable), indicators are codable
codes under them, both with the dimension's colour; respondents are cases with the variables
Case, Organisation and Role; memos are notes. As an option each session's recording goes in
too, with the transcript synced to it at every turn.

GUIDs are derived from what they name (uuid5), so exporting the same study twice gives the
same GUIDs and a QDA program can recognise its codes again.
"""

from __future__ import annotations

import io
import re
import tomllib
import unicodedata
import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from core.base import paths
from core.understanding.codebook_draft import draft_links
from core.base.errors import UserError
from core.study.guide import Guide, parse_guide, user_guide_path
from core.study.language import load_language
from core.interchange.exporters.model import ExportSet, SessionView

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
_GUID_NAMESPACE = uuid.UUID("c093cf86-120d-42cf-a248-dfae99469ee2")
AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".m4a", ".ogg", ".opus", ".aac")


def _origin() -> str:
    try:
        from importlib.metadata import version

        return f"fieldnote {version('fieldnote')}"
    except Exception:  # an uninstalled source tree still exports
        return "fieldnote"


def guid(*parts: object) -> str:
    return str(uuid.uuid5(_GUID_NAMESPACE, "/".join(str(p) for p in parts)))


def _datetime(value: str | None) -> str | None:
    """An xsd:dateTime, or None when the stored value is not a date."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.isoformat(timespec="seconds")


def _sub(parent: ET.Element, tag: str, ns: str = PROJECT_NS, **attrs: str | None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ns}}}{tag}")
    for key, value in attrs.items():
        if value is not None:
            el.set(key, value)
    return el


def _text(parent: ET.Element, tag: str, text: str, ns: str = PROJECT_NS) -> None:
    if text:
        _sub(parent, tag, ns).text = text


def _xml(root: ET.Element) -> bytes:
    ET.register_namespace("", root.tag[1 : root.tag.index("}")])
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


# codes ---------------------------------------------------------------------------------------------


def code_guid(study: str, dimension_id: str, indicator_id: str | None = None) -> str:
    if indicator_id is None:
        return guid(study, "code", dimension_id)
    return guid(study, "code", dimension_id, indicator_id)


def _codes(parent: ET.Element, export: ExportSet, ns: str, notes: dict[str, list[str]] | None) -> None:
    codes = _sub(parent, "Codes", ns)
    for d in export.dimensions:
        folder = _sub(codes, "Code", ns, guid=code_guid(_study_key(export), d.id), name=d.name,
                      isCodable="false", color=d.colour.upper())
        _text(folder, "Description", d.definition, ns)
        for note in (notes or {}).get(d.id, []):
            _sub(folder, "NoteRef", ns, targetGUID=note)
        for i in d.indicators:
            code = _sub(folder, "Code", ns, guid=code_guid(_study_key(export), d.id, i.id), name=i.name,
                        isCodable="true", color=d.colour.upper())
            _text(code, "Description", i.description, ns)


def _study_key(export: ExportSet) -> str:
    return export.study_id or "fieldnote"


def to_qdc(export: ExportSet) -> bytes:
    if not export.dimensions:
        raise UserError("the codebook is empty: the sessions' guide has no dimensions")
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": _origin()})
    _codes(root, export, CODEBOOK_NS, None)
    return _xml(root)


# project ---------------------------------------------------------------------------------------------


@dataclass
class _SourceText:
    text: str
    starts: dict[int, int]  # segment id -> where its text starts in the source
    syncs: list[tuple[int, int]] = field(default_factory=list)  # (position, milliseconds)


def source_text(session: SessionView) -> _SourceText:
    parts: list[str] = []
    starts: dict[int, int] = {}
    syncs: list[tuple[int, int]] = []
    pos = 0
    for seg in session.segments:
        prefix = (f"[{seg.time}] " if seg.start is not None else "") + f"{seg.name}: "
        text = seg.text.replace("\r", " ").replace("\n", " ")
        if seg.start is not None:
            syncs.append((pos, round(seg.start * 1000)))
        starts[seg.id] = pos + len(prefix)
        line = prefix + text + "\n"
        parts.append(line)
        pos += len(line)
        if seg.end is not None:
            syncs.append((pos - 1, round(seg.end * 1000)))
    return _SourceText("".join(parts), starts, syncs)


def _audio_files(session: SessionView) -> list[Path]:
    if session.audio_dir is None or not session.audio_dir.is_dir():
        return []
    return sorted(p for p in session.audio_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def write_qdpx(export: ExportSet, out: BinaryIO, notes_out: list[str] | None = None) -> None:
    study = _study_key(export)
    user = guid(study, "user", "fieldnote")
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    root = ET.Element(f"{{{PROJECT_NS}}}Project", {"name": export.study or "fieldnote export",
                                                    "origin": _origin(), "creatingUserGUID": user,
                                                    "creationDateTime": now})
    _sub(_sub(root, "Users"), "User", guid=user, name="fieldnote")

    notes: list[tuple[str, str, str | None, str]] = []  # guid, name, created, text

    def note(memo, name: str) -> str:
        g = guid(study, "note", memo.id)
        notes.append((g, name, _datetime(memo.created_at), memo.text))
        return g

    dim_notes = {d.id: [note(m, f"Memo on {d.name}") for m in d.memos] for d in export.dimensions}
    if export.dimensions:
        _codes(_sub(root, "CodeBook"), export, PROJECT_NS, dim_notes)

    sources = {s.id: guid(study, "source", s.id) for s in export.sessions}
    if export.respondents:
        variables = _sub(root, "Variables")
        var_guid = {}
        for name in ("Case", "Organisation", "Role"):
            var_guid[name] = guid(study, "variable", name)
            _sub(variables, "Variable", guid=var_guid[name], name=name, typeOfVariable="Text")
        cases = _sub(root, "Cases")
        for r in export.respondents:
            case = _sub(cases, "Case", guid=guid(study, "case", r.number), name=r.label)
            values = {"Case": "; ".join(r.cases) or None, "Organisation": r.organisation, "Role": r.role}
            for name, value in values.items():
                if value:
                    vv = _sub(case, "VariableValue")
                    _sub(vv, "VariableRef", targetGUID=var_guid[name])
                    _text(vv, "TextValue", value)
            for sid in r.session_ids:
                _sub(case, "SourceRef", targetGUID=sources[sid])

    files: list[tuple[str, bytes | Path]] = []
    src_root = _sub(root, "Sources")
    for session in export.sessions:
        st = source_text(session)
        text_file = f"{guid(study, 'source-text', session.id)}.txt"
        files.append((text_file, st.text.encode("utf-8")))
        created = _datetime(session.started_at)
        src = _sub(src_root, "TextSource", guid=sources[session.id], name=session.title,
                   plainTextPath=f"internal://{text_file}", creatingUser=user, creationDateTime=created)
        facts = [f"Session {session.id}", f"respondent {session.respondent or '—'}",
                 f"case {session.case or '—'}", session.date, f"duration {session.length}"]
        _text(src, "Description", " · ".join(facts))
        for seg in session.segments:
            base = st.starts[seg.id]
            for c in seg.codings:
                sel = _sub(src, "PlainTextSelection", guid=guid(study, "selection", c.id),
                           name=_selection_name(c.passage), startPosition=str(base + c.start),
                           endPosition=str(base + c.end), creatingUser=user,
                           creationDateTime=_datetime(c.created_at))
                coding = _sub(sel, "Coding", guid=guid(study, "coding", c.id), creatingUser=user,
                              creationDateTime=_datetime(c.created_at))
                _sub(coding, "CodeRef", targetGUID=code_guid(study, c.dimension_id, c.indicator_id)
                     if export.dimension(c.dimension_id) else guid(study, "missing-code"))
                for m in c.memos:
                    _sub(sel, "NoteRef", targetGUID=note(m, f"Memo on {c.indicator}"))
            if seg.memos or seg.bookmarks:
                sel = _sub(src, "PlainTextSelection", guid=guid(study, "segment", seg.id),
                           name=_selection_name(seg.text), startPosition=str(base),
                           endPosition=str(base + len(seg.text)), creatingUser=user)
                for m in seg.memos:
                    _sub(sel, "NoteRef", targetGUID=note(m, f"Memo on turn {seg.id}"))
                for b in seg.bookmarks:
                    # A bookmark marks the moment after this turn began: a note on the turn.
                    g = guid(study, "bookmark", b.id)
                    notes.append((g, f"Bookmark at {b.time}", _datetime(b.created_at), b.note or "Bookmark"))
                    _sub(sel, "NoteRef", targetGUID=g)
        for m in session.memos:
            _sub(src, "NoteRef", targetGUID=note(m, f"Memo on {session.title}"))

        if export.options.audio:
            audio = _audio_files(session)
            if not audio and notes_out is not None:
                notes_out.append(f"session {session.id} has no recording; exported its transcript only")
            for n, path in enumerate(audio):
                name = f"{guid(study, 'audio', session.id, n)}{path.suffix.lower()}"
                files.append((name, path))
                asrc = _sub(src_root, "AudioSource", guid=guid(study, "audio-source", session.id, n),
                            name=f"{session.title} ({path.stem})", path=f"internal://{name}",
                            creatingUser=user, creationDateTime=created)
                tr = _sub(asrc, "Transcript", guid=guid(study, "transcript", session.id, n),
                          name=session.title, plainTextPath=f"internal://{text_file}")
                for k, (position, ms) in enumerate(st.syncs):
                    _sub(tr, "SyncPoint", guid=guid(study, "sync", session.id, n, k),
                         position=str(position), timeStamp=str(ms))

    # Codings of codes no longer in any guide still need a target.
    if any(export.dimension(c.dimension_id) is None for s in export.sessions for _, c in s.codings):
        book = root.find(f"{{{PROJECT_NS}}}CodeBook")
        if book is None:
            book = ET.Element(f"{{{PROJECT_NS}}}CodeBook")
            root.insert(1, book)
            _sub(book, "Codes")
        codes = book.find(f"{{{PROJECT_NS}}}Codes")
        _sub(codes, "Code", guid=guid(study, "missing-code"), name="(code not in the guide)", isCodable="true")

    if notes:
        notes_el = _sub(root, "Notes")
        for g, name, created, text in notes:
            n_el = _sub(notes_el, "Note", guid=g, name=name, creatingUser=user, creationDateTime=created)
            _text(n_el, "PlainTextContent", text)
    _text(root, "Description", f"Exported by {_origin()}: {len(export.sessions)} session(s) of {export.study}")

    # Element order is fixed by the schema; Sources must come before Notes and Description.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("project.qde", _xml(root))
        for name, content in files:
            if isinstance(content, Path):
                z.write(content, f"sources/{name}", compress_type=zipfile.ZIP_STORED)
            else:
                z.writestr(f"sources/{name}", content)


def _selection_name(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"


def to_qdpx(export: ExportSet) -> bytes:
    buf = io.BytesIO()
    write_qdpx(export, buf)
    return buf.getvalue()


# reading a codebook back --------------------------------------------------------------------------------


@dataclass
class ImportedIndicator:
    name: str
    description: str


@dataclass
class ImportedDimension:
    name: str
    definition: str
    colour: str | None
    indicators: list[ImportedIndicator]


def _colour(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"#[0-9A-Fa-f]{3}", value):
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value.lower() if re.fullmatch(r"#[0-9A-Fa-f]{6}", value) else None


def read_codebook(path: Path) -> list[ImportedDimension]:
    """The codes of a .qdc codebook or of a .qdpx project's codebook: top-level codes are
    dimensions; the codes under them (at any depth, named by their path) are indicators. A
    top-level code with nothing under it becomes a dimension with one indicator of its name."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                data = z.read("project.qde")
        else:
            data = path.read_bytes()
    except KeyError:
        raise UserError(f"{path}: not a REFI-QDA project: it has no project.qde") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the codebook ({exc.strerror or exc})") from None
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise UserError(f"{path}, line {exc.position[0]}: not valid XML ({exc})") from None
    if root.tag == f"{{{CODEBOOK_NS}}}CodeBook":
        ns, codes = CODEBOOK_NS, root.find(f"{{{CODEBOOK_NS}}}Codes")
    elif root.tag == f"{{{PROJECT_NS}}}Project":
        ns, codes = PROJECT_NS, root.find(f"{{{PROJECT_NS}}}CodeBook/{{{PROJECT_NS}}}Codes")
    else:
        raise UserError(f"{path}: not a REFI-QDA codebook (.qdc) or project (.qdpx)")
    if codes is None or not codes.findall(f"{{{ns}}}Code"):
        raise UserError(f"{path}: the codebook holds no codes")

    def description(el: ET.Element) -> str:
        d = el.find(f"{{{ns}}}Description")
        return " ".join((d.text or "").split()) if d is not None else ""

    def name(el: ET.Element) -> str:
        value = " ".join((el.get("name") or "").split())
        if not value:
            raise UserError(f"{path}: a code (guid {el.get('guid')}) has no name")
        return value

    def descendants(el: ET.Element, prefix: str) -> list[ImportedIndicator]:
        out = []
        for child in el.findall(f"{{{ns}}}Code"):
            full = f"{prefix}{name(child)}"
            if child.get("isCodable", "true") != "false" or not child.findall(f"{{{ns}}}Code"):
                out.append(ImportedIndicator(full, description(child)))
            out += descendants(child, full + " / ")
        return out

    dims = []
    for top in codes.findall(f"{{{ns}}}Code"):
        indicators = descendants(top, "") or [ImportedIndicator(name(top), description(top))]
        dims.append(ImportedDimension(name(top), description(top), _colour(top.get("color")), indicators))
    return dims


# Colours for codes that bring none (the tab10 palette, as the bundled guides use).
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "code"


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


@dataclass
class MergedCodebook:
    text: str  # the new guide's TOML
    drafted_links: dict[int, str]  # question number -> name of the dimension linked by its words


def merge_codebook(base: Guide, imported: list[ImportedDimension], *, guide_id: str, replace: bool) -> MergedCodebook:
    """The base guide's TOML with the imported codebook merged in, as a new guide `guide_id`.

    Questions and study facts are the base guide's. A code matches a dimension or indicator of
    the base by id or by name (ignoring case); a match keeps its phrases and question links and
    takes the file's name, colour and definition. With `replace`, what the file lacks is dropped.
    New indicators get their name as their only phrase, which code suggestions start from. When
    no question of the guide is linked to a dimension yet (a guide just written from the
    question list), each is linked to the dimension that shares its rarest words, if any
    (`core.understanding.codebook_draft`), as `drafted_questions`, for the researcher to check.
    """
    raw = tomllib.loads(base.text)
    raw.setdefault("study", {})["id"] = guide_id
    dims: list[dict] = raw.get("dimension", [])

    def same(entry: dict, name: str) -> bool:
        return entry.get("id", "").casefold() == _slug(name) or entry.get("name", "").casefold() == name.casefold()

    dim_ids = {d["id"] for d in dims}
    ind_ids = {i["id"] for d in dims for i in d.get("indicator", [])}
    kept: list[dict] = []
    for n, imp in enumerate(imported):
        entry = next((d for d in dims if same(d, imp.name)), None)
        if entry is None:
            entry = {"id": _unique(_slug(imp.name), dim_ids), "name": imp.name, "questions": [], "indicator": []}
            dims.append(entry)
        entry["name"] = imp.name
        if imp.definition:
            entry["definition"] = imp.definition
        entry["colour"] = imp.colour or entry.get("colour") or _PALETTE[n % len(_PALETTE)]
        old = entry.get("indicator", [])
        merged_inds: list[dict] = []
        for ii in imp.indicators:
            ind = next((i for i in old if same(i, ii.name)), None)
            if ind is None:
                ind = {"id": _unique(_slug(ii.name), ind_ids), "name": ii.name, "phrases": [ii.name]}
            ind["name"] = ii.name
            if ii.description:
                ind["description"] = ii.description
            merged_inds.append(ind)
        if not replace:
            merged_inds += [i for i in old if i not in merged_inds]
        entry["indicator"] = merged_inds
        kept.append(entry)
    raw["dimension"] = kept if replace else kept + [d for d in dims if d not in kept]
    # Only a guide with no question linked yet (one just written from the question list): in
    # a guide with links, a question without one (an opening, a closing question) is meant so.
    drafted: dict[int, str] = {}
    if not any(d.get("questions") or d.get("drafted_questions") for d in raw["dimension"]):
        words_of = [(d["id"], " ".join([d["name"], d.get("definition", ""), *(i["name"] for i in d.get("indicator", []))]))
                    for d in raw["dimension"]]
        questions = [(q["number"], q["text"]) for q in raw.get("question", [])]
        drafted = draft_links(questions, words_of, load_language(base.language))
    by_id = {d["id"]: d for d in raw["dimension"]}
    for number, dim_id in sorted(drafted.items()):
        by_id[dim_id].setdefault("drafted_questions", []).append(number)
    header = ["# Written by fieldnote (codebook import); comments of the guide it came from are not kept."]
    if drafted:
        header += [
            "# `drafted_questions`: questions fieldnote linked to a dimension by the words they share, for",
            "# code suggestions to start from. Each counts until passages coded under the question say",
            "# otherwise. Check them: move a number to `questions` where it is right, delete it where not.",
        ]
    return MergedCodebook(dump_guide(raw, header), {n: by_id[d]["name"] for n, d in drafted.items()})


# A guide's TOML: tables first, then arrays of tables, as guide.py documents the format.


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to a guide")


def _toml_table(lines: list[str], header: str | None, table: dict, prefix: str) -> None:
    if header:
        lines += ["", header]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.append((key, value, True))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value, is_array in nested:
        name = f"{prefix}{key}"
        if is_array:
            for item in value:
                _toml_table(lines, f"[[{name}]]", item, name + ".")
        else:
            _toml_table(lines, f"[{name}]", value, name + ".")


def dump_guide(raw: dict, header: list[str] | None = None) -> str:
    """A guide's TOML, under the comment lines `header`."""
    lines = list(header or ["# Written by fieldnote (codebook import); comments of the guide it came from are not kept."])
    _toml_table(lines, None, raw, "")
    return "\n".join(lines) + "\n"


def import_codebook(path: Path, *, guide_id: str, base: Guide, replace: bool = False, force: bool = False
                    ) -> tuple[Path, MergedCodebook]:
    """Write the guide `guide_id` (the base guide with the codebook merged in) to the user's
    guides folder; the file is validated as a guide before it replaces anything."""
    target = user_guide_path(guide_id, force=force, replaced="its comments are not kept")
    imported = read_codebook(path)
    merged = merge_codebook(base, imported, guide_id=guide_id, replace=replace)
    parse_guide(merged.text, source=f"{path} merged into {base.id}")
    from core.interchange.exporters.files import write_atomic

    paths.ensure_private_dir(target.parent)
    write_atomic(target, merged.text.encode("utf-8"))
    return target, merged
