"""The voice-activity segmenter: one track's chunks in, utterances out, as the audio arrives.

Silero VAD (the model faster-whisper ships) judges each window of 32 ms; an utterance is the
speech between pauses, padded a little so no word loses its edges. It runs the same behind a
file replay and behind live capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio.sources import SAMPLE_RATE, AudioChunk

VAD_WINDOW = 512  # samples per Silero VAD decision (32 ms)
VAD_CONTEXT = 64  # samples before each window that its decision also sees, as Silero VAD expects


@dataclass
class Utterance:
    track: str
    start: float
    end: float  # where the speech ended (before padding)
    samples: np.ndarray
    cut: bool = False  # ended by the length cap, not by a pause


def _vad_model():
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


class VadSegmenter:
    """Cuts one track's stream into utterances with Silero VAD, as the audio arrives.

    An utterance ends after `min_silence` seconds below the silence threshold, so text can
    appear soon after a speaker stops; one that runs past `max_utterance` seconds is cut at its
    last short pause (or hard, if there is none) so a monologue still shows text as it goes.
    """

    def __init__(
        self,
        track: str,
        *,
        threshold: float = 0.5,
        neg_threshold: float = 0.35,
        min_silence: float = 0.5,
        min_speech: float = 0.25,
        max_utterance: float = 12.0,
        pad: float = 0.3,
        tail: float | None = None,
        foresee: float | None = None,
        vad=None,
    ):
        self.track = track
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.min_silence = int(min_silence * SAMPLE_RATE)
        self.min_speech = int(min_speech * SAMPLE_RATE)
        self.max_utterance = int(max_utterance * SAMPLE_RATE)
        # Padding before the speech and after it (`tail`; None: the same), and how long a pause
        # lasts before `ending` foresees its utterance (`foresee`; None: once the tail is in, never
        # sooner). The live path keeps 0.3 s for both: shorter ones brought the delay down by no
        # more than two runs of the same setting differ by (the README, "Through the ears").
        self.pad = int(pad * SAMPLE_RATE)
        self.tail = self.pad if tail is None else int(tail * SAMPLE_RATE)
        self.foresee = self.tail if foresee is None else max(self.tail, int(foresee * SAMPLE_RATE))
        self._vad = vad or _vad_model()
        self._t0: float | None = None
        self._buf = np.zeros(0, dtype=np.float32)  # audio kept, starting at sample _buf_start
        self._buf_start = 0
        self._pos = 0  # next sample to judge
        self._context = np.zeros(VAD_CONTEXT, dtype=np.float32)
        self._speech_start: int | None = None
        self._silence_since: int | None = None
        self._last_pause: int | None = None  # a quiet window inside the current utterance

    def _time(self, sample: int) -> float:
        return (self._t0 or 0.0) + sample / SAMPLE_RATE

    def push(self, chunk: AudioChunk) -> list[Utterance]:
        if self._t0 is None:
            self._t0 = chunk.start
        self._buf = np.concatenate([self._buf, chunk.samples.astype(np.float32, copy=False)])
        end = self._buf_start + len(self._buf)
        n_windows = (end - self._pos) // VAD_WINDOW
        if n_windows == 0:
            return []
        offset = self._pos - self._buf_start
        windows = self._buf[offset : offset + n_windows * VAD_WINDOW].reshape(n_windows, VAD_WINDOW)
        probs = self._probabilities(windows)
        out: list[Utterance] = []
        for prob in probs:
            out.extend(self._step(float(prob)))
            self._pos += VAD_WINDOW
        self._trim()
        return out

    def _probabilities(self, windows: np.ndarray) -> np.ndarray:
        contexts = np.concatenate([self._context[None, :], windows[:-1, -VAD_CONTEXT:]], axis=0)
        self._context = windows[-1, -VAD_CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1).astype(np.float32)
        h = np.zeros((1, 1, 128), dtype=np.float32)
        c = np.zeros((1, 1, 128), dtype=np.float32)
        out, _, _ = self._vad.session.run(None, {"input": batch, "h": h, "c": c})
        return np.asarray(out).reshape(-1)

    def _step(self, prob: float) -> list[Utterance]:
        window_end = self._pos + VAD_WINDOW
        if self._speech_start is None:
            if prob >= self.threshold:
                self._speech_start = self._pos
                self._silence_since = None
                self._last_pause = None
            return []
        if prob < self.neg_threshold:
            if self._silence_since is None:
                self._silence_since = self._pos
            if self._pos - self._speech_start > self.max_utterance // 2:
                # Cut in the middle of the pause: both halves keep their word edges.
                self._last_pause = (self._silence_since + window_end) // 2
            if window_end - self._silence_since >= self.min_silence:
                return self._emit(self._silence_since, cut=False)
        elif prob >= self.threshold:
            self._silence_since = None
        if window_end - self._speech_start >= self.max_utterance:
            at = self._last_pause if self._last_pause is not None else window_end
            out = self._emit(at, cut=True)
            # Speech goes on: the next utterance starts where this one was cut.
            self._speech_start = at
            self._silence_since = None
            self._last_pause = None
            return out
        return []

    def ending(self) -> Utterance | None:
        """The utterance a pause now under way will end, once the pause has lasted `foresee`
        seconds: the same one `push` gives when the pause reaches `min_silence`, unless speech
        comes back first. None while there is no such pause, or it is too young.

        The live path starts transcribing it then, while the pause is still being confirmed
        (core.pipeline.live), so the text is ready `min_silence - foresee` seconds sooner."""
        start, since = self._speech_start, self._silence_since
        if start is None or since is None or self._pos - since < self.foresee:
            return None
        return self._utterance(start, since, cut=False)

    def _emit(self, speech_end: int, cut: bool) -> list[Utterance]:
        start = self._speech_start
        self._speech_start = None
        self._silence_since = None
        self._last_pause = None
        utt = None if start is None else self._utterance(start, speech_end, cut)
        return [] if utt is None else [utt]

    def _utterance(self, start: int, speech_end: int, cut: bool) -> Utterance | None:
        """The speech from `start` to `speech_end`, padded unless it was cut (None: too short)."""
        if speech_end - start < self.min_speech:
            return None
        lo = max(self._buf_start, start - (0 if cut else self.pad))
        hi = min(self._buf_start + len(self._buf), speech_end + (0 if cut else self.tail))
        samples = self._buf[lo - self._buf_start : hi - self._buf_start].copy()
        return Utterance(self.track, self._time(start), self._time(speech_end), samples, cut)

    def _trim(self) -> None:
        keep_from = self._pos - self.pad - VAD_WINDOW
        if self._speech_start is not None:
            keep_from = min(keep_from, self._speech_start - self.pad)
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop

    def flush(self) -> list[Utterance]:
        """The end of the stream ends any utterance still open."""
        if self._speech_start is None:
            return []
        end = self._buf_start + len(self._buf)
        return self._emit(end if self._silence_since is None else self._silence_since, cut=False)
