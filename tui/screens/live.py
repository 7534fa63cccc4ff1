"""The live screen: guide, transcript as it arrives, suggestions, status."""

from __future__ import annotations

import threading

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header

from core.understanding.coverage import coverage
from core.interchange.export import clock
from core.pipeline.live import LivePipeline, PipelineStatus, SegmentReady, decide
from core.store.database import Store
from core.understanding.suggester import SHOWN_FROM

from tui.screens.dialogs import BookmarkDialog
from tui.widgets.coverage import CoveragePanel
from tui.widgets.live import GuidePanel, StatusBar, TranscriptView


class LiveScreen(Screen):
    BINDINGS = [
        Binding("n", "next_question", "Next question"),
        Binding("p", "previous_question", "Previous question"),
        Binding("a", "accept", "Accept suggestion"),
        Binding("r", "reject", "Reject suggestion"),
        Binding("b", "bookmark", "Bookmark"),
        Binding("space", "pause", "Pause/resume"),
        Binding("c", "toggle_coverage", "Coverage"),
        Binding("q", "end_session", "End session"),
    ]

    def __init__(self, store: Store, session_id: int, pipeline: LivePipeline, *, state: str = "recording") -> None:
        super().__init__()
        self.store = store
        self.session_id = session_id
        self.pipeline = pipeline
        self.guide = pipeline.guide
        self.run_state = state
        self.stop_event = threading.Event()
        self.finished = threading.Event()
        self._last_status: PipelineStatus | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal(id="live-body"):
            yield GuidePanel(self.guide, id="guide")
            yield TranscriptView(self.guide, id="transcript")
            panel = CoveragePanel(id="coverage")
            panel.display = False
            yield panel
        yield StatusBar(self.pipeline.transcriber.name, self.guide.planned_minutes, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = f"session {self.session_id} · {self.guide.title}"
        self.query_one(StatusBar).state = self.run_state
        self.set_interval(0.5, self._tick)
        self.run_pipeline()

    def _tick(self) -> None:
        if not self.finished.is_set():
            self.query_one(StatusBar).elapsed = self.pipeline.clock.now()
            self._refresh_coverage()

    def _refresh_coverage(self) -> None:
        panel = self.query_one(CoveragePanel)
        if panel.display:
            panel.show(coverage(self.store, self.session_id, elapsed=self.pipeline.clock.now()))

    def action_toggle_coverage(self) -> None:
        panel = self.query_one(CoveragePanel)
        panel.display = not panel.display
        self._refresh_coverage()

    @work(thread=True, exclusive=True, group="pipeline")
    def run_pipeline(self) -> None:
        # The pipeline thread computes; the screen's thread owns the store and writes each segment.
        try:
            self.pipeline.run(
                on_segment=lambda ready: self.app.call_from_thread(self.segment_ready, ready),
                stop=self.stop_event,
                on_status=lambda status: self.app.call_from_thread(self.status_changed, status),
            )
        finally:
            self.finished.set()
            self.app.call_from_thread(self.pipeline_finished)

    def segment_ready(self, ready: SegmentReady) -> None:
        seg = ready.segment
        view = self.query_one(TranscriptView)
        # Rows shown asking a question this segment asks or withdraws no longer ask it (the store
        # takes it off them: Store.add_segment).
        moved = {seg.asks, seg.withdraws} - {None}
        stale = [i for i, row in view.rows.items() if row.record.get("asks") in moved]
        seg_id = self.store.add_segment(self.session_id, seg)
        for i in stale:
            view.update_segment(self._record(i))
        view.add_segment(self._record(seg_id))
        panel = self.query_one(GuidePanel)
        if seg.withdraws is not None:
            panel.withdraw(seg.withdraws)
        if seg.asks is not None:
            panel.current = seg.asks
        status = self.query_one(StatusBar)
        status.segments += 1
        self._refresh_coverage()

    def status_changed(self, status: PipelineStatus) -> None:
        self._last_status = status
        self.query_one(StatusBar).lag = status.lag

    def pipeline_finished(self) -> None:
        status = self.query_one(StatusBar)
        if self.stop_event.is_set():
            self._close_session()
            return
        status.state = "finished"
        self.notify("The recording has ended. Press q to close the session.", timeout=8)

    def _close_session(self) -> None:
        session = self.store.session(self.session_id)
        if session["status"] == "recording":
            self.store.end_session(self.session_id, "completed", duration=round(self.pipeline.clock.now(), 1))
        self.app.exit(self.session_id)

    def _record(self, seg_id: int) -> dict:
        row = self.store.segments(self.session_id, only=[seg_id])[0]
        row["suggestions"] = self.store.suggestions_for([seg_id])[seg_id]
        row["codings"] = self.store.codings_for([seg_id])[seg_id]
        return row

    def _latest_pending(self) -> dict | None:
        return self.store.latest_pending_suggestion(self.session_id, SHOWN_FROM)

    # actions ---------------------------------------------------------------------------------

    def _move(self, delta: int) -> None:
        number = self.pipeline.tracker.step(delta)
        self.store.set_current_question(self.session_id, number, self.pipeline.clock.now(), "manual")
        self.query_one(GuidePanel).current = number

    def action_next_question(self) -> None:
        self._move(+1)

    def action_previous_question(self) -> None:
        self._move(-1)

    def _decide(self, accept: bool) -> None:
        suggestion = self._latest_pending()
        if suggestion is None:
            self.notify("No suggestion waiting.", severity="warning")
            return
        decide(self.store, self.pipeline.suggester, suggestion, accept)
        self.query_one(TranscriptView).update_segment(self._record(suggestion["segment_id"]))
        name = self.guide.dimension(suggestion["dimension_id"]).name
        self.notify(f"{'Coded' if accept else 'Rejected'}: {name}", timeout=2)
        self._refresh_coverage()

    def action_accept(self) -> None:
        self._decide(True)

    def action_reject(self) -> None:
        self._decide(False)

    def action_bookmark(self) -> None:
        # Stored at once, at the moment of the key: the note is typed while the interview goes
        # on, and the bookmark stays even if it is never finished.
        at = self.pipeline.clock.now()
        bookmark_id = self.store.add_bookmark(self.session_id, at)
        view = self.query_one(TranscriptView)
        view.add_bookmark(self.store.bookmark(bookmark_id))

        def noted(note: str | None) -> None:
            if note and note.strip():
                self.store.set_bookmark_note(bookmark_id, note)
                view.update_bookmark(self.store.bookmark(bookmark_id))

        self.app.push_screen(BookmarkDialog(clock(at)), noted)

    def action_pause(self) -> None:
        status = self.query_one(StatusBar)
        if self.finished.is_set():
            self.notify("Nothing is running to pause.", severity="warning")
            return
        if self.pipeline.paused.is_set():
            self.pipeline.paused.clear()
            status.state = self.run_state
        else:
            self.pipeline.paused.set()
            status.state = "paused"

    def action_end_session(self) -> None:
        if self.finished.is_set():
            self._close_session()
            return
        self.stop_event.set()
        self.query_one(StatusBar).state = "stopping"
