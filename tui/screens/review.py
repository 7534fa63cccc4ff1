"""The review screen: read, play back, correct and code one session after the interview.

The transcript is drawn with Textual's line API: only the lines on screen are rendered, so an
hour-long session opens as fast as a short one. Every correction goes through core/store/review.py
(one transaction each, undoable); the screen then re-reads the session and redraws what changed.
"""

from __future__ import annotations

import bisect
import re
import threading
import time

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Header, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from core.store import review
from core.base.errors import UserError
from core.interchange.export import clock
from core.study.guide import Guide
from core.store.review import SessionForReview
from core.store.database import Store

from tui.screens.dialogs import (
    BookmarkNoteDialog, ChoiceDialog, IndicatorPicker, MemoDialog, PositionDialog, RetranscribeDialog, TextDialog,
)
from tui.widgets.keybar import KeyBar
from tui.widgets.palette import ScreenActions
from tui.widgets.rows import CursorList, navigation_bindings

DEFAULT_RETRANSCRIBE_MODEL = "base"
SYNC_LOAD_SEGMENTS = 5000


def _contrast(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "#ffffff"


def _names(guide: Guide, dimension_id: str, indicator_id: str) -> tuple[str, str, str]:
    try:
        dim = guide.dimension(dimension_id)
        dim_name, colour = dim.name, dim.colour
    except KeyError:
        dim_name, colour = dimension_id, "#808080"
    try:
        ind_name = guide.indicator(indicator_id).name
    except KeyError:
        ind_name = indicator_id
    return dim_name, ind_name, colour


def _who(record: dict) -> str:
    who = "Interviewer" if record["speaker"] == "interviewer" else "Respondent"
    return f"{who} ({record['speaker_label']})" if record.get("speaker_label") else who


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

    @staticmethod
    def _bookmark_text(b: dict) -> str:
        return f"⚑ {clock(b['at'])} bookmark" + (f": {b['note']}" if b.get("note") else "")

    def _chips(self, r: dict) -> list[Text]:
        chips: list[Text] = []
        for c in r.get("codings", []):
            dim, _, colour = _names(self.guide, c["dimension_id"], c["indicator_id"])
            mark = "“” " if c["start_offset"] is not None else "● "
            chips.append(Text(f" {mark}{dim} ", style=f"{_contrast(colour)} on {colour}"))
        for x in r.get("suggestions", []):
            if x["state"] == "pending":
                dim, _, colour = _names(self.guide, x["dimension_id"], x["indicator_id"])
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
        return height + sum(len(wrap_spans(self._bookmark_text(b), inner)) for b in r.get("bookmarks", []))

    def _compose_block(self, r: dict, width: int) -> list[Text]:
        """The block's lines, drawn only when it comes on screen; as many as `_height` says."""
        inner = max(10, width - 3)
        header = Text(f"{clock(r['start'])} ", style="bold")
        header.append(_who(r), style="bold" if r["speaker"] == "respondent" else "")
        if r["edited"]:
            header.append("  ✎ edited", style="italic")
        if r.get("asks"):
            header.append(f"  asks Q{r['asks']}", style="bold italic")
        # Bookmarks made before the segment began (before anyone spoke) come above it, the
        # rest below it: between this segment and the next, where they were made.
        marks: dict[bool, list[Text]] = {True: [], False: []}
        style = self.get_component_rich_style("transcript--bookmark", partial=True)
        for b in r.get("bookmarks", []):
            mark = self._bookmark_text(b)
            before = b["at"] < (r["start"] or 0.0)
            marks[before] += [Text("  " + mark[a:c], style=style) for a, c in wrap_spans(mark, inner)]
        lines = [*marks[True], header]
        body = Text(r["text"])
        for c in r.get("codings", []):
            if c["start_offset"] is not None:
                _, _, colour = _names(self.guide, c["dimension_id"], c["indicator_id"])
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


def _next_of(indexes: list[int], here: int, delta: int) -> int | None:
    """The first of the (ascending) `indexes` after `here`, or with a negative `delta` the last
    before it; None when there is none."""
    ahead = [i for i in indexes if i > here] if delta > 0 else [i for i in reversed(indexes) if i < here]
    return ahead[0] if ahead else None


class ReviewScreen(Screen):
    """One session: its transcript, the selected segment's codes and memos, playback."""

    CSS_PATH = "review.tcss"
    COMMANDS = Screen.COMMANDS | {ScreenActions}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("space", "play", "Play/stop"),
        Binding("e", "edit", "Edit text"),
        Binding("s", "split", "Split"),
        Binding("m", "merge", "Merge with next", show=False),
        Binding("t", "speaker", "Change speaker", show=False),
        Binding("a", "accept", "Accept"),
        Binding("r", "reject", "Reject"),
        Binding("h", "change", "Change suggestion", show=False),
        Binding("c", "code", "Code"),
        Binding("v", "code_span", "Code span"),
        Binding("x", "uncode", "Remove coding", show=False),
        Binding("right_square_bracket", "chip(1)", "Next code", show=False),
        Binding("left_square_bracket", "chip(-1)", "Previous code", show=False),
        Binding("n", "memo", "Memo"),
        Binding("u", "undo", "Undo"),
        Binding("ctrl+r", "redo", "Redo", show=False),
        Binding("plus,equals_sign", "speed(1)", "Faster playback", show=False),
        Binding("minus", "speed(-1)", "Slower playback", show=False),
        Binding("R", "retranscribe", "Re-transcribe", show=False),
        Binding("o", "export", "Export", show=False),
        Binding("b", "bookmark(1)", "Next bookmark", show=False),
        Binding("B", "bookmark(-1)", "Previous bookmark", show=False),
        Binding("f", "bookmark_note", "Bookmark note", show=False),
        Binding("J", "open_suggestion(1)", "Next open suggestion", show=False),
        Binding("K", "open_suggestion(-1)", "Previous open suggestion", show=False),
        Binding("A", "accept_confident", "Accept confident suggestions", show=False),
    ]

    def __init__(
        self,
        store: Store,
        session_id: int,
        *,
        select: int | None = None,
        player_factory=None,
        retranscribe_fn=None,
    ) -> None:
        super().__init__()
        self.store = store
        self.session_id = session_id
        self.select_on_load = select
        self.data: SessionForReview | None = None
        self.player = None
        self._player_factory = player_factory
        self._retranscribe = retranscribe_fn
        self._stop = threading.Event()
        self._progress_at = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="review-body"):
            yield TranscriptList(review.guide_of_session(self.store, self.session_id), id="transcript")
            with Vertical(id="details"):
                yield Static("", id="segment-info")
                yield Static("Codes: a accept · r reject · x remove", classes="pane-title")
                yield OptionList(id="chips")
                yield Static("", id="memos")
        with Horizontal(id="review-status"):
            yield Static("Loading…", id="playback")
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Static("", id="progress-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = f"session {self.session_id}"
        self.query_one("#progress").display = False
        self.query_one("#chips", OptionList).can_focus = False
        self.query_one(TranscriptList).focus()
        # An hour of transcript is read in about 3 ms (bench/bench_review.py): sessions of up to
        # many hours are shown in the first frame; longer ones are read in a worker.
        if self._segment_count() <= SYNC_LOAD_SEGMENTS:
            self._show(review.load_session(self.store, self.session_id))
        else:
            self.load()

    def on_unmount(self) -> None:
        # Leaving the session stops its re-transcription; nothing of it is written.
        self._stop.set()
        if self.player is not None:
            self.player.stop()

    # loading ------------------------------------------------------------------------------------

    def _segment_count(self) -> int:
        return self.store.segment_count(self.session_id)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self) -> None:
        # A worker thread has its own connection: sqlite3 objects stay in their thread.
        store = Store.open_like(self.store)
        try:
            data = review.load_session(store, self.session_id)
        finally:
            store.close()
        self.app.call_from_thread(self._show, data)

    def _show(self, data: SessionForReview, select_id: int | None = None) -> None:
        self.data = data
        s = data.session
        who = " · ".join(x for x in (f"respondent {s['respondent']}" if s["respondent"] else None, s["case_name"]) if x)
        self.sub_title = f"session {self.session_id} · {s['title'] or data.guide.title}" + (f" · {who}" if who else "")
        transcript = self.query_one(TranscriptList)
        transcript.guide = data.guide
        select = select_id if select_id is not None else self.select_on_load
        self.select_on_load = None
        transcript.set_records(data.segments, select_id=select)
        self._status()

    def reload(self, select_id: int | None = None) -> None:
        """Re-read the session after an edit (a few milliseconds for an hour's transcript)."""
        self._show(review.load_session(self.store, self.session_id), select_id)

    # the selected segment -----------------------------------------------------------------------

    @property
    def segment(self) -> dict | None:
        return self.query_one(TranscriptList).current

    @on(TranscriptList.SegmentSelected)
    def segment_selected(self, event: TranscriptList.SegmentSelected) -> None:
        self._details(event.record)

    def _details(self, r: dict | None) -> None:
        info = self.query_one("#segment-info", Static)
        chips = self.query_one("#chips", OptionList)
        memos = self.query_one("#memos", Static)
        chips.clear_options()
        if r is None or self.data is None:
            info.update("No segments in this session yet.")
            memos.update("")
            return
        guide = self.data.guide
        text = Text(f"{_who(r)}  {clock(r['start'])}–{clock(r['end'])}", style="bold")
        if r["edited"]:
            text.append("  ✎ edited", style="italic")
        q = guide.question(r.get("question"))
        if q is not None:
            text.append(f"\nQ{q.number}: {q.text}", style="dim")
        if r.get("asr_text") and r["asr_text"] != r["text"]:
            text.append("\nHeard: ", style="bold dim")
            text.append(r["asr_text"], style="dim")
        info.update(text)
        for c in r["codings"]:
            dim, ind, colour = _names(guide, c["dimension_id"], c["indicator_id"])
            prompt = Text("● ", style=colour)
            prompt.append(f"{dim} / {ind}")
            if c["start_offset"] is not None:
                prompt.append(f"\n   “{r['text'][c['start_offset']:c['end_offset']]}”", style="italic")
            chips.add_option(Option(prompt, id=f"c{c['id']}"))
        for s in r["suggestions"]:
            if s["state"] != "pending":
                continue
            dim, ind, colour = _names(guide, s["dimension_id"], s["indicator_id"])
            prompt = Text("○ ", style=colour)
            prompt.append(f"{dim} / {ind}", style="italic")
            prompt.append(f"  {s['score']:.2f} suggested", style="dim")
            if s.get("reason"):
                # Why it was suggested: the phrases heard, the question, a passage coded before.
                prompt.append(f"\n   {s['reason']}", style="dim")
            chips.add_option(Option(prompt, id=f"s{s['id']}"))
        if chips.option_count:
            pending = [i for i in range(chips.option_count) if chips.get_option_at_index(i).id.startswith("s")]
            chips.highlighted = pending[0] if pending else 0
        else:
            chips.add_option(Option(Text("No codes yet: c codes the segment, v a span.", style="dim"), disabled=True))
        notes = Text()
        for m in r["memos"]:
            notes.append(f"✉ {m['text']}\n")
        for c in r["codings"]:
            for m in self.data.coding_memos.get(c["id"], []):
                dim, _, _ = _names(guide, c["dimension_id"], c["indicator_id"])
                notes.append(f"✉ on {dim}: {m['text']}\n")
        for m in self.data.memos:
            label = "session" if m["target"] == "session" else f"{m['target']} {m['target_id']}"
            notes.append(f"✉ ({label}) {m['text']}\n", style="dim")
        for b in r["bookmarks"]:
            notes.append(TranscriptList._bookmark_text(b) + "\n", style="bold")
        memos.update(notes)

    def _chip(self) -> tuple[str, int] | None:
        chips = self.query_one("#chips", OptionList)
        if chips.highlighted is None or not chips.option_count:
            return None
        option = chips.get_option_at_index(chips.highlighted)
        if not option.id:
            return None
        return ("coding" if option.id[0] == "c" else "suggestion"), int(option.id[1:])

    def action_chip(self, delta: int) -> None:
        chips = self.query_one("#chips", OptionList)
        if chips.option_count and chips.highlighted is not None:
            chips.highlighted = max(0, min(chips.option_count - 1, chips.highlighted + delta))

    def action_open_suggestion(self, delta: int) -> None:
        """Select the next (or previous) segment with a suggestion still to accept or reject."""
        transcript = self.query_one(TranscriptList)
        open_ = [i for i, r in enumerate(transcript.records)
                 if any(x["state"] == "pending" for x in r.get("suggestions", []))]
        if not open_:
            self.notify("Every suggestion in this session is accepted or rejected.", timeout=4)
            return
        ahead = _next_of(open_, transcript.cursor, delta)
        if ahead is None:
            where = "after" if delta > 0 else "before"
            self.notify(f"No open suggestion {where} this segment ({len(open_)} in the session).", severity="warning")
            return
        transcript.cursor = ahead
        transcript.focus()

    ACCEPT_FROM = (0.9, 0.8, 0.7, 0.5)

    def action_accept_confident(self) -> None:
        """Accept every open suggestion from a chosen score up, as one edit (one undo)."""
        scores = [x["score"] for x in review.confident_suggestions(self.store, self.session_id, min(self.ACCEPT_FROM))]
        counts = {at: sum(score >= at for score in scores) for at in self.ACCEPT_FROM}
        if not any(counts.values()):
            self.notify(f"No open suggestion scores {min(self.ACCEPT_FROM):g} or more.", severity="warning")
            return
        options = [
            (str(at), f"from {at:g}: {n} suggestion{'' if n == 1 else 's'}")
            for at, n in counts.items() if n
        ]

        def chosen(key: str | None) -> None:
            if key is not None:
                at = float(key)
                n = self._apply(review.accept_confident, self.session_id, at)
                if n:
                    self.notify(f"Accepted {n} suggestion{'' if n == 1 else 's'} scoring {at:g} or more "
                                "(u undoes them all)", timeout=4)

        # A score is the chance the passage is coded with it: 0.8 is right about 9 times in 10.
        self.app.push_screen(ChoiceDialog("Accept every open suggestion scoring at least", options), chosen)

    def action_bookmark(self, delta: int) -> None:
        """Select the next (or previous) segment that has a bookmark after it."""
        transcript = self.query_one(TranscriptList)
        marked = [i for i, r in enumerate(transcript.records) if r.get("bookmarks")]
        if not marked:
            self.notify("No bookmarks in this session: f adds one after the selected segment.", severity="warning")
            return
        ahead = _next_of(marked, transcript.cursor, delta)
        if ahead is None:
            self.notify(f"No bookmark {'after' if delta > 0 else 'before'} this segment.", severity="warning")
            return
        transcript.cursor = ahead
        transcript.focus()

    def action_bookmark_note(self) -> None:
        """Add a bookmark after the selected segment; where it has bookmarks already, first
        ask which one to change or delete, or whether to add another (Enter takes the first)."""
        r = self._need_segment()
        if r is None:
            return
        transcript = self.query_one(TranscriptList)
        following = transcript.records[transcript.cursor + 1 :][:1]
        at = review.bookmark_time(r, following[0] if following else None)
        marks = r["bookmarks"]
        if not marks:
            self._add_bookmark(r, at)
            return
        if len(marks) == 1 and at is None:
            self._edit_bookmark(marks[0])
            return
        options = [(str(b["id"]), TranscriptList._bookmark_text(b)) for b in marks]
        if at is not None:
            options.append(("new", f"+ a new bookmark at {clock(at)}"))

        def chosen(key: str | None) -> None:
            if key == "new":
                self._add_bookmark(r, at)
            elif key is not None:
                self._edit_bookmark(next(b for b in marks if str(b["id"]) == key))

        title = (f"⚑ {len(marks)} bookmark{'' if len(marks) == 1 else 's'} at the segment at "
                 f"{clock(r['start'])}")
        self.app.push_screen(ChoiceDialog(title, options), chosen)

    def _edit_bookmark(self, b: dict) -> None:
        def changed(answer: tuple[str, str] | None) -> None:
            if answer is None:
                return
            what, note = answer
            if what == "delete":
                self._apply(review.delete_bookmark, b["id"], done="Bookmark deleted (u undoes)")
            elif " ".join(note.split()) != (b["note"] or ""):
                self._apply(review.edit_bookmark, b["id"], note, done="Bookmark note saved (u undoes)")

        self.app.push_screen(BookmarkNoteDialog(clock(b["at"]), b["note"] or ""), changed)

    def _add_bookmark(self, r: dict, at: float | None) -> None:
        if at is None:
            self.notify("This segment has no time in the recording: a bookmark marks a moment.", severity="warning")
            return

        def added(answer: tuple[str, str] | None) -> None:
            if answer is not None:
                self._apply(review.add_bookmark, self.session_id, at, answer[1], done="Bookmark added (u undoes)")

        self.app.push_screen(BookmarkNoteDialog(clock(at), after=clock(r["start"])), added)

    def _pending(self) -> int | None:
        chip = self._chip()
        if chip and chip[0] == "suggestion":
            return chip[1]
        r = self.segment
        pending = [s["id"] for s in (r["suggestions"] if r else []) if s["state"] == "pending"]
        return pending[0] if pending else None

    # edits --------------------------------------------------------------------------------------

    def _apply(self, fn, *args, done: str | None = None, select_id: int | None = None) -> object:
        """Run one core edit; a refused edit is a notification, never a traceback."""
        try:
            result = fn(self.store, *args)
        except UserError as exc:
            self.notify(str(exc), severity="warning", timeout=6)
            return None
        self.reload(select_id)
        if done:
            self.notify(done, timeout=2)
        return result

    def _need_segment(self) -> dict | None:
        r = self.segment
        if r is None:
            self.notify("No segment selected.", severity="warning")
        return r

    def action_edit(self) -> None:
        r = self._need_segment()
        if r is None:
            return
        title = f"Edit {_who(r).lower()} at {clock(r['start'])}"

        def done(text: str | None) -> None:
            if text is not None and " ".join(text.split()) != r["text"]:
                self._apply(review.edit_text, r["id"], text, done="Text corrected (u undoes)")

        self.app.push_screen(TextDialog(title, r["text"], hint="Times stay; what the recogniser heard is kept."), done)

    def action_split(self) -> None:
        r = self._need_segment()
        if r is None:
            return

        def done(offset) -> None:
            if offset is not None:
                self._apply(review.split_segment, r["id"], offset, done="Split in two")

        self.app.push_screen(PositionDialog(f"Split the segment at {clock(r['start'])}", r["text"], mode="split"), done)

    def action_merge(self) -> None:
        r = self._need_segment()
        if r is not None:
            self._apply(review.merge_segments, r["id"], done="Merged with the next segment", select_id=r["id"])

    def action_speaker(self) -> None:
        r = self._need_segment()
        if r is not None:
            other = "respondent" if r["speaker"] == "interviewer" else "interviewer"
            self._apply(review.set_speaker, r["id"], other, done=f"Now the {other}'s")

    def action_accept(self) -> None:
        sid = self._pending()
        if sid is None:
            self.notify("No suggestion on this segment.", severity="warning")
            return
        self._apply(review.accept_suggestion, sid, done="Suggestion accepted")

    def action_reject(self) -> None:
        sid = self._pending()
        if sid is None:
            self.notify("No suggestion on this segment.", severity="warning")
            return
        self._apply(review.reject_suggestion, sid, done="Suggestion rejected")

    def action_change(self) -> None:
        sid = self._pending()
        if sid is None or self.data is None:
            self.notify("No suggestion on this segment.", severity="warning")
            return

        def done(indicator_id: str | None) -> None:
            if indicator_id:
                self._apply(review.change_suggestion, sid, indicator_id, done="Suggestion changed")

        self.app.push_screen(IndicatorPicker(self.data.guide, "Code it with this instead"), done)

    def action_code(self) -> None:
        r = self._need_segment()
        if r is None or self.data is None:
            return

        def done(indicator_id: str | None) -> None:
            if indicator_id:
                self._apply(review.add_coding, r["id"], indicator_id, done="Coded")

        self.app.push_screen(IndicatorPicker(self.data.guide, f"Code the segment at {clock(r['start'])}"), done)

    def action_code_span(self) -> None:
        r = self._need_segment()
        if r is None or self.data is None:
            return
        guide = self.data.guide

        def picked(span) -> None:
            if span is None:
                return
            start, end = (None, None) if span == "whole" else span
            passage = r["text"] if start is None else r["text"][start:end]
            short = passage if len(passage) < 50 else passage[:47] + "…"

            def done(indicator_id: str | None) -> None:
                if indicator_id:
                    self._apply(review.add_coding, r["id"], indicator_id, start, end, done="Passage coded")

            self.app.push_screen(IndicatorPicker(guide, f"Code “{short}”"), done)

        self.app.push_screen(PositionDialog("Choose the passage to code", r["text"], mode="span"), picked)

    def action_uncode(self) -> None:
        r = self._need_segment()
        if r is None:
            return
        chip = self._chip()
        if chip and chip[0] == "coding":
            coding_id = chip[1]
        elif len(r["codings"]) == 1:
            coding_id = r["codings"][0]["id"]
        else:
            self.notify("Choose the coding to remove with [ and ].", severity="warning")
            return
        self._apply(review.remove_coding, coding_id, done="Coding removed")

    def action_memo(self) -> None:
        r = self.segment
        if self.data is None:
            return
        targets: list[tuple[str, str]] = []
        if r is not None:
            targets.append((f"segment:{r['id']}", f"this segment ({clock(r['start'])})"))
        chip = self._chip()
        if chip and chip[0] == "coding" and r is not None:
            coding = next(c for c in r["codings"] if c["id"] == chip[1])
            dim, ind, _ = _names(self.data.guide, coding["dimension_id"], coding["indicator_id"])
            targets.append((f"coding:{coding['id']}", f"the coding {dim} / {ind}"))
            targets.append((f"dimension:{coding['dimension_id']}", f"the dimension {dim}"))
        elif chip and chip[0] == "suggestion" and r is not None:
            s = next(x for x in r["suggestions"] if x["id"] == chip[1])
            dim, _, _ = _names(self.data.guide, s["dimension_id"], s["indicator_id"])
            targets.append((f"dimension:{s['dimension_id']}", f"the dimension {dim}"))
        targets.append(("session:", "the whole session"))

        def done(answer) -> None:
            if not answer:
                return
            key, text = answer
            target, _, target_id = key.partition(":")
            self._apply(review.add_memo, self.session_id, target, target_id or None, text, done="Memo saved")

        self.app.push_screen(MemoDialog(targets), done)

    def action_undo(self) -> None:
        try:
            edit = review.undo(self.store, self.session_id)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        if edit is None:
            self.notify("Nothing to undo.", severity="warning")
            return
        self.reload()
        self.notify(f"Undone: {edit.label} (ctrl+r redoes)", timeout=3)

    def action_redo(self) -> None:
        try:
            edit = review.redo(self.store, self.session_id)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        if edit is None:
            self.notify("Nothing to redo.", severity="warning")
            return
        self.reload()
        self.notify(f"Redone: {edit.label}", timeout=3)

    def action_back(self) -> None:
        if self.player is not None:
            self.player.stop()
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()

    # playback -----------------------------------------------------------------------------------

    def action_play(self) -> None:
        if self.player is not None and self.player.playing:
            self.player.stop()
            self.query_one(TranscriptList).set_playing(None)
            self._status()
            return
        r = self._need_segment()
        if r is None or r["start"] is None:
            self.notify("This segment has no time in the recording.", severity="warning")
            return
        if self.player is None:
            self.query_one("#playback", Static).update("Loading the recording…")
            self.open_player(r["start"])
        else:
            self._start_playing(r["start"])

    @work(thread=True, exclusive=True, group="player", exit_on_error=False)
    def open_player(self, start: float) -> None:
        from core.audio.playback import Player

        factory = self._player_factory or Player.for_session
        player = factory(self.data.session if self.data else self.store.session(self.session_id))
        self.app.call_from_thread(self._player_ready, player, start)

    def _player_ready(self, player, start: float) -> None:
        self.player = player
        self._start_playing(start)

    def _start_playing(self, start: float) -> None:
        try:
            self.player.play(start)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        if not hasattr(self, "_follow"):
            # The audio thread only updates a number; the screen looks at it a few times a second.
            self._follow = self.set_interval(0.2, self._follow_playback)
        self._status()

    def _follow_playback(self) -> None:
        transcript = self.query_one(TranscriptList)
        if self.player is None or not self.player.playing or self.player.position is None:
            if transcript.playing_id is not None:
                transcript.set_playing(None)
                self._status()
            return
        at = self.player.position
        records = transcript.records
        starts = [r["start"] or 0.0 for r in records]
        i = bisect.bisect_right(starts, at) - 1
        if i >= 0:
            if records[i]["id"] != transcript.playing_id:
                transcript.set_playing(records[i]["id"])
                transcript.cursor = i
        self._status()

    def action_speed(self, step: int) -> None:
        if self.player is None:
            from core.audio.playback import SPEEDS

            self.notify(f"Speeds: {', '.join(f'{s:g}×' for s in SPEEDS)}; start playing with space first.")
            return
        speed = self.player.faster(step)
        self._status()
        self.notify(f"Playback speed {speed:g}×", timeout=1.5)

    def _status(self) -> None:
        label = self.query_one("#playback", Static)
        if self.data is None:
            return
        n = len(self.data.segments)
        coded = sum(1 for s in self.data.segments if s["codings"])
        text = f"{n} segments · {coded} coded"
        if self.data.bookmarks:
            n_marks = len(self.data.bookmarks)
            text += f" · {n_marks} bookmark{'' if n_marks == 1 else 's'} (b/B next/previous, f note)"
        if self.player is not None:
            speed = f"{self.player.speed:g}×"
            if self.player.playing and self.player.position is not None:
                text += f" · ▶ {clock(self.player.position)} at {speed} (space stops, +/− speed)"
            else:
                text += f" · speed {speed}"
        label.update(text)

    # re-transcription ---------------------------------------------------------------------------

    def action_retranscribe(self) -> None:
        if any(w.group == "retranscribe" and w.state == WorkerState.RUNNING for w in self.workers):
            self._stop.set()
            self.notify("Stopping the re-transcription…")
            return
        if self.data is None:
            return
        edited = sum(1 for s in self.data.segments if s["edited"])

        def done(options: dict | None) -> None:
            if options:
                self._stop = threading.Event()
                self.query_one("#progress").display = True
                self.query_one("#progress-text", Static).update(f"starting {options['model']}…")
                self.run_retranscribe(options)

        self.app.push_screen(RetranscribeDialog(DEFAULT_RETRANSCRIBE_MODEL, edited), done)

    @work(thread=True, exclusive=True, group="retranscribe", exit_on_error=False)
    def run_retranscribe(self, options: dict) -> None:
        from core.pipeline.retranscribe import retranscribe

        fn = self._retranscribe or retranscribe
        store = Store.open_like(self.store)
        try:
            result = fn(
                store, self.session_id, options["model"], verbatim=options["verbatim"],
                overwrite_edited=options["overwrite_edited"], on_progress=self._progress, stop=self._stop,
            )
        finally:
            store.close()
        self.app.call_from_thread(self._retranscribed, result)

    def _progress(self, p) -> None:
        # Called on the worker thread for every recognised segment: coalesced to a few per second.
        now = time.monotonic()
        if now - self._progress_at < 0.2 and p.fraction < 1.0:
            return
        self._progress_at = now
        self.app.call_from_thread(self._show_progress, p)

    def _show_progress(self, p) -> None:
        self.query_one("#progress", ProgressBar).update(total=100, progress=round(100 * p.fraction, 1))
        left = f" · {clock(p.eta)} left" if p.eta is not None else ""
        self.query_one("#progress-text", Static).update(f"{p.stage}{left} (R stops)")

    def _retranscribed(self, result) -> None:
        self.query_one("#progress").display = False
        self.query_one("#progress-text", Static).update("")
        self.reload()
        kept = f", {result.kept_edited} of your edits kept" if result.kept_edited else ""
        self.notify(
            f"Re-transcribed with {result.model}: {result.updated} segments updated, {result.inserted} new{kept}. "
            "u undoes it.",
            timeout=8,
        )

    # export -------------------------------------------------------------------------------------

    def action_export(self) -> None:
        from core.base import paths
        from core.interchange.exporters import FORMATS

        from tui.screens.dialogs import ExportDialog

        def done(choice: dict | None) -> None:
            if choice is not None and choice["path"]:
                self.run_export(choice)

        folder = str(paths.home() / "exports")
        self.app.push_screen(ExportDialog(FORMATS, folder, f"session-{self.session_id}"), done)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def run_export(self, choice: dict) -> None:
        from pathlib import Path

        from core.base import paths
        from core.interchange.exporters import ExportOptions, write_export

        target = Path(choice["path"]).expanduser()
        if target.parent == paths.home() / "exports":
            paths.ensure_private_dir(target.parent)  # the default folder; another must exist already
        store = Store.open_like(self.store)
        try:
            written = write_export(store, [self.session_id], choice["format"], target,
                                   ExportOptions(pseudonymise=choice["pseudonymise"]))
        finally:
            store.close()
        self.app.call_from_thread(self.notify, "Exported: " + ", ".join(str(p) for p in written), timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "retranscribe":
            self.query_one("#progress").display = False
            self.query_one("#progress-text", Static).update("")
        error = event.worker.error
        message = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        self.notify(message, severity="error", timeout=10)
        self._status()
