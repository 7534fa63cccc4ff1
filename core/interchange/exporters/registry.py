"""The export formats and the options every one of them takes: data only, no rendering.

The package (core/interchange/exporters/__init__.py) renders and writes them; the model and the
renderers below it read the options from here, so none of them imports the package that imports
them.
"""

from __future__ import annotations

from dataclasses import dataclass


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
