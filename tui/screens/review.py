"""The review screen: read, play back, correct and code one session after the interview.

This module holds the screen's keys and its edits. Every correction goes through core.store.review
(one transaction each, undoable); the screen then re-reads the session and redraws what changed.
The transcript and the pane beside it are widgets (tui/widgets/transcript.py, details.py);
playback, re-transcription and export, which run in workers, are in review_work.py.
"""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, ProgressBar, Static
from textual.worker import Worker, WorkerState

from core.base.errors import UserError
from core.interchange.export import clock
from core.store import review
from core.store.database import Store
from core.store.review import SessionForReview
from core.understanding.speakers import reassign_roles, up_to_next_question

from tui.screens.dialogs import BookmarkNoteDialog, ChoiceDialog, IndicatorPicker, MemoDialog, PositionDialog, TextDialog
from tui.screens.review_work import ReviewExport, ReviewPlayback, ReviewRetranscription
from tui.widgets.details import SegmentDetails
from tui.widgets.keybar import KeyBar
from tui.widgets.names import code_names, who
from tui.widgets.palette import ScreenActions
from tui.widgets.transcript import TranscriptList, bookmark_text

SYNC_LOAD_SEGMENTS = 5000


def _next_of(indexes: list[int], here: int, delta: int) -> int | None:
    """The first of the (ascending) `indexes` after `here`, or with a negative `delta` the last
    before it; None when there is none."""
    ahead = [i for i in indexes if i > here] if delta > 0 else [i for i in reversed(indexes) if i < here]
    return ahead[0] if ahead else None


class ReviewScreen(ReviewPlayback, ReviewRetranscription, ReviewExport, Screen):
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
        Binding("T", "speaker_to_question", "Speaker of all up to the next question", show=False),
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
        # For review_work.py: tests pass a fake player and re-transcription; `_stop` is set to
        # stop a re-transcription, `_progress_at` coalesces its progress.
        self._player_factory = player_factory
        self._retranscribe = retranscribe_fn
        self._stop = threading.Event()
        self._progress_at = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="review-body"):
            yield TranscriptList(review.guide_of_session(self.store, self.session_id), id="transcript")
            yield SegmentDetails(id="details")
        with Horizontal(id="review-status"):
            yield Static("Loading…", id="playback")
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Static("", id="progress-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = f"session {self.session_id}"
        self.query_one("#progress").display = False
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
        about = " · ".join(x for x in (f"respondent {s['respondent']}" if s["respondent"] else None, s["case_name"]) if x)
        self.sub_title = f"session {self.session_id} · {s['title'] or data.guide.title}" + (f" · {about}" if about else "")
        transcript = self.query_one(TranscriptList)
        transcript.guide = data.guide
        select = select_id if select_id is not None else self.select_on_load
        self.select_on_load = None
        transcript.set_records(data.segments, select_id=select)
        self._status()

    def reload(self, select_id: int | None = None) -> None:
        """Re-read the session after an edit (a few milliseconds for an hour's transcript)."""
        self._show(review.load_session(self.store, self.session_id), select_id)

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

    # the selected segment -----------------------------------------------------------------------

    @property
    def segment(self) -> dict | None:
        return self.query_one(TranscriptList).current

    @on(TranscriptList.SegmentSelected)
    def segment_selected(self, event: TranscriptList.SegmentSelected) -> None:
        self.query_one(SegmentDetails).show(event.record, self.data)

    def action_chip(self, delta: int) -> None:
        self.query_one(SegmentDetails).step(delta)

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
        options = [(str(b["id"]), bookmark_text(b)) for b in marks]
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
        chip = self.query_one(SegmentDetails).chip
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
        title = f"Edit {who(r).lower()} at {clock(r['start'])}"

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
        """The selected segment becomes the other speaker's: suggestions follow (withdrawn from
        the interviewer's words, made for the respondent's as at import)."""
        r = self._need_segment()
        if r is not None:
            other = "respondent" if r["speaker"] == "interviewer" else "interviewer"
            self._apply(reassign_roles, self.session_id, [r["id"]], other,
                        done=f"Now the {other}'s (u undoes)", select_id=r["id"])

    def action_speaker_to_question(self) -> None:
        """Every segment from the selected one up to the next that poses a guide question gets
        the selected segment's speaker: a stretch of a mixed recording put right at once."""
        r = self._need_segment()
        if r is None or self.data is None:
            return
        ids = up_to_next_question(self.data.segments, r["id"])
        n = len(ids)
        self._apply(reassign_roles, self.session_id, ids, r["speaker"], select_id=r["id"],
                    done=f"{n} segment{'' if n == 1 else 's'} up to the next question: the {r['speaker']}'s (u undoes)")

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
        chip = self.query_one(SegmentDetails).chip
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
        chip = self.query_one(SegmentDetails).chip
        if chip and chip[0] == "coding" and r is not None:
            coding = next(c for c in r["codings"] if c["id"] == chip[1])
            dim, ind, _ = code_names(self.data.guide, coding["dimension_id"], coding["indicator_id"])
            targets.append((f"coding:{coding['id']}", f"the coding {dim} / {ind}"))
            targets.append((f"dimension:{coding['dimension_id']}", f"the dimension {dim}"))
        elif chip and chip[0] == "suggestion" and r is not None:
            s = next(x for x in r["suggestions"] if x["id"] == chip[1])
            dim, _, _ = code_names(self.data.guide, s["dimension_id"], s["indicator_id"])
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
