"""What the review screen does besides editing: playing the recording back with the transcript
following it, re-transcribing the session with another model, exporting it. Each opens what
it needs in a worker thread (a thread has its own store connection: sqlite3 objects stay in
their thread) and hands the result back with call_from_thread.

Each is a mixin of ReviewScreen (tui/screens/review.py), which holds the keys that call them,
the store and session they work on (`store`, `session_id`, `data`), the status line
(`_status`) and the one handler that turns a worker's error into a notification.
"""

from __future__ import annotations

import bisect
import threading
import time

from textual import work
from textual.widgets import ProgressBar, Static
from textual.worker import WorkerState

from core.base.errors import UserError
from core.interchange.export import clock
from core.store.database import Store

from tui.screens.dialogs import ExportDialog, RetranscribeDialog
from tui.widgets.transcript import TranscriptList

DEFAULT_RETRANSCRIBE_MODEL = "base"


class ReviewPlayback:
    """Space plays from the selected segment and stops; the segment being heard is marked and
    selected as playback goes on; + and − change the speed. The player (core.audio.playback)
    is opened on the first play, in a worker: opening the tracks takes a moment."""

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


class ReviewRetranscription:
    """R re-transcribes the session from its recording with the model chosen in a dialog, with
    a progress bar; R again stops it (nothing is written then). Edits and codings are kept by
    core.pipeline.retranscribe; the whole run is one undoable edit."""

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


class ReviewExport:
    """o exports the session in a format chosen in a dialog, to the exports folder or a path."""

    def action_export(self) -> None:
        from core.base import paths
        from core.interchange.exporters import FORMATS

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
        notes: list[str] = []
        try:
            written = write_export(store, [self.session_id], choice["format"], target,
                                   ExportOptions(pseudonymise=choice["pseudonymise"]), notes)
        finally:
            store.close()
        said = "".join(f"\n{note}" for note in notes)
        self.app.call_from_thread(self.notify, "Exported: " + ", ".join(str(p) for p in written) + said, timeout=8)
