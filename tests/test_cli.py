"""The command line: help, the headless demo, sessions, export, and errors a user can cause."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing

import pytest

from tui.cli import build_parser, main

CONTRACT_KEYS = {"id", "speaker", "speaker_label", "start", "end", "text", "asks", "question", "suggestions", "codings"}


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: fieldnote {command}" in out
    assert len(out.splitlines()) >= 3


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "sessions", "export"):
        assert command in out


def test_the_console_script_is_installed(tmp_path):
    out = subprocess.run(["fieldnote", "--db", str(tmp_path / "x.db"), "sessions"], capture_output=True, text=True)
    assert out.returncode == 0 and "No sessions yet" in out.stdout


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, models_home):
    """One headless demo run shared by the export tests (the real pipeline with tiny.en)."""
    db = tmp_path_factory.mktemp("cli") / "study.db"
    env = {"FIELDNOTE_HOME": str(db.parent), "FIELDNOTE_MODELS": str(models_home)}
    import os

    out = subprocess.run(
        ["fieldnote", "--db", str(db), "demo", "--fast", "--no-ui", "--model", "tiny.en"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return db, out


def test_headless_demo_prints_the_contract(demo_db):
    db, out = demo_db
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    assert len(lines) > 20
    assert all(CONTRACT_KEYS <= set(l) for l in lines)
    assert {l["speaker"] for l in lines} == {"interviewer", "respondent"}
    starts = [l["start"] for l in lines]
    assert starts == sorted(starts)
    assert any(l["asks"] for l in lines)
    for l in lines:
        for s in l["suggestions"]:
            assert {"dimension", "indicator", "score", "reason"} <= set(s) and 0 <= s["score"] <= 1
    assert out.stderr.strip().endswith("session 1")


def test_sessions_lists_the_demo(demo_db, capsys):
    db, _ = demo_db
    assert main(["--db", str(db), "sessions"]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "Samen starten" in out and "koers-en-kansen-en" in out


def test_export_jsonl_equals_what_was_printed_live(demo_db, capsys):
    db, out = demo_db
    assert main(["--db", str(db), "export", "1", "--format", "jsonl"]) == 0
    exported = capsys.readouterr().out
    assert [json.loads(l) for l in exported.splitlines()] == [json.loads(l) for l in out.stdout.splitlines()]


def test_export_markdown_to_a_file(demo_db, tmp_path, capsys):
    db, out = demo_db
    target = tmp_path / "coded.md"
    assert main(["--db", str(db), "export", "1", "--format", "md", "-o", str(target)]) == 0
    text = target.read_text()
    first = json.loads(out.stdout.splitlines()[0])
    assert first["text"] in text
    assert "**Interviewer**" in text and "**Respondent**" in text
    assert (target.stat().st_mode & 0o777) == 0o600
    assert not list(tmp_path.glob(".*part"))


@pytest.mark.parametrize("argv, words", [
    (["export", "99"], "no session 99"),
    (["export", "abc"], "is not a session id"),
    (["export", "1", "--format", "pdf"], "invalid choice"),
    (["demo", "--language", "xx"], "no demo in language 'xx'"),
    (["demo", "--model", "./nowhere", "--no-ui"], "no such directory"),
])
def test_user_errors_exit_2_with_one_message(argv, words, tmp_path, capsys):
    code = None
    try:
        code = main(["--db", str(tmp_path / "s.db"), *argv])
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2
    assert words in err and "Traceback" not in err


def test_a_database_that_is_not_one(tmp_path, capsys):
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database" * 100)
    assert main(["--db", str(bad), "sessions"]) == 2
    assert "not a fieldnote database" in capsys.readouterr().err
    assert bad.read_text().startswith("these are my notes")


def test_an_export_that_cannot_be_written_leaves_nothing(demo_db, tmp_path, capsys):
    db, _ = demo_db
    target = tmp_path / "missing-folder" / "out.md"
    assert main(["--db", str(db), "export", "1", "-o", str(target)]) == 2
    assert "cannot write the export" in capsys.readouterr().err
    assert not target.parent.exists()


def test_fieldnote_alone_opens_the_sessions_screen(monkeypatch, tmp_path):
    import tui.commands.review

    opened = []
    monkeypatch.setattr(tui.commands.review, "cmd_browse", lambda args: opened.append(args.db) or 0)
    assert main(["--db", str(tmp_path / "s.db")]) == 0
    assert opened == [str(tmp_path / "s.db")]


def test_guides_lists_each_guide_and_names_a_broken_one(capsys):
    from core.base import paths

    folder = paths.guides_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text("[study\n", encoding="utf-8")
    theirs = (paths.BUNDLED_GUIDES / "remote-work-en.toml").read_text(encoding="utf-8")
    (folder / "thuiswerk.toml").write_text(
        theirs.replace('id = "remote-work-en"', 'id = "thuiswerk"').replace('language = "en"', 'language = "fy"'),
        encoding="utf-8")
    assert main(["guides"]) == 2
    out, err = capsys.readouterr()
    assert "koers-en-kansen" in out and "remote-work-en" in out
    assert "no word lists for 'fy'" in next(line for line in out.splitlines() if line.startswith("thuiswerk"))
    assert "broken.toml" in err and "Traceback" not in err


def test_sessions_cuts_a_long_case_name_visibly_and_keeps_the_columns(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import-samples"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "sessions"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert "Doorontwikkeling nazorg…" in "\n".join(rows)  # the case "Doorontwikkeling nazorgaanpak ..."
    assert len(rows) == 8 and {row.index("koers-en-kansen") for row in rows} == {header.index("guide")}


@pytest.mark.parametrize("target", ["study.db", "study.db-wal", "sessions/1/respondent.wav", "sessions/x.md"])
def test_an_export_never_overwrites_the_database_or_a_recording(tmp_path, capsys, monkeypatch, target):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import-samples"]) == 0
    recording = tmp_path / "sessions" / "1" / "respondent.wav"
    recording.parent.mkdir(parents=True)
    recording.write_bytes(b"RIFF recorded audio")
    # What the import left in the write-ahead log goes into the file first: whichever connection
    # closes last moves it there, and that is SQLite's doing, not the export's.
    with closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db.read_bytes()
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["--db", str(db), "export", "1", "-o", target]) == 2
    assert main(["--db", str(db), "codebook", "export", "1", "-o", target]) == 2
    err = capsys.readouterr().err
    assert err.count(f"error: {target} is ") == 2 and ("study's database" in err or "study's recordings" in err)
    assert db.read_bytes() == before and recording.read_bytes() == b"RIFF recorded audio"
    assert not (tmp_path / "sessions" / "x.md").exists()


def test_transcribes_progress_line_shows_the_time_left_as_every_other_clock_does():
    # One clock formatter (core.interchange.export.clock): an hour and more shows its hours.
    import io
    from types import SimpleNamespace

    from core.interchange.export import clock
    from tui.commands.review import _ProgressLine

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = _ProgressLine(stream)
    line(SimpleNamespace(stage="decoding the respondent", fraction=0.25, eta=3725.0))
    assert f"{clock(3725.0)} left" in stream.getvalue() and clock(3725.0) == "1:02:05"
