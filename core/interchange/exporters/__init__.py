"""Export formats, one registry: what `fieldnote export` and the TUI's export dialog offer.

Every format renders from the same model (core/interchange/exporters/model.py), so pseudonymisation and
respondent numbers apply to all of them alike. The JSON-lines contract is core/interchange/export.py's,
unchanged; with pseudonymisation its texts and offsets go through the same replacement.

Formats marked per-session (subtitles, plain transcript) describe one recording: several
sessions become one file each in a folder. Files are written atomically (a temporary file in
the same folder, then a rename) and readable by the user only.

The formats and their options are data in registry.py, the atomic writing is files.py: the model
and the renderers read those, and so never import this package, which imports them.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.base.errors import UserError
from core.interchange.exporters.files import write_atomic
from core.interchange.exporters.registry import FORMATS, ExportFormat, ExportOptions

__all__ = ["FORMATS", "ExportFormat", "ExportOptions", "ExportFile", "render", "write_atomic", "write_export"]


@dataclass(frozen=True)
class ExportFile:
    name: str  # a file name for per-session formats, else ""
    data: bytes


def _renderer(fmt: ExportFormat):
    module, function = fmt.renderer.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def _jsonl(store, session_ids: list[int], options: ExportOptions) -> bytes:
    from core.interchange.export import segment_records, to_jsonl
    from core.interchange.pseudonymise import pseudonymiser

    p = pseudonymiser(store) if options.pseudonymise else None
    if not p:
        return "".join(to_jsonl(store, sid) for sid in session_ids).encode("utf-8")
    lines = []
    for sid in session_ids:
        for record in segment_records(store, sid):
            replaced = p.replace(record["text"])
            record["text"] = replaced.text
            record["speaker_label"] = p.text(record["speaker_label"])
            for s in record["suggestions"]:
                s["dimension"], s["indicator"], s["reason"] = p.text(s["dimension"]), p.text(s["indicator"]), p.text(s["reason"])
            for c in record["codings"]:
                c["dimension"], c["indicator"] = p.text(c["dimension"]), p.text(c["indicator"])
                if "start_offset" in c:
                    c["start_offset"] = replaced.position(c["start_offset"], end=False)
                    c["end_offset"] = replaced.position(c["end_offset"], end=True)
                    c["passage"] = replaced.text[c["start_offset"] : c["end_offset"]]
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


# Formats whose files are XML inside: python-docx and openpyxl refuse the control characters
# XML cannot hold, ElementTree writes them into a project no program reads back
# (core/interchange/exporters/xmltext.py).
XML_TEXT_FORMATS = ("docx", "xlsx", "qdpx")
# Formats whose renderer reports its progress: `progress(done, total)` in turns.
PROGRESS_FORMATS = ("docx",)


def render(store, session_ids: list[int], fmt_name: str, options: ExportOptions = ExportOptions(),
           notes: list[str] | None = None, progress=None) -> list[ExportFile]:
    """The export as bytes: one file, or one per session for per-session formats. `notes`
    gains what the export changed to be written (said on stderr by the command line);
    `progress(done, total)` hears how far a long export is, for formats that say."""
    if fmt_name not in FORMATS:
        raise UserError(f"no export format {fmt_name!r} (formats: {', '.join(FORMATS)})")
    if not session_ids:
        raise UserError("no sessions to export (see `fieldnote sessions`)")
    for sid in session_ids:
        store.session(sid)  # a clear error for an unknown id
    fmt = FORMATS[fmt_name]
    if fmt.name == "jsonl":
        return [ExportFile("", _jsonl(store, session_ids, options))]
    from core.interchange.exporters.model import build

    export = build(store, session_ids, options)
    if fmt.name in XML_TEXT_FORMATS:
        from core.interchange.exporters.xmltext import xml_safe

        export, note = xml_safe(export, fmt.name)
        if note and notes is not None:
            notes.append(note)
    function = _renderer(fmt)
    if progress is not None and fmt.name in PROGRESS_FORMATS:
        return [ExportFile("", function(export, progress=progress))]
    if fmt.per_session:
        return [ExportFile(f"session-{s.id}{fmt.extension}", function(s)) for s in export.sessions]
    if fmt.name == "qdpx":
        import io

        from core.interchange.exporters.refi import write_qdpx

        buf = io.BytesIO()
        write_qdpx(export, buf, notes)
        return [ExportFile("", buf.getvalue())]
    return [ExportFile("", function(export))]


def write_export(store, session_ids: list[int], fmt_name: str, output: Path | None,
                 options: ExportOptions = ExportOptions(), notes: list[str] | None = None,
                 progress=None) -> list[Path]:
    """Render and write to `output`; None means standard output for the text formats. Returns
    the files written (none for standard output)."""
    import sys

    fmt = FORMATS.get(fmt_name)
    if fmt is None:
        raise UserError(f"no export format {fmt_name!r} (formats: {', '.join(FORMATS)})")
    several = fmt.per_session and len(session_ids) > 1
    if output is None and fmt.binary:
        raise UserError(f"{fmt.name} is a binary format: give a file with -o FILE{fmt.extension}")
    if output is None and several:
        raise UserError(f"{fmt.name} writes one file per session: give a folder with -o FOLDER")
    files = render(store, session_ids, fmt_name, options, notes, progress)
    if output is None:
        sys.stdout.write(files[0].data.decode("utf-8"))
        sys.stdout.flush()
        return []
    output = Path(output).expanduser()
    if several or output.is_dir():
        if output.exists() and not output.is_dir():
            raise UserError(f"{output} is a file; {fmt.name} for several sessions needs a folder")
        output.mkdir(parents=True, exist_ok=True, mode=0o700)
        written = []
        for f in files:
            target = output / (f.name or f"fieldnote-export{fmt.extension}")
            write_atomic(target, f.data)
            written.append(target)
        return written
    if not output.parent.is_dir():
        raise UserError(f"{output}: cannot write the export (there is no folder {output.parent})")
    write_atomic(output, files[0].data)
    return [output]
