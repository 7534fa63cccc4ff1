"""Long-session benchmark: a two-hour, two-track interview replayed as fast as possible.

The demo interview's two tracks are repeated to the length asked for and fed, chunk by chunk,
through the live pipeline (Silero VAD segmenter, transcriber, guide tracker, suggester) into a
study database on disk, as a long call would be. The audio is generated on the fly from the
demo's few minutes, so what is measured is the pipeline and the store, not a source holding
two hours of audio (see the note printed at the end for what a whole-file load would cost).

Prints, as a table, at every `--every` minutes of audio:
- the resident memory now and the peak so far (it must stay flat: the segmenter keeps only
  the open utterance, the store writes each segment and forgets it);
- the segmenter's buffers, the pipeline's statistics lists and the segments stored;
and at the end: the database's integrity check, the segment count against the segments
produced, the full-text index against the segments, and the time taken.

With `--model fake` (the default) a stand-in transcriber gives each utterance a line of the
demo's script (no model: the run takes minutes); `--model tiny.en` runs the real model.

    python bench/bench_long_session.py --minutes 120
    python bench/bench_long_session.py --minutes 120 --model tiny.en
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.audio.sources import SAMPLE_RATE, AudioChunk, ManualClock, load_audio  # noqa: E402
from core.pipeline.live import LivePipeline, SegmentReady  # noqa: E402
from core.pipeline.demo import load_demo  # noqa: E402
from core.store.database import Store  # noqa: E402
from core.speech.transcriber import Transcript  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LoopingSource:
    """The demo's tracks repeated to `seconds`, chunk by chunk, interleaved by time."""

    def __init__(self, tracks: dict[str, np.ndarray], seconds: float, clock: ManualClock, chunk: float = 0.1):
        self.tracks = tuple(tracks)
        self._audio = tracks
        self.clock = clock
        self.total = int(seconds * SAMPLE_RATE)
        self.chunk = int(chunk * SAMPLE_RATE)
        self._closed = False

    def chunks(self):
        pos = 0
        while pos < self.total and not self._closed:
            n = min(self.chunk, self.total - pos)
            for name in self.tracks:
                audio = self._audio[name]
                at = pos % len(audio)
                block = audio[at : at + n]
                if len(block) < n:  # the loop point
                    block = np.concatenate([block, audio[: n - len(block)]])
                yield AudioChunk(name, pos / SAMPLE_RATE, block)
            pos += n
            self.clock.sleep_until(pos / SAMPLE_RATE)

    def close(self) -> None:
        self._closed = True


class ScriptTranscriber:
    """Stands in for Whisper: each utterance gets the next line of the demo's script."""

    name = "stand-in"

    def __init__(self, lines: list[str]):
        self._lines = lines
        self._i = 0

    def transcribe(self, audio: np.ndarray) -> Transcript:
        self._i += 1
        return Transcript(text=self._lines[self._i % len(self._lines)], language="en")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--every", type=float, default=10.0, help="report every this many minutes of audio")
    ap.add_argument("--model", default="fake", help="fake (a stand-in transcriber) or a Whisper model name")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--language", default="en")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FIELDNOTE_HOME", tmp)
        demo = load_demo(args.language)
        tracks = {name: load_audio(path) for name, path in demo.tracks.items()}
        demo_seconds = max(len(a) for a in tracks.values()) / SAMPLE_RATE
        if args.model == "fake":
            script = json.loads((demo.folder / "expected.json").read_text(encoding="utf-8"))
            transcriber = ScriptTranscriber([t["text"] for t in script])
        else:
            from core.speech.models import resolve_model
            from core.speech.transcriber import WhisperTranscriber

            transcriber = WhisperTranscriber(resolve_model(args.model), language=demo.guide.language,
                                             threads=args.threads)
        clock = ManualClock()
        source = LoopingSource(tracks, args.minutes * 60, clock)
        pipeline = LivePipeline(source, transcriber, demo.guide, clock=clock)
        db_path = Path(tmp) / "long.db"
        store = Store(db_path)
        session_id = store.create_session(demo.guide, origin="demo", model=transcriber.name)
        produced = 0
        rows: list[tuple] = []
        next_mark = args.every * 60
        started = time.perf_counter()
        baseline = {"rss": rss_mb(), "peak": peak_mb()}

        def on_segment(ready: SegmentReady) -> None:
            nonlocal produced
            store.add_segment(session_id, ready.segment)
            produced += 1

        def on_status(status) -> None:
            nonlocal next_mark
            if status.audio_time < next_mark:
                return
            buffered = sum(len(s._buf) for s in pipeline.segmenters.values()) / SAMPLE_RATE
            rows.append((next_mark / 60, rss_mb(), peak_mb(), buffered, len(pipeline.stats.delays),
                         len(pipeline.stats.lags), produced, time.perf_counter() - started))
            print(f"  {next_mark / 60:5.0f} min of audio: rss {rows[-1][1]:.0f} MB, {produced} segments, "
                  f"{rows[-1][-1]:.0f} s", file=sys.stderr, flush=True)
            next_mark += args.every * 60

        pipeline.run(on_segment, threading.Event(), on_status=on_status, status_every=1.0)
        wall = time.perf_counter() - started
        if not rows or rows[-1][0] < args.minutes:
            buffered = sum(len(s._buf) for s in pipeline.segmenters.values()) / SAMPLE_RATE
            rows.append((args.minutes, rss_mb(), peak_mb(), buffered, len(pipeline.stats.delays),
                         len(pipeline.stats.lags), produced, wall))
        store.end_session(session_id, "completed", duration=round(clock.now(), 1))
        integrity = store.db.execute("pragma integrity_check").fetchone()[0]
        stored = store.db.execute("select count(*) from segments where session_id = ?", [session_id]).fetchone()[0]
        indexed = store.db.execute("select count(*) from segments_fts_docsize").fetchone()[0]
        try:  # FTS5 compares its index with the segments table and raises if they differ
            store.db.execute("insert into segments_fts(segments_fts) values ('integrity-check')")
            fts_ok = True
        except Exception:  # noqa: BLE001 - any failure means the index is not consistent
            fts_ok = False
        db_mb = sum(p.stat().st_size for p in Path(tmp).glob("long.db*")) / 2**20
        store.close()

    print(f"{args.minutes:.0f} min x 2 tracks (the {demo_seconds:.0f} s demo repeated), transcriber {transcriber.name}, "
          f"as fast as possible")
    print(f"before the run: rss {baseline['rss']:.0f} MB, peak {baseline['peak']:.0f} MB (demo audio and models loaded)")
    header = ("audio min", "rss MB", "peak MB", "rss/first", "segmenter buffer s", "stats.delays", "stats.lags",
              "segments", "wall s")
    print("  ".join(f"{h:>12}" for h in header))
    first_rss = rows[0][1] if rows else float("nan")
    for minute, rss, peak, buffered, delays, lags, segs, elapsed in rows:
        values = (f"{minute:.0f}", f"{rss:.0f}", f"{peak:.0f}", f"{rss / first_rss:.2f}", f"{buffered:.2f}",
                  str(delays), str(lags), str(segs), f"{elapsed:.0f}")
        print("  ".join(f"{v:>12}" for v in values))
    ok = integrity == "ok" and stored == produced and indexed == stored and fts_ok
    print(f"database: integrity_check {integrity}; {stored} segments stored of {produced} produced; "
          f"{indexed} in the full-text index (its integrity-check {'ok' if fts_ok else 'FAILED'}); "
          f"{db_mb:.1f} MB on disk -> {'consistent' if ok else 'NOT CONSISTENT'}")
    print(f"wall time {wall:.0f} s for {args.minutes * 2:.0f} minutes of audio "
          f"({args.minutes * 120 / wall:.0f}x real time)")
    print(f"note: a source that loaded the {args.minutes:.0f}-minute tracks whole (FileReplaySource, load_audio) "
          f"would hold {args.minutes * 60 * SAMPLE_RATE * 4 * 2 / 2**20:.0f} MB of float32 audio before the first chunk")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
