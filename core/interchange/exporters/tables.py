"""The quote table: one row per coded passage, as CSV and as an Excel workbook.

The first nine columns are what a researcher compares passages by (session, respondent, case,
speaker, start time, dimension, indicator, passage, memo); the rest locate the passage exactly
(segment id and code-point offsets in the segment's text as exported) for a pivot table or a
script.

Respondents' words go into cells as they were said. A spreadsheet reads a CSV cell starting with
"=", "+", "-", "@", a tab or a carriage return as a formula ("-- ja, klopt" too), so such a cell
gets a single quote in front, which Excel and LibreOffice show as text; fieldnote reads no CSV
back. The workbook needs no quote: every text cell in it is written as a string cell.
"""

from __future__ import annotations

import csv
import io

from core.interchange.exporters.model import ExportSet

COLUMNS = [
    "session",
    "respondent",
    "case",
    "speaker",
    "start",
    "dimension",
    "indicator",
    "passage",
    "memo",
    "date",
    "start_seconds",
    "segment",
    "start_offset",
    "end_offset",
]


def rows(export: ExportSet) -> list[list]:
    out = []
    for session in export.sessions:
        for seg, c in session.codings:
            memo = "\n".join(m.text for m in c.memos + seg.memos)
            out.append(
                [
                    session.id,
                    session.respondent,
                    session.case or "",
                    seg.name,
                    seg.time if seg.start is not None else "",
                    c.dimension,
                    c.indicator,
                    c.passage,
                    memo,
                    session.date,
                    seg.start if seg.start is not None else "",
                    seg.id,
                    c.start,
                    c.end,
                ]
            )
    return out


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value):
    """A CSV cell a spreadsheet shows as the text it is, never evaluates."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(export: ExportSet) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([neutralised(v) for v in row] for row in rows(export))
    # The byte-order mark makes Excel read the file as UTF-8 rather than the system code page.
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(export: ExportSet) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.properties.creator = "fieldnote"
    wb.properties.lastModifiedBy = "fieldnote"
    wb.properties.title = export.study
    ws = wb.active
    ws.title = "Quotes"
    ws.append(COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    colours = {d.name: d.colour for d in export.dimensions}
    for r, row in enumerate(rows(export), start=2):
        for col, value in enumerate(row, start=1):
            ws.cell(row=r, column=col, value=value)
        dim = ws.cell(row=r, column=COLUMNS.index("dimension") + 1)
        colour = colours.get(dim.value)
        if colour:
            dim.fill = PatternFill("solid", fgColor="FF" + colour[1:].upper())
        for name in ("passage", "memo"):
            ws.cell(row=r, column=COLUMNS.index(name) + 1).alignment = Alignment(wrap_text=True, vertical="top")
    widths = {"passage": 80, "memo": 40, "dimension": 24, "indicator": 32, "case": 24, "speaker": 16}
    for col, name in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = widths.get(name, 12)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{ws.max_row}"

    book = wb.create_sheet("Codebook")
    book.append(["dimension", "colour", "indicator", "definition"])
    for cell in book[1]:
        cell.font = Font(bold=True)
    for d in export.dimensions:
        for i in d.indicators:
            book.append([d.name, d.colour, i.name, i.description or d.definition])
            book.cell(row=book.max_row, column=2).fill = PatternFill("solid", fgColor="FF" + d.colour[1:].upper())
    for col, width in zip("ABCD", (28, 10, 40, 80)):
        book.column_dimensions[col].width = width
    # openpyxl makes a str starting with "=" a formula and "#N/A" an error; a passage starting
    # with "=" is speech, and a code name or definition is text too.
    for sheet in wb.worksheets:
        for line in sheet.iter_rows():
            for cell in line:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
