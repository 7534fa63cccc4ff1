"""Silence and noise produce no invented text (Whisper is known to make up sentences on them).

The real pipeline (Silero VAD segmenter + the bundled multilingual base model), in English and
in Dutch, on a two-track session in which each track has a minute of digital silence and a
minute of noise (white on one track, pink on the other). The VAD is the first guard; the
transcriber's own filter is the second, so it is also given the silence and noise directly,
without the VAD, as a re-transcription or a VAD fooled by a noisy room would.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from core.audio import FileReplaySource
from core.guide import load_guide
from core.live import LivePipeline

SR = 16_000
MINUTE = 60 * SR


def white(n: int, rng: np.random.Generator, level: float) -> np.ndarray:
    return np.clip(rng.standard_normal(n) * level, -1, 1)


def pink(n: int, rng: np.random.Generator, peak: float) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    x = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return x / np.max(np.abs(x)) * peak


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "digital silence": np.zeros(MINUTE),
        "white noise -20 dBFS": white(MINUTE, rng, 0.1),
        "white noise, loud": white(MINUTE, rng, 0.5),
        "pink noise": pink(MINUTE, rng, 0.3),
        "pink noise, loud": pink(MINUTE, rng, 0.9),
    }


@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> dict[str, object]:
    s = signals()
    folder = tmp_path_factory.mktemp("silence-and-noise")
    layout = {
        "interviewer": np.concatenate([s["digital silence"], s["white noise -20 dBFS"]]),
        "respondent": np.concatenate([s["pink noise"], s["digital silence"]]),
    }
    paths = {}
    for track, audio in layout.items():
        paths[track] = folder / f"{track}.wav"
        sf.write(paths[track], audio.astype(np.float32), SR, subtype="PCM_16")
    return paths


class CountingTranscriber:
    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, 0

    def transcribe(self, audio):
        self.calls += 1
        return self.inner.transcribe(audio)


@pytest.mark.parametrize("language", ["en", "nl"])
def test_a_session_of_silence_and_noise_stays_empty(language, tracks, base_transcriber_factory):
    guide = load_guide("remote-work-en" if language == "en" else "koers-en-kansen")
    source = FileReplaySource(tracks, realtime=False)
    transcriber = CountingTranscriber(base_transcriber_factory("base", language))
    pipeline = LivePipeline(source, transcriber, guide, clock=source.clock)
    texts = []
    pipeline.run(lambda ready: texts.append(ready.segment.text), threading.Event())
    assert source.duration == pytest.approx(120, abs=0.1)
    assert texts == []


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_transcriber_itself_invents_nothing_from_silence_or_noise(language, base_transcriber_factory):
    transcriber = base_transcriber_factory("base", language)
    invented = {}
    for name, audio in signals().items():
        # Whisper works on 30-second windows: two per minute.
        for half in (audio[: MINUTE // 2], audio[MINUTE // 2 :]):
            text = transcriber.transcribe(half.astype(np.float32)).text
            if text:
                invented.setdefault(name, []).append(text)
    assert invented == {}


def test_the_filter_still_lets_speech_through(base_transcriber_factory):
    from core.audio import load_audio
    from core.paths import SAMPLE_SESSIONS

    audio = load_audio(SAMPLE_SESSIONS / "demo-nl" / "interviewer.flac")[: 12 * SR]
    text = base_transcriber_factory("base", "nl").transcribe(audio).text
    assert len(text.split()) >= 5
