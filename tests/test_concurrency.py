"""Several processes on one study database: a recording, a reviewer, an exporter, a memo writer.

A headless demo (the real pipeline with tiny.en) writes segments in one process. Meanwhile a
second process writes memos and segments of its own session as fast as it can, and this
process reads the sessions, exports the whole study, searches, and reviews (edits, codes and
memos) a finished session. Nobody may see 'database is locked', no write may be lost, and the
database must pass its integrity check afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import soundfile as sf

from core.store import review
from core.store.database import Store
from core.store.migrations import migrations
from tui.cli import main

from review_data import add_demo_session

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent(
    """
    import json, sys
    from core.study.guide import load_guide
    from core.store.database import NewSegment, Store

    db, rounds = sys.argv[1], int(sys.argv[2])
    store = Store(db)
    sid = store.create_session(load_guide("remote-work-en"), origin="import", title="writer")
    memos = segments = 0
    for i in range(rounds):
        store.add_memo(sid, "session", sid, f"memo {i} from the writer")
        memos += 1
        if i % 3 == 0:
            store.add_segment(sid, NewSegment(speaker="respondent", text=f"writer segment {i}", start=i, end=i + 1))
            segments += 1
        store.sessions()
    store.end_session(sid, "completed")
    print(json.dumps({"session": sid, "memos": memos, "segments": segments}))
    """
)


def test_recording_reviewing_exporting_and_writing_at_once(tmp_path, models_home):
    db = tmp_path / "study.db"
    store = Store(db)
    reviewed = add_demo_session(store, respondent="9", turns=20)
    store.close()
    env = {**os.environ, "FIELDNOTE_HOME": str(tmp_path), "FIELDNOTE_MODELS": str(models_home)}
    # The English demo's first 103 s (cut between two turns), replayed as a recording of one's
    # own with the demo's guide: fifteen turns, long enough for the processes to overlap.
    demo = ROOT / "sample_sessions" / "demo-en"
    tracks = []
    for speaker in ("interviewer", "respondent"):
        audio, rate = sf.read(demo / f"{speaker}.flac", dtype="float32", frames=int(103.4 * 16_000))
        tracks.append(str(tmp_path / f"{speaker}.flac"))
        sf.write(tracks[-1], audio, rate)
    recording = subprocess.Popen(
        ["fieldnote", "--db", str(db), "demo", "--tracks", *tracks, "--guide", str(demo / "guide.toml"),
         "--respondent", "1", "--case", "Samen starten", "--fast", "--no-ui", "--model", "tiny.en"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )

    store = Store(db)
    segments = store.segments(reviewed)
    rounds = exports = memos = edits = 0
    final_text: dict[int, str] = {}
    export = tmp_path / "study.jsonl"
    deadline = time.monotonic() + 900
    while (recording.poll() is None or writer.poll() is None) and time.monotonic() < deadline:
        rounds += 1
        store.sessions()
        store.search("collaboration")
        assert main(["--db", str(db), "export", "--all", "--format", "jsonl", "-o", str(export)]) == 0
        exports += 1
        seg = segments[rounds % len(segments)]
        review.add_memo(store, reviewed, "segment", seg["id"], f"review memo {rounds}")
        memos += 1
        final_text[seg["id"]] = f"{seg['text']} [{rounds}]"
        review.edit_text(store, seg["id"], final_text[seg["id"]])
        edits += 1
        pending = store.db.execute(
            "select x.id from suggestions x join segments g on g.id = x.segment_id "
            "where g.session_id = ? and x.state = 'pending' limit 1", [reviewed]).fetchone()
        if pending:
            review.accept_suggestion(store, pending[0])
    rec_out, rec_err = recording.communicate(timeout=60)
    w_out, w_err = writer.communicate(timeout=60)

    assert recording.returncode == 0, rec_err
    assert writer.returncode == 0, w_err
    for err in (rec_err, w_err):
        assert "locked" not in err and "Traceback" not in err, err
    assert rounds >= 3, "the processes did overlap"

    # Nothing lost: every segment the recording printed, every memo each process wrote.
    printed = [json.loads(line) for line in rec_out.splitlines() if line.startswith("{")]
    demo_id = max(r["id"] for r in store.sessions() if r["origin"] == "demo")
    assert len(printed) >= 10
    assert len(store.segments(demo_id)) == len(printed)
    assert store.session(demo_id)["status"] == "completed"
    written = json.loads(w_out.strip().splitlines()[-1])
    assert len(store.memos(written["session"])) == written["memos"] == 600
    assert len(store.segments(written["session"])) == written["segments"]
    assert len([m for m in store.memos(reviewed) if m["text"].startswith("review memo")]) == memos
    assert {s["id"]: s["text"] for s in store.segments(reviewed) if s["id"] in final_text} == final_text
    assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert store.db.execute("pragma foreign_key_check").fetchall() == []
    # The last export, made while the others wrote, is whole: every line a record.
    records = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert reviewed in {r["session"] for r in records}
    store.close()
    print(f"recording stored {len(printed)} segments; writer {written['memos']} memos and {written['segments']} "
          f"segments; this process {rounds} rounds: {exports} exports, {memos} memos, {edits} edits")


def test_processes_creating_one_database_at_once_lose_nothing(tmp_path):
    """Processes opening one database at the same moment (migrations, WAL setup, first writes)."""
    db = tmp_path / "study.db"  # not there yet: each process may be the one to create it
    code = textwrap.dedent(
        """
        import sys
        from core.study.guide import load_guide
        from core.store.database import Store
        s = Store(sys.argv[1])
        s.create_session(load_guide("remote-work-en"), origin="import", title=sys.argv[2])
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), f"p{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    store = Store(db)
    assert sorted(r["title"] for r in store.sessions()) == [f"p{i}" for i in range(6)]
    assert store.db.execute("select count(*) from _sqlite_migrations").fetchone()[0] == len(migrations._migrations)
    store.close()
