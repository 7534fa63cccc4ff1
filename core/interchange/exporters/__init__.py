"""Export formats, one registry: what `fieldnote export` and the TUI's export dialog offer.

Every format renders from the same model (core/interchange/exporters/model.py), so pseudonymisation and
respondent numbers apply to all of them alike. The JSON-lines contract is core/interchange/export.py's,
unchanged; with pseudonymisation its texts and offsets go through the same replacement.

Formats marked per-session (subtitles, plain transcript) describe one recording: several
sessions become one file each in a folder. Files are written atomically (a temporary file in
the same folder, then a rename) and readable by the user only.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.base import paths
from core.base.errors import UserError

__all__ = ["FORMATS", "ExportFormat", "ExportOptions", "ExportFile", "render", "write_atomic", "write_export"]


@dataclass(frozen=True)
class ExportOptions:
    pseudonymise: bool = False
    respondent_names: bool = False  # show respondents and speakers as recorded, not by number
    audio: bool = False  # REFI-QDA: add each session's recording with the transcript synced
    # False: the transcripts alone, without codings and open suggestions, for a second coder to
    # code without seeing the first coder's codes (see core/analysis/agreement.py)
    codings: bool = True


@dataclass(frozen=True)
class ExportFormat:
    name: str
    extension: str
    description: str
    renderer: str  # "module:function", imported when used: python-docx and openpyxl load slowly
    binary: bool = False
    per_session: bool = False


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in [
        ExportFormat("md", ".md", "coded transcript, Markdown", "transcript:to_markdown"),
        ExportFormat("jsonl", ".jsonl", "one JSON object per turn (the stable contract)", ""),
        ExportFormat("docx", ".docx", "coded transcript, Word, passages shaded in their dimension's colour",
                     "transcript:to_docx", binary=True),
        ExportFormat("html", ".html", "coded transcript, a standalone web page", "transcript:to_html"),
        ExportFormat("csv", ".csv", "quote table: one row per coded passage", "tables:to_csv"),
        ExportFormat("xlsx", ".xlsx", "quote table as an Excel workbook, with the codebook", "tables:to_xlsx",
                     binary=True),
        ExportFormat("qdpx", ".qdpx", "REFI-QDA project for ATLAS.ti, NVivo, MAXQDA, QualCoder", "refi:to_qdpx",
                     binary=True),
        ExportFormat("qdc", ".qdc", "REFI-QDA codebook", "refi:to_qdc"),
        ExportFormat("srt", ".srt", "subtitles with speaker names", "subtitles:to_srt", per_session=True),
        ExportFormat("vtt", ".vtt", "WebVTT subtitles with speaker names", "subtitles:to_vtt", per_session=True),
        ExportFormat("txt", ".txt", "plain transcript in the thesis layout (X: ... / Y: ...)", "subtitles:to_txt",
                     per_session=True),
    ]
}


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


def render(store, session_ids: list[int], fmt_name: str, options: ExportOptions = ExportOptions(),
           notes: list[str] | None = None) -> list[ExportFile]:
    """The export as bytes: one file, or one per session for per-session formats."""
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
    function = _renderer(fmt)
    if fmt.per_session:
        return [ExportFile(f"session-{s.id}{fmt.extension}", function(s)) for s in export.sessions]
    if fmt.name == "qdpx":
        import io

        from core.interchange.exporters.refi import write_qdpx

        buf = io.BytesIO()
        write_qdpx(export, buf, notes)
        return [ExportFile("", buf.getvalue())]
    return [ExportFile("", function(export))]


# A temporary file write_atomic made: ".NAME.EXT.<mkstemp's 8 characters>.part".
_PART = re.compile(r"\..+(%s)\.[A-Za-z0-9_]{8}\.part" % "|".join(re.escape(f.extension) for f in FORMATS.values()))


def _hold(fd: int) -> None:
    """Lock a temporary file while it is written; the lock dies with its process, so a file
    nobody holds was left by an export that was killed."""
    try:
        import fcntl
    except ImportError:  # Windows: a file open in another process cannot be deleted anyway
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)



def remove_stale_parts(folder: Path) -> list[Path]:
    """Delete the temporary files that exports killed midway left in `folder`; those removed.

    A concurrent export's file is held until its rename and stays. (One created an instant ago
    and not yet held could go; that export then fails with a message, it writes nothing wrong.)
    """
    removed = []
    try:
        parts = [p for p in Path(folder).iterdir() if _PART.fullmatch(p.name)]
    except OSError:
        return removed
    for part in parts:
        try:
            if not paths.held_by_another(part):
                part.unlink()
                removed.append(part)
        except OSError:
            pass
    return removed


def _cannot_write(path: Path, exc: OSError) -> UserError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"{path}: the disk is full, so the export was not written (no part of it was left "
                         "there). Free some space on that disk, or export to another disk")
    return UserError(f"{path}: cannot write the export ({exc.strerror or exc})")


def write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    path = Path(path)
    remove_stale_parts(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _hold(f.fileno())  # until the rename: a concurrent export's cleanup leaves it alone
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, exc) from None


def write_export(store, session_ids: list[int], fmt_name: str, output: Path | None,
                 options: ExportOptions = ExportOptions(), notes: list[str] | None = None) -> list[Path]:
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
    files = render(store, session_ids, fmt_name, options, notes)
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
