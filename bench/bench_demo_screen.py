"""The demo as a person sees it: end of each utterance to its line on the live screen.

Runs `fieldnote demo`'s pipeline in real time behind the real live screen (headless Textual),
and times each segment from the end of the utterance (session clock) to the moment the screen
has stored it and mounted its line. Prints a table, with the pipeline's transcription
real-time factor.

    python bench/bench_demo_screen.py --language en --model base
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.pipeline.demo import load_demo, open_transcriber, replay_pipeline  # noqa: E402
from core.store.database import Store  # noqa: E402
from tui.app import make_app  # noqa: E402
from tui.screens.live import LiveScreen  # noqa: E402


async def run(language: str, model: str, threads: int) -> int:
    demo = load_demo(language)
    transcriber = open_transcriber(model, demo.guide, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        pipeline = replay_pipeline(demo, transcriber, realtime=True, store=store)
        session_id = store.create_session(demo.guide, origin="demo")
        delays: list[float] = []
        original = LiveScreen.segment_ready

        def timed(self, ready):
            original(self, ready)  # stores the segment and mounts its line
            delays.append(self.pipeline.clock.now() - ready.utterance_end)

        LiveScreen.segment_ready = timed
        app = make_app(store, session_id=session_id, pipeline=pipeline, state="replaying")
        async with app.run_test(size=(140, 45)) as pilot:
            screen = app.screen
            while not screen.finished.is_set():
                await pilot.pause(0.2)
            await pilot.press("q")
        stats = pipeline.stats
    rows = [
        ("demo", f"{language}, {source_minutes(demo):.1f} min, 2 tracks"),
        ("model", f"{transcriber.name} int8, {threads} threads"),
        ("segments on screen", str(len(delays))),
        ("end of utterance -> screen, median", f"{statistics.median(delays):.2f} s"),
        ("end of utterance -> screen, p95", f"{float(np.percentile(delays, 95)):.2f} s"),
        ("end of utterance -> screen, max", f"{max(delays):.2f} s"),
        ("transcription real-time factor", f"{stats.transcribe_seconds / stats.audio_seconds:.3f} (of speech heard)"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def source_minutes(demo) -> float:
    import soundfile as sf

    return max(sf.info(str(p)).duration for p in demo.tracks.values()) / 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--language", default="en")
    ap.add_argument("--model", default="base")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    return asyncio.run(run(args.language, args.model, args.threads))


if __name__ == "__main__":
    sys.exit(main())
