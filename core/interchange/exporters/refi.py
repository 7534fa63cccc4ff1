"""REFI-QDA exchange written: a project (.qdpx) and a codebook (.qdc) that ATLAS.ti, NVivo,
MAXQDA and QualCoder open. Reading a codebook back into a guide is core/interchange/codebook.py's;
reading a project back, core/interchange/projects.py's.

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
import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from core.base.errors import UserError
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
