"""The tracks of a live session on disk: written continuously, kept playable through a crash.

Each track is a 16 kHz mono 16-bit WAV file in the session's folder next to the database
(`<db folder>/sessions/<id>/interviewer.wav` and `respondent.wav`). The header is rewritten
with the true length at every flush (at least twice a second, with fsync), so a file cut off
by a crash is valid up to its last flush, and `repair_wav` makes the rest of it playable.

While a session records, its process holds an OS lock on `recording.lock` in the folder (the
lock dies with the process, even on `kill -9`), so the next start can tell a recording that
goes on from one whose process is gone (`owner_alive`). Also here: how much recording the
disk has room for, which the capture, the start of a recording and the doctor all ask; and a
recording made elsewhere kept as a session's tracks (`keep_tracks`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import struct
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from core.base import paths
from core.audio.sources import SAMPLE_RATE
from core.base.errors import UserError

TRACKS = ("interviewer", "respondent")
LOCK_NAME = "recording.lock"
HEADER_BYTES = 44
STALE_WITHOUT_LOCK = 60.0  # a 'recording' session this old without a lock file has no owner
BYTES_PER_SECOND = SAMPLE_RATE * 2  # one track as 16-bit PCM on disk
DISK_RESERVE = 100 * 2**20  # stop before free space falls below this: the database needs room too
DISK_START_MINUTES = 10  # refuse to start unless this much recording fits above the reserve


# ---------------------------------------------------------------------------------------------
# WAV files that survive a crash


def _wav_header(data_bytes: int, rate: int = SAMPLE_RATE, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
        + b"data" + struct.pack("<I", data_bytes)
    )


def _layout(fh) -> tuple[int, int, int, int] | None:
    """(data offset, size field offset, rate, block align) of a RIFF/WAVE file, or None."""
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
            return pos + 8, pos + 4, rate, block
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
        data_at, size_field, rate, block = layout
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
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode())
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


def owner_alive(folder: Path, started_at: str | None) -> bool | None:
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
        for f, silence in self._padding():
            f.write(silence)
        self._lock = threading.Lock()

    def _padding(self) -> list[tuple[TrackFile, np.ndarray]]:
        """The silence each track shorter than the longest needs to end at the same moment."""
        longest = max(f.frames for f in self.files.values())
        return [(f, np.zeros(longest - f.frames, dtype=np.float32)) for f in self.files.values() if f.frames < longest]

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
            # The tracks end together, as they began: a track whose last block the capture had
            # not yet handed over when it stopped is padded with silence to the longest.
            for f, silence in self._padding():
                if not self.full:
                    self._unless_full(f.write, silence)
            for f in self.files.values():
                if not self.full:
                    self._unless_full(f.close)
            self.lock.release()


# ---------------------------------------------------------------------------------------------
# Room on the disk: the one reckoning the capture, the start of a recording and the doctor share


@dataclass(frozen=True)
class DiskRoom:
    """The free space of a disk, as recording time for `tracks` tracks above the reserve."""

    free: int  # bytes
    tracks: int = len(TRACKS)

    @property
    def seconds(self) -> float:
        """How long a recording can go on before free space falls to the reserve."""
        return max(0.0, (self.free - DISK_RESERVE) / (BYTES_PER_SECOND * self.tracks))

    @property
    def can_start(self) -> bool:
        return self.seconds >= DISK_START_MINUTES * 60

    def needed(self, seconds: float) -> float:
        """Bytes free that `seconds` of recording need, the reserve included."""
        return DISK_RESERVE + seconds * BYTES_PER_SECOND * self.tracks


def disk_room(folder: Path, tracks: int = len(TRACKS)) -> DiskRoom:
    return DiskRoom(shutil.disk_usage(folder).free, tracks)


def check_free_space(folder: Path) -> None:
    """Refuse to start a recording that could not go on for a while."""
    paths.make_private_dir(folder, "the recordings")
    room = disk_room(folder)
    if not room.can_start:
        raise UserError(
            f"{folder}: not enough free disk space to record (about {room.seconds / 60:.0f} minutes fit; "
            f"at least {room.needed(DISK_START_MINUTES * 60) / 2**20:.0f} MB free are needed). Free some space first"
        )


# ---------------------------------------------------------------------------------------------
# A recording made elsewhere, kept as a session's tracks


def keep_tracks(tracks: dict[str, Path], folder: Path) -> dict[str, Path]:
    """Copy each speaker's recording (any format the audio reader takes, any rate or channels)
    into `folder` as `<speaker>.flac`, 16 kHz mono, read as it goes: what review plays and
    re-transcription reads, whatever happens to the originals. `folder` must not exist yet; it
    is made whole or not at all (a file that cannot be read, or a full disk, leaves nothing)."""
    import soundfile as sf

    from core.audio.sources import stream_audio

    partial = folder.with_name(folder.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    paths.make_private_dir(partial, "the recordings folder")
    kept = {}
    try:
        for speaker, source in tracks.items():
            target = partial / f"{speaker}.flac"
            with sf.SoundFile(target, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="FLAC") as out:
                for block in stream_audio(source):
                    out.write(block)
            os.chmod(target, 0o600)  # a recording is the user's alone, as the live tracks are
            kept[speaker] = folder / target.name
        os.replace(partial, folder)
    except (OSError, RuntimeError) as exc:  # soundfile's write errors are RuntimeErrors
        shutil.rmtree(partial, ignore_errors=True)
        if getattr(exc, "errno", None) == errno.ENOSPC or "space" in str(exc).lower():
            raise UserError(f"{folder.parent}: the disk is full; the recording was not kept") from None
        raise UserError(f"{folder}: cannot keep the recording here ({getattr(exc, 'strerror', None) or exc})") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return kept
