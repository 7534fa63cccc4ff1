"""Which installed Whisper model to use: live, the largest that keeps up on this machine; after
the interview, the largest there is.

Keeping up is measured, not guessed: a model's real-time factor (seconds of computing per
second of speech) on one utterance-sized chunk (5 s of the bundled English sample) with the
live settings (2 threads, as a recording runs). A call has two tracks sharing the CPU, so a
model keeps up live when that factor is at most LIVE_RTF = 0.5. Speeds are measured once per
model and machine and kept in the models folder (`speeds.json`); `fieldnote models --measure`
measures again. A model not measured yet is not taken live, except the bundled default, which
is taken until measured otherwise.

`choose_model` is the rule alone, on plain data; `installed_models`, `measured_speeds` and
`pick_model` gather that data on this machine.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from core.base import paths
from core.speech.models import DEFAULT_MODEL, ModelRef, available_models, resolve_model

LIVE_RTF = 0.5
LIVE_THREADS = 2
CHUNK_SECONDS = 5.0
SAMPLE = paths.SAMPLE_SESSIONS / "demo-en" / "interviewer.flac"
SPEEDS_FILE = "speeds.json"
LIVE, AFTER = "live", "after"
RULE = (f"a model keeps up live when it transcribes a {CHUNK_SECONDS:.0f} s utterance in at most "
        f"{LIVE_RTF:.1f} of its length with {LIVE_THREADS} threads (real-time factor <= {LIVE_RTF:.2f}): "
        "both sides of the call share the CPU")


@dataclass(frozen=True)
class Installed:
    name: str
    multilingual: bool
    size: int  # bytes of model.bin: what "largest" means


def _mb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _fits_language(m: Installed, language: str | None) -> bool:
    return m.multilingual or language == "en"


def _rank(m: Installed, language: str | None) -> tuple[int, bool]:
    # Of two models the same size, an English-only one reads English a little better.
    return m.size, language == "en" and not m.multilingual


def choose_model(installed: list[Installed], speeds: dict[str, float], purpose: str, language: str | None,
                 *, default: str = DEFAULT_MODEL) -> tuple[str, str]:
    """The name of the model to use for `purpose` (LIVE or AFTER) and why, in a few words.

    `speeds` holds the measured real-time factors by model name. With no installed model that
    understands `language`, the default is named (loading it says what is missing)."""
    suitable = [m for m in installed if _fits_language(m, language)]
    kind = "" if language == "en" else "multilingual "
    if not suitable:
        return default, f"no installed {kind}model; trying {default}"
    if purpose == AFTER:
        best = max(suitable, key=lambda m: _rank(m, language))
        return best.name, f"{best.name}, the largest installed {kind}model ({_mb(best.size)})"
    if purpose != LIVE:
        raise ValueError(f"purpose must be {LIVE!r} or {AFTER!r}, not {purpose!r}")

    def keeps_up(m: Installed) -> bool:
        rtf = speeds.get(m.name)
        return rtf <= LIVE_RTF if rtf is not None else m.name == default

    fits = [m for m in suitable if keeps_up(m)]
    if fits:
        best = max(fits, key=lambda m: _rank(m, language))
        unmeasured = [m.name for m in suitable if m.name not in speeds and _rank(m, language) > _rank(best, language)]
        later = f"; larger, not measured here yet: {', '.join(unmeasured)} (`fieldnote models --measure`)" if unmeasured else ""
        if best.name in speeds:
            return best.name, (f"{best.name}, the largest installed {kind}model that keeps up live here "
                               f"(real-time factor {speeds[best.name]:.2f} <= {LIVE_RTF:.2f}){later}")
        return best.name, f"{best.name}, the default (its speed here is not measured yet){later}"
    measured = [m for m in suitable if m.name in speeds]
    if measured:
        best = min(measured, key=lambda m: speeds[m.name])
        return best.name, (f"{best.name}, the fastest installed {kind}model, though none keeps up live here "
                           f"(real-time factor {speeds[best.name]:.2f} > {LIVE_RTF:.2f}): transcription will lag; "
                           "the recording is safe and `fieldnote transcribe` can redo it")
    best = min(suitable, key=lambda m: m.size)
    return best.name, (f"{best.name}, the smallest installed {kind}model (no speed measured here yet: "
                       "`fieldnote models --measure`)")


# --- this machine --------------------------------------------------------------------------------


def _model_size(ref: ModelRef) -> int:
    try:
        return (ref.path / "model.bin").stat().st_size
    except OSError:
        return 0


def installed_models() -> list[tuple[ModelRef, Installed]]:
    refs = []
    for name in available_models():
        ref = resolve_model(name)
        refs.append((ref, Installed(name, ref.multilingual, _model_size(ref))))
    return refs


def _machine() -> str:
    return f"{platform.node()}/{platform.machine()}/{os.cpu_count()}"


def _speeds_path() -> Path:
    return paths.models_dir() / SPEEDS_FILE


def _read_speeds() -> dict:
    try:
        data = json.loads(_speeds_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _key(ref: ModelRef) -> str:
    return str(ref.path)


def _same_model(entry: dict, ref: ModelRef) -> bool:
    """A measurement holds for the same model files, threads and machine."""
    return (isinstance(entry, dict) and entry.get("machine") == _machine() and entry.get("threads") == LIVE_THREADS
            and entry.get("size") == _model_size(ref) and isinstance(entry.get("rtf"), (int, float)))


def measured_speed(ref: ModelRef, data: dict | None = None) -> float | None:
    entry = (data if data is not None else _read_speeds()).get(_key(ref))
    return float(entry["rtf"]) if entry is not None and _same_model(entry, ref) else None


def measured_speeds(refs: list[ModelRef]) -> dict[str, float]:
    data = _read_speeds()
    found = {ref.name: measured_speed(ref, data) for ref in refs}
    return {name: rtf for name, rtf in found.items() if rtf is not None}


def _loudest(audio, seconds: float, rate: int = 16_000):
    import numpy as np

    n = int(seconds * rate)
    if len(audio) <= n:
        return audio
    starts = range(0, len(audio) - n, rate // 2)
    best = max(starts, key=lambda s: float(np.mean(np.square(audio[s: s + n: 8]))))
    return audio[best: best + n]


def measure_speed(ref: ModelRef, *, threads: int = LIVE_THREADS) -> float:
    """The model's real-time factor on a 5 s utterance, as the live pipeline would transcribe it
    (the best of three runs after a warm-up: the machine's other work only ever slows it)."""
    from core.audio.sources import load_audio
    from core.speech.transcriber import WhisperTranscriber

    transcriber = WhisperTranscriber(ref, language="en", threads=threads)
    chunk = _loudest(load_audio(SAMPLE), CHUNK_SECONDS)
    transcriber.transcribe(chunk[:16_000])  # the first call sets up buffers: not part of the speed
    took = []
    for _ in range(3):
        started = time.perf_counter()
        transcriber.transcribe(chunk)
        took.append(time.perf_counter() - started)
    return min(took) / (len(chunk) / 16_000)


def save_speed(ref: ModelRef, rtf: float) -> None:
    """Keep a measurement in the models folder (an OSError if it cannot be written)."""
    data = _read_speeds()
    data[_key(ref)] = {"name": ref.name, "rtf": round(rtf, 4), "threads": LIVE_THREADS, "machine": _machine(),
                       "size": _model_size(ref), "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = _speeds_path()
    paths.ensure_private_dir(path.parent)
    tmp = path.with_name(f".{SPEEDS_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def pick_model(given: str | None, purpose: str, language: str | None) -> tuple[str | None, str]:
    """The model a command takes and the one line that says which and why; `given` (--model) wins."""
    label = "live" if purpose == LIVE else "after the interview"
    if given:
        return given, f"model {given} ({label}): given with --model"
    found = installed_models()
    if not found:
        return None, f"model {DEFAULT_MODEL} ({label}): no model installed here; trying the default"
    speeds = measured_speeds([ref for ref, _ in found]) if purpose == LIVE else {}
    name, reason = choose_model([m for _, m in found], speeds, purpose, language)
    return name, f"model ({label}): {reason}"
