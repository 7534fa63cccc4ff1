"""Memory of reading a long recording: the whole-file decode against reading it as it goes.

Builds a two-track session as the recorder writes it (16 kHz mono 16-bit WAV, two hours by
default): mostly room noise, with stretches of the demo's speech and a few tone bursts. The
tracks are written a block at a time, so the benchmark itself stays small. Then each way of
reading them runs in a process of its own, and its peak resident memory is read from the
kernel (os.wait4's rusage of that child):

- replay: the tracks played as the demo plays them, every 0.1 s chunk consumed (as fast as
  possible). Before: FileReplaySource loaded both tracks whole (load_audio). Now: it reads them
  as they play.
- re-transcription: everything `fieldnote transcribe` does to the audio before Whisper decodes
  (no model needed): find the speech with Silero VAD, pack it into 30-second windows, compute
  their features. Before: both tracks whole, then faster-whisper's
  BatchedInferencePipeline.transcribe steps (get_speech_timestamps, collect_chunks, the
  features of every window). Now: the track read through for its length, once for the VAD
  and once for the features of one batch of windows at a time (core/speech/batched.py).

- with --transcribe MODEL, the whole re-transcription besides, decoding included (the model
  loaded in both): `fieldnote transcribe`'s transcription of both tracks, batched, against the
  way it was (both tracks whole, each through BatchedInferencePipeline.transcribe). Both must
  give the same words. Minutes with tiny.en for two hours of tracks.

A third process only imports the same modules and loads the VAD model: the floor both stand on.
Prints a table of peak MB, the part above that floor, and the ratio whole/streamed.

    python bench/bench_audio_memory.py                 # two hours, two tracks
    python bench/bench_audio_memory.py --minutes 30
    python bench/bench_audio_memory.py --transcribe tiny.en
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.audio.sources import SAMPLE_RATE, load_audio  # noqa: E402
from core.base.paths import SAMPLE_SESSIONS  # noqa: E402

TRACKS = ("interviewer", "respondent")


# --- the session on disk --------------------------------------------------------------------------


def write_session(folder: Path, minutes: float) -> dict[str, Path]:
    """Two tracks of `minutes`, written a minute at a time: in each minute one side speaks
    for a while (a stretch of the demo), the other is quiet; now and then a tone."""
    import soundfile as sf

    speech = {name: load_audio(SAMPLE_SESSIONS / "demo-en" / f"{name}.flac") for name in TRACKS}
    rng = np.random.default_rng(7)
    minute = 60 * SAMPLE_RATE
    t = np.arange(minute) / SAMPLE_RATE
    paths = {name: folder / f"{name}.wav" for name in TRACKS}
    files = {name: sf.SoundFile(paths[name], "w", SAMPLE_RATE, 1, "PCM_16") for name in TRACKS}
    try:
        for m in range(int(round(minutes))):
            for i, name in enumerate(TRACKS):
                block = 0.002 * rng.standard_normal(minute)
                if m % 2 == i:
                    length = int(rng.uniform(10, 25) * SAMPLE_RATE)
                    source = speech[name]
                    at = int(rng.integers(0, len(source) - length))
                    place = int(rng.integers(0, minute - length))
                    block[place : place + length] += source[at : at + length]
                if m % 7 == 3:
                    block[: 2 * SAMPLE_RATE] += 0.2 * np.sin(2 * np.pi * 440 * t[: 2 * SAMPLE_RATE])
                files[name].write(np.clip(block, -1, 1).astype(np.float32))
    finally:
        for f in files.values():
            f.close()
    return paths


# --- the ways of reading it (each run in a child process) -----------------------------------------


def _floor(paths: dict[str, Path]) -> dict:
    from faster_whisper.feature_extractor import FeatureExtractor
    from faster_whisper.vad import get_vad_model

    import core.speech.tracks  # noqa: F401 - the same imports as the others

    get_vad_model()
    FeatureExtractor()
    return {}


def _replay_whole(paths: dict[str, Path]) -> dict:
    _floor(paths)
    # FileReplaySource as it was: both tracks decoded whole, then handed out in 0.1 s chunks.
    audio = {name: load_audio(path) for name, path in paths.items()}
    chunk = SAMPLE_RATE // 10
    return {"samples": sum(len(a[at : at + chunk]) for a in audio.values() for at in range(0, len(a), chunk))}


def _replay_streamed(paths: dict[str, Path]) -> dict:
    from core.audio.sources import FileReplaySource, ManualClock

    _floor(paths)
    source = FileReplaySource(paths, clock=ManualClock(), realtime=False)
    return {"samples": sum(len(c.samples) for c in source.chunks())}


def _retranscribe_whole(paths: dict[str, Path]) -> dict:
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    _floor(paths)
    extractor = FeatureExtractor()
    # transcribe_session_audio as it was: both tracks decoded first...
    audio = {name: load_audio(path) for name, path in paths.items()}
    windows = 0
    for samples in audio.values():
        # ... then each through BatchedInferencePipeline.transcribe up to the first decode.
        speeches = get_speech_timestamps(samples, VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160))
        chunks, _ = collect_chunks(samples, speeches, max_duration=30)
        features = [extractor(chunk)[..., :-1] for chunk in chunks]
        features = np.stack([pad_or_trim(f) for f in features])
        windows += len(features)
        del speeches, chunks, features
    return {"windows": windows}


def _retranscribe_streamed(paths: dict[str, Path]) -> dict:
    from faster_whisper.feature_extractor import FeatureExtractor

    from core.audio.sources import audio_length
    from core.speech.batched import find_speech, speech_batches
    from core.speech.tracks import BATCH_SIZE

    _floor(paths)
    extractor = FeatureExtractor()
    for path in paths.values():
        audio_length(path)  # transcribe_session_audio reads every track through first
    windows = 0
    for path in paths.values():
        speeches = find_speech(path, extractor.chunk_length)
        for features, _ in speech_batches(path, speeches, extractor, BATCH_SIZE):
            windows += len(features)
    return {"windows": windows}


def _transcribe_whole(paths: dict[str, Path], model_name: str) -> dict:
    from faster_whisper import BatchedInferencePipeline

    from core.speech.models import load_model, resolve_model
    from core.speech.tracks import BATCH_SIZE, transcribe_options
    from core.speech.transcriber import loop_free, made_up

    _floor(paths)
    model = load_model(resolve_model(model_name), "en")
    # transcribe_session_audio as it was: both tracks decoded first, then each through
    # BatchedInferencePipeline.transcribe, its words kept as transcribe_track keeps them.
    audio = {name: load_audio(path) for name, path in paths.items()}
    words = []
    for samples in audio.values():
        options = transcribe_options("en", False)
        options.pop("condition_on_previous_text")
        segments, _ = BatchedInferencePipeline(model).transcribe(samples, batch_size=BATCH_SIZE, **options)
        for seg in segments:
            if made_up(seg.text.strip(), seg.no_speech_prob, seg.avg_logprob):
                continue
            heard = [w.word for w in (seg.words or []) if w.word.strip()]
            words += [heard[k] for k in loop_free(heard)]
    return {"words": len(words), "text": "".join(words)}


def _transcribe_streamed(paths: dict[str, Path], model_name: str) -> dict:
    from core.speech.models import load_model, resolve_model
    from core.speech.tracks import transcribe_session_audio

    _floor(paths)
    model = load_model(resolve_model(model_name), "en")
    heard, _, _, _ = transcribe_session_audio(paths, model, language="en", batched=True)
    words = [w.text for name in paths for w in heard[name]]
    return {"words": len(words), "text": "".join(words)}


WAYS = {
    "floor": _floor,
    "replay-whole": _replay_whole,
    "replay-streamed": _replay_streamed,
    "retranscribe-whole": _retranscribe_whole,
    "retranscribe-streamed": _retranscribe_streamed,
    "transcribe-whole": _transcribe_whole,
    "transcribe-streamed": _transcribe_streamed,
}


def measure(way: str, folder: Path, model: str = "-") -> tuple[float, float, dict]:
    """Peak RSS (MB) and seconds of one way of reading, in a fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", way, str(folder), model], stdout=subprocess.PIPE,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{way}: the child failed (exit {proc.returncode})")
    return usage.ru_maxrss / 1024, time.perf_counter() - started, json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="length of each track (default 120)")
    parser.add_argument("--transcribe", metavar="MODEL",
                        help="also the whole re-transcription with this model, decoding included (slow)")
    parser.add_argument("--child", nargs=3, metavar=("WAY", "FOLDER", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        way, folder, model = args.child
        paths = {name: Path(folder) / f"{name}.wav" for name in TRACKS}
        result = WAYS[way](paths, model) if way.startswith("transcribe") else WAYS[way](paths)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="fieldnote-bench-audio-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        paths = write_session(folder, args.minutes)
        size = sum(p.stat().st_size for p in paths.values()) / 2**20
        print(f"{len(paths)} tracks x {args.minutes:.0f} min, 16 kHz mono 16-bit WAV, {size:.0f} MB on disk "
              f"(written in {time.perf_counter() - t:.0f} s); as float32 in memory: "
              f"{size * 2:.0f} MB")
        floor, _, _ = measure("floor", folder)
        print(f"floor (imports, Silero VAD and the feature extractor loaded, nothing read): {floor:.0f} MB peak")
        header = ("path", "whole MB", "streamed MB", "whole-floor", "streamed-floor", "ratio", "whole s", "streamed s")
        print("  ".join(f"{h:>14}" for h in header))
        for what in ("replay", "retranscribe") + (("transcribe",) if args.transcribe else ()):
            model = args.transcribe if what == "transcribe" else "-"
            whole, whole_s, a = measure(f"{what}-whole", folder, model)
            streamed, streamed_s, b = measure(f"{what}-streamed", folder, model)
            if a != b:
                raise SystemExit(f"{what}: the two ways read different things: {str(a)[:300]} and {str(b)[:300]}")
            row = (what, f"{whole:.0f}", f"{streamed:.0f}", f"{whole - floor:.0f}", f"{streamed - floor:.0f}",
                   f"{whole / streamed:.1f}x", f"{whole_s:.1f}", f"{streamed_s:.1f}")
            print("  ".join(f"{v:>14}" for v in row))
            if what == "transcribe":
                print(f"{'':>14}  {args.transcribe}: the same {a['words']:,} words both ways")
    print("ratio: peak RSS of the whole-file path over the streamed one (each process's own peak, via wait4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
