"""Whisper's decode options on the live path, through the ears: word error rate and what the
decodes cost, per variant, on voiced reference interviews.

    python bench/bench_decoding.py --interviews 1,5 '{}' '{"temperature": [0.0, 0.6]}' '{"best_of": 1}'
    python bench/bench_decoding.py --interviews 1 '{}' '{"window": 2000}' '{"tail": 0.15}'

Each variant is a JSON object of faster-whisper `transcribe` options laid over what the live
transcriber (core/speech/transcriber.py) passes; `window` is the encoder's input in frames of
10 ms (Whisper's is 3000, 30 s; a shorter one is padded to at least the utterance); `pad`,
`tail` and `foresee` are VadSegmenter's (core/audio/segmenter.py), in seconds. The interviews
are voiced as bench/bench_ears.py voices them (MBROLA, made in the run, never kept)
and replayed as fast as possible with the live hearing. Printed per variant: WER per track, the
decodes' total and p95 seconds, and how many fell back to a higher temperature and what those
cost on average. The current options are the variant `{}`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_ears as be  # noqa: E402
import bench_understanding as bu  # noqa: E402
from machine import machine_line  # noqa: E402
from core.speech.models import resolve_model  # noqa: E402
from core.speech.transcriber import WhisperTranscriber  # noqa: E402
from core.store.database import Store  # noqa: E402
from core.study.guide import load_guide  # noqa: E402


def windowed(frames: int):
    """faster-whisper's pad_or_trim, padding to `frames` (or the utterance, if longer) instead of 3000."""
    from faster_whisper.audio import pad_or_trim

    def pad(segment, length=3000, *, axis=-1):
        n = segment.shape[axis]
        return pad_or_trim(segment, min(3000, max(frames, -(-n // 100) * 100)), axis=axis)

    return pad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="+", help="JSON objects of decode options ('{}': as live)")
    parser.add_argument("--interviews", default="1,5")
    parser.add_argument("--hearing", default="guided+turns")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None or not Path("/usr/share/mbrola/nl2").exists():
        print("bench_decoding needs espeak-ng and the MBROLA voices: run .ci/install", file=sys.stderr)
        return 2
    try:
        variants = [json.loads(v) for v in args.variants]
    except json.JSONDecodeError as exc:
        print(f"a variant is not JSON: {exc}", file=sys.stderr)
        return 2
    import faster_whisper.transcribe as ft

    numbers = bu.parse_only(args.interviews)
    guide = load_guide("koers-en-kansen")
    transcriber = WhisperTranscriber(resolve_model("base"), language=guide.language, threads=2)
    decode, pad = transcriber._model.transcribe, ft.pad_or_trim
    work = Path(tempfile.mkdtemp(prefix="fieldnote-decoding-"))
    try:
        voiced = {n: be.voice(n, work / f"interview-{n}", 30, 170) for n in numbers}
        print(f"interviews {numbers}, Whisper base int8, 2 threads, hearing {args.hearing}")
        print(machine_line())
        for variant in variants:
            options = {k: tuple(v) if isinstance(v, list) else v for k, v in variant.items()
                       if k not in ("window", "pad", "tail", "foresee")}
            segmenter = {k: variant[k] for k in ("pad", "tail", "foresee") if k in variant}
            ft.pad_or_trim = windowed(variant["window"]) if "window" in variant else pad
            calls: list[tuple[float, bool]] = []

            def measured(audio, **kw):
                kw.update(options)
                t = time.perf_counter()
                segments, info = decode(audio, **kw)
                segments = list(segments)
                calls.append((time.perf_counter() - t, any(s.temperature > 0 for s in segments)))
                return iter(segments), info

            transcriber._model.transcribe = measured
            wrong = {"interviewer": [0, 0], "respondent": [0, 0]}
            for n in numbers:
                store = Store(memory_name=f"bench-decoding-{n}-{time.monotonic_ns()}")
                heard, _ = be.hear(voiced[n], guide, store, transcriber, args.hearing, segmenter=segmenter)
                store.close()
                for track, (errors, words) in be.track_errors(voiced[n], heard).items():
                    wrong[track][0] += errors
                    wrong[track][1] += words
            seconds = sorted(c[0] for c in calls)
            fell_back = [c[0] for c in calls if c[1]]
            print(f"{json.dumps(variant)}: WER interviewer {wrong['interviewer'][0] / wrong['interviewer'][1]:.3f}, "
                  f"respondent {wrong['respondent'][0] / wrong['respondent'][1]:.3f}; {len(seconds)} decodes, "
                  f"{sum(seconds):.0f} s, p95 {seconds[int(0.95 * (len(seconds) - 1))]:.2f} s; "
                  f"{len(fell_back)} fell back, {sum(fell_back) / max(1, len(fell_back)):.2f} s each", flush=True)
    finally:
        ft.pad_or_trim = pad
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
