"""The machine faked at its edges, for tests that run whole commands: sound devices and Whisper.

Everything of fieldnote's own runs: device listing and choice, the two-track capture, the
recorder, model lookup and loading, live and re-transcription, the batched pipeline's reading
and VAD. Only the libraries at the edge are replaced:

- `sounddevice` and `soundcard` (core/audio/devices.py reaches them through `_sounddevice()`
  and `_soundcard()`): one microphone and one output with its loopback, which deliver a second
  of the sample interview in real time (the interviewer's or the respondent's track, from where
  that speaker first speaks), then nothing. A headless recording that has had it is then ended
  as a user ends it, with Ctrl-C;
- faster-whisper's `WhisperModel` and `BatchedInferencePipeline`: no model is loaded, and any
  audio that is not silence is heard as the same few words, spread over it.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


RATE = 16_000
DEVICE_SECONDS = 1.0  # what a fake device delivers before it falls silent
HEARD = "so how does working from home suit you"
# The repository's own sample, whatever paths.SAMPLE_SESSIONS is made to point at.
SAMPLE_INTERVIEW = Path(__file__).resolve().parent.parent / "sample_sessions" / "demo-en"

_voices: dict[tuple[str, int], np.ndarray] = {}


def _voice(track: str, rate: int) -> np.ndarray:
    """DEVICE_SECONDS of the sample interview's track from where its speaker first speaks, at
    `rate`: what the fake device hears."""
    if (track, rate) not in _voices:
        from core.audio.sources import load_audio

        whole = load_audio(SAMPLE_INTERVIEW / f"{track}.flac")
        start = max(0, int(np.argmax(np.abs(whole) > 0.05)) - RATE // 10)
        voice = whole[start : start + int(DEVICE_SECONDS * RATE)]
        at = np.arange(int(len(voice) * rate / RATE)) * RATE / rate
        _voices[(track, rate)] = np.interp(at, np.arange(len(voice)), voice).astype(np.float32)
    return _voices[(track, rate)]


_ended: list = []  # the SIGINT handler of the recording last ended


def _end_a_headless_recording() -> None:
    """Ctrl-C, once (a second one forces a recording to quit), if `fieldnote record --no-ui` is
    listening for it: its handler is called from this thread, as the signal would call it. No
    signal is sent, so a command that is not listening never sees a KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if not getattr(handler, "__module__", "").startswith("tui.") or handler in _ended:
        return
    _ended[:] = [handler]
    handler(signal.SIGINT, None)


def _deliver_then_stop(voice: np.ndarray, rate: int, block: int, channels: int, push, stopped: threading.Event) -> None:
    for at in range(0, len(voice), block):
        if stopped.wait(block / rate):
            return
        push(np.repeat(voice[at : at + block, None], channels, axis=1))
    _end_a_headless_recording()


# --- sounddevice -----------------------------------------------------------------------------


class PortAudioError(Exception):
    pass


class _InputStream:
    def __init__(self, *, device, channels, samplerate, dtype, blocksize, callback, finished_callback):
        self.channels, self.blocksize, self.rate = channels, blocksize, int(samplerate)
        self._callback, self._finished = callback, finished_callback
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        _deliver_then_stop(_voice("interviewer", self.rate), self.rate, self.blocksize, self.channels,
                           lambda data: self._callback(data, len(data), None, None), self._stopped)

    def start(self) -> None:
        self._thread.start()

    def abort(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        self._stopped.set()
        self._finished()


class FakeSoundDevice:
    """sounddevice with one microphone (index 0) at 16 kHz."""

    PortAudioError = PortAudioError
    default = SimpleNamespace(device=(0, 1))
    _devices = [{"index": 0, "name": "Fake microphone", "hostapi": 0, "max_input_channels": 1,
                 "default_samplerate": float(RATE)},
                {"index": 1, "name": "Fake speakers", "hostapi": 0, "max_input_channels": 0,
                 "default_samplerate": 48000.0}]

    def query_devices(self, device=None):
        if device is None:
            return list(self._devices)
        if isinstance(device, int) and 0 <= device < len(self._devices):
            return self._devices[device]
        raise ValueError(f"no device {device!r}")

    def query_hostapis(self, index):
        return {"name": "Fake audio"}

    def InputStream(self, **kwargs):  # noqa: N802 - sounddevice's name
        return _InputStream(**kwargs)

    def play(self, samples, rate, blocking=True) -> None:
        pass  # nobody listens to the doctor's test tone here

    def _terminate(self) -> None:
        pass

    def _initialize(self) -> None:
        pass


# --- soundcard -------------------------------------------------------------------------------


class _Recorder:
    def __init__(self, track: str, channels: int, samplerate: int, blocksize: int):
        self.channels, self.rate, self.blocksize = channels, samplerate, blocksize
        self._blocks: list[np.ndarray] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=_deliver_then_stop,
            args=(_voice(track, samplerate), samplerate, blocksize, channels, self._blocks.append, self._stopped),
            daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()

    def record(self, numframes=None) -> np.ndarray:
        time.sleep(self.blocksize / self.rate)
        return self._blocks.pop(0) if self._blocks else np.zeros((0, self.channels), dtype=np.float32)


class _Source:
    def __init__(self, id: str, name: str, isloopback: bool):
        self.id, self.name, self.isloopback, self.channels = id, name, isloopback, 1

    def recorder(self, samplerate: int, blocksize: int) -> _Recorder:
        # A monitor plays what the respondent says in the call; a microphone hears the interviewer.
        return _Recorder("respondent" if self.isloopback else "interviewer", self.channels, samplerate, blocksize)


class FakeSoundcard:
    """soundcard on a sound server with one output ("fake-output") and its monitor."""

    _sources = [_Source("fake-mic", "Fake microphone", False),
                _Source("fake-output.monitor", "Monitor of Fake speakers", True)]

    def all_microphones(self, include_loopback=False):
        return [s for s in self._sources if include_loopback or not s.isloopback]

    def default_microphone(self):
        return self._sources[0]

    def default_speaker(self):
        return SimpleNamespace(id="fake-output", name="Fake speakers")


# --- faster-whisper --------------------------------------------------------------------------


def _heard(audio: np.ndarray, offset: float = 0.0) -> list[dict]:
    """The words the fake model hears in `audio`: none in silence, else HEARD spread over it."""
    if len(audio) == 0 or float(np.max(np.abs(audio))) < 1e-3:
        return []
    words = HEARD.split()
    step = len(audio) / RATE / len(words)
    return [{"word": f" {w}", "start": round(offset + i * step, 3), "end": round(offset + (i + 1) * step, 3),
             "probability": 0.9} for i, w in enumerate(words)]


class FakeWhisperModel:
    """faster_whisper.WhisperModel without a model: it checks the folder as the real one does,
    then hears HEARD in whatever is not silence."""

    def __init__(self, model_size_or_path: str, device: str = "cpu", compute_type: str = "default",
                 cpu_threads: int = 0, **kwargs):
        from faster_whisper.feature_extractor import FeatureExtractor
        from tokenizers import Tokenizer

        path = Path(model_size_or_path)
        if not (path / "model.bin").is_file():
            raise RuntimeError(f"Unable to open file 'model.bin' in model '{path}'")
        self.feature_extractor = FeatureExtractor()
        self.hf_tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        vocabulary = path / "vocabulary.txt"
        multilingual = sum(1 for _ in vocabulary.open(encoding="utf-8")) >= 51865 if vocabulary.is_file() else True
        self.model = SimpleNamespace(is_multilingual=multilingual)

    def transcribe(self, audio, language=None, word_timestamps=False, **options):
        audio = np.asarray(audio, dtype=np.float32)
        words = _heard(audio)
        info = SimpleNamespace(language=language or "en", language_probability=1.0, duration=len(audio) / RATE)
        return iter([_segment(words)] if words else []), info


def _segment(words: list[dict]):
    from faster_whisper.transcribe import Segment, Word

    return Segment(id=1, seek=0, start=words[0]["start"], end=words[-1]["end"], text="".join(w["word"] for w in words),
                   tokens=[], avg_logprob=-0.2, compression_ratio=1.2, no_speech_prob=0.01,
                   words=[Word(**w) for w in words], temperature=0.0)


def fake_batched_pipeline():
    """faster_whisper.BatchedInferencePipeline with the fake model: its own `transcribe`
    (whose defaults fieldnote reads), a `forward` that hears HEARD in each window of speech."""
    from faster_whisper import BatchedInferencePipeline

    class FakeBatchedPipeline(BatchedInferencePipeline):
        def __init__(self, model):
            self.model = model

        def forward(self, features, tokenizer, chunks_metadata, options):
            out = []
            for meta in chunks_metadata:
                window = np.ones(int(meta["duration"] * RATE), dtype=np.float32)
                words = _heard(window, 0.0)
                out.append([{"seek": 0, "text": "".join(w["word"] for w in words), "start": 0.0,
                             "end": meta["duration"], "words": words, "tokens": [], "avg_logprob": -0.2,
                             "no_speech_prob": 0.01, "compression_ratio": 1.2}] if words else [])
            return out

    return FakeBatchedPipeline


def fake_the_edges(monkeypatch) -> None:
    """Sound devices and Whisper replaced by the fakes above, for the rest of the test."""
    import faster_whisper

    from core.audio import devices

    sounddevice, soundcard = FakeSoundDevice(), FakeSoundcard()
    monkeypatch.setattr(devices, "_sounddevice", lambda: sounddevice)
    monkeypatch.setattr(devices, "_soundcard", lambda: soundcard)
    monkeypatch.setattr(faster_whisper, "WhisperModel", FakeWhisperModel)
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", fake_batched_pipeline())
