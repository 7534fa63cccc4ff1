"""`fieldnote demo --tracks`: a two-track recording of the researcher's own, replayed through the
live pipeline as the bundled demo is, and kept in the session's folder for review."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.sources import SAMPLE_RATE, load_audio
from core.store.database import Store

QUESTION = "How do you organise your working week when you work from home?"
ANSWER = "I mostly plan my week on Monday morning and keep the afternoons for calls."


def _speak(text: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> dict[str, Path]:
    """The interviewer as 44.1 kHz stereo OGG, the respondent as 22.05 kHz mono WAV, answering
    after the question: not what fieldnote records itself, as a recording made elsewhere is not."""
    folder = tmp_path_factory.mktemp("own-recording")
    q, a = folder / "q.wav", folder / "a.wav"
    _speak(QUESTION, q)
    _speak(ANSWER, a)
    interviewer, respondent = folder / "interviewer-call.ogg", folder / "respondent-call.wav"
    subprocess.run(["sox", str(q), "-r", "44100", "-c", "2", str(interviewer), "pad", "0", "6"], check=True)
    subprocess.run(["sox", str(a), "-r", "22050", str(respondent), "pad", "4", "0"], check=True)
    return {"interviewer": interviewer, "respondent": respondent}


def _fieldnote(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--db", str(db), *args],
        capture_output=True, text=True, env=dict(os.environ), timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )


def _words(text: str) -> list[str]:
    return "".join(ch.lower() if ch.isalnum() or ch.isspace() else " " for ch in text).split()


def test_a_recording_of_ones_own_is_replayed_understood_and_kept(recording, tmp_path):
    db = tmp_path / "study.db"
    out = _fieldnote(db, "demo", "--tracks", str(recording["interviewer"]), str(recording["respondent"]),
                     "--guide", "remote-work-en", "--respondent", "R7", "--case", "Team A",
                     "--fast", "--no-ui", "--model", "tiny.en")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    by_speaker = {line["speaker"]: line for line in lines}
    assert set(by_speaker) == {"interviewer", "respondent"}
    # The guide follows along: the interviewer's turn is the guide's question about the week.
    assert by_speaker["interviewer"]["asks"] == 1
    assert by_speaker["respondent"]["question"] == 1
    assert by_speaker["respondent"]["start"] >= 3.5  # on the respondent's own timeline
    assert {"plan", "week", "monday", "morning"} <= set(_words(by_speaker["respondent"]["text"]))

    store = Store(db)
    (session,) = store.sessions()
    assert (session["respondent"], session["case_name"], session["status"]) == ("R7", "Team A", "completed")
    folder = Path(session["audio_dir"])
    assert folder.parent == db.parent / "sessions"
    # Kept as 16 kHz mono tracks that review plays and re-transcription reads, the user's alone.
    for speaker, original in recording.items():
        kept = folder / f"{speaker}.flac"
        info = sf.info(kept)
        assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert np.allclose(load_audio(kept), load_audio(original), atol=2 / 32768)
    assert not list(folder.parent.glob("*.part"))


def test_a_file_that_is_not_audio_is_named_and_nothing_is_kept(recording, tmp_path):
    db = tmp_path / "study.db"
    notes = tmp_path / "notes.mp3"
    notes.write_text("these are my notes, not a recording\n")
    out = _fieldnote(db, "demo", "--tracks", str(recording["interviewer"]), str(notes),
                     "--guide", "remote-work-en", "--fast", "--no-ui", "--model", "tiny.en")
    assert out.returncode == 2
    assert str(notes) in out.stderr and "Traceback" not in out.stderr
    assert Store(db).sessions() == []
    sessions = db.parent / "sessions"
    assert not sessions.exists() or [p.name for p in sessions.iterdir() if not p.name.startswith(".running")] == []


@pytest.mark.parametrize("args, says", [
    (["--tracks", "a.wav", "b.wav"], "--tracks needs --guide"),
    (["--guide", "remote-work-en"], "go with --tracks"),
])
def test_tracks_and_guide_go_together(tmp_path, args, says):
    db = tmp_path / "study.db"
    out = _fieldnote(db, "demo", *args, "--fast", "--no-ui", "--model", "tiny.en")
    assert out.returncode == 2 and says in out.stderr
    assert not db.exists() or Store(db).sessions() == []


def test_a_missing_track_is_named_before_anything_starts(recording, tmp_path):
    db = tmp_path / "study.db"
    missing = tmp_path / "respondent.m4a"
    out = _fieldnote(db, "demo", "--tracks", str(recording["interviewer"]), str(missing),
                     "--guide", "remote-work-en", "--fast", "--no-ui", "--model", "tiny.en")
    assert out.returncode == 2 and str(missing) in out.stderr
    assert not db.exists() or Store(db).sessions() == []


def test_a_recording_that_cannot_be_kept_leaves_no_session(recording, tmp_path, monkeypatch, capsys):
    """A full disk while the tracks are copied: one message, and neither a session nor a folder."""
    from core.audio import trackfiles
    from core.base.errors import UserError
    from tui.cli import main

    def full(tracks, folder):
        raise UserError(f"{folder.parent}: the disk is full; the recording was not kept")

    monkeypatch.setattr(trackfiles, "keep_tracks", full)
    db = tmp_path / "study.db"
    code = main(["--db", str(db), "demo", "--tracks", str(recording["interviewer"]), str(recording["respondent"]),
                 "--guide", "remote-work-en", "--fast", "--no-ui", "--model", "tiny.en"])
    assert code == 2 and "the disk is full" in capsys.readouterr().err
    assert Store(db).sessions() == []
