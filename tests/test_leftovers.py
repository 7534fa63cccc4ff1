"""What a crash, a read-only home or a careless path leaves behind (issue 17).

Each test runs the real command where the finding is about the command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

from core.store.database import Store

from suite import kills


def _env(tmp_path, models_home, **more):
    return {**os.environ, "FIELDNOTE_HOME": str(tmp_path / "home"), "FIELDNOTE_MODELS": str(models_home), **more}


def _run(*argv, env, **kw):
    return subprocess.run(["fieldnote", *argv], capture_output=True, text=True, env=env, timeout=120, **kw)


# A killed demo ------------------------------------------------------------------------------


def test_a_demo_killed_midway_is_found_by_recover_and_closed(tmp_path, models_home):
    db = tmp_path / "study.db"
    env = _env(tmp_path, models_home)
    for kill in range(kills(1)):
        proc = subprocess.Popen(
            ["fieldnote", "--db", str(db), "demo", "--fast", "--no-ui", "--model", "tiny.en"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        printed: list[dict] = []

        def read(out=proc.stdout, printed=printed):
            for line in out:
                if line.endswith("\n"):
                    printed.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 120
        while not printed and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=10)
        assert proc.returncode == -signal.SIGKILL and printed, "killed while the demo ran"
        session_id = printed[0]["session"]

        found = _run("--db", str(db), "recover", env=env)
        assert found.returncode == 0, found.stderr
        store = Store(db)
        try:
            row = store.sessions()[-1]
        finally:
            store.close()
        assert row["origin"] == "demo" and row["status"] == "interrupted", f"kill {kill}: {row['status']}"
        assert row["id"] == session_id
        assert f"demo session {row['id']}" in found.stderr and "was interrupted" in found.stderr
        assert row["duration"] is not None and row["duration"] >= printed[0]["end"] - 0.05

        resumed = _run("--db", str(db), "record", "--no-ui", "--resume", str(row["id"]), "--consent", env=env)
        assert resumed.returncode == 2 and "not an interrupted recording" in resumed.stderr, resumed.stderr

        closed = _run("--db", str(db), "recover", "--close", str(row["id"]), env=env)
        assert closed.returncode == 0, closed.stderr
        store = Store(db)
        try:
            assert store.session(row["id"])["status"] == "completed"
        finally:
            store.close()
    # The lock folders of the killed demos went with their recovery.
    assert not list((tmp_path / "sessions").glob(".running-*"))


# A log file that is a link --------------------------------------------------------------------


def test_a_symlinked_or_hard_linked_log_is_refused_not_written_through(tmp_path, models_home):
    env = _env(tmp_path, models_home)
    home = tmp_path / "home"
    home.mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("the researcher's own notes\n")
    for make in (lambda log: log.symlink_to(victim), lambda log: os.link(victim, log)):
        log = home / "fieldnote.log"
        make(log)
        result = _run("sessions", env=env)
        assert result.returncode == 2, result.stderr
        assert f"{log}: the log is a link to another file" in result.stderr
        assert "Traceback" not in result.stderr
        assert victim.read_text() == "the researcher's own notes\n"
        log.unlink()
    result = _run("sessions", env=env)
    assert result.returncode == 0, result.stderr
    assert (home / "fieldnote.log").is_file() and not (home / "fieldnote.log").is_symlink()


# -o onto a guide, the log, a model ------------------------------------------------------------


def test_an_export_never_overwrites_a_guide_the_log_or_a_model(tmp_path, models_home):
    from core.base import paths

    env = _env(tmp_path, models_home)
    home = tmp_path / "home"
    db = tmp_path / "study.db"
    assert _run("--db", str(db), "import-samples", env=env).returncode == 0
    guide = home / "guides" / "mine.toml"
    guide.parent.mkdir(parents=True, exist_ok=True)
    guide.write_text("the researcher's guide\n")
    bundled = next(paths.BUNDLED_GUIDES.glob("*.toml"))
    kept = bundled.read_bytes()
    targets = {guide: "your guides", bundled: "the guides fieldnote ships with", home / "fieldnote.log": "fieldnote's log",
               home / "guides": "your guides", models_home / "x.qdc": "the Whisper models"}
    for target, what in targets.items():
        for argv in (["export", "1", "-o", str(target)], ["codebook", "export", "1", "-o", str(target)]):
            result = _run("--db", str(db), *argv, env=env)
            assert result.returncode == 2, (argv, result.stderr)
            assert f"error: {target} is " in result.stderr and what in result.stderr, result.stderr
    assert guide.read_bytes() == b"the researcher's guide\n" and bundled.read_bytes() == kept
    log = (home / "fieldnote.log").read_text()
    assert "<?xml" not in log and all(" INFO " in line or " WARNING " in line for line in log.splitlines() if line[:2] == "20")
    assert not (models_home / "x.qdc").exists() and sorted(p.name for p in (home / "guides").iterdir()) == ["mine.toml"]
