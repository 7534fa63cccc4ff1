"""The coded transcript as a Word document, a Markdown file and a standalone HTML page.

Each session opens with its facts (study, respondent number, case, date, duration), then a
legend of the dimensions' colours, then the turns with speaker and time. Coded passages are
shaded in their dimension's colour, as the thesis's colour-coding was done by hand; the
indicator is named beside each passage (a Word comment, an HTML/Markdown marker).
"""

from __future__ import annotations

import html
import io

from core.interchange.exporters.model import DimensionView, ExportSet, SegmentView, SessionView, pieces


def _ink(colour: str) -> str:
    """Black or white text, whichever reads better on the background colour."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def _facts(session: SessionView) -> list[tuple[str, str]]:
    return [
        ("Study", session.study),
        ("Respondent", session.respondent or "—"),
        ("Case", session.case or "—"),
        ("Date", session.date),
        ("Duration", session.length),
        ("Session", str(session.id)),
        ("Guide", f"{session.guide.id}"),
        *([("Transcribed on server", session.servers)] if session.servers else []),
    ]


def _used_dimensions(export: ExportSet, session: SessionView) -> list[DimensionView]:
    used = {c.dimension_id for _, c in session.codings}
    return [d for d in export.dimensions if d.id in used]


def _role(seg: SegmentView) -> str:
    return "Speaker" if seg.name.startswith("Speaker ") else seg.speaker.capitalize()


def _label(c) -> str:
    return f"{c.dimension} / {c.indicator}"


def _bookmark(b) -> str:
    return f"Bookmark [{b.time}]" + (f": {b.note}" if b.note else "")


# Word --------------------------------------------------------------------------------------------


def _shade(run, colour: str) -> None:
    """Shade a run with the exact colour: Word's highlight offers only 16 colours."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rpr = run._r.get_or_add_rPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), colour.lstrip("#").upper())
    # The schema orders rPr's children; these come after w:shd.
    later = {qn(t) for t in ("w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang",
                             "w:eastAsianLayout", "w:specVanish", "w:oMath")}
    for child in rpr:
        if child.tag in later:
            child.addprevious(shd)
            return
    rpr.append(shd)


class _Word:
    """A Word document written turn by turn in time that grows with the turns, not their square.

    python-docx appends a paragraph by looking for the body's section properties among all its
    children, and numbers a comment by reading every comment's number: a session of 100,000
    turns took a quarter of an hour. Here paragraphs go in before the section properties found
    once, and comments are numbered by a counter; each paragraph and comment is still built by
    python-docx, so the XML is the one it writes.
    """

    def __init__(self):
        from docx import Document

        self.doc = Document()
        body = self.doc.element.body
        self._end = body.sectPr
        if self._end is None:
            self._end = body.get_or_add_sectPr()
        self._comments = None  # the comments part, made at the first comment as python-docx does
        self._next_comment = 0

    def paragraph(self, text: str = "", style: str | None = None):
        from docx.oxml import OxmlElement
        from docx.text.paragraph import Paragraph

        p = OxmlElement("w:p")
        self._end.addprevious(p)
        paragraph = Paragraph(p, self.doc._body)
        if text:
            paragraph.add_run(text)
        if style is not None:
            paragraph.style = style
        return paragraph

    def heading(self, text: str, level: int):
        return self.paragraph(text, f"Heading {level}")

    def comment(self, first_run, last_run, text: str, author: str, initials: str) -> None:
        """As `Document.add_comment` does, numbered by the counter."""
        import datetime as dt

        from docx.comments import Comment
        from docx.oxml.ns import nsdecls
        from docx.oxml.parser import parse_xml

        elm = parse_xml(
            f'<w:comment {nsdecls("w")} w:id="{self._next_comment}" w:author="">'
            '<w:p><w:pPr><w:pStyle w:val="CommentText"/></w:pPr>'
            '<w:r><w:rPr><w:rStyle w:val="CommentReference"/></w:rPr><w:annotationRef/></w:r></w:p>'
            "</w:comment>"
        )
        self._next_comment += 1
        if self._comments is None:
            self._comments = self.doc.comments
        self._comments._comments_elm.append(elm)
        elm.author = author
        elm.initials = initials
        elm.date = dt.datetime.now(dt.timezone.utc)
        comment = Comment(elm, self._comments._comments_part)
        lines = text.split("\n")
        comment.paragraphs[0].add_run(lines[0])
        for line in lines[1:]:
            comment.add_paragraph(text=line)
        first_run.mark_comment_range(last_run, comment.comment_id)


def to_docx(export: ExportSet, progress=None) -> bytes:
    """The Word document; `progress(done, total)` hears every 1,000 turns (and at the end)."""
    from docx.enum.text import WD_BREAK
    from docx.shared import Pt, RGBColor

    word = _Word()
    doc = word.doc
    props = doc.core_properties
    props.author = "fieldnote"
    props.last_modified_by = "fieldnote"
    props.title = export.study
    props.comments = ""
    total = sum(len(s.segments) for s in export.sessions)
    done = 0
    for n, session in enumerate(export.sessions):
        if n:
            word.paragraph().add_run().add_break(WD_BREAK.PAGE)
        word.heading(session.title, level=1)
        table = doc.add_table(rows=0, cols=2)
        for key, value in _facts(session):
            cells = table.add_row().cells
            cells[0].paragraphs[0].add_run(key).bold = True
            cells[1].text = value
        for memo in session.memos:
            word.paragraph(f"Memo: {memo.text}", style="Intense Quote")

        used = _used_dimensions(export, session)
        if used:
            word.heading("Legend", level=2)
            for d in used:
                p = word.paragraph()
                swatch = p.add_run("\u00a0" * 6)
                _shade(swatch, d.colour)
                p.add_run(f"  {d.name}").bold = True
                p.add_run(f" ({d.colour}): " + ", ".join(i.name for i in d.indicators))

        word.heading("Transcript", level=2)
        current_q = None
        for seg in session.segments:
            if seg.asks is not None and seg.asks != current_q:
                current_q = seg.asks
                q = session.guide.question(current_q)
                word.heading(f"Question {current_q}: {q.text if q else ''}", level=3)
            _docx_turn(word, seg, Pt, RGBColor)
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(done, total)
    if progress is not None:
        progress(done, total)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _docx_turn(word: _Word, seg: SegmentView, Pt, RGBColor) -> None:
    p = word.paragraph()
    p.add_run(seg.code).bold = True
    time = p.add_run(f" [{seg.time}] ")
    time.font.color.rgb = RGBColor(0x77, 0x77, 0x77)
    time.font.size = Pt(8)
    runs_of: dict[int, list] = {}
    for a, b, covering in pieces(seg):
        run = p.add_run(seg.text[a:b])
        if covering:
            colour = covering[0].colour
            run.font.color.rgb = RGBColor.from_string(_ink(colour)[1:].upper())
            _shade(run, colour)
            for c in covering:
                runs_of.setdefault(c.id, []).append(run)
    for c in seg.codings:
        runs = runs_of.get(c.id)
        if not runs:
            continue
        note = _label(c) + "".join(f"\n{m.text}" for m in c.memos)
        word.comment(runs[0], runs[-1], text=note, author="fieldnote", initials="FN")
    for memo in seg.memos:
        word.paragraph(f"Memo: {memo.text}", style="Intense Quote")
    for b in seg.bookmarks:
        word.paragraph(_bookmark(b), style="Intense Quote")


# Markdown ----------------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#|"})


def _md_text(text: str) -> str:
    return html.escape(text, quote=False).translate(_MD_SPECIAL)


def _marked(seg: SegmentView, text, open_mark, close_mark, marker) -> str:
    out = []
    ends: dict[int, list] = {}
    for c in seg.codings:
        ends.setdefault(c.end, []).append(c)
    for a, b, covering in pieces(seg):
        piece = text(seg.text[a:b])
        out.append(open_mark(covering) + piece + close_mark(covering) if covering else piece)
        out.extend(marker(c) for c in ends.get(b, []) if c.start < c.end)
    return "".join(out)


def to_markdown(export: ExportSet) -> bytes:
    lines: list[str] = []
    for session in export.sessions:
        lines += [f"# {_md_text(session.title)}", ""]
        lines += [f"- **{k}:** {_md_text(v)}" for k, v in _facts(session)]
        speakers = ", ".join(f"{code} = {name}" for code, name in session.speakers.items())
        lines.append(f"- **Speakers:** {_md_text(speakers)}")
        for memo in session.memos:
            lines.append(f"- **Memo:** {_md_text(memo.text)}")
        lines.append("")
        current_q = None
        for seg in session.segments:
            if seg.asks is not None and seg.asks != current_q:
                current_q = seg.asks
                q = session.guide.question(current_q)
                lines += ["", f"## Question {current_q}: {_md_text(q.text) if q else ''}", ""]
            body = _marked(
                seg,
                _md_text,
                lambda cov: f'<mark style="background:{cov[0].colour};color:{_ink(cov[0].colour)}">',
                lambda cov: "</mark>",
                lambda c: f"<sup>[{_md_text(c.indicator)}]</sup>",
            )
            # The layout of the first Markdown export: "**Respondent** (Y1) [00:04]: ...".
            lines.append(f"**{_role(seg)}** ({seg.code}) [{seg.time}]: {body}")
            for c in seg.codings:
                span = "" if c.whole else f" — “{_md_text(c.passage)}”"
                lines.append(f"  - code: **{_md_text(c.dimension)}** / {_md_text(c.indicator)}{span}")
                lines += [f"    - memo: {_md_text(m.text)}" for m in c.memos]
            lines += [f"  - memo: {_md_text(m.text)}" for m in seg.memos]
            lines += [f"  - bookmark [{b.time}]" + (f": {_md_text(b.note)}" if b.note else "") for b in seg.bookmarks]
            if seg.pending:
                chips = ", ".join(f"{_md_text(d)} / {_md_text(i)} ({s:.2f})" for d, i, s in seg.pending)
                lines.append(f"  - suggested: {chips}")
            lines.append("")
        used = _used_dimensions(export, session)
        if used:
            lines += ["## Legend", ""]
            for d in used:
                swatch = f'<span style="background:{d.colour}">&nbsp;&nbsp;&nbsp;&nbsp;</span>'
                inds = ", ".join(_md_text(i.name) for i in d.indicators)
                definition = f": {_md_text(d.definition)}" if d.definition else ""
                lines.append(f"- {swatch} **{_md_text(d.name)}** ({d.colour}){definition} Indicators: {inds}")
            lines.append("")
    return "\n".join(lines).encode("utf-8")


# HTML --------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
table.facts td { padding: 0 1rem 0 0; vertical-align: top; }
table.facts td:first-child { font-weight: bold; }
p.turn .speaker { font-weight: bold; }
p.turn .time { color: #777; font-size: 0.8em; }
mark { padding: 0 0.1em; border-radius: 2px; }
sup.code { color: #555; font-size: 0.7em; }
.memo { border-left: 3px solid #bbb; padding-left: 0.6rem; color: #555; font-style: italic; }
.swatch { display: inline-block; width: 2.5em; height: 1em; vertical-align: middle; }
section.session { page-break-after: always; }
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def to_html(export: ExportSet) -> bytes:
    out = [
        "<!DOCTYPE html>",
        '<html lang="{}">'.format(_esc(export.sessions[0].guide.language if export.sessions else "en")),
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_esc(export.study)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for session in export.sessions:
        out.append(f'<section class="session" data-session="{session.id}">')
        out.append(f"<h1>{_esc(session.title)}</h1>")
        out.append('<table class="facts">')
        out += [f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in _facts(session)]
        out.append("</table>")
        out += [f'<p class="memo">{_esc(m.text)}</p>' for m in session.memos]
        used = _used_dimensions(export, session)
        if used:
            out.append("<h2>Legend</h2>")
            out.append('<ul class="legend">')
            for d in used:
                inds = ", ".join(_esc(i.name) for i in d.indicators)
                definition = f": {_esc(d.definition)}" if d.definition else ""
                out.append(
                    f'<li><span class="swatch" style="background:{d.colour}"></span> '
                    f"<strong>{_esc(d.name)}</strong> ({d.colour}){definition} <em>{inds}</em></li>"
                )
            out.append("</ul>")
        out.append("<h2>Transcript</h2>")
        current_q = None
        for seg in session.segments:
            if seg.asks is not None and seg.asks != current_q:
                current_q = seg.asks
                q = session.guide.question(current_q)
                out.append(f"<h3>Question {current_q}: {_esc(q.text) if q else ''}</h3>")
            body = _marked(
                seg,
                _esc,
                lambda cov: (
                    f'<mark data-codings="{" ".join(str(c.id) for c in cov)}" '
                    f'style="background:{cov[0].colour};color:{_ink(cov[0].colour)}" '
                    f'title="{_esc("; ".join(_label(c) for c in cov))}">'
                ),
                lambda cov: "</mark>",
                lambda c: f'<sup class="code" data-coding="{c.id}">{_esc(c.indicator)}</sup>',
            )
            out.append(
                f'<p class="turn" data-segment="{seg.id}" data-speaker="{seg.speaker}">'
                f'<span class="speaker" title="{_esc(seg.name)}">{_esc(seg.code)}</span> '
                f'<span class="time">[{seg.time}]</span> <span class="text">{body}</span></p>'
            )
            for c in seg.codings:
                out += [f'<p class="memo" data-coding="{c.id}">{_esc(_label(c))}: {_esc(m.text)}</p>' for m in c.memos]
            out += [f'<p class="memo">{_esc(m.text)}</p>' for m in seg.memos]
            out += [f'<p class="memo bookmark" data-bookmark="{b.id}">{_esc(_bookmark(b))}</p>' for b in seg.bookmarks]
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")
