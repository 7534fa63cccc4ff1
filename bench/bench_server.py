"""Throughput of transcription on a server against this machine, in the same run.

A real OpenAI-compatible server (faster-whisper-server from build/whisper-server, started by
tests/whisper_server.py on 127.0.0.1 with the bundled base model and 2 CPU threads) transcribes
the Dutch demo recording (two tracks of 4 min 9 s: 8 min 18 s of audio, not the issue's hour,
which would take this 2-core machine most of an hour per row) with 1, 2 and 4 requests in flight;
then this machine re-transcribes the same session locally (base, sequential, 2 threads). Each
row is a whole `transcribe_on_server` / `retranscribe` into a fresh session.

    python bench/bench_server.py [--parallel 1 2 4]

On a server whose one worker transcribes one request at a time (faster-whisper-server's endpoint
runs Whisper in its event loop), more requests in flight cannot help; a GPU server with several
workers or batching is where --parallel pays.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def wer(ref: list[str], hyp: list[str]) -> float:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()

    from core.pipeline.demo import load_demo
    from core.pipeline.retranscribe import retranscribe
    from core.pipeline.server_job import transcribe_on_server
    from core.speech.models import resolve_model
    from core.speech.remote import Server
    from core.store.database import Store
    from whisper_server import MODEL_NAME, WhisperServer, available

    if not available():
        print("needs faster-whisper-server in build/whisper-server: run bash .ci/install", file=sys.stderr)
        return 2
    demo = load_demo("nl")
    folder = Path(tempfile.mkdtemp(prefix="bench-server-"))
    store = Store(folder / "study.db")

    def session() -> int:
        sid = store.create_session(demo.guide, origin="demo", title=demo.title, model="base")
        store.set_session_audio_dir(sid, demo.folder)
        return sid

    server = WhisperServer(resolve_model("base").path, folder)
    server.start()
    rows = []
    try:
        lab = Server("bench", server.url, MODEL_NAME)
        for n in args.parallel:
            t0 = time.perf_counter()
            sid = session()
            r = transcribe_on_server(store, sid, lab, parallel=n)
            rows.append((f"server, {n} in flight", time.perf_counter() - t0, r.inserted, sid))
    finally:
        server.stop()
    t0 = time.perf_counter()
    local_sid = session()
    r = retranscribe(store, local_sid, "base", batched=False, threads=2)
    local = time.perf_counter() - t0
    rows.append(("this machine (base, sequential, 2 threads)", local, r.inserted, local_sid))

    def words(sid: int) -> list[str]:
        rows = sorted(store.segments(sid), key=lambda s: (s["speaker"], s["start"]))
        return [w.strip(".,?!:;\"'").lower() for s in rows for w in s["text"].split() if w.strip(".,?!:;\"'")]

    audio = sum(__import__("soundfile").info(str(p)).duration for p in demo.tracks.values())
    print(f"Dutch demo, {audio / 60:.1f} min of audio on two tracks; 2-core machine, server on the same machine")
    print(f"{'how':<44} {'seconds':>8} {'audio s / s':>12} {'vs local':>9} {'segments':>9} {'WER vs local':>13}")
    for how, took, segments, sid in rows:
        print(f"{how:<44} {took:>8.1f} {audio / took:>12.2f} {local / took:>8.2f}x {segments:>9} "
              f"{wer(words(local_sid), words(sid)):>13.3f}")
    print("WER vs local: the server's whole transcript against this machine's re-transcription of the whole tracks "
          "(chunks cut at pauses against the whole track, and sampling on doubtful espeak-ng Dutch, differ)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
