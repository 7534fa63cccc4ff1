"""Audio sources: chunks of one track on the session clock, the clocks, and recorded files.

A source yields `AudioChunk`s (one track, a start time on the session clock, 16 kHz mono
float32). The same segmenter (`core.audio.segmenter`) and transcriber run behind a file replay
(the demo, tests, benchmarks) and behind live capture, so what is tested is what runs in a call.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from core.base.errors import UserError

SAMPLE_RATE = 16_000


@dataclass
class AudioChunk:
    track: str
    start: float  # seconds on the session clock
    samples: np.ndarray  # float32, mono, 16 kHz

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / SAMPLE_RATE


class Clock:
    """The session clock: seconds since the session started. Tests replace it."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            time.sleep(delay)


class ManualClock(Clock):
    """A clock that moves only when told: replay as fast as possible, yet with session times."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def sleep_until(self, t: float) -> None:
        self._now = max(self._now, t)

    def advance(self, seconds: float) -> None:
        self._now += seconds


class OffsetClock(Clock):
    """The session clock of a resumed session: it goes on from where the recording stopped."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def now(self) -> float:
        return super().now() + self.offset


class AudioSource(Protocol):
    tracks: tuple[str, ...]

    def chunks(self) -> Iterator[AudioChunk]: ...

    def close(self) -> None: ...


STREAM_BLOCK = 30 * SAMPLE_RATE  # samples per block when a file is read as it goes


def _check_file(path: Path) -> None:
    if not Path(path).is_file():
        raise UserError(f"{path}: no such audio file")
    if Path(path).stat().st_size == 0:
        # FFmpeg reads an empty .flac as zero samples without complaint; it is no recording.
        raise UserError(f"{path}: the file is empty (0 bytes), not audio")


def _unreadable(path: Path, exc: Exception) -> UserError:
    return UserError(f"{path}: not a readable audio file ({exc})")


def load_audio(path: Path) -> np.ndarray:
    """Any audio file as 16 kHz mono float32; a file that cannot be read is the user's to fix.

    This holds the whole track (a two-hour track is 460 MB, and decoding it peaks at more than
    twice that): what reads a recording through, use `stream_audio`.
    """
    from faster_whisper.audio import decode_audio

    _check_file(path)
    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many kinds for a damaged or foreign file
        raise _unreadable(path, exc) from None
    return np.asarray(audio, dtype=np.float32)


def stream_audio(path: Path, block: int = STREAM_BLOCK) -> Iterator[np.ndarray]:
    """The file as 16 kHz mono float32 blocks of `block` samples (the last one shorter), decoded
    as they are read: the very samples `load_audio` gives, in a few megabytes whatever the length.

    Missing and empty files are refused at the call, a file FFmpeg cannot read at the first block.
    """
    _check_file(path)
    return _reblock(_decoded(Path(path)), block)


def _decoded(path: Path) -> Iterator[np.ndarray]:
    # faster-whisper's decode_audio, one group of frames at a time instead of into one buffer:
    # the same PyAV decoder, frame grouping and resampler (to 16-bit mono at 16 kHz, which
    # also mixes the channels down), so any format FFmpeg reads, at any rate, gives the same
    # samples as the whole-file decode. Its helpers are reused so the two cannot drift apart
    # (faster-whisper is pinned; tests/test_audio_stream.py compares them).
    import gc

    import av
    from faster_whisper.audio import _group_frames, _ignore_invalid_frames, _resample_frames

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except Exception as exc:  # PyAV raises many kinds for a damaged or foreign file
        raise _unreadable(path, exc) from None
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    try:
        with container:
            try:
                frames = _ignore_invalid_frames(container.decode(audio=0))
                frames = _resample_frames(_group_frames(frames, 500000), resampler)
            except Exception as exc:  # a file without an audio stream
                raise _unreadable(path, exc) from None
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                except Exception as exc:
                    raise _unreadable(path, exc) from None
                yield frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
    finally:
        # As in decode_audio: PyAV frees a resampler's buffers only when the collector runs.
        del resampler
        gc.collect()


def _reblock(pieces: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    pending = np.zeros(0, dtype=np.float32)
    try:
        for piece in pieces:
            pending = np.concatenate([pending, piece]) if len(pending) else piece
            whole = len(pending) - len(pending) % size
            for at in range(0, whole, size):
                yield pending[at : at + size]
            pending = pending[whole:]
        if len(pending):
            yield pending
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # a reader stopped early closes the file now, not when collected


def audio_length(path: Path) -> int:
    """The number of 16 kHz samples in the file, read through (which also proves it readable)."""
    return sum(len(block) for block in stream_audio(path))


class FileReplaySource:
    """Plays recorded tracks as if they were live: in real time, or as fast as possible.

    The tracks are read as they play, so a two-hour replay holds a few blocks, not the hours.
    """

    def __init__(
        self,
        tracks: dict[str, Path],
        *,
        clock: Clock | None = None,
        realtime: bool = True,
        chunk_seconds: float = 0.1,
    ):
        self.tracks = tuple(tracks)
        self._paths = dict(tracks)
        # One pass through each file now: an unreadable one is refused before the replay
        # starts, as when the tracks were loaded whole, and the length is known.
        lengths = [audio_length(path) for path in self._paths.values()]
        self.clock = clock or (Clock() if realtime else ManualClock())
        self.chunk = int(chunk_seconds * SAMPLE_RATE)
        self.duration = max(lengths) / SAMPLE_RATE
        self._closed = False

    def chunks(self) -> Iterator[AudioChunk]:
        readers = {name: stream_audio(path, self.chunk) for name, path in self._paths.items()}
        try:
            # Interleave the tracks by time, as two devices delivering at once would.
            heap = [(0, i, name) for i, name in enumerate(self.tracks)]
            heapq.heapify(heap)
            while heap and not self._closed:
                pos, i, name = heapq.heappop(heap)
                block = next(readers[name], None)
                if block is None:
                    continue
                chunk = AudioChunk(name, pos / SAMPLE_RATE, block)
                self.clock.sleep_until(chunk.end)
                yield chunk
                heapq.heappush(heap, (pos + len(block), i, name))
        finally:
            for reader in readers.values():
                reader.close()

    def close(self) -> None:
        self._closed = True
