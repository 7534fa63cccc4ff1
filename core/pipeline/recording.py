"""A live recording tied to the study: its devices, its session in the store, the pipeline.

`start_recording` opens the devices, creates (or reopens) the session, writes the tracks
through `core.audio.trackfiles` and runs the live pipeline on the audio as it comes. The tracks
survive a crash (see core.audio.trackfiles); on the next start `recover_interrupted` finds
sessions still marked recording whose lock nobody holds, repairs their audio, keeps every
stored segment, and marks them interrupted; they can then be resumed or closed.

A demo replays audio it does not own (the sample folder), so its process holds the same kind
of lock in a folder of its own under the sessions folder (`hold_session`): a killed demo is
found the same way, marked interrupted, and can be closed (there is nothing to resume).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from core.understanding.hearing import LIVE_JOIN_TURNS, Hearing
from core.base import paths
from core.audio.sources import Clock, OffsetClock
from core.audio.capture import CaptureEvent, Gap, LiveSource
from core.audio.devices import DeviceStream, open_devices
from core.audio.trackfiles import LOCK_NAME, TRACKS, SessionAudio, SessionLock, check_free_space, owner_alive, repair_wav
from core.base.errors import UserError
from core.audio.bleed import BleedFilter
from core.study.guide import Guide
from core.pipeline.importing import prepared_understanding
from core.pipeline.live import LivePipeline, hears_ahead
from core.store.database import DiskFull, Store, now_iso


# ---------------------------------------------------------------------------------------------
# Gaps into the store, from the capture thread


class GapLog:
    """Writes the capture's gaps to the study database as they open and close.

    Called on the capture's assembler thread, which gets its own connection (one thread owns
    each connection).
    """

    def __init__(self, store: Store, session_id: int):
        self._like = store
        self.session_id = session_id
        self._store: Store | None = None
        self._ids: dict[int, int] = {}
        self._ended: set[int] = set()

    def sync(self, gaps: list[Gap]) -> None:
        if self._store is None:
            self._store = Store.open_like(self._like)
        for gap in gaps:
            key = id(gap)
            if key not in self._ids:
                self._ids[key] = self._store.add_gap(self.session_id, gap.track, gap.start, gap.end, gap.reason, gap.detail)
                if gap.end is not None:
                    self._ended.add(key)
            elif gap.end is not None and key not in self._ended:
                self._store.end_gap(self._ids[key], gap.end)
                self._ended.add(key)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# ---------------------------------------------------------------------------------------------
# Starting, resuming, recovering


@dataclass
class LiveRecording:
    session_id: int
    source: LiveSource
    pipeline: LivePipeline
    audio: SessionAudio

    @property
    def folder(self) -> Path:
        return self.audio.folder

    @property
    def duration(self) -> float:
        """The session's length: its audio as saved, which is less than was captured when the
        disk filled before the last of it was written."""
        return min(self.source.duration, self.audio.seconds)

    def stop(self) -> None:
        """Stop capturing; what was captured is still written, transcribed and stored."""
        self.source.stop()


def resumable(store: Store, session_id: int) -> dict:
    """The session to resume, or a UserError saying why it cannot be (before a model is loaded
    or a device opened for it)."""
    row = store.session(session_id)
    if row["status"] == "recording":
        recover_interrupted(store)
        row = store.session(session_id)
    if row["status"] != "interrupted" or not row["audio_dir"] or row["origin"] != "live":
        what = "a demo" if row["origin"] == "demo" else row["status"]
        raise UserError(f"session {session_id} is {what}, not an interrupted recording; only those can be resumed"
                        + (f" (close it with `fieldnote recover --close {session_id}`)" if row["status"] == "interrupted" else ""))
    return row


def start_recording(
    store: Store,
    guide: Guide | None,
    transcriber,
    *,
    mic: str | None = None,
    system: str | None = None,
    respondent: str | None = None,
    case_name: str | None = None,
    title: str | None = None,
    consent: bool = False,
    resume: int | None = None,
    bleed: bool = True,
    on_event: Callable[[CaptureEvent], None] | None = None,
    streams: list[DeviceStream] | None = None,
    clock: Clock | None = None,
    hearing: str | None = None,
) -> LiveRecording:
    """Open the devices, create (or reopen) the session and start recording it.

    The devices are opened first: a missing device stops everything before a session exists.
    Recording starts only with the respondent's consent, stored with its time.
    """
    row = None
    if resume is not None:
        row = resumable(store, resume)
        guide = store.session_guide(resume)
        if not row["consent_at"] and not consent:
            raise UserError(f"session {resume} has no recorded consent: confirm it (--consent) to go on recording")
    elif not consent:
        raise UserError("recording needs the respondent's consent: ask for it, then confirm with --consent")
    if guide is None:
        raise UserError("no guide for the session: give --guide NAME (see `fieldnote guides`)")

    root = paths.sessions_dir(store.path)
    check_free_space(root if row is None else Path(row["audio_dir"]))
    streams = streams if streams is not None else open_devices(mic, system)

    gap_log: GapLog | None = None

    def event(e: CaptureEvent) -> None:
        if gap_log is not None:
            try:
                gap_log.sync(source.gaps)
            except DiskFull:
                pass  # gaps not stored are tried again at the next event; the capture must go on
            if e.kind == "stopped":
                gap_log.close()
        if on_event is not None:
            on_event(e)

    if row is None:
        # Devices first: a device that is not there stops everything before a session exists.
        source = LiveSource(streams, clock=clock or Clock(), on_event=event)
        source.open()
        try:
            session_id = store.create_session(
                guide, origin="live", respondent=respondent, case_name=case_name, title=title,
                consent_at=now_iso(), model=transcriber.name,
            )
            # The folder is noted before its files exist: recovery finds only sessions with one,
            # so a crash in between must not leave a session that stays 'recording' for ever.
            store.set_session_audio_dir(session_id, root / str(session_id))
            audio = SessionAudio(root / str(session_id))
        except BaseException:
            source.close()
            raise
        source.recording = audio
        offset = 0.0
    else:
        session_id = resume
        audio = SessionAudio(Path(row["audio_dir"]), append=True)
        offset = audio.seconds
        source = LiveSource(streams, clock=clock or OffsetClock(offset), recording=audio, on_event=event)
        try:
            source.open()
        except BaseException:
            audio.close()
            raise

    def disk_full() -> None:
        at = round(audio.seconds, 1)
        if on_event is not None:
            on_event(CaptureEvent("disk-full", None, at, f"recording stopped: the disk of {audio.folder} is full; "
                                  f"the audio up to {at:.1f} s is saved. Free some space before recording again"))
        source.stop(reason="disk-full")

    audio.on_full = disk_full
    gap_log = GapLog(store, session_id)
    source.run()
    clock = source.clock
    if row is not None:
        store.reopen_session(session_id)
        store.add_gap(session_id, None, round(offset, 2), round(offset, 2), "interrupted",
                      "the recording was interrupted here and resumed")
    tracker, suggester = prepared_understanding(store, guide)
    pipeline = LivePipeline(source, transcriber, guide, clock=clock, tracker=tracker, suggester=suggester,
                            bleed=BleedFilter() if bleed else None,
                            hearing=Hearing.live(guide, (case_name,), hearing), join_turns=LIVE_JOIN_TURNS,
                            ahead=hears_ahead(transcriber, realtime=True))
    # The screen's pause and mute act on the recording itself, not only on transcription.
    pipeline.paused = source.paused
    pipeline.muted = source.muted
    if row is not None and row["current_question"] is not None:
        pipeline.tracker.set_current(row["current_question"])
    return LiveRecording(session_id, source, pipeline, audio)


@dataclass(frozen=True)
class Interrupted:
    session_id: int
    started_at: str
    duration: float | None
    segments: int
    folder: Path
    recovered_now: bool
    origin: str = "live"


def lock_folder(store: Store, session_id: int) -> Path:
    """Where a session that records into no folder of its own (a demo) keeps its lock."""
    return paths.sessions_dir(store.path) / f".running-{session_id}"


class SessionHold:
    """The lock a demo's process holds while its session is open; it dies with the process."""

    def __init__(self, store: Store, session_id: int):
        self.folder = paths.make_private_dir(lock_folder(store, session_id), "the session's lock")
        self._lock = SessionLock(self.folder)
        self._lock.acquire()

    def release(self) -> None:
        self._lock.release()
        _remove_lock_folder(self.folder)


def _remove_lock_folder(folder: Path) -> None:
    try:
        (folder / LOCK_NAME).unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass  # a folder left behind holds no data; the next recovery tries again


def hold_session(store: Store, session_id: int) -> SessionHold:
    return SessionHold(store, session_id)


def interrupt_if_open(store: Store, session_id: int) -> None:
    """A demo that ended without closing its session (Ctrl-C, an error): marked interrupted at
    once, its length the last stored segment's end, rather than left for recovery to find."""
    if store.session(session_id)["status"] != "recording":
        return
    ends = [s["end"] for s in store.segments(session_id) if s["end"] is not None]
    store.mark_interrupted(session_id, round(max(ends), 1) if ends else None)


def recover_interrupted(store: Store) -> list[Interrupted]:
    """Sessions left recording by a process that is gone: repaired and marked interrupted.

    Returns every interrupted session (those found now and those found before), so a caller
    can offer to resume or close them.
    """
    found: set[int] = set()
    for row in store.sessions():
        if row["status"] == "recording" and row["origin"] == "demo":
            folder = lock_folder(store, row["id"])
            if owner_alive(folder, row["started_at"]) is False:
                interrupt_if_open(store, row["id"])
                _remove_lock_folder(folder)
                found.add(row["id"])
            continue
        if row["status"] != "recording" or not row["audio_dir"] or row["origin"] != "live":
            continue
        folder = Path(row["audio_dir"])
        if owner_alive(folder, row["started_at"]) is not False:
            continue
        lengths, mtimes = [], []
        for track in TRACKS:
            path = folder / f"{track}.wav"
            if path.exists():
                lengths.append(repair_wav(path))
                mtimes.append(path.stat().st_mtime)
        duration = round(max(lengths), 1) if lengths else None
        ended = datetime.fromtimestamp(max(mtimes), timezone.utc).isoformat(timespec="seconds") if mtimes else None
        for gap in store.gaps(row["id"]):
            if gap["end"] is None:
                store.end_gap(gap["id"], max(gap["start"], duration or 0.0))
        store.mark_interrupted(row["id"], duration, ended_at=ended)
        found.add(row["id"])
    return [
        Interrupted(r["id"], r["started_at"], r["duration"], r["segment_count"], Path(r["audio_dir"] or "."),
                    r["id"] in found, r["origin"])
        for r in store.sessions()
        if r["status"] == "interrupted" and r["origin"] in ("live", "demo")
    ]


def close_interrupted(store: Store, session_id: int) -> None:
    """Accept an interrupted session as it is: it becomes a completed session."""
    row = store.session(session_id)
    if row["status"] != "interrupted":
        raise UserError(f"session {session_id} is {row['status']}, not interrupted; nothing to close")
    store.end_session(session_id, "completed", duration=row["duration"])
