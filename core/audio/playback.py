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

from core.audio.sources import SAMPLE_RATE, load_audio
from core.audio.decoding import AUDIO_EXTENSIONS, MIXED
from core.audio.trackfiles import TRACKS
from core.base.errors import UserError

# An imported recording kept where it was (`import --link`) is a link to the original, in its own format.
EXTENSIONS = (".wav", ".flac", *sorted(AUDIO_EXTENSIONS - {".wav", ".flac"}))
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
    # An imported recording with both speakers in one channel has one track, `mixed`.
    for name in (*TRACKS, MIXED):
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
    """Time stretching for speech by waveform-similarity overlap-add (WSOLA): `speed` > 1 is
    faster, the pitch stays.

    Each 40 ms frame is taken from about where the speed puts it, moved by up to 10 ms to where
    it best continues the waveform the previous frame left off, and added in half over it. A plain
    overlap-add takes frames where the speed puts them exactly: a voice whose period does not
    divide the hop comes out of phase with itself, cancelling into a 50 Hz buzz. Blocks fed one
    after another are one signal: the stretcher keeps what the next frames need, and `finish`
    plays out what it still holds. The output lasts the input's duration over `speed`.
    """

    FRAME = 640  # 40 ms
    HOP = FRAME // 2  # a periodic Hann window at half overlap sums to one: no gain to undo
    SEEK = 160  # 10 ms either way: a whole period of voices down to 50 Hz fits in the search

    def __init__(self, speed: float):
        self.speed = speed
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.FRAME) / self.FRAME)).astype(np.float32)
        self._held = np.zeros(0, dtype=np.float32)  # source audio the next frames may need
        self._base = 0  # where in the source `_held` begins
        self._fed = 0  # source samples given so far
        self._frames = 0  # frames made so far
        self._previous: int | None = None  # where in the source the last frame began
        self._overlap = np.zeros(self.HOP, dtype=np.float32)  # the last frame's second half

    @property
    def played(self) -> float:
        """How many source samples the output given so far stands for."""
        return self._fed if self.speed == 1.0 else min(self._fed, self._frames * self.HOP * self.speed)

    def stretch(self, samples: np.ndarray) -> np.ndarray:
        """Stretch the next block of source audio; the output runs on from the last block's."""
        self._fed += len(samples)
        if self.speed == 1.0:
            return samples
        self._held = np.concatenate([self._held, samples.astype(np.float32, copy=False)])
        return self._run()

    def finish(self) -> np.ndarray:
        """The rest of the output, once the source has no more."""
        if self.speed == 1.0:
            return np.zeros(0, dtype=np.float32)
        # The frames still to make reach past the end of the source, into silence.
        self._held = np.concatenate([self._held, np.zeros(self.FRAME + 2 * self.SEEK, dtype=np.float32)])
        out = self._run(until=self._fed)
        tail, self._overlap = self._overlap, np.zeros(self.HOP, dtype=np.float32)
        return np.concatenate([out, tail])

    def _run(self, until: int | None = None) -> np.ndarray:
        """Make every frame whose source is held (`until`: every frame that begins before it)."""
        out = []
        held_to = self._base + len(self._held)
        while True:
            ideal = int(round(self._frames * self.HOP * self.speed))
            if until is not None and ideal >= until:
                break
            lo, hi = (ideal, ideal) if self._previous is None else (max(0, ideal - self.SEEK), ideal + self.SEEK)
            if hi + self.FRAME > held_to:
                break
            start = lo if lo == hi else lo + self._best_offset(lo, hi, ideal)
            at = start - self._base
            frame = self._held[at : at + self.FRAME] * self.window
            out.append(self._overlap + frame[: self.HOP])
            self._overlap = frame[self.HOP :]
            self._previous = start
            self._frames += 1
        # Keep only what the next frame may look at.
        if self._previous is not None:
            nxt = int(round(self._frames * self.HOP * self.speed))
            keep = min(self._previous + self.HOP, max(0, nxt - self.SEEK))
            if keep > self._base:
                self._held = self._held[keep - self._base :]
                self._base = keep
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def _best_offset(self, lo: int, hi: int, ideal: int) -> int:
        """How far past `lo` a frame best continues the previous frame's waveform."""
        at = self._previous + self.HOP - self._base
        natural = self._held[at : at + self.HOP]  # what would have followed the previous frame
        region = self._held[lo - self._base : hi - self._base + self.HOP]
        similarity = np.correlate(region, natural, mode="valid")
        energy = np.convolve(region * region, np.ones(self.HOP, dtype=np.float32), mode="valid")
        if not natural.any() or not energy.any():
            return ideal - lo  # silence: any place will do, so the one the speed gives
        return int(np.argmax(similarity / np.sqrt(np.maximum(energy, 1e-12))))


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
        self._ended: OutputStream | None = None  # a stream that ran out, still to close
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
        state = {"src": src, "done": False}

        def fill(out: np.ndarray) -> bool:
            nonlocal pending, src_of
            frames = len(out)
            while len(pending) < frames and not state["done"]:
                before = stretcher.played
                if state["src"] < stop_at:
                    block = self.audio[state["src"] : min(stop_at, state["src"] + self.BLOCK)]
                    if not len(block):
                        # A track that could no longer be read: play what is pending, then stop.
                        state["done"] = True
                        break
                    stretched = stretcher.stretch(block)
                    state["src"] += len(block)
                else:
                    stretched = stretcher.finish()
                    state["done"] = True
                pending = np.concatenate([pending, stretched])
                src_of = np.concatenate(
                    [src_of, src + np.linspace(before, stretcher.played, len(stretched), endpoint=False)]
                )
            n = min(frames, len(pending))
            out[:n] = pending[:n]
            out[n:] = 0.0
            if n:
                self.position = float(src_of[n - 1]) / SAMPLE_RATE
            pending, src_of = pending[n:], src_of[n:]
            return n == frames

        token = object()

        def finished() -> None:
            # A stream stopped for a newer one must not clear the newer one's state. One that ran
            # out is closed by the next play or stop (PortAudio cannot close a stream from its
            # own callback): left open, it spoiled the next one, which PulseAudio's ALSA plugin
            # then played as fast as it could, a 70 ms burst of noise, and streams piled up.
            with self._lock:
                if self._current is token:
                    self._ended = self._stream
                    self._stream, self._current, self.position = None, None, None

        self.position = start
        with self._lock:
            self._current = token
            self._stream = self._factory(fill, finished)
            self._stream.start()

    def stop(self) -> None:
        with self._lock:
            stream, self._stream, self._current = self._stream, None, None
            ended, self._ended = self._ended, None
        if stream is not None:
            stream.stop()
            stream.close()
        if ended is not None:
            ended.close()
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
