"""Bleed: the respondent's voice heard again in the interviewer's microphone.

An interviewer without headphones plays the call through speakers; the microphone picks the
respondent up, and the same words arrive on both tracks at about the same time. The respondent
track has them clean, so the copy on the interviewer track is dropped.

The filter sits between the pipeline and its sink. A respondent segment passes at once. An
interviewer segment is compared with the respondent segments around it in time (`window`
seconds either side); it waits until the respondent track has been heard that far past its end,
because the respondent's copy of the same words may still be on its way. If sound on the
respondent track began with it and still goes on, it waits until that sound ends (the
microphone's copy may be cut into pieces where the respondent's is one utterance), for
`max_hold` seconds at most. An answer that starts after a question does not hold the question.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from rapidfuzz import fuzz

from core.audio.sources import AudioChunk, Clock
from core.study.language import normalise

SHORT_WORDS = 3  # below this many words a partial match is too easy: ask for the whole text


@dataclass(frozen=True)
class _Heard:
    start: float
    end: float
    text: str  # normalised


def is_bleed(mic_text: str, mic_start: float, mic_end: float, system: list[_Heard], *,
             window: float = 2.0, min_score: float = 80.0) -> bool:
    """Whether the microphone's words are the system output's words at about the same time."""
    said = normalise(mic_text)
    if not said:
        return False
    near = [h for h in system if h.start - window <= mic_end and h.end + window >= mic_start]
    if not near:
        return False
    if len(said.split()) < SHORT_WORDS:
        # "Yes." on both tracks within two seconds is as likely an answer as an echo: ask for
        # the same short utterance, overlapping in time.
        return any(
            fuzz.ratio(said, h.text) >= 90 and h.start <= mic_end and h.end >= mic_start for h in near
        )
    heard = " ".join(h.text for h in sorted(near, key=lambda h: h.start))
    # The microphone's copy may be cut differently: part of one respondent segment, or a span
    # over two; a partial match of the shorter against the longer covers both.
    short, long = (said, heard) if len(said) <= len(heard) else (heard, said)
    return fuzz.partial_ratio(short, long) >= min_score and len(short) >= 0.5 * len(said)


class BleedFilter:
    """Drops interviewer segments that repeat what the respondent track said at the same time."""

    def __init__(self, *, window: float = 2.0, min_score: float = 80.0, keep_seconds: float = 60.0,
                 max_hold: float = 20.0, echo_lead: float = 0.5, quiet_gap: float = 1.0,
                 active_db: float = -50.0, above_floor_db: float = 10.0,
                 mic_track: str = "interviewer", system_track: str = "respondent"):
        self.window = window
        self.min_score = min_score
        self.keep_seconds = keep_seconds
        self.max_hold = max_hold
        self.echo_lead = echo_lead
        self.quiet_gap = quiet_gap
        self.active_db = active_db
        self.above_floor_db = above_floor_db
        self._levels: deque[float] = deque(maxlen=300)  # the respondent track's chunk levels, ~30 s
        self.mic_track = mic_track
        self.system_track = system_track
        self.dropped: list = []  # SegmentReady of each copy dropped, for stats and tests
        self._heard: deque[_Heard] = deque()
        self._held: list = []
        self._system_until = float("-inf")
        self._sounding_since: float | None = None  # start of the respondent track's current sound
        self._sounding_until = float("-inf")
        self._sink: Callable | None = None
        self._clock: Clock | None = None

    def attach(self, sink: Callable, clock: Clock) -> Callable:
        """The sink to give the pipeline: segments reach `sink` once they are known not to be bleed."""
        self._sink, self._clock = sink, clock
        return self.offer

    def offer(self, ready) -> None:
        seg = ready.segment
        if seg.speaker == self.system_track:
            self._heard.append(_Heard(seg.start, seg.end, normalise(seg.text)))
            self._forget(seg.end)
            self._send(ready)
            self._held = [h for h in self._held if not self._drop_if_bleed(h)]
        elif seg.speaker == self.mic_track:
            if not self._drop_if_bleed(ready):
                self._held.append(ready)
        else:
            self._send(ready)
        self._release()

    def heard(self, chunk: AudioChunk) -> None:
        """The pipeline has heard this chunk of a track."""
        if chunk.track != self.system_track or chunk.end <= self._system_until:
            return
        samples = chunk.samples
        if len(samples):
            rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
            level = 20 * math.log10(rms) if rms > 0 else -100.0
            self._levels.append(level)
            # Sounding: above an absolute floor and well above the line's own noise, taken as the
            # quietest moment of the last half minute (a conversation has pauses; noise does not).
            floor = min(self._levels)
            if level > max(self.active_db, floor + self.above_floor_db):
                if self._sounding_since is None or chunk.start - self._sounding_until > self.quiet_gap:
                    self._sounding_since = chunk.start
                self._sounding_until = chunk.end
        self._system_until = chunk.end
        self._release()

    def flush(self) -> None:
        held, self._held = self._held, []
        for ready in held:
            self._send(ready)

    def _drop_if_bleed(self, ready) -> bool:
        seg = ready.segment
        if is_bleed(seg.text, seg.start, seg.end, list(self._heard), window=self.window, min_score=self.min_score):
            self.dropped.append(ready)
            return True
        return False

    def _release(self) -> None:
        waiting = []
        for ready in self._held:
            if self._may_release(ready.segment.start, ready.segment.end):
                self._send(ready)
            else:
                waiting.append(ready)
        self._held = waiting

    def _may_release(self, start: float, end: float) -> bool:
        if self._system_until >= end + self.max_hold:
            return True
        if self._system_until < end + self.window:
            return False
        # Sound on the respondent track that began no later than this segment and still goes on
        # may yet become the respondent segment this one repeats. (`quiet_gap` is longer than
        # the silence after which the segmenter ends an utterance, with its VAD's hangover.)
        sounding = self._system_until - self._sounding_until <= self.quiet_gap
        began_with_it = self._sounding_since is not None and self._sounding_since <= start + self.echo_lead
        return not (sounding and began_with_it)

    def _send(self, ready) -> None:
        if self._clock is not None and ready.segment.speaker == self.mic_track:
            ready = replace(ready, delay=max(0.0, self._clock.now() - ready.utterance_end))
        self._sink(ready)

    def _forget(self, now: float) -> None:
        while self._heard and self._heard[0].end < now - self.keep_seconds:
            self._heard.popleft()
