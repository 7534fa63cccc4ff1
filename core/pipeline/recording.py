"""A live session on disk: each track written continuously, and recovered after a crash.

Each track is a 16 kHz mono 16-bit WAV file in the session's folder next to the database
(`<db folder>/sessions/<id>/interviewer.wav` and `respondent.wav`). The header is rewritten
with the true length at every flush (at least twice a second, with fsync), so a file cut off
by a crash is valid up to its last flush, and `repair_wav` makes the rest of it playable.

While a session records, its process holds an OS lock on `recording.lock` in the folder (the
lock dies with the process, even on `kill -9`). On the next start `recover_interrupted` finds
sessions still marked recording whose lock nobody holds, repairs their audio, keeps every
stored segment, and marks them interrupted; they can then be resumed or closed.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from core.base import paths
from core.audio.sources import SAMPLE_RATE, Clock, OffsetClock
from core.audio.capture import (
    BYTES_PER_SECOND,
    DISK_RESERVE,
    DISK_START_MINUTES,
    TRACKS,
    CaptureEvent,
    Gap,
    LiveSource,
    remaining_seconds,
)
from core.audio.devices import DeviceStream, open_devices
from core.base.errors import UserError
from core.audio.bleed import BleedFilter
from core.study.guide import Guide
from core.pipeline.importing import prepared_understanding
from core.pipeline.live import LivePipeline
from core.store.database import DiskFull, Store, now_iso

LOCK_NAME = "recording.lock"
HEADER_BYTES = 44
FLUSH_EVERY = 0.5  # seconds between flushes to the disk, at the latest
STALE_WITHOUT_LOCK = 60.0  # a 'recording' session this old without a lock file has no owner


# ---------------------------------------------------------------------------------------------
# WAV files that survive a crash


def _wav_header(data_bytes: int, rate: int = SAMPLE_RATE, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
        + b"data" + struct.pack("<I", data_bytes)
    )


def _layout(fh) -> tuple[int, int, int, int, int] | None:
    """(data offset, size field offset, rate, block align, riff ok) of a RIFF/WAVE file, or None."""
    fh.seek(0)
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    rate = block = None
    pos = 12
    while True:
        fh.seek(pos)
        chunk = fh.read(8)
        if len(chunk) < 8:
            return None
        kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if kind == b"fmt ":
            fmt = fh.read(16)
            if len(fmt) < 16:
                return None
            _, _, rate, _, block, _ = struct.unpack("<HHIIHH", fmt)
        elif kind == b"data":
            if rate is None or not block:
                return None
            return pos + 8, pos + 4, rate, block, 1
        pos += 8 + size + (size & 1)


def repair_wav(path: Path) -> float:
    """Make a WAV file cut off by a crash playable; its length in seconds.

    The header's sizes are set to what is on disk, and a half-written last frame is cut.
    A file that died before its header was complete gets a fresh, empty one (it had no audio).
    """
    with open(path, "r+b") as fh:
        layout = _layout(fh)
        size = os.fstat(fh.fileno()).st_size
        if layout is None:
            if size > HEADER_BYTES:
                raise UserError(f"{path}: not a WAV file fieldnote wrote; it was left as it is")
            fh.seek(0)
            fh.write(_wav_header(0))
            fh.truncate(HEADER_BYTES)
            return 0.0
        data_at, size_field, rate, block, _ = layout
        data = max(0, size - data_at)
        data -= data % block
        fh.truncate(data_at + data)
        fh.seek(4)
        fh.write(struct.pack("<I", data_at + data - 8))
        fh.seek(size_field)
        fh.write(struct.pack("<I", data))
        fh.flush()
        os.fsync(fh.fileno())
    return data / block / rate


class TrackFile:
    """One track as a growing 16-bit WAV file whose header is kept true at every flush."""

    def __init__(self, path: Path, *, append: bool = False):
        self.path = path
        if append and path.exists():
            repair_wav(path)
            self._fh = open(path, "r+b")
            layout = _layout(self._fh)
            if layout is None or layout[2] != SAMPLE_RATE or layout[3] != 2:
                self._fh.close()
                raise UserError(f"{path}: not a 16 kHz mono recording of fieldnote's; cannot add to it")
            self._data_at, self._size_field = layout[0], layout[1]
            self.frames = (os.fstat(self._fh.fileno()).st_size - self._data_at) // 2
            self._fh.seek(0, os.SEEK_END)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            self._fh = os.fdopen(fd, "r+b")
            self._fh.write(_wav_header(0))
            self._data_at, self._size_field = HEADER_BYTES, 40
            self.frames = 0
            self.flush()

    @property
    def seconds(self) -> float:
        return self.frames / SAMPLE_RATE

    def write(self, samples: np.ndarray) -> None:
        pcm = np.clip(np.rint(np.asarray(samples, dtype=np.float32) * 32767.0), -32768, 32767).astype("<i2")
        self._fh.write(pcm.tobytes())
        self.frames += len(pcm)

    def flush(self) -> None:
        data = self.frames * 2
        self._fh.flush()
        self._fh.seek(4)
        self._fh.write(struct.pack("<I", self._data_at + data - 8))
        self._fh.seek(self._size_field)
        self._fh.write(struct.pack("<I", data))
        self._fh.seek(0, os.SEEK_END)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self.flush()
            self._fh.close()

    def seal(self) -> None:
        """After a write found the disk full: keep what reached it, playable, and write no more."""
        try:
            self._fh.close()
        except OSError:
            pass  # the buffered rest found no room either; the file is closed all the same
        self.frames = round(repair_wav(self.path) * SAMPLE_RATE)  # rewrites the header in place


# ---------------------------------------------------------------------------------------------
# The session's lock: held by the recording process, released by the OS when it dies


class SessionLock:
    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise UserError(f"{self.path.parent}: another fieldnote process is recording this session")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)  # closing drops the lock
        self._fd = None


def _try_lock(fd: int) -> bool:
    if os.name == "nt":
        import msvcrt

        # Lock a byte past the pid/host note, so another process can still read the note.
        os.lseek(fd, 4096, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _owner_alive(folder: Path, started_at: str | None) -> bool | None:
    """Whether the process recording into `folder` still runs; None when this machine cannot tell."""
    lock = folder / LOCK_NAME
    if not lock.exists():
        try:
            started = datetime.fromisoformat(started_at) if started_at else None
        except ValueError:
            started = None
        if started is None:
            return False
        age = (datetime.now(timezone.utc) - started).total_seconds()
        return age < STALE_WITHOUT_LOCK  # a process that is just starting has not taken it yet
    try:
        note = json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        note = {}
    if note.get("host") not in (None, socket.gethostname()):
        return None  # locks do not hold across machines sharing a folder
    fd = os.open(lock, os.O_RDWR)
    try:
        if _try_lock(fd):
            return False
        return True
    finally:
        os.close(fd)  # and with it the lock just taken


# ---------------------------------------------------------------------------------------------
# A session's audio folder


class SessionAudio:
    """The tracks of one session as files in its folder (the `Recording` a LiveSource writes to).

    The capture stops before the disk fills (core/audio/capture.py keeps a reserve), but another
    program can fill it at once: then the files keep what reached the disk, playable, take no
    more audio, and `on_full` is called (the recorder stops the capture there).
    """

    def __init__(self, folder: Path, tracks: tuple[str, ...] = TRACKS, *, append: bool = False):
        self.folder = paths.ensure_private_dir(folder)
        self.full = False
        self.on_full: Callable[[], None] | None = None
        self.lock = SessionLock(self.folder)
        self.lock.acquire()
        try:
            self.files = {t: TrackFile(self.folder / f"{t}.wav", append=append) for t in tracks}
        except BaseException:
            self.lock.release()
            raise
        # A resumed session goes on where its longest track ended: the others are padded to it.
        longest = max(f.frames for f in self.files.values())
        for f in self.files.values():
            if f.frames < longest:
                f.write(np.zeros(longest - f.frames, dtype=np.float32))
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return max(f.seconds for f in self.files.values())

    def write(self, track: str, samples: np.ndarray) -> None:
        with self._lock:
            if not self.full:
                self._unless_full(self.files[track].write, samples)

    def flush(self) -> None:
        with self._lock:
            for f in self.files.values():
                if not self.full:
                    self._unless_full(f.flush)

    def _unless_full(self, action, *args) -> None:
        try:
            action(*args)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self.full = True
            for f in self.files.values():
                f.seal()
            if self.on_full is not None:
                self.on_full()

    def close(self) -> None:
        with self._lock:
            for f in self.files.values():
                if not self.full:
                    self._unless_full(f.close)
            self.lock.release()


def check_free_space(folder: Path, tracks: int = len(TRACKS), reserve: int = DISK_RESERVE) -> float:
    """Refuse to start a recording that could not go on for a while; the minutes that fit."""
    paths.ensure_private_dir(folder)
    seconds = remaining_seconds(folder, tracks, reserve)
    if seconds < DISK_START_MINUTES * 60:
        need = (reserve + DISK_START_MINUTES * 60 * BYTES_PER_SECOND * tracks) / 2**20
        raise UserError(
            f"{folder}: not enough free disk space to record (about {seconds / 60:.0f} minutes fit; "
            f"at least {need:.0f} MB free are needed). Free some space first"
        )
    return seconds / 60


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
    resumed_at: float | None = None

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
) -> LiveRecording:
    """Open the devices, create (or reopen) the session and start recording it.

    The devices are opened first: a missing device stops everything before a session exists.
    Recording starts only with the respondent's consent, stored with its time.
    """
    row = None
    if resume is not None:
        row = store.session(resume)
        if row["status"] == "recording":
            recover_interrupted(store)
            row = store.session(resume)
        if row["status"] != "interrupted" or not row["audio_dir"]:
            raise UserError(f"session {resume} is {row['status']}, not an interrupted recording; only those can be resumed")
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
                            bleed=BleedFilter() if bleed else None)
    # The screen's pause and mute act on the recording itself, not only on transcription.
    pipeline.paused = source.paused
    pipeline.muted = source.muted
    if row is not None and row["current_question"] is not None:
        pipeline.tracker.set_current(row["current_question"])
    return LiveRecording(session_id, source, pipeline, audio, resumed_at=offset if row is not None else None)


@dataclass(frozen=True)
class Interrupted:
    session_id: int
    started_at: str
    duration: float | None
    segments: int
    folder: Path
    recovered_now: bool


def recover_interrupted(store: Store) -> list[Interrupted]:
    """Sessions left recording by a process that is gone: repaired and marked interrupted.

    Returns every interrupted session (those found now and those found before), so a caller
    can offer to resume or close them.
    """
    found: set[int] = set()
    for row in store.sessions():
        if row["status"] != "recording" or not row["audio_dir"] or row["origin"] != "live":
            continue
        folder = Path(row["audio_dir"])
        if _owner_alive(folder, row["started_at"]) is not False:
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
        Interrupted(r["id"], r["started_at"], r["duration"], r["segment_count"], Path(r["audio_dir"] or "."), r["id"] in found)
        for r in store.sessions()
        if r["status"] == "interrupted" and r["origin"] == "live"
    ]


def close_interrupted(store: Store, session_id: int) -> None:
    """Accept an interrupted session as it is: it becomes a completed session."""
    row = store.session(session_id)
    if row["status"] != "interrupted":
        raise UserError(f"session {session_id} is {row['status']}, not interrupted; nothing to close")
    store.end_session(session_id, "completed", duration=row["duration"])
