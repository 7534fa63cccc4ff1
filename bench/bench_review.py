"""How the screens after the interview hold up with a large study, and what re-transcription
costs over faster-whisper itself.

    python bench/bench_review.py [--sessions 1000] [--model base] [--rounds 2] [--skip-asr]

1. A study database of SESSIONS one-hour sessions is synthesised from the eight verbatim
   transcripts in sample_sessions/transcripts (turns split into segments of about ten seconds,
   times at a speaking rate of 2.4 words a second, the interview repeated until the hour is
   full, a fifth of the respondent's segments coded at random, half with a pending suggestion).
   It is built once and kept in the temporary folder (FIELDNOTE_BENCH_DB moves it).
2. Timed, each several times in a headless app: opening the sessions screen (query and mount),
   opening one hour-long session in the review screen (query, layout, first paint), a
   full-text search (the query; and the query shown in the hits list), and building the matrix
   by respondent (query and table). Targets: 200 ms each, 50 ms for the search. Wall time is
   compared with the target; the CPU time beside it shows how much of it was this process's
   own work, which matters on a shared machine.
3. Re-transcription of the English demo recording (both tracks) with MODEL: fieldnote's
   `retranscribe` (decode, transcribe, lay the words onto the session, one transaction) next
   to bare faster-whisper with the same options on the same audio, alternating, both batched
   and sequential. Target: at most 10% over faster-whisper.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from core.base import paths  # noqa: E402
from core.study.guide import load_guide  # noqa: E402
from core.store.database import Store, now_iso  # noqa: E402
from core.interchange.transcripts import parse_transcript  # noqa: E402

TRANSCRIPTS = paths.SAMPLE_SESSIONS / "transcripts"
CASES = ["Samen starten", "Kortgestraft, langdurig nut", "RIO Dordrecht", "Doorontwikkeling nazorgaanpak"]
WORDS_PER_SECOND = 2.4
SEGMENT_WORDS = 24  # about ten seconds, the length of a live segment
SEARCHES = ["vertrouwen", "samenwerking gemeente", "reclass", "de", "netwerkpartners", "informatie delen privacy"]
SCHEMA_VERSION = 3  # bump when the synthesis changes, so a kept database is rebuilt


# --- the synthetic study ----------------------------------------------------------------------


def _segments_of(path: Path) -> list[tuple[str, str]]:
    parsed = parse_transcript(path.read_text(encoding="utf-8"), str(path))
    out = []
    for turn in parsed.turns:
        speaker = "interviewer" if turn.speaker == "X" else "respondent"
        chunk: list[str] = []
        for sentence in re.split(r"(?<=[.?!…])\s+", turn.text):
            chunk.extend(sentence.split())
            if len(chunk) >= SEGMENT_WORDS // 2:
                while len(chunk) > SEGMENT_WORDS * 3 // 2:
                    out.append((speaker, " ".join(chunk[:SEGMENT_WORDS])))
                    chunk = chunk[SEGMENT_WORDS:]
                out.append((speaker, " ".join(chunk)))
                chunk = []
        if chunk:
            out.append((speaker, " ".join(chunk)))
    return out


def build_study(path: Path, sessions: int, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    guide = load_guide("koers-en-kansen")
    indicators = guide.indicators
    interviews = [_segments_of(p) for p in sorted(TRANSCRIPTS.glob("interview-*.txt"))]
    if not interviews:
        raise SystemExit(f"no transcripts in {TRANSCRIPTS}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(path)
    conn = store.db.conn
    t0 = time.perf_counter()
    with store.db.atomic():
        for n in range(sessions):
            turns = interviews[n % len(interviews)]
            day = f"2021-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}T{9 + n % 8:02d}:00:00+00:00"
            sid = conn.execute(
                "insert into sessions (title, guide_id, guide_title, guide_digest, guide_toml, language, respondent,"
                " case_name, started_at, duration, status, origin) values (?,?,?,?,?,?,?,?,?,?,?,?)",
                (f"Synthetic interview {n + 1}", guide.id, guide.title, guide.digest, guide.text, guide.language,
                 str(n % 14 + 1), CASES[n % 4], day, 3600.0, "completed", "import"),
            ).lastrowid
            t, i = 0.0, 0
            while t < 3600.0:
                speaker, text = turns[i % len(turns)]
                i += 1
                length = len(text.split()) / WORDS_PER_SECOND
                seg = conn.execute(
                    "insert into segments (session_id, speaker, start, end, text, asr_text, origin, edited, created_at)"
                    " values (?,?,?,?,?,?,?,?,?)",
                    (sid, speaker, round(t, 2), round(t + length, 2), text, text, "asr", 0, now_iso()),
                ).lastrowid
                t += length + 0.6
                if speaker != "respondent":
                    continue
                if rnd.random() < 0.2:
                    for _ in range(rnd.choice((1, 1, 2))):
                        ind = rnd.choice(indicators)
                        span = (None, None)
                        if rnd.random() < 0.4 and len(text) > 20:
                            a = rnd.randrange(0, len(text) - 15)
                            span = (a, min(len(text), a + rnd.randrange(10, 80)))
                        conn.execute(
                            "insert into codings (segment_id, dimension_id, indicator_id, start_offset, end_offset,"
                            " origin, created_at) values (?,?,?,?,?,?,?)",
                            (seg, ind.dimension_id, ind.id, *span, "manual", now_iso()),
                        )
                if rnd.random() < 0.5:
                    ind = rnd.choice(indicators)
                    conn.execute(
                        "insert into suggestions (segment_id, rank, dimension_id, indicator_id, score, reason, state)"
                        " values (?,?,?,?,?,?,?)",
                        (seg, 0, ind.dimension_id, ind.id, round(rnd.random(), 3), "synthetic", "pending"),
                    )
    conn.execute("analyze")
    facts = {
        "version": SCHEMA_VERSION,
        "sessions": sessions,
        "segments": conn.execute("select count(*) from segments").fetchone()[0],
        "codings": conn.execute("select count(*) from codings").fetchone()[0],
        "build_seconds": round(time.perf_counter() - t0, 1),
    }
    store.db["_bench"].insert({"facts": json.dumps(facts)})
    store.close()
    return facts


def study(path: Path, sessions: int) -> dict:
    if path.exists():
        try:
            store = Store(path)
            row = store.db.execute("select facts from _bench").fetchone()
            store.close()
            facts = json.loads(row[0])
            if facts.get("version") == SCHEMA_VERSION and facts.get("sessions") == sessions:
                return facts
        except Exception:
            pass
    print(f"building {sessions} one-hour sessions in {path} …", file=sys.stderr)
    return build_study(path, sessions)


# --- timing the screens -----------------------------------------------------------------------


async def _until(pilot, condition) -> None:
    while not condition():
        await pilot.pause(0.001)


async def time_screens(path: Path, repeats: int) -> dict[str, list[float]]:
    from core.store.browse import search
    from textual.app import App

    from core.analysis.compare import build_matrix
    from tui.screens.compare import CompareScreen
    from tui.screens.review import ReviewScreen
    from tui.screens.sessions import SessionsScreen
    from tui.widgets.rows import RowList
    from tui.widgets.transcript import TranscriptList

    class Empty(App):
        """The app's stylesheet and nothing on screen: each screen is pushed onto it and timed."""

        CSS_PATH = str(HERE.parent / "tui" / "fieldnote.tcss")

    store = Store(path)
    hour = store.db.execute("select id from sessions order by id limit 1 offset 500").fetchone()[0]
    app = Empty()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in (
        "sessions", "session", "search", "matrix", "q_sessions", "q_session", "q_search", "q_matrix", "frame")}

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def since(key: str, start: tuple[float, float]) -> None:
        # Wall time, and the process's CPU time (all threads): on a busy machine the first
        # grows with the load, the second much less.
        times[key].append((time.perf_counter() - start[0], time.process_time() - start[1]))

    from core.store.browse import session_summaries
    from core.store.review import load_session

    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(repeats):
            t = clock()
            await pilot.pause()
            since("frame", t)

            t = clock()
            screen = SessionsScreen(store)
            await app.push_screen(screen)
            await _until(pilot, lambda: screen.query_one("#sessions", RowList).keys)
            await pilot.pause()
            since("sessions", t)

            for query in SEARCHES:
                t = clock()
                screen.run_search(query)
                await pilot.pause()
                since("search", t)
                t = clock()
                search(store, query)
                since("q_search", t)

            t = clock()
            review = ReviewScreen(store, hour)
            await app.push_screen(review)
            await _until(pilot, lambda: review.data is not None)
            await pilot.pause()
            since("session", t)
            assert len(review.query_one(TranscriptList).records) > 300
            app.pop_screen()

            t = clock()
            compare = CompareScreen(store)
            await app.push_screen(compare)
            await _until(pilot, lambda: compare.matrix is not None and compare.query_one("DataTable").row_count)
            await pilot.pause()
            since("matrix", t)
            app.pop_screen()
            app.pop_screen()
            await pilot.pause()

            for key, fn in (("q_sessions", lambda: session_summaries(store)),
                            ("q_session", lambda: load_session(store, hour)),
                            ("q_matrix", lambda: build_matrix(store, "respondent"))):
                t = clock()
                fn()
                since(key, t)
    store.close()
    return times


# --- re-transcription against faster-whisper ---------------------------------------------------


def time_retranscription(model_name: str, rounds: int, threads: int | None) -> list[dict]:
    from core.audio.sources import SAMPLE_RATE, load_audio
    from core.speech.models import resolve_model
    from core.pipeline.retranscribe import retranscribe
    from core.speech.models import load_model
    from core.speech.tracks import BATCH_SIZE, transcribe_options
    from core.store.database import NewSegment

    demo = paths.SAMPLE_SESSIONS / "demo-en"
    guide = load_guide(demo / "guide.toml")
    turns = json.loads((demo / "expected.json").read_text(encoding="utf-8"))
    tracks = {name: demo / f"{name}.flac" for name in ("interviewer", "respondent")}
    ref = resolve_model(model_name)
    model = load_model(ref, "en", threads)
    seconds = sum(len(load_audio(p)) / SAMPLE_RATE for p in tracks.values())

    def raw(batched: bool) -> float:
        from faster_whisper import BatchedInferencePipeline

        t0 = time.perf_counter()
        for path in tracks.values():
            audio = load_audio(path)
            options = transcribe_options("en", False)
            if batched:
                options.pop("condition_on_previous_text")
                segments, _ = BatchedInferencePipeline(model).transcribe(audio, batch_size=BATCH_SIZE, **options)
            else:
                segments, _ = model.transcribe(audio, **options)
            for seg in segments:
                list(seg.words or [])
        return time.perf_counter() - t0

    def ours(batched: bool, folder: Path) -> float:
        store = Store(folder / f"rt-{time.monotonic_ns()}.db")
        sid = store.create_session(guide, origin="demo", respondent="1", case_name="Samen starten")
        store.set_session_audio_dir(sid, demo)
        for t in turns:
            store.add_segment(sid, NewSegment(speaker=t["speaker"], text=t["text"], start=round(t["start"], 2),
                                              end=round(t["end"], 2)))
        t0 = time.perf_counter()
        retranscribe(store, sid, model_name, loaded_model=model, batched=batched)
        took = time.perf_counter() - t0
        store.close()
        return took

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw(True)  # warm-up: first decode and first inference are slower
        for batched in (True, False):
            r, o = [], []
            for n in range(rounds):
                # Alternate which goes first: on a shared machine the order alone shifts times.
                if n % 2:
                    o.append(ours(batched, Path(tmp)))
                    r.append(raw(batched))
                else:
                    r.append(raw(batched))
                    o.append(ours(batched, Path(tmp)))
            rows.append({"mode": "batched" if batched else "sequential", "audio": seconds,
                         "raw": min(r), "ours": min(o), "raw_all": r, "ours_all": o})
    return rows


# --- report -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="timings per screen (default 5)")
    parser.add_argument("--model", default="base", help="model for the re-transcription (default base)")
    parser.add_argument("--rounds", type=int, default=3, help="re-transcription runs per mode (default 3; the best counts)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-asr", action="store_true", help="only the screens")
    args = parser.parse_args()

    os.environ.setdefault("FIELDNOTE_HOME", str(Path(tempfile.gettempdir()) / "fieldnote-bench-home"))
    path = Path(os.environ.get("FIELDNOTE_BENCH_DB") or Path(tempfile.gettempdir()) / f"fieldnote-bench-review-{args.sessions}.db")
    facts = study(path, args.sessions)
    size = path.stat().st_size / 1e6
    print(f"study: {facts['sessions']} sessions of one hour, {facts['segments']:,} segments, "
          f"{facts['codings']:,} codings, {size:.0f} MB (built in {facts['build_seconds']} s)")
    times = asyncio.run(time_screens(path, args.repeats))

    print()
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} while timing "
          "(wall times grow with the load; CPU time is this process's own work)")
    print(f"{'operation':<46} {'wall ms: median':>15} {'best':>6} {'worst':>6} {'CPU ms':>7} {'target':>7}  ok")
    rows = [
        ("open the sessions screen (query + mount)", "sessions", 200),
        ("  of which the query", "q_sessions", None),
        ("open a one-hour session (query + layout + paint)", "session", 200),
        ("  of which the query", "q_session", None),
        (f"full-text search ({len(SEARCHES)} queries)", "q_search", 50),
        ("  and shown in the hits list (+ repaint)", "search", None),
        ("build the respondent matrix (query + table)", "matrix", 200),
        ("  of which the query", "q_matrix", None),
        ("(an idle frame: the floor of the screen timings)", "frame", None),
    ]
    failed = False
    for label, key, target in rows:
        wall = [w * 1000 for w, _ in times[key]]
        cpu = [c * 1000 for _, c in times[key]]
        ok = "" if target is None else ("yes" if statistics.median(wall) < target else "NO")
        failed |= ok == "NO"
        print(f"{label:<46} {statistics.median(wall):15.1f} {min(wall):6.1f} {max(wall):6.1f} "
              f"{statistics.median(cpu):7.1f} {'' if target is None else f'{target:>4} ms':>7}  {ok}")
    print("(ok: the median wall time under the target)")

    if not args.skip_asr:
        print()
        print(f"re-transcription of the English demo (2 tracks) with {args.model}, best of {args.rounds}:")
        print(f"{'mode':<11} {'audio':>7} {'faster-whisper':>15} {'fieldnote':>10} {'RTF fw':>7} {'RTF fn':>7} {'overhead':>9}  ok")
        for r in time_retranscription(args.model, args.rounds, args.threads):
            overhead = r["ours"] / r["raw"] - 1
            ok = "yes" if overhead <= 0.10 else "NO"
            failed |= ok == "NO"
            print(f"{r['mode']:<11} {r['audio']:6.0f}s {r['raw']:14.1f}s {r['ours']:9.1f}s "
                  f"{r['raw'] / r['audio']:7.3f} {r['ours'] / r['audio']:7.3f} {overhead:+8.1%}  {ok}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
