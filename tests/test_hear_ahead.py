"""The live path hears an utterance while its pause is being confirmed (LivePipeline `ahead`).

The segmenter foresees where a pause will end an utterance once the pause has lasted a little
(VadSegmenter.ending, `foresee`; tests/test_segmenter.py); the pipeline starts transcribing it
then. What it stores must be what it stores without hearing ahead, each utterance decoded once,
and speech that goes on after a short pause must never leave the early guess behind.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.audio.segmenter import VadSegmenter
from core.audio.sources import SAMPLE_RATE, AudioChunk, ManualClock
from core.pipeline.live import LivePipeline, hears_ahead
from core.speech.transcriber import Transcript
from core.study.guide import load_guide
from test_segmenter import LoudnessVad, timeline


class Source:
    """One track of a made-up signal in chunks of 0.1 s, on a clock that moves with it."""

    def __init__(self, signal: np.ndarray, track: str = "respondent"):
        self.tracks = (track,)
        self.track = track
        self.signal = signal
        self.clock = ManualClock()

    def chunks(self):
        n = SAMPLE_RATE // 10
        for i in range(0, len(self.signal), n):
            self.clock.sleep_until((i + n) / SAMPLE_RATE)
            yield AudioChunk(self.track, i / SAMPLE_RATE, self.signal[i : i + n])

    def close(self) -> None:
        pass


class Measuring:
    """Hears each utterance as its own length, and counts what it was asked to hear."""

    name = "measuring"

    def __init__(self):
        self.heard: list[int] = []
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray) -> Transcript:
        with self._lock:
            self.heard.append(len(audio))
        return Transcript(text=f"samples {len(audio)}", language="en")


def stored(signal: np.ndarray, ahead: bool, stats: list | None = None) -> tuple[list[tuple], Measuring]:
    transcriber = Measuring()
    source = Source(signal)
    pipeline = LivePipeline(source, transcriber, load_guide("remote-work-en"), clock=source.clock,
                            segmenter_factory=lambda track: VadSegmenter(track, vad=LoudnessVad()), ahead=ahead)
    out = []
    done = pipeline.run(out.append, threading.Event())
    if stats is not None:
        stats.append(done)
    return [(r.segment.text, r.segment.start, r.segment.end) for r in out], transcriber


SPEECH = timeline(("silence", 1), ("speech", 2), ("silence", 1), ("speech", 1), ("silence", 0.4),
                  ("speech", 1.5), ("silence", 0.45), ("speech", 0.8), ("silence", 2))


def test_hearing_ahead_stores_what_hearing_after_the_pause_stores():
    without, _ = stored(SPEECH, ahead=False)
    with_ahead, _ = stored(SPEECH, ahead=True)
    assert len(without) == 2  # the pauses of 0.4 and 0.45 s do not end an utterance
    assert with_ahead == without


def test_each_utterance_is_decoded_once_and_a_pause_that_speech_broke_off_is_left_unused():
    stats = []
    segments, transcriber = stored(SPEECH, ahead=True, stats=stats)
    lengths = [int(text.split()[1]) for text, _, _ in segments]
    for n in lengths:
        assert transcriber.heard.count(n) == 1
    assert (stats[0].heard_ahead, stats[0].unused_ahead) == (4, 2)
    # The second utterance's two short pauses were foreseen as endings: each guess was heard
    # (or dropped unheard when the next was due), and neither was stored.
    assert all(n in lengths or n < lengths[1] for n in transcriber.heard)


def test_the_end_of_the_stream_takes_an_utterance_heard_ahead():
    signal = timeline(("silence", 0.5), ("speech", 1.5), ("silence", 0.4))  # ends before min_silence
    without, _ = stored(signal, ahead=False)
    with_ahead, transcriber = stored(signal, ahead=True)
    assert with_ahead == without and len(without) == 1
    assert len(transcriber.heard) == 1


@pytest.mark.parametrize("realtime, expected", [(True, True), (False, False)])
def test_only_this_machine_s_whisper_in_real_time_hears_ahead(realtime, expected):
    from core.speech.transcriber import WhisperTranscriber

    whisper = WhisperTranscriber.__new__(WhisperTranscriber)  # its class is what counts; no model loaded
    assert hears_ahead(whisper, realtime) is expected
    assert hears_ahead(Measuring(), realtime) is False  # a group's server, a stand-in


def test_a_monologue_cut_at_its_length_is_not_taken_for_the_pause_it_went_on_after():
    # A pause of 0.4 s is foreseen as an ending; speech goes on past the length cap (12 s), and
    # the utterance the cap cuts is another one than the guess.
    signal = timeline(("speech", 3), ("silence", 0.4), ("speech", 10), ("silence", 1))
    without, _ = stored(signal, ahead=False)
    with_ahead, _ = stored(signal, ahead=True)
    assert len(without) == 2 and with_ahead == without
