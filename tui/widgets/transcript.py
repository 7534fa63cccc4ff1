"""The review screen's transcript: every segment of a session with its time, speaker and text,
coded passages underlined in their dimension's colour, code chips and open suggestions, memos
and bookmarks; the segment under the cursor is the selected one.

It is drawn with Textual's line API: only the lines on screen are rendered, so an hour-long
session opens as fast as a short one.
"""

from __future__ import annotations

import bisect
import re

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from core.interchange.export import clock
from core.study.guide import Guide

from tui.widgets.names import code_names, contrast, who
from tui.widgets.rows import CursorList, navigation_bindings


def bookmark_text(b: dict) -> str:
    """A bookmark as the transcript and the details pane show it: its time and its note."""
    return f"⚑ {clock(b['at'])} bookmark" + (f": {b['note']}" if b.get("note") else "")


_WORD = re.compile(r"\S+")


def wrap_spans(text: str, width: int) -> list[tuple[int, int]]:
    """Greedy word wrap of plain text to `width` cells, as (start, end) of each line."""
    spans: list[tuple[int, int]] = []
    start = end = used = 0
    first = True
    for m in _WORD.finditer(text):
        a, b = m.span()
        word = text[a:b]
        n = len(word) if word.isascii() else cell_len(word)
        gap = a - end
        if first:
            start, end, used, first = a, b, n, False
        elif used + gap + n <= width:
            end, used = b, used + gap + n
        else:
            spans.append((start, end))
            start, end, used = a, b, n
        while used > width and end - start > 1:  # a word longer than a line is cut
            cut = start + max(1, width)
            spans.append((start, cut))
            start = cut
            used = cell_len(text[start:end])
    spans.append((start, end))
    return spans


class TranscriptList(CursorList):
    """The session's segments: time, speaker, text with coded spans marked, code chips and
    pending suggestions, memos. The segment under the cursor is the selected one."""

    COMPONENT_CLASSES = {
        "transcript--selected",
        "transcript--playing",
        "transcript--header",
        "transcript--interviewer",
        "transcript--memo",
        "transcript--bookmark",
    }
    # The scrollbar's room is kept even before the transcript is long enough to need one, so
    # lines wrapped for one width are never cut when it appears.
    DEFAULT_CSS = """
    TranscriptList {
        scrollbar-gutter: stable;
    }
    TranscriptList > .transcript--bookmark {
        color: $warning;
        text-style: bold;
    }
    """
    BINDINGS = navigation_bindings("Previous segment", "Next segment", "First segment", "Last segment")

    class SegmentSelected(Message):
        def __init__(self, transcript: "TranscriptList", record: dict | None) -> None:
            super().__init__()
            self.transcript = transcript
            self.record = record

        @property
        def control(self) -> "TranscriptList":
            return self.transcript

    def __init__(self, guide: Guide, **kwargs) -> None:
        super().__init__(**kwargs)
        self.guide = guide
        self.records: list[dict] = []
        self.playing_id: int | None = None
        self._index: dict[int, int] = {}
        self._heights: dict[int, tuple[str, int]] = {}  # segment id -> (signature, lines)
        self._blocks: dict[int, list[Text]] = {}
        self._strips: dict[int, list[Strip]] = {}
        self._offsets: list[int] = []
        self._width = 0

    # data ---------------------------------------------------------------------------------------

    def set_records(self, records: list[dict], *, select_id: int | None = None) -> None:
        keep = select_id if select_id is not None else self.current_id
        self.records = records
        self._index = {r["id"]: i for i, r in enumerate(records)}
        self._layout()
        index = self._index.get(keep, min(self.cursor, len(records) - 1)) if records else 0
        self.cursor = max(0, index)

    @property
    def current(self) -> dict | None:
        return self.records[self.cursor] if 0 <= self.cursor < len(self.records) else None

    @property
    def current_id(self) -> int | None:
        return self.current["id"] if self.current else None

    def select_id(self, segment_id: int) -> None:
        if segment_id in self._index:
            self.cursor = self._index[segment_id]

    def set_playing(self, segment_id: int | None) -> None:
        if segment_id != self.playing_id:
            self.playing_id = segment_id
            self.refresh()

    # layout -------------------------------------------------------------------------------------

    @staticmethod
    def _signature(r: dict) -> str:
        return repr((
            r["text"], r["speaker"], r.get("speaker_label"), r["start"], r["end"], r["edited"], r.get("asks"),
            [(c["id"], c["indicator_id"], c["start_offset"], c["end_offset"]) for c in r.get("codings", [])],
            [(s["id"], s["state"], s["indicator_id"]) for s in r.get("suggestions", [])],
            [m["text"] for m in r.get("memos", [])],
            [(b["id"], b["at"], b["note"]) for b in r.get("bookmarks", [])],
        ))

    def _chips(self, r: dict) -> list[Text]:
        chips: list[Text] = []
        for c in r.get("codings", []):
            dim, _, colour = code_names(self.guide, c["dimension_id"], c["indicator_id"])
            mark = "“” " if c["start_offset"] is not None else "● "
            chips.append(Text(f" {mark}{dim} ", style=f"{contrast(colour)} on {colour}"))
        for x in r.get("suggestions", []):
            if x["state"] == "pending":
                dim, _, colour = code_names(self.guide, x["dimension_id"], x["indicator_id"])
                chips.append(Text(f" ○ {dim} {x['score']:.2f} ", style=f"{colour} on #202020"))
        return chips

    @staticmethod
    def _pack(lengths: list[int], width: int) -> list[list[int]]:
        """Chips on lines: they wrap between chips, never inside one."""
        lines: list[list[int]] = []
        used = width
        for i, n in enumerate(lengths):
            if used + n + 1 > width and (not lines or lines[-1]):
                lines.append([])
                used = 2
            lines[-1].append(i)
            used += n + 1
        return lines

    def _height(self, r: dict, width: int) -> int:
        inner = max(10, width - 3)
        chips = self._chips(r)
        height = 2 + len(wrap_spans(r["text"], inner)) + len(self._pack([c.cell_len for c in chips], width - 1))
        height += sum(len(wrap_spans(f"✉ {m['text']}", inner)) for m in r.get("memos", []))
        return height + sum(len(wrap_spans(bookmark_text(b), inner)) for b in r.get("bookmarks", []))

    def _compose_block(self, r: dict, width: int) -> list[Text]:
        """The block's lines, drawn only when it comes on screen; as many as `_height` says."""
        inner = max(10, width - 3)
        header = Text(f"{clock(r['start'])} ", style="bold")
        header.append(who(r), style="bold" if r["speaker"] == "respondent" else "")
        if r["edited"]:
            header.append("  ✎ edited", style="italic")
        if r.get("asks"):
            header.append(f"  asks Q{r['asks']}", style="bold italic")
        # Bookmarks made before the segment began (before anyone spoke) come above it, the
        # rest below it: between this segment and the next, where they were made.
        marks: dict[bool, list[Text]] = {True: [], False: []}
        style = self.get_component_rich_style("transcript--bookmark", partial=True)
        for b in r.get("bookmarks", []):
            mark = bookmark_text(b)
            before = b["at"] < (r["start"] or 0.0)
            marks[before] += [Text("  " + mark[a:c], style=style) for a, c in wrap_spans(mark, inner)]
        lines = [*marks[True], header]
        body = Text(r["text"])
        for c in r.get("codings", []):
            if c["start_offset"] is not None:
                _, _, colour = code_names(self.guide, c["dimension_id"], c["indicator_id"])
                body.stylize(Style(color=colour, underline=True, bold=True), c["start_offset"], c["end_offset"])
        lines += [Text("  ") + body[a:b] for a, b in wrap_spans(r["text"], inner)]
        chips = self._chips(r)
        for row in self._pack([c.cell_len for c in chips], width - 1):
            line = Text("  ")
            for i in row:
                line.append_text(chips[i])
                line.append(" ")
            lines.append(line)
        for m in r.get("memos", []):
            memo = f"✉ {m['text']}"
            lines += [Text("  " + memo[a:b], style="italic") for a, b in wrap_spans(memo, inner)]
        lines += marks[False]
        lines.append(Text(""))
        return lines

    def _layout(self) -> None:
        """Only heights are worked out for every segment (plain-text wrapping, a few
        milliseconds an hour); the lines themselves are drawn as they come on screen."""
        width = self.scrollable_content_region.width or self.size.width
        if not width:
            return  # not laid out yet: on_resize lays the transcript out at its real width
        if width != self._width:
            self._heights.clear()
            self._blocks.clear()
            self._width = width
        offsets, total = [], 0
        live = set()
        for r in self.records:
            sig = self._signature(r)
            cached = self._heights.get(r["id"])
            if cached is None or cached[0] != sig:
                cached = (sig, self._height(r, width))
                self._heights[r["id"]] = cached
                self._blocks.pop(r["id"], None)
                self._strips.pop(r["id"], None)
            live.add(r["id"])
            offsets.append(total)
            total += cached[1]
        for gone in set(self._heights) - live:
            del self._heights[gone]
            self._blocks.pop(gone, None)
        self._offsets = offsets
        self.virtual_size = Size(width, total)
        self.refresh()

    def on_resize(self) -> None:
        self._strips.clear()
        self._layout()
        self.scroll_to_cursor()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        line = self.scroll_offset.y + y
        if not self.records or not self._offsets or line >= self.virtual_size.height:
            return Strip.blank(width)
        index = bisect.bisect_right(self._offsets, line) - 1
        r = self.records[index]
        strips = self._strips.get(r["id"])
        if strips is None:
            console = self.app.console
            base = self.get_component_rich_style("transcript--interviewer") if r["speaker"] == "interviewer" else Style()
            strips = []
            block = self._blocks.get(r["id"])
            if block is None:
                block = self._blocks[r["id"]] = self._compose_block(r, self._width)
            for text in block:
                segments = list(text.render(console, ""))
                strip = Strip(segments).extend_cell_length(width - 1).crop(0, width - 1)
                strips.append(strip.apply_style(base) if base else strip)
            self._strips[r["id"]] = strips
        strip = strips[line - self._offsets[index]]
        gutter = " "
        style = None
        if r["id"] == self.playing_id:
            gutter = "▶"
            style = self.get_component_rich_style("transcript--playing")
        if index == self.cursor:
            style = self.get_component_rich_style("transcript--selected")
            if not self.has_focus:
                style += Style(dim=True)
        if style is not None:
            strip = strip.apply_style(style)
        return Strip.join([Strip([Segment(gutter, style or Style())]), strip])

    # moving -------------------------------------------------------------------------------------

    @property
    def item_count(self) -> int:
        return len(self.records)

    def item_region(self, index: int) -> Region | None:
        if not (self._offsets and 0 <= index < len(self._offsets) and index < len(self.records)):
            return None  # not laid out yet
        return Region(0, self._offsets[index], 1, self._heights[self.records[index]["id"]][1])

    def cursor_moved(self) -> None:
        self.post_message(self.SegmentSelected(self, self.current))

    def action_page(self, direction: int) -> None:
        # A page is the screen's height in lines: the segment at that line, however many it passes.
        target = self.scroll_offset.y + direction * max(1, self.size.height - 2)
        self.move_cursor_to(bisect.bisect_right(self._offsets, max(0, target)) - 1)

    def on_click(self, event) -> None:
        line = self.scroll_offset.y + event.y
        if self._offsets and line < self.virtual_size.height:
            self.cursor = bisect.bisect_right(self._offsets, line) - 1
        self.focus()
