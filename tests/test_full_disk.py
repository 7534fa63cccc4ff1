"""A full disk: recording, import and export on a small real filesystem that fills up.

Each test mounts its own small filesystem (tmpfs; a loop-mounted ext4 image where tmpfs cannot
be mounted) and unmounts it afterwards. A filler file takes the space a test wants gone, the way
another program (a sync client, a download) fills a laptop's disk. The tests need root for
mount; without it they are skipped, saying so (and fail with FIELDNOTE_LONG=1: tests/suite.py).

What must hold: a clear message naming the file and the full disk, exit status 2 and no
traceback; the database unchanged and passing its integrity check; no partial export; a
recording that stops by itself, closes its session and leaves audio that plays.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import soundfile as sf

from core.audio import trackfiles
from core.audio.trackfiles import DISK_RESERVE
from core.interchange.exporters import render
from core.pipeline.recording import recover_interrupted
from core.store.database import Store

from suite import needs_root

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = ROOT / "sample_sessions" / "transcripts"
MB = 2**20


class SmallDisk:
    """A filesystem of `size` MB mounted at `folder`, with a filler file to take its space."""

    def __init__(self, folder: Path, size_mb: int):
        self.folder = folder
        self.image: Path | None = None
        folder.mkdir()
        tmpfs = _run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(folder)])
        if tmpfs.returncode == 0:
            return
        # No tmpfs here: a loop-mounted ext4 image (no blocks reserved for root: 'full' means full).
        self.image = folder.parent / f"{folder.name}.img"
        with open(self.image, "wb") as f:
            f.truncate(size_mb * MB)
        made = _run(["mkfs.ext4", "-q", "-m", "0", "-F", str(self.image)])
        loop = _run(["mount", "-o", "loop", str(self.image), str(folder)]) if made.returncode == 0 else made
        if loop.returncode != 0:
            folder.rmdir()
            needs_root("cannot mount a small filesystem here (needs root): tmpfs: "
                       f"{tmpfs.stderr.strip() or tmpfs.returncode}; loop ext4: {loop.stderr.strip() or loop.returncode}")

    @property
    def free(self) -> int:
        return shutil.disk_usage(self.folder).free

    def fill(self, leave: int = 0) -> None:
        """Take all the free space but `leave` bytes (0: the disk is full)."""
        fd = os.open(self.folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for block in (MB, 64 * 1024, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
            os.fsync(fd)
            if leave:
                os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
                os.fsync(fd)
        finally:
            os.close(fd)
        assert self.free <= leave + 64 * 1024

    def unfill(self) -> None:
        (self.folder / "filler").unlink(missing_ok=True)

    def unmount(self) -> None:
        for _ in range(50):  # a process that just ended may still hold a file for a moment
            if _run(["umount", str(self.folder)]).returncode == 0:
                break
            time.sleep(0.1)
        else:
            _run(["umount", "-l", str(self.folder)])
        if self.image is not None:
            self.image.unlink(missing_ok=True)


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        return subprocess.CompletedProcess(cmd, 127, "", str(exc))


@pytest.fixture
def small_disk(tmp_path):
    disks: list[SmallDisk] = []

    def make(size_mb: int) -> SmallDisk:
        disk = SmallDisk(tmp_path / f"disk{len(disks)}", size_mb)
        disks.append(disk)
        return disk

    yield make
    for disk in disks:
        disk.unmount()


def fieldnote(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIELDNOTE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def snapshot(db: Path) -> str:
    """Everything in the database, as a digest: equal digests, equal contents."""
    con = sqlite3.connect(db)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("pragma integrity_check").fetchone()[0]
    finally:
        con.close()


def big_transcript(folder: Path, copies: int = 10) -> Path:
    """Interview 1 of the reference study, its turns said `copies` times over (about 1100 turns)."""
    text = (TRANSCRIPTS / "interview-01.txt").read_text(encoding="utf-8")
    head, mark, body = text.partition("(Van tevoren is toestemming gevraagd om het interview op te nemen)")
    path = folder / "long-interview.txt"
    path.write_text(head + mark + body * copies, encoding="utf-8")
    return path


def assert_clear_failure(out: subprocess.CompletedProcess, *names: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "the disk is full" in out.stderr, out.stderr
    for name in names:
        assert name in out.stderr, out.stderr


# ---------------------------------------------------------------------------------------------
# Import


@pytest.mark.parametrize("leave", [256 * 1024, 0], ids=["nearly-full", "full"])
def test_an_import_into_a_full_disk_says_so_and_leaves_the_database_as_it_was(small_disk, tmp_path, leave):
    disk = small_disk(16)
    home = disk.folder / "fieldnote"  # the database, the log and the settings all on that disk
    db = home / "fieldnote.db"
    assert fieldnote("import-samples", home=home).returncode == 0
    before = snapshot(db)
    transcript = big_transcript(tmp_path)

    disk.fill(leave)
    out = fieldnote("import", str(transcript), "--guide", "koers-en-kansen", "--interviewer", "X",
                    "--respondent-speakers", "Y", home=home)
    assert_clear_failure(out, str(db))
    assert out.stdout == ""  # no session id: nothing was imported

    disk.unfill()
    assert integrity(db) == "ok"
    assert snapshot(db) == before
    # With room again the same import goes through, whole.
    again = fieldnote("import", str(transcript), "--guide", "koers-en-kansen", "--interviewer", "X",
                      "--respondent-speakers", "Y", home=home)
    assert again.returncode == 0, again.stderr
    store = Store(db)
    try:
        (sid,) = [int(line) for line in again.stdout.split()]
        assert sid == 9 and [r["id"] for r in store.sessions()] == list(range(1, 10))
        turns = again.stderr.split(": ")[1].split()[0]
        assert len(store.segments(sid)) == int(turns) > 1000
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# Export


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The eight sample interviews in a database on the ordinary disk."""
    home = tmp_path_factory.mktemp("study-home")
    assert fieldnote("import-samples", home=home).returncode == 0
    return home


@pytest.mark.parametrize("fmt", ["docx", "qdpx"])
def test_an_export_to_a_nearly_full_disk_says_so_and_leaves_no_partial_file(small_disk, study, fmt):
    disk = small_disk(4)
    target = disk.folder / f"study.{fmt}"
    disk.fill(32 * 1024)  # both exports of the eight interviews need about 100 KB
    out = fieldnote("export", "--all", "--format", fmt, "-o", str(target), home=study)
    assert_clear_failure(out, str(target))
    assert sorted(p.name for p in disk.folder.iterdir()) == ["filler"]  # no target, no temporary file

    disk.unfill()
    again = fieldnote("export", "--all", "--format", fmt, "-o", str(target), home=study)
    assert again.returncode == 0, again.stderr
    assert zipfile.ZipFile(target).testzip() is None
    assert sorted(p.name for p in disk.folder.iterdir()) == [target.name]


def test_a_per_session_export_that_fills_the_disk_leaves_only_whole_files(small_disk, study):
    disk = small_disk(4)
    folder = disk.folder / "transcripts"
    folder.mkdir()
    store = Store(study / "fieldnote.db")
    try:
        expected = {f.name: f.data for f in render(store, list(range(1, 9)), "txt")}
    finally:
        store.close()
    # Room for about half of the eight plain transcripts.
    disk.fill(sum(sorted(len(d) for d in expected.values())[:4]) + 8 * 1024)
    out = fieldnote("export", *map(str, range(1, 9)), "--format", "txt", "-o", str(folder), home=study)
    assert_clear_failure(out, str(folder))
    written = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert 0 < len(written) < 8
    for name, data in written.items():
        assert data == expected[name], f"{name} is not whole"


# ---------------------------------------------------------------------------------------------
# Recording (a private PulseAudio server and the bundled tiny.en model, as in test_capture.py)

SPEECH = "Could you tell me about your work, and what changed when the team started working from home?"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    from pulse import private_server

    with private_server(tmp_path_factory.mktemp("pulse"), needs=("espeak-ng",)) as server:
        yield server


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SPEECH], check=True)
    return path


class Recording:
    """`fieldnote record --no-ui` into `home`, with its JSON lines and its stderr collected."""

    def __init__(self, pulse, home: Path):
        env = {**pulse.env, "FIELDNOTE_HOME": str(home)}
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "record", "--no-ui", "--guide", "remote-work-en", "--model", "tiny.en",
             "--consent", "--mic", "mic.monitor", "--system", "teams.monitor", "--duration", "120"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[dict] = []
        self.stderr = ""
        self._threads = [threading.Thread(target=self._out, daemon=True), threading.Thread(target=self._err, daemon=True)]
        for t in self._threads:
            t.start()

    def _out(self):
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def _err(self):
        for line in self.proc.stderr:
            self.stderr += line

    def folder(self) -> Path:
        return self.home / "sessions" / "1"

    def wait_recording(self) -> None:
        deadline = time.monotonic() + 60
        while not (self.folder() / "respondent.wav").exists():
            assert self.proc.poll() is None, self.stderr
            assert time.monotonic() < deadline, "the recording did not start"
            time.sleep(0.02)

    def wait_segment(self) -> None:
        deadline = time.monotonic() + 60
        while not self.lines:
            assert time.monotonic() < deadline and self.proc.poll() is None, self.stderr
            time.sleep(0.05)

    def finish(self) -> int:
        # A recorder that hangs instead of stopping fails here (it would run for two minutes).
        code = self.proc.wait(timeout=60)
        for t in self._threads:
            t.join(timeout=10)
        return code


def _stored(db: Path) -> dict[int, str]:
    store = Store(db)
    try:
        return {s["id"]: s["text"] for s in store.segments(1)}
    finally:
        store.close()


def test_a_recording_stops_cleanly_when_the_disk_fills_past_the_reserve(small_disk, pulse, speech):
    disk = small_disk(DISK_RESERVE // MB + 60)  # room for the ten minutes a recording needs to start
    home = disk.folder / "fieldnote"
    rec = Recording(pulse, home)
    rec.wait_recording()
    time.sleep(1.0)
    assert pulse.play("mic", speech).wait(30) == 0
    rec.wait_segment()
    disk.fill(DISK_RESERVE - 8 * MB)  # another program takes the disk down into the reserve
    assert rec.finish() == 2
    assert "Traceback" not in rec.stderr
    # The closing message always comes; the warning naming the MB left is printed by the capture
    # thread and, on a loaded machine, can lose the race with the exit.
    assert "the disk is nearly full; everything until then is saved" in rec.stderr

    store = Store(home / "fieldnote.db")
    try:
        (session,) = store.sessions()
        assert session["status"] == "completed"
        assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert {s["id"]: s["text"] for s in store.segments(1)} == {s["id"]: s["text"] for s in rec.lines}
    finally:
        store.close()
    for track in ("interviewer", "respondent"):
        audio, rate = sf.read(rec.folder() / f"{track}.wav", dtype="float32")
        assert len(audio) / rate == pytest.approx(session["duration"], abs=0.1)
    assert not (rec.folder() / "recording.lock").exists()


def test_a_disk_that_fills_up_at_once_ends_the_recording_with_a_message_and_playable_audio(
    small_disk, pulse, speech, monkeypatch
):
    disk = small_disk(DISK_RESERVE // MB + 60)
    home = disk.folder / "fieldnote"
    rec = Recording(pulse, home)
    rec.wait_recording()
    time.sleep(1.0)
    assert pulse.play("mic", speech).wait(30) == 0
    rec.wait_segment()
    filled = time.monotonic()
    disk.fill(0)  # no reserve left at all: the next write of audio finds no room
    player = pulse.play("teams", speech)
    assert rec.finish() == 2
    player.wait(30)
    assert "Traceback" not in rec.stderr and "terminate called" not in rec.stderr
    assert f"recording stopped: the disk of {rec.folder()} is full" in rec.stderr
    assert time.monotonic() - filled < 30  # it stopped by itself, long before its two minutes

    # The audio up to the moment the disk filled plays; nothing else was lost.
    lengths = {t: sf.info(rec.folder() / f"{t}.wav").duration for t in ("interviewer", "respondent")}
    said = float(rec.stderr.split("the audio up to ")[1].split(" s is saved")[0])
    for seconds in lengths.values():
        assert seconds == pytest.approx(said, abs=1.0) and seconds > 2.0
    disk.unfill()
    db = home / "fieldnote.db"
    assert integrity(db) == "ok"
    stored = _stored(db)
    for line in rec.lines:
        assert stored[line["id"]] == line["text"]
    # If the database had no room to close the session, the next start finds it interrupted
    # (as after a crash) and offers to resume or close it. A session is taken for abandoned
    # once it has gone a minute without its recorder's lock file; that minute is skipped here.
    monkeypatch.setattr(trackfiles, "STALE_WITHOUT_LOCK", 0.0)
    store = Store(db)
    try:
        found = recover_interrupted(store)
        status = store.session(1)["status"]
        assert status == "completed" or [s.session_id for s in found] == [1] and status == "interrupted"
    finally:
        store.close()
