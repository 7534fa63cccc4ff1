"""Widgets of the live screen: the guide panel, the transcript (with bookmarks) and the status bar."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from core.interchange.export import clock
from core.study.guide import Guide
from core.understanding.suggester import SHOWN_FROM

from tui.widgets.names import contrast


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


class GuidePanel(VerticalScroll):
    """The guide's questions; the current one highlighted, the asked ones ticked."""

    current: reactive[int | None] = reactive(None)

    def __init__(self, guide: Guide, **kwargs) -> None:
        super().__init__(**kwargs)
        self.guide = guide
        self.asked: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Static(self.guide.title, classes="guide-title")
        for q in self.guide.questions:
            yield Static(self._label(q.number), id=f"q{q.number}", classes="question")

    def _label(self, number: int) -> Text:
        q = self.guide.question(number)
        mark = "✓" if number in self.asked else " "
        text = Text(f"{mark} {number:>2}. ", style="bold")
        text.append(q.text)
        if number == self.current and q.probes:
            for probe in q.probes:
                text.append(f"\n      ↳ {probe}", style="italic")
        return text

    def _refresh(self, number: int | None) -> None:
        if number is None or self.guide.question(number) is None:
            return
        widget = self.query_one(f"#q{number}", Static)
        widget.update(self._label(number))
        widget.set_class(number in self.asked, "asked")
        widget.set_class(number == self.current, "current")

    def withdraw(self, number: int) -> None:
        """A question taken as asked that was not (the rest of the interviewer's turn showed it)."""
        self.asked.discard(number)
        self._refresh(number)

    def watch_current(self, old: int | None, new: int | None) -> None:
        if new is not None:
            self.asked.add(new)
        self._refresh(old)
        self._refresh(new)
        if new is not None:
            self.query_one(f"#q{new}", Static).scroll_visible(animate=False)


class SegmentRow(Static):
    """One stored segment: time, speaker, text, and code suggestions as coloured chips."""

    def __init__(self, record: dict, guide: Guide, **kwargs) -> None:
        self.record = record
        self.guide = guide
        super().__init__(self._render_text(), classes=f"segment {record['speaker']}", **kwargs)

    def _render_text(self) -> Text:
        r = self.record
        who = "Interviewer" if r["speaker"] == "interviewer" else "Respondent"
        text = Text(f"{clock(r['start'])} ", style="dim")
        text.append(f"{who}: ", style="bold")
        text.append(r["text"])
        if r.get("asks"):
            text.append(f"  [asks Q{r['asks']}]", style="bold italic")
        chips = r.get("codings", []) + [
            s for s in r.get("suggestions", []) if s.get("state") == "pending" and s["score"] >= SHOWN_FROM
        ]
        if chips:
            text.append("\n      ")
        for chip in chips:
            try:
                dim = self.guide.dimension(chip["dimension_id"])
                colour, name = dim.colour, dim.name
                name += " › " + _short(self.guide.indicator(chip["indicator_id"]).name)
            except KeyError:
                colour, name = "#808080", chip["dimension_id"]
            accepted = "score" not in chip or chip.get("state") == "accepted"
            label = f" {'● ' if accepted else ''}{name}"
            if not accepted:
                label += f" {chip['score']:.2f}"
            label += " "
            style = f"{contrast(colour)} on {colour}" if accepted else f"{colour} on #202020"
            text.append(label, style=style)
            text.append(" ")
        return text

    def refresh_record(self, record: dict) -> None:
        self.record = record
        self.update(self._render_text())


class BookmarkRow(Static):
    """A moment the interviewer marked, with the note typed then."""

    DEFAULT_CSS = """
    BookmarkRow {
        color: $warning;
        text-style: bold;
        padding-bottom: 1;
    }
    """

    def __init__(self, record: dict, **kwargs) -> None:
        self.record = record
        super().__init__(self._render_text(), classes="bookmark", **kwargs)

    def _render_text(self) -> Text:
        text = Text(f"{clock(self.record['at'])} ⚑ bookmark")
        if self.record.get("note"):
            text.append(f": {self.record['note']}", style="not bold")
        return text

    def refresh_record(self, record: dict) -> None:
        self.record = record
        self.update(self._render_text())


class TranscriptView(VerticalScroll, can_focus=True):
    """The transcript as it arrives; follows the newest line unless the user scrolled up."""

    def __init__(self, guide: Guide, **kwargs) -> None:
        super().__init__(**kwargs)
        self.guide = guide
        self.rows: dict[int, SegmentRow] = {}
        self.bookmarks: dict[int, BookmarkRow] = {}

    def _append(self, row: Static) -> None:
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self.mount(row)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)

    def add_segment(self, record: dict) -> SegmentRow:
        row = SegmentRow(record, self.guide, id=f"seg{record['id']}")
        self.rows[record["id"]] = row
        self._append(row)
        return row

    def add_bookmark(self, record: dict) -> BookmarkRow:
        # Shown where the transcript has got to: what was said at that moment may still be
        # on its way from the transcriber. The review screen places it by its time.
        row = BookmarkRow(record, id=f"bookmark{record['id']}")
        self.bookmarks[record["id"]] = row
        self._append(row)
        return row

    def update_bookmark(self, record: dict) -> None:
        row = self.bookmarks.get(record["id"])
        if row is not None:
            row.refresh_record(record)

    def update_segment(self, record: dict) -> None:
        row = self.rows.get(record["id"])
        if row is not None:
            row.refresh_record(record)


class StatusBar(Static):
    """Elapsed time, recording state, transcription lag and the model."""

    elapsed: reactive[float] = reactive(0.0)
    lag: reactive[float] = reactive(0.0)
    state: reactive[str] = reactive("starting")
    segments: reactive[int] = reactive(0)

    def __init__(self, model: str, planned_minutes: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.planned = planned_minutes

    def render(self) -> Text:
        dot = {"recording": "● REC", "replaying": "● REPLAY", "paused": "❚❚ PAUSED"}.get(self.state, self.state.upper())
        text = Text()
        text.append(f" {dot} ", style="bold white on red" if self.state in ("recording", "replaying") else "bold")
        text.append(f"  {clock(self.elapsed)} / {clock(self.planned * 60)}")
        lag_style = "bold yellow" if self.lag > 3 else ""
        text.append(f"   lag {self.lag:4.1f}s", style=lag_style)
        text.append(f"   segments {self.segments}")
        text.append(f"   model {self.model}")
        return text

    def watch_state(self, state: str) -> None:
        self.set_class(state in ("recording", "replaying"), "recording")
