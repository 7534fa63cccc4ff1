"""kill -9 during a recording, an import, an export and a re-transcription.

tests/test_kill.py kills the headless demo; these kill the other commands that write. Each
kind is killed 3 times by default, 50 with FIELDNOTE_LONG=1 (the README's figures; tests/suite.py). Half of the
kills land at a random moment of the run; the other half wait for the moment the process
writes -- it holds the database's write lock, or its export's temporary file exists -- and land
there. After every kill:

- the database passes SQLite's integrity check, the full-text index's and the foreign keys';
- recording: every segment printed before the kill is stored word for word, the tracks play
  and are as long as the recording ran (within a second), `fieldnote recover` reports the
  session, and it can be resumed (`record --resume`) or closed (`recover --close`);
- import: the new session is there whole (every turn) or not at all; `import-samples` leaves
  each of its transcripts whole or not there;
- export: the target is the file that was there before, or the whole new one, never half of
  one; a temporary file left by the kill is removed by the next export into that folder;
- re-transcription: the session is exactly as before, or exactly as a run that was not killed
  leaves it; run again, it completes.

Run with `-s` to see the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Callable

import pytest
import soundfile as sf

from core.audio.sources import SAMPLE_RATE
from core.store.database import Store

from suite import kills

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = ROOT / "sample_sessions" / "transcripts"
KILLS = kills(3)


def fieldnote(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *args]


def run(cmd: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out


def timed(cmd: list[str], env: dict) -> float:
    t = time.monotonic()
    run(cmd, env)
    return time.monotonic() - t


def checked_store(db: Path, context: str) -> Store:
    """The database after a kill, opened as fieldnote opens it (which recovers its log), checked."""
    store = Store(db)
    assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok", context
    store.db.execute("insert into segments_fts(segments_fts) values ('integrity-check')")
    assert store.db.execute("pragma foreign_key_check").fetchall() == [], context
    return store


def writing(db: Path) -> bool:
    """Whether another process holds the database's write lock: it is inside a transaction."""
    con = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        con.execute("begin immediate")
    except sqlite3.OperationalError:
        return True
    else:
        con.execute("rollback")
        return False
    finally:
        con.close()


def run_and_kill(cmd: list[str], env: dict, *, after: float | None = None,
                 when: Callable[[], bool] | None = None) -> bool:
    """Run `cmd` and kill -9 it `after` seconds in, or the moment `when()` holds. True if it
    was killed, False if it had finished first (successfully: anything else fails the test)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + (after if when is None else 300)
    while proc.poll() is None and time.monotonic() < deadline:
        if when is not None and when():
            break
        time.sleep(0.002 if when is None else 0)  # the moment to catch may last a millisecond
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == -signal.SIGKILL:
        return True
    assert proc.returncode == 0, err
    return False


def copy_db(source: Path, target: Path) -> None:
    """A copy through SQLite, so rows still in the source's write-ahead log come along."""
    for path in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        path.unlink(missing_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def long_transcript(folder: Path, copies: int = 20) -> Path:
    """Interview 1 of the reference study with its turns said `copies` times over."""
    text = (TRANSCRIPTS / "interview-01.txt").read_text(encoding="utf-8")
    head, mark, body = text.partition("(Van tevoren is toestemming gevraagd om het interview op te nemen)")
    path = folder / "long-interview.txt"
    path.write_text(head + mark + body * copies, encoding="utf-8")
    return path


def report(kind: str, counts: Counter) -> None:
    print(f"\n{kind}: {KILLS} kills; " + "; ".join(f"{what}: {n}" for what, n in sorted(counts.items())))


# ---------------------------------------------------------------------------------------------
# Import


def test_kill_9_during_an_import_leaves_the_session_whole_or_not_there(tmp_path):
    env = {**os.environ, "FIELDNOTE_HOME": str(tmp_path)}
    args = ["import", str(long_transcript(tmp_path)), "--guide", "koers-en-kansen",
            "--interviewer", "X", "--respondent-speakers", "Y"]
    reference = tmp_path / "reference.db"
    took = timed(fieldnote("--db", str(reference), *args), env)
    with closing(Store(reference)) as store:
        whole = [(s["speaker"], s["text"]) for s in store.segments(1)]
    assert len(whole) == 2260

    db = tmp_path / "study.db"
    run(fieldnote("--db", str(db), "import-samples"), env)
    rng = random.Random(7_001)
    counts: Counter = Counter()
    sessions = 8
    for kill in range(KILLS):
        in_write = kill % 2 == 1
        killed = run_and_kill(fieldnote("--db", str(db), *args), env, after=rng.uniform(0, took),
                              when=(lambda: writing(db)) if in_write else None)
        with closing(checked_store(db, f"kill {kill}")) as store:
            ids = [r["id"] for r in store.sessions()]
            assert len(ids) in (sessions, sessions + 1), f"kill {kill}: sessions {ids}"
            added = len(ids) == sessions + 1
            if added:
                assert [(s["speaker"], s["text"]) for s in store.segments(ids[-1])] == whole, f"kill {kill}"
                sessions += 1
        landed = "in its transaction" if in_write else "at a random moment"
        counts[f"killed {landed}, {'stored whole' if added else 'nothing stored'}" if killed else "finished first"] += 1
    # Whatever a kill left, the import is simply run again, and goes through whole.
    run(fieldnote("--db", str(db), *args), env)
    with closing(checked_store(db, "after the kills")) as store:
        imported = [r["id"] for r in store.sessions()][8:]
        assert len(imported) == sessions - 8 + 1
        assert all(len(store.segments(sid)) == len(whole) for sid in imported)
    if KILLS >= 2:  # a kill inside the transaction stores nothing
        assert counts["killed in its transaction, nothing stored"] >= 1, counts
    report("import of a 2260-turn transcript", counts)


def test_kill_9_during_import_samples_leaves_each_transcript_whole_or_not_there(tmp_path):
    env = {**os.environ, "FIELDNOTE_HOME": str(tmp_path)}
    reference = tmp_path / "reference.db"
    took = timed(fieldnote("--db", str(reference), "import-samples"), env)
    with closing(Store(reference)) as store:
        samples = [(r["title"], r["segment_count"]) for r in store.sessions()]
    assert len(samples) == 8

    db = tmp_path / "study.db"
    rng = random.Random(7_002)
    counts: Counter = Counter()
    expected: list[tuple[str, int]] = []
    for kill in range(KILLS):
        in_write = kill % 2 == 1
        if expected == samples:  # a run would have nothing left to import: start a new database
            db, expected = tmp_path / f"study-{kill}.db", []
        killed = run_and_kill(fieldnote("--db", str(db), "import-samples"), env, after=rng.uniform(0, took),
                              when=(lambda: db.exists() and writing(db)) if in_write else None)
        with closing(checked_store(db, f"kill {kill}")) as store:
            found = [(r["title"], r["segment_count"]) for r in store.sessions()]
            for s in store.sessions():
                assert len(store.segments(s["id"])) == s["segment_count"]
        # Each transcript is stored in its own transaction, and a run skips the samples already
        # there: the run added the next k, whole.
        added = found[len(expected):]
        assert found[: len(expected)] == expected, f"kill {kill}"
        assert added == samples[len(expected) : len(expected) + len(added)], f"kill {kill}"
        expected = found
        counts[f"killed with {len(added)} of 8 stored" if killed else "finished first"] += 1
    # Run once more without a kill: the missing samples come, none twice.
    run(fieldnote("--db", str(db), "import-samples"), env)
    with closing(checked_store(db, "after the kills")) as store:
        assert [(r["title"], r["segment_count"]) for r in store.sessions()] == samples
    report("import-samples", counts)


# ---------------------------------------------------------------------------------------------
# Export


@pytest.fixture(scope="module")
def large_study(tmp_path_factory) -> Path:
    """The eight sample interviews five times over: 40 sessions, an export of a few seconds."""
    home = tmp_path_factory.mktemp("large-study")
    env = {**os.environ, "FIELDNOTE_HOME": str(home)}
    for _ in range(5):
        run(fieldnote("import-samples", "--again"), env)
    return home


def test_kill_9_during_an_export_leaves_no_half_file_and_the_next_export_tidies_up(large_study, tmp_path):
    env = {**os.environ, "FIELDNOTE_HOME": str(large_study)}
    took, members = {}, {}
    for fmt in ("docx", "qdpx"):
        ref = tmp_path / f"reference.{fmt}"
        took[fmt] = timed(fieldnote("export", "--all", "--format", fmt, "-o", str(ref)), env)
        members[fmt] = zipfile.ZipFile(ref).namelist()
    folder = tmp_path / "exports"
    folder.mkdir()

    def parts() -> list[Path]:
        return [p for p in folder.iterdir() if p.name.endswith(".part")]

    rng = random.Random(7_003)
    counts: Counter = Counter()
    for kill in range(KILLS):
        in_write = kill % 2 == 1
        fmt = ("docx", "qdpx")[kill // 2 % 2]
        target = folder / f"study.{fmt}"
        if kill % 3 == 0:
            target.unlink(missing_ok=True)  # sometimes a first export, sometimes over an older one
        before = target.read_bytes() if target.exists() else None
        killed = run_and_kill(fieldnote("export", "--all", "--format", fmt, "-o", str(target)), env,
                              after=rng.uniform(0, took[fmt]), when=(lambda: bool(parts())) if in_write else None)
        left = parts()
        if target.exists():
            data = target.read_bytes()
            if data != before:  # then it is the whole new export
                with zipfile.ZipFile(target) as z:
                    assert z.testzip() is None and z.namelist() == members[fmt], f"kill {kill}"
            outcome = "old file kept" if data == before else "new file whole"
        else:
            assert before is None, f"kill {kill}: the export that was there is gone"
            outcome = "no file"
        landed = "while writing its file" if in_write else "at a random moment"
        counts[f"killed {landed}: {outcome}" + (", temporary file left" if left else "") if killed else "finished first"] += 1
        # The next export into the folder removes what the killed one left, and nothing else.
        kept = target.read_bytes() if target.exists() else None
        run(fieldnote("export", "--all", "--format", "csv", "-o", str(folder / "quotes.csv")), env)
        assert parts() == [], f"kill {kill}"
        assert (target.read_bytes() if target.exists() else None) == kept
    with closing(checked_store(large_study / "fieldnote.db", "after the kills")):
        pass
    # The temporary file lives for milliseconds; a few kills may all miss it (the cleanup is
    # tested on its own below), many must not.
    if KILLS >= 10:
        assert sum(n for what, n in counts.items() if "temporary file left" in what) >= KILLS // 10, counts
    report("export of 40 sessions (docx, qdpx)", counts)


def test_an_export_removes_the_temporary_files_of_killed_exports_but_no_others(tmp_path):
    from core.interchange.exporters import write_atomic

    fcntl = pytest.importorskip("fcntl")

    killed = tmp_path / ".study.docx.k3x_9a2q.part"  # as a killed export leaves it: nobody holds it
    killed.write_bytes(b"PK\x03\x04 half a document")
    running = tmp_path / ".study.qdpx.u81mzzq0.part"  # another export still writing it
    running.write_bytes(b"PK\x03\x04")
    mine = [tmp_path / ".notes.txt.part", tmp_path / "study.docx.part", tmp_path / ".study.docx.part"]
    for path in mine:
        path.write_text("not fieldnote's")
    with open(running, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        write_atomic(tmp_path / "quotes.csv", b"a,b\n")
    assert not killed.exists()
    assert running.exists() and all(path.exists() for path in mine)
    assert (tmp_path / "quotes.csv").read_bytes() == b"a,b\n"


# ---------------------------------------------------------------------------------------------
# Re-transcription


# Where the English demo is cut for the re-transcription: between two turns, past the 90 s from
# which a track is re-transcribed through the batched pipeline (core/speech/tracks.py).
DEMO_CUT = 119.2


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory, models_home) -> Path:
    """A database holding the first two minutes of the English demo as tiny.en heard it live
    (replayed as a recording of one's own: the demo's two tracks cut at DEMO_CUT, its guide)."""
    home = tmp_path_factory.mktemp("demo-study")
    demo = ROOT / "sample_sessions" / "demo-en"
    tracks = []
    for speaker in ("interviewer", "respondent"):
        audio, rate = sf.read(demo / f"{speaker}.flac", dtype="float32", frames=int(DEMO_CUT * SAMPLE_RATE))
        tracks.append(home / f"{speaker}.flac")
        sf.write(tracks[-1], audio, rate)
    env = {**os.environ, "FIELDNOTE_HOME": str(home), "FIELDNOTE_MODELS": str(models_home)}
    run(fieldnote("--db", str(home / "demo.db"), "demo", "--tracks", *map(str, tracks),
                  "--guide", str(demo / "guide.toml"), "--respondent", "1", "--case", "Samen starten",
                  "--fast", "--no-ui", "--model", "tiny.en"), env)
    return home / "demo.db"


def session_state(db: Path) -> dict:
    """What a re-transcription may change, without the times of day it was done at."""
    con = sqlite3.connect(db)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        return {
            "segments": q('select id, speaker, start, "end", text, asr_text, edited, question from segments order by id'),
            "suggestions": q("select id, segment_id, indicator_id, score, state from suggestions order by id"),
            "codings": q("select id, segment_id, indicator_id, start_offset, end_offset from codings order by id"),
            "edits": q("select id, label, undone from edits order by id"),
            "model": q("select model from sessions"),
        }
    finally:
        con.close()


def test_kill_9_during_a_retranscription_leaves_the_session_as_before_or_done(demo_study, tmp_path, models_home):
    env = {**os.environ, "FIELDNOTE_HOME": str(tmp_path), "FIELDNOTE_MODELS": str(models_home)}
    before = session_state(demo_study)
    ref = tmp_path / "reference.db"
    copy_db(demo_study, ref)
    took = timed(fieldnote("--db", str(ref), "transcribe", "1", "--model", "tiny.en"), env)
    done = session_state(ref)
    assert done != before and len(done["edits"]) == 1

    db = tmp_path / "study.db"
    rng = random.Random(7_004)
    counts: Counter = Counter()
    for kill in range(KILLS):
        copy_db(demo_study, db)
        in_write = kill % 2 == 1
        killed = run_and_kill(fieldnote("--db", str(db), "transcribe", "1", "--model", "tiny.en"), env,
                              after=rng.uniform(0, took), when=(lambda: writing(db)) if in_write else None)
        checked_store(db, f"kill {kill}").close()
        state = session_state(db)
        assert state in (before, done), f"kill {kill}: the session is neither as it was nor re-transcribed"
        outcome = "as before" if state == before else "re-transcribed"
        landed = "in its transaction" if in_write else "at a random moment"
        counts[f"killed {landed}: {outcome}" if killed else "finished first"] += 1
    if state == before:  # an interrupted re-transcription is simply run again
        run(fieldnote("--db", str(db), "transcribe", "1", "--model", "tiny.en"), env)
        assert session_state(db) == done
    if KILLS >= 2:
        assert counts["killed in its transaction: as before"] >= 1, counts
    report(f"re-transcription of the English demo's first {DEMO_CUT:.0f} s with tiny.en", counts)


# ---------------------------------------------------------------------------------------------
# Recording (a private PulseAudio server, speech played into null sinks, as in test_capture.py)

QUESTION = "Could you tell me about your work, and what changed when the team started working from home?"
ANSWER = ("I work as a software engineer in a small team. Working from home made our meetings shorter, "
          "but we talk less about the design.")


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    from pulse import private_server

    with private_server(tmp_path_factory.mktemp("pulse"), needs=("espeak-ng",)) as server:
        yield server


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech")
    out = {}
    for name, text in (("mic", QUESTION), ("teams", ANSWER)):
        out[name] = folder / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(out[name]), text], check=True)
    return out


class Conversation:
    """The interviewer's question into the microphone, the answer into Teams' output, over and over."""

    def __init__(self, pulse, speech: dict[str, Path]):
        self.pulse, self.speech = pulse, speech
        self._stop = threading.Event()
        self._player: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._talk, daemon=True)
        self._thread.start()

    def _talk(self):
        while not self._stop.is_set():
            for sink in ("mic", "teams"):
                if self._stop.wait(0.5):
                    return
                self._player = self.pulse.play(sink, self.speech[sink])
                self._player.wait()

    def stop(self):
        self._stop.set()
        player = self._player
        if player is not None and player.poll() is None:
            player.terminate()
        self._thread.join(timeout=30)


class Recorder:
    def __init__(self, env: dict, db: Path, *args: str):
        self.proc = subprocess.Popen(
            fieldnote("--db", str(db), "record", "--no-ui", "--model", "tiny.en", "--mic", "mic.monitor",
                      "--system", "teams.monitor", *args),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.endswith("\n"):  # a line cut off by the kill was never a whole record
                self.lines.append(json.loads(line))

    def finish(self) -> str:
        self.proc.wait(timeout=120)
        self._reader.join(timeout=10)
        return self.proc.stderr.read()


def test_kill_9_during_a_recording_keeps_what_was_said_and_it_can_be_resumed_or_closed(pulse, speech, tmp_path):
    env = {**pulse.env, "FIELDNOTE_HOME": str(tmp_path)}
    db = tmp_path / "study.db"
    rng = random.Random(7_005)
    counts: Counter = Counter()
    printed: list[dict] = []
    drift = 0.0  # the largest difference between a track's length and how long it recorded
    for kill in range(KILLS):
        sid = kill + 1
        folder = tmp_path / "sessions" / str(sid)
        rec = Recorder(env, db, "--guide", "remote-work-en", "--consent", "--duration", "90")
        deadline = time.monotonic() + 60
        while not (folder / "respondent.wav").exists():
            assert rec.proc.poll() is None, rec.finish()
            assert time.monotonic() < deadline, "the recording did not start"
            time.sleep(0.01)
        started = time.monotonic()
        talk = Conversation(pulse, speech)
        try:
            if kill % 2:  # after a segment was stored, while the next is being said
                while not rec.lines:
                    assert rec.proc.poll() is None and time.monotonic() < started + 60, "no segment"
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 3))
            else:
                time.sleep(rng.uniform(0, 12))
            rec.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            rec.finish()
        finally:
            talk.stop()
        assert rec.proc.returncode == -signal.SIGKILL
        printed += rec.lines

        with closing(checked_store(db, f"kill {kill}")) as store:
            stored = {s["id"]: s["text"] for s in store.segments(sid)}
            for line in rec.lines:
                assert stored.get(line["id"]) == line["text"], f"kill {kill}: segment {line['id']} lost"
            assert store.session(sid)["status"] == "recording"  # as the killed process left it
        found = run(fieldnote("--db", str(db), "recover"), env).stderr
        assert f"session {sid} " in found and f"fieldnote record --resume {sid}" in found, found
        for track in ("interviewer", "respondent"):
            audio, rate = sf.read(folder / f"{track}.wav", dtype="float32")
            assert rate == SAMPLE_RATE
            assert len(audio) / rate == pytest.approx(killed - started, abs=1.0), f"kill {kill}: {track}"
            drift = max(drift, abs(len(audio) / rate - (killed - started)))

        with closing(Store(db)) as store:
            interrupted = store.session(sid)
            assert interrupted["status"] == "interrupted" and len(store.segments(sid)) == len(stored)
        if kill % 3 == 0:
            run(fieldnote("--db", str(db), "recover", "--close", str(sid)), env)
            outcome = "closed as it was"
        else:
            run(fieldnote("--db", str(db), "record", "--no-ui", "--resume", str(sid), "--model", "tiny.en",
                          "--mic", "mic.monitor", "--system", "teams.monitor", "--duration", "1.5"), env)
            outcome = "resumed"
        with closing(Store(db)) as store:
            row = store.session(sid)
            assert row["status"] == "completed", f"kill {kill}"
            assert {s["id"]: s["text"] for s in store.segments(sid)}.items() >= stored.items()
            if outcome == "resumed":
                assert row["duration"] >= (interrupted["duration"] or 0) + 1.0
                assert [g["reason"] for g in store.gaps(sid)] == ["interrupted"]
                assert sf.info(folder / "interviewer.wav").duration == pytest.approx(row["duration"], abs=0.1)
        counts[f"{'after a stored segment' if kill % 2 else 'at a random moment'}, {outcome}"] += 1
        counts["segments printed before a kill"] += len(rec.lines)

    with closing(checked_store(db, "after the kills")) as store:
        assert [r["status"] for r in store.sessions()] == ["completed"] * KILLS
        stored = {s["id"]: s["text"] for r in store.sessions() for s in store.segments(r["id"])}
    assert all(stored[line["id"]] == line["text"] for line in printed)
    if KILLS >= 2:
        assert counts["segments printed before a kill"] >= 1
    report(f"recording (two tracks from PulseAudio, tiny.en; audio within {drift:.2f} s of the kill)", counts)
