"""Live pipeline benchmark: a two-track interview replayed in real time, as a call would arrive.

Prints, as a table:
- delay from the end of each utterance to its segment being stored (median, 95th percentile);
- the transcriber's lag over time (worst per minute: it must not grow);
- peak memory of the process;
- real-time factor of the pipeline's transcription, next to raw faster-whisper (its own VAD,
  the same model, threads and audio) measured in the same run.

The recording is the English demo interview, repeated to the length asked for.

With --seeds, instead: the demo (once, as fast as possible) through the live pipeline with
CTranslate2's sampling seeded with each seed in turn (a model loaded per run), and the word
error rate per speaker of each run against the script, normalised as tests/test_pipeline_real.py
does. The product's seed is core.speech.models.SAMPLING_SEED; giving it several times shows that
a run repeats itself, other seeds how far the transcript moves where Whisper falls back to
sampling (the Dutch demo, with base, on about half its utterances).

    python bench/bench_live.py --minutes 10 --model base --threads 2
    python bench/bench_live.py --language nl --seeds 1 1 1 2 3 4 5 6 7 8 9
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.audio.sources import SAMPLE_RATE, FileReplaySource, ManualClock, load_audio  # noqa: E402
from core.pipeline.live import LivePipeline, SegmentReady  # noqa: E402
from core.speech.models import resolve_model  # noqa: E402
from core.pipeline.demo import load_demo  # noqa: E402
from core.store.database import Store  # noqa: E402
from core.speech.transcriber import WhisperTranscriber  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_tracks(minutes: float, folder: Path, language: str) -> dict[str, Path]:
    demo = load_demo(language)
    out = {}
    for track, path in demo.tracks.items():
        audio = load_audio(path)
        n = int(minutes * 60 * SAMPLE_RATE)
        reps = int(np.ceil(n / len(audio)))
        long = np.tile(audio, reps)[:n]
        out[track] = folder / f"{track}.wav"
        sf.write(out[track], long, SAMPLE_RATE, subtype="PCM_16")
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _speaker_texts(turns) -> dict[str, str]:
    """Each speaker's words, normalised as the demo test scores them (one way of scoring, so
    the bench's figures and the test's bound speak of the same thing)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_pipeline_real", ROOT / "tests" / "test_pipeline_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._speaker_texts(turns)


def seeds(language: str, model_name: str, threads: int, seeds: list[int]) -> int:
    """The demo through the live pipeline once per seed: the word error rates of each run."""
    import jiwer

    demo = load_demo(language)
    said = _speaker_texts(json.loads((demo.folder / "expected.json").read_text(encoding="utf-8")))
    model = resolve_model(model_name)
    print(f"the {language} demo through the live pipeline, {model.name} int8, {threads} threads, as fast as possible")
    print(f"{'seed':>6}  {'interviewer WER':>16}  {'respondent WER':>15}  {'both':>6}  {'segments':>8}  {'wall s':>6}")
    for seed in seeds:
        transcriber = WhisperTranscriber(model, language=demo.guide.language, threads=threads, seed=seed)
        source = FileReplaySource(demo.tracks, realtime=False)
        pipeline = LivePipeline(source, transcriber, demo.guide, clock=source.clock)
        heard_turns: list[dict] = []
        started = time.perf_counter()
        pipeline.run(lambda ready: heard_turns.append({"speaker": ready.segment.speaker, "start": ready.segment.start,
                                                       "text": ready.segment.text}), threading.Event())
        wall = time.perf_counter() - started
        heard = _speaker_texts(heard_turns)
        errors = {s: jiwer.wer(said[s], heard[s]) for s in said}
        both = jiwer.wer(" ".join(said.values()), " ".join(heard.values()))
        print(f"{seed:>6}  {errors['interviewer']:>16.3f}  {errors['respondent']:>15.3f}  {both:>6.3f}  "
              f"{len(heard_turns):>8}  {wall:>6.0f}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", default="base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--language", default="en")
    ap.add_argument("--fast", action="store_true", help="replay as fast as possible (no delay figures)")
    ap.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                    help="the demo once per seed, the word error rates of each run (no timing)")
    args = ap.parse_args()
    if args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("FIELDNOTE_HOME", tmp)
            return seeds(args.language, args.model, args.threads, args.seeds)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FIELDNOTE_HOME", tmp)
        tracks = build_tracks(args.minutes, Path(tmp), args.language)
        demo = load_demo(args.language)
        model = resolve_model(args.model)
        transcriber = WhisperTranscriber(model, language=demo.guide.language, threads=args.threads)
        mem_after_load = peak_mb()

        source = FileReplaySource(tracks, realtime=not args.fast, clock=ManualClock() if args.fast else None)
        pipeline = LivePipeline(source, transcriber, demo.guide, clock=source.clock)
        store = Store(Path(tmp) / "bench.db")
        session_id = store.create_session(demo.guide, origin="demo")
        delays: list[float] = []

        def on_segment(ready: SegmentReady) -> None:
            store.add_segment(session_id, ready.segment)
            delays.append(source.clock.now() - ready.utterance_end)

        started = time.perf_counter()
        pipeline.run(on_segment, threading.Event(), on_status=lambda s: None, status_every=1.0)
        wall = time.perf_counter() - started
        mem_pipeline = peak_mb()
        stats = pipeline.stats
        audio_seconds = args.minutes * 60

        # Raw faster-whisper on the same audio, same model and threads, in this run.
        from faster_whisper import WhisperModel

        raw = WhisperModel(str(model.path), device="cpu", compute_type="int8", cpu_threads=args.threads)
        t = time.perf_counter()
        for path in tracks.values():
            segments, _ = raw.transcribe(str(path), language=transcriber.language, beam_size=1, vad_filter=True,
                                         condition_on_previous_text=False)
            for _ in segments:
                pass
        raw_seconds = time.perf_counter() - t

    lag_by_minute: dict[int, float] = {}
    for at, lag in stats.lags:
        minute = int(at // 60)
        lag_by_minute[minute] = max(lag_by_minute.get(minute, 0.0), lag)

    rows = [
        ("audio", f"{args.minutes:.1f} min x 2 tracks", ""),
        ("model", f"{model.name} int8, {args.threads} threads", ""),
        ("segments stored", str(len(delays)), ""),
        ("wall time", f"{wall:.1f} s", "real time" if not args.fast else "as fast as possible"),
    ]
    if not args.fast:
        rows += [
            ("delay median", f"{statistics.median(delays):.2f} s", "target <= 1.5 s"),
            ("delay p95", f"{pct(delays, 95):.2f} s", "target <= 3 s"),
            ("delay max", f"{max(delays):.2f} s", ""),
            ("lag per minute (max)", " ".join(f"{lag_by_minute[m]:.1f}" for m in sorted(lag_by_minute)), "must not grow"),
        ]
    pipeline_rtf = stats.transcribe_seconds / (2 * audio_seconds)
    raw_rtf = raw_seconds / (2 * audio_seconds)
    rows += [
        ("pipeline transcription RTF", f"{pipeline_rtf:.3f}", "seconds of CPU per second of audio, both tracks"),
        ("raw faster-whisper RTF", f"{raw_rtf:.3f}", "same model, threads and audio, its own VAD"),
        ("ratio pipeline / raw", f"{pipeline_rtf / raw_rtf:.2f}", ""),
        ("memory after model load", f"{mem_after_load:.0f} MB", ""),
        ("peak memory, live pipeline", f"{mem_pipeline:.0f} MB", "target <= 700 MB"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<28} {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
