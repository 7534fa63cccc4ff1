"""Live capture of a call: the interviewer's microphone and the system output as two tracks.

`LiveSource` puts the device streams (`core.audio.devices`) on one session clock. Device
callbacks only stamp each block with the clock and put it in a queue (never blocking, never
dropping); one assembler thread resamples to 16 kHz mono, places each block on the clock
(`core.audio.alignment`), pads silence where a device delivered nothing (a loopback is silent
while nothing plays; a device may vanish), writes the audio to the session's recording and
hands it on as `AudioChunk`s. Writing happens before the pipeline sees the audio, so a
transcriber that falls behind never puts the recording at risk.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from core.audio.alignment import Resampler, TrackPlacer
from core.audio.devices import DeviceStream
from core.audio.sources import SAMPLE_RATE, AudioChunk, Clock
from core.audio.trackfiles import disk_room
from core.base.errors import UserError

CHUNK_SECONDS = 0.1  # the pipeline gets audio in pieces of about this length
FLUSH_EVERY = 0.5  # seconds between flushes of the recording to the disk, at the latest
DISK_LOW_MINUTES = 15  # warn once when less recording than this fits on the disk


@dataclass
class CaptureEvent:
    kind: str  # device-lost | device-back | paused | resumed | muted | unmuted | disk-low | disk-full
    track: str | None
    at: float  # session time
    message: str


@dataclass
class Gap:
    track: str | None  # None: both tracks
    start: float
    end: float | None
    reason: str  # device | paused | muted
    detail: str = ""


class Recording(Protocol):
    """Where captured audio goes first (core.audio.trackfiles.SessionAudio)."""

    folder: Path

    def write(self, track: str, samples: np.ndarray) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Track:
    stream: DeviceStream
    placer: TrackPlacer
    resampler: Resampler | None = None
    lost: bool = False
    lost_gap: Gap | None = None
    muted_gap: Gap | None = None
    next_retry: float = 0.0
    opened_at: float = 0.0
    audio_until: int = 0  # on-clock index just past the device's last real sample
    emitted: int = 0  # on-clock index just past the last sample handed on
    pending: list[np.ndarray] = field(default_factory=list)
    pending_len: int = 0


class LiveSource:
    """Two (or more) device streams as one time-ordered stream of `AudioChunk`s per track.

    `paused` and `muted` are shared with the pipeline (`core.pipeline.recording` wires them): while paused,
    or while a track is muted, silence is recorded and passed on in its place, so the files and
    the segment times stay on the session clock and nothing said off the record is kept.
    """

    def __init__(
        self,
        streams: list[DeviceStream],
        *,
        clock: Clock | None = None,
        recording: Recording | None = None,
        on_event: Callable[[CaptureEvent], None] | None = None,
        retry_every: float = 2.0,
        stall_after: float = 5.0,
        disk_check_every: float = 5.0,
    ):
        self.clock = clock or Clock()
        start = self.clock.now()
        self._tracks = {s.track: _Track(s, TrackPlacer(start)) for s in streams}
        for t in self._tracks.values():
            t.emitted = t.audio_until = t.placer.position
        self.tracks = tuple(self._tracks)
        self.recording = recording
        self.on_event = on_event
        self.retry_every = retry_every
        self.stall_after = stall_after
        self.disk_check_every = disk_check_every
        self.paused = threading.Event()
        self.muted: set[str] = set()
        self.events: list[CaptureEvent] = []
        self.gaps: list[Gap] = []
        self.stop_reason: str | None = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._pause_gap: Gap | None = None
        self._next_flush = 0.0
        self._next_disk_check = 0.0
        self._disk_warned = False

    # lifecycle ---------------------------------------------------------------------------------

    def start(self, *, thread: bool = True) -> None:
        self.open()
        self.run(thread=thread)

    def open(self) -> None:
        """Open every device; one that cannot be opened is the user's to fix, and none stays open.
        Blocks delivered before `run` wait in the queue and are placed by their arrival time."""
        started = []
        try:
            for t in self._tracks.values():
                self._open(t)
                started.append(t)
        except BaseException:
            for t in started:
                t.stream.stop()
            raise

    def run(self, *, thread: bool = True) -> None:
        """Start the assembler. Tests drive `pump` themselves with thread=False."""
        if thread:
            self._thread = threading.Thread(target=self._run, name="capture-assembler", daemon=True)
            self._thread.start()

    def _open(self, t: _Track) -> None:
        track = t.stream.track
        t.stream.start(
            lambda block, track=track: self._inbox.put(("audio", track, self.clock.now(), block)),
            lambda message, track=track: self._inbox.put(("lost", track, self.clock.now(), message)),
        )
        t.opened_at = self.clock.now()
        if t.resampler is None or t.resampler.rate_in != t.stream.rate:
            t.resampler = Resampler(t.stream.rate)

    def stop(self, reason: str | None = None) -> None:
        """Stop capturing. Audio already captured is still recorded and passed on."""
        if reason and self.stop_reason is None:
            self.stop_reason = reason
        self._stopping.set()

    def close(self) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join()
        elif not self._done.is_set():
            while not self.pump(0):
                pass

    def chunks(self) -> Iterator[AudioChunk]:
        while True:
            item = self._out.get()
            if item is None:
                return
            yield item

    # the assembler -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self.pump(0.05):
                pass
        except BaseException as exc:  # the recording must end cleanly even on a bug here
            self.stop_reason = self.stop_reason or f"capture failed: {exc!r}"
            self._finish()
            raise

    def pump(self, timeout: float) -> bool:
        """One round of the assembler; True once everything is written and the stream ended."""
        if self._done.is_set():
            return True
        try:
            item = self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait()
        except queue.Empty:
            item = None
        # Before this round's blocks: the first of them is the first one paused or muted.
        self._follow_controls()
        while item is not None:
            self._handle(item)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                item = None
        now = self.clock.now()
        if self._stopping.is_set():
            self._finish()
            return True
        self._tick(now)
        return False

    def _handle(self, item) -> None:
        kind, track, arrival, payload = item
        t = self._tracks[track]
        if kind == "audio":
            if t.lost:
                return  # a late block of a stream already given up on (its gap is padded)
            samples = t.resampler(payload)
            if len(samples) == 0:
                return
            pad = t.placer.place(len(samples), arrival)
            if pad < 0:
                samples = samples[-pad:]  # the device runs fast: a few milliseconds left out
            else:
                self._emit(t, np.zeros(pad, dtype=np.float32), silence=True)
            self._emit(t, samples)
            t.audio_until = t.placer.position
        elif kind == "lost" and not t.lost:
            self._lose(t, arrival, payload)

    def _lose(self, t: _Track, now: float, message: str) -> None:
        t.lost = True
        t.stream.stop()
        t.next_retry = now + self.retry_every
        gap = Gap(t.stream.track, round(t.audio_until / SAMPLE_RATE, 2), None, "device", message)
        t.lost_gap = gap
        self.gaps.append(gap)
        self._event("device-lost", t.stream.track, gap.start,
                    f"{message}; recording goes on without it and tries to reopen it every {self.retry_every:g} s")

    def _tick(self, now: float) -> None:
        for t in self._tracks.values():
            if t.lost and now >= t.next_retry:
                self._retry(t, now)
            elif not t.lost and t.stream.continuous \
                    and now - max(t.placer.last_arrival or 0.0, t.opened_at) > self.stall_after:
                self._lose(t, now, f"{t.stream.label} delivered nothing for {self.stall_after:g} s")
            pad = t.placer.fill(now, lost=t.lost)
            self._emit(t, np.zeros(pad, dtype=np.float32), silence=True)
            self._release(t, force=t.placer.last_arrival is None or now - t.placer.last_arrival > CHUNK_SECONDS)
        if now >= self._next_flush and self.recording is not None:
            self.recording.flush()
            self._next_flush = now + FLUSH_EVERY
        if now >= self._next_disk_check:
            self._next_disk_check = now + self.disk_check_every
            self._check_disk(now)

    def _retry(self, t: _Track, now: float) -> None:
        t.next_retry = now + self.retry_every
        try:
            self._open(t)
        except UserError:
            return
        t.lost = False
        t.placer.realign = True
        t.audio_until = t.placer.position
        gap, t.lost_gap = t.lost_gap, None
        if gap is not None:
            gap.end = round(max(gap.start, now), 2)
            self._event("device-back", t.stream.track, gap.end,
                        f"{t.stream.label} is back; {gap.end - gap.start:.1f} s of {t.stream.track} audio are missing")

    def _follow_controls(self) -> None:
        # The screen flips `paused` and `muted`; each change is noted as a gap, placed where
        # the audio handed on turns to silence (or back).
        at = min(t.emitted for t in self._tracks.values()) / SAMPLE_RATE
        if self.paused.is_set() and self._pause_gap is None:
            self._pause_gap = Gap(None, round(at, 2), None, "paused")
            self.gaps.append(self._pause_gap)
            self._event("paused", None, at, "recording paused: silence is kept in its place")
        elif not self.paused.is_set() and self._pause_gap is not None:
            self._pause_gap.end = round(at, 2)
            self._pause_gap = None
            self._event("resumed", None, at, "recording resumed")
        for name, t in self._tracks.items():
            at = t.emitted / SAMPLE_RATE
            if name in self.muted and t.muted_gap is None:
                t.muted_gap = Gap(name, round(at, 2), None, "muted")
                self.gaps.append(t.muted_gap)
                self._event("muted", name, at, f"{name} track muted")
            elif name not in self.muted and t.muted_gap is not None:
                t.muted_gap.end = round(at, 2)
                t.muted_gap = None
                self._event("unmuted", name, at, f"{name} track unmuted")

    def _emit(self, t: _Track, samples: np.ndarray, *, silence: bool = False) -> None:
        if len(samples) == 0:
            return
        if not silence and (self.paused.is_set() or t.stream.track in self.muted):
            samples = np.zeros_like(samples)
        if self.recording is not None:
            self.recording.write(t.stream.track, samples)
        t.emitted += len(samples)
        t.pending.append(samples)
        t.pending_len += len(samples)
        if t.pending_len >= int(CHUNK_SECONDS * SAMPLE_RATE):
            self._release(t, force=True)

    def _release(self, t: _Track, *, force: bool) -> None:
        if not t.pending or not force:
            return
        samples = np.concatenate(t.pending) if len(t.pending) > 1 else t.pending[0]
        start = (t.emitted - len(samples)) / SAMPLE_RATE
        t.pending, t.pending_len = [], 0
        step = SAMPLE_RATE  # long silences go on in pieces of a second
        for i in range(0, len(samples), step):
            self._out.put(AudioChunk(t.stream.track, start + i / SAMPLE_RATE, samples[i : i + step]))

    def _check_disk(self, now: float) -> None:
        if self.recording is None:
            return
        room = disk_room(self.recording.folder, len(self._tracks))
        if room.seconds == 0:
            self._event("disk-full", None, now,
                        f"recording stopped: only {room.free / 2**20:.0f} MB left on the disk of {self.recording.folder}; "
                        "everything up to now is saved. Free some space before recording again")
            self.stop(reason="disk-full")
        elif room.seconds < DISK_LOW_MINUTES * 60 and not self._disk_warned:
            self._disk_warned = True
            self._event("disk-low", None, now,
                        f"disk almost full: about {room.seconds / 60:.0f} minutes of recording left "
                        f"on the disk of {self.recording.folder}")

    def _finish(self) -> None:
        if self._done.is_set():
            return
        for t in self._tracks.values():
            t.stream.stop()
        # Late blocks still queued are audio the devices captured: keep them.
        while True:
            try:
                self._handle(self._inbox.get_nowait())
            except queue.Empty:
                break
        # Both tracks end at the same time, so the files line up to the end.
        end = max(t.placer.position for t in self._tracks.values())
        for t in self._tracks.values():
            self._emit(t, np.zeros(end - t.placer.position, dtype=np.float32), silence=True)
            t.placer.position = end
            self._release(t, force=True)
        end_time = round(end / SAMPLE_RATE, 2)
        for gap in self.gaps:
            if gap.end is None:
                gap.end = end_time
        if self.recording is not None:
            self.recording.close()
        self._event("stopped", None, end_time, f"recording stopped at {end_time:.1f} s"
                    + (f" ({self.stop_reason})" if self.stop_reason else ""))
        self._done.set()
        self._out.put(None)

    def _event(self, kind: str, track: str | None, at: float, message: str) -> None:
        event = CaptureEvent(kind, track, round(at, 2), message)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    @property
    def labels(self) -> dict[str, str]:
        """Each track's device, for messages."""
        return {name: t.stream.label for name, t in self._tracks.items()}

    @property
    def duration(self) -> float:
        return max(t.placer.position for t in self._tracks.values()) / SAMPLE_RATE


# ---------------------------------------------------------------------------------------------
# The setup screen's test: a few seconds from the devices


def capture_for(streams: list[DeviceStream], seconds: float) -> dict[str, np.ndarray]:
    """Record a few seconds from the devices (the setup screen's test), nothing to disk."""
    source = LiveSource(streams)
    source.start()
    timer = threading.Timer(seconds, source.stop)
    timer.start()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in source.tracks}
    try:
        for chunk in source.chunks():
            parts[chunk.track].append(chunk.samples)
    finally:
        timer.cancel()
        source.close()
    return {name: np.concatenate(p) if p else np.zeros(0, dtype=np.float32) for name, p in parts.items()}

