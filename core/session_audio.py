"""A session's recorded tracks: finding them, and playing a stretch of the call back.

A session's `audio_dir` holds one file per side of the call, `interviewer` and `respondent`,
as .wav or .flac (the recorder writes them; a demo session points at its sample folder).
Playback mixes the tracks, starts at a time on the session clock and keeps going, reporting
where it is so a screen can follow along. Other speeds keep the voice's pitch: the audio is
time-stretched by overlap-add rather than resampled. The tracks are read as they play
(`TrackMix`), so playing a two-hour session holds a second of audio, not the session.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .audio import SAMPLE_RATE, load_audio
from .errors import UserError

TRACKS = ("interviewer", "respondent")
EXTENSIONS = (".wav", ".flac")
SPEEDS = (0.5, 0.6, 0.75, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0)


def session_tracks(session: dict) -> dict[str, Path]:
    """The recorded tracks of a session (a row of `sessions`), by speaker."""
    where = session.get("audio_dir")
    if not where:
        raise UserError(
            f"session {session['id']} has no recorded audio (imported from text, or recorded "
            "without keeping the audio)"
        )
    folder = Path(where).expanduser()
    if not folder.is_dir():
        raise UserError(f"{folder}: the audio folder of session {session['id']} is missing")
    tracks: dict[str, Path] = {}
    for name in TRACKS:
        for ext in EXTENSIONS:
            path = folder / f"{name}{ext}"
            if path.is_file():
                tracks[name] = path
                break
    if not tracks:
        raise UserError(f"{folder}: no interviewer or respondent track (.wav or .flac) for session {session['id']}")
    return tracks


def mix_tracks(tracks: dict[str, Path]) -> np.ndarray:
    """Both sides of the call as one mono signal, as the researcher heard it, decoded whole."""
    audio = [load_audio(p) for p in tracks.values()]
    out = np.zeros(max(len(a) for a in audio), dtype=np.float32)
    for a in audio:
        out[: len(a)] += a
    np.clip(out, -1.0, 1.0, out=out)
    return out


class TrackMix:
    """Both sides of the call as one mono signal, read from the files a stretch at a time.

    `mix[a:b]` reads samples a to b of each track (soundfile seeks to them) and mixes them as
    `mix_tracks` does; `len(mix)` is the longer track's length. The Player takes it in place of
    the whole mixed array.
    """

    def __init__(self, paths: list[Path], frames: int):
        self.paths = paths
        self.frames = frames

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, where: slice) -> np.ndarray:
        import soundfile as sf

        start, stop, _ = where.indices(self.frames)
        out = np.zeros(max(0, stop - start), dtype=np.float32)
        for path in self.paths:
            try:
                part, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=False)
            except (RuntimeError, OSError):
                # The file went away or changed under the player (this runs in the audio
                # callback, where nothing can be shown): playback ends where the audio does.
                return np.zeros(0, dtype=np.float32)
            out[: len(part)] += part
        np.clip(out, -1.0, 1.0, out=out)
        return out


def open_mix(tracks: dict[str, Path]) -> TrackMix | np.ndarray:
    """The tracks ready to play: read as they play where soundfile can seek in them and reads the
    samples FFmpeg would (16 kHz mono 16-bit: every recording fieldnote makes, the demo's FLAC);
    anything else is decoded whole and resampled, as before."""
    import soundfile as sf

    try:
        infos = [sf.info(str(path)) for path in tracks.values()]
    except (RuntimeError, OSError):
        return mix_tracks(tracks)  # FFmpeg may read it; if not, load_audio says why
    # A WAV header that gives no length (0 frames) is read to the end of the file by FFmpeg.
    if all(i.samplerate == SAMPLE_RATE and i.channels == 1 and i.subtype == "PCM_16" and i.frames > 0 for i in infos):
        return TrackMix(list(tracks.values()), max(i.frames for i in infos))
    return mix_tracks(tracks)


class TimeStretcher:
    """Overlap-add time stretching for speech: `speed` > 1 is faster, the pitch stays."""

    FRAME = 640  # 40 ms
    HOP = 320  # synthesis hop

    def __init__(self, speed: float):
        self.speed = speed
        self.window = np.hanning(self.FRAME).astype(np.float32)
        self._tail = np.zeros(self.FRAME - self.HOP, dtype=np.float32)

    def stretch(self, samples: np.ndarray) -> np.ndarray:
        """Stretch one block of source audio; consecutive blocks join up without clicks."""
        if self.speed == 1.0:
            return samples
        analysis_hop = self.HOP * self.speed
        n_frames = max(1, int((len(samples) - self.FRAME) / analysis_hop) + 1)
        out = np.zeros(n_frames * self.HOP + self.FRAME, dtype=np.float32)
        norm = np.zeros_like(out)
        for k in range(n_frames):
            a = int(k * analysis_hop)
            frame = samples[a : a + self.FRAME]
            if len(frame) < self.FRAME:
                frame = np.pad(frame, (0, self.FRAME - len(frame)))
            b = k * self.HOP
            out[b : b + self.FRAME] += frame * self.window
            norm[b : b + self.FRAME] += self.window
        norm[norm < 1e-3] = 1.0
        out /= norm
        out[: len(self._tail)] = 0.5 * (out[: len(self._tail)] + self._tail)
        self._tail = out[n_frames * self.HOP : n_frames * self.HOP + len(self._tail)].copy()
        return out[: n_frames * self.HOP]


class OutputStream(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def _sounddevice_stream(fill: Callable[[np.ndarray], bool], finished: Callable[[], None]) -> OutputStream:
    import sounddevice as sd

    def callback(outdata, frames, time_info, status) -> None:
        if not fill(outdata[:, 0]):
            raise sd.CallbackStop

    try:
        return sd.OutputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="float32", callback=callback, finished_callback=finished
        )
    except (sd.PortAudioError, OSError) as exc:
        raise UserError(f"cannot play audio: no usable output device ({exc})") from None


class Player:
    """Plays the mixed tracks from a time on, at a speed, and tells where it is.

    `stream_factory(fill, finished)` makes the output stream: it calls `fill(block)` for each
    block to play (False once the audio has run out) and `finished()` when it stops. Tests pass
    one that pulls blocks by hand. The position is read from another thread than the audio callback's, so it
    is a plain float, replaced whole.
    """

    BLOCK = SAMPLE_RATE // 2  # source audio stretched at a time

    def __init__(self, audio: np.ndarray | TrackMix, *, stream_factory: Callable = _sounddevice_stream):
        self.audio = audio
        self.duration = len(audio) / SAMPLE_RATE
        self._factory = stream_factory
        self._stream: OutputStream | None = None
        self._lock = threading.Lock()
        self.speed = 1.0
        self.position: float | None = None  # seconds on the session clock, None when stopped
        self._current: object | None = None

    @classmethod
    def for_session(cls, session: dict, **kwargs) -> "Player":
        return cls(open_mix(session_tracks(session)), **kwargs)

    @property
    def playing(self) -> bool:
        return self._stream is not None

    def play(self, start: float, *, end: float | None = None, speed: float | None = None) -> None:
        """Play from `start` (seconds) to `end` or the end of the recording."""
        self.stop()
        if speed is not None:
            self.speed = speed
        start = min(max(0.0, start), self.duration)
        src = int(start * SAMPLE_RATE)
        stop_at = len(self.audio) if end is None else min(len(self.audio), int(end * SAMPLE_RATE))
        stretcher = TimeStretcher(self.speed)
        pending = np.zeros(0, dtype=np.float32)
        # Which source sample each output sample came from, to report the position.
        src_of = np.zeros(0, dtype=np.float64)
        state = {"src": src}

        def fill(out: np.ndarray) -> bool:
            nonlocal pending, src_of
            frames = len(out)
            while len(pending) < frames and state["src"] < stop_at:
                block = self.audio[state["src"] : min(stop_at, state["src"] + self.BLOCK)]
                if not len(block):
                    break  # a track that could no longer be read: play what is pending, then stop
                stretched = stretcher.stretch(block)
                pending = np.concatenate([pending, stretched])
                src_of = np.concatenate(
                    [src_of, state["src"] + np.linspace(0, len(block), len(stretched), endpoint=False)]
                )
                state["src"] += len(block)
            n = min(frames, len(pending))
            out[:n] = pending[:n]
            out[n:] = 0.0
            if n:
                self.position = float(src_of[n - 1]) / SAMPLE_RATE
            pending, src_of = pending[n:], src_of[n:]
            return n == frames

        token = object()

        def finished() -> None:
            # A stream stopped for a newer one must not clear the newer one's state.
            with self._lock:
                if self._current is token:
                    self._stream, self._current, self.position = None, None, None

        self.position = start
        with self._lock:
            self._current = token
            self._stream = self._factory(fill, finished)
            self._stream.start()

    def stop(self) -> None:
        with self._lock:
            stream, self._stream, self._current = self._stream, None, None
        if stream is not None:
            stream.stop()
            stream.close()
        self.position = None

    def set_speed(self, speed: float) -> None:
        """Change speed; playing goes on from where it is."""
        at = self.position
        self.speed = speed
        if self.playing and at is not None:
            self.play(at)

    def faster(self, step: int = 1) -> float:
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - self.speed))
        self.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, i + step))])
        return self.speed
