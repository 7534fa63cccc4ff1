"""`fieldnote models get`: fetching a model over HTTP (a hub served on 127.0.0.1), resuming a cut
transfer, refusing a damaged file, saying so offline, copying from a folder; each model's speed
here; and the choice of model for live transcription and for after the interview."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.speech import choice, download, models
from core.speech.choice import AFTER, LIVE, Installed, choose_model
from suite import like_a_terminal

ROOT = Path(__file__).resolve().parent.parent
REPO = "Systran/faster-whisper-tiny"  # what faster-whisper names "tiny"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _fake_model() -> dict[str, bytes]:
    rng = random.Random(14)
    return {
        "config.json": json.dumps({"alignment_heads": [[1, 0]], "lang_ids": [1]}).encode(),
        "model.bin": bytes(rng.getrandbits(8) for _ in range(3 * (1 << 20) + 12345)),
        "tokenizer.json": b'{"model": {}}',
        "vocabulary.txt": b"\n".join(b"tok%d" % i for i in range(100)),
        "README.md": b"not a model file: never fetched",
    }


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """The model hub's listing and files, served on loopback, with faults to order."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.listed = {name: data for name, data in files.items()}  # what the listing describes
        self.cut = {}  # name -> bytes sent before the connection is dropped (once)
        self.hold = {}  # name -> bytes sent before the transfer waits for `released` (once)
        self.released = threading.Event()
        self.requests: list[tuple[str, str | None]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("Range")))
                if self.path == f"/api/models/{REPO}/revision/main?blobs=True":
                    return self._send(200, json.dumps(hub.listing()).encode(), {"Content-Type": "application/json"})
                prefix = f"/{REPO}/resolve/{REVISION}/"
                name = self.path[len(prefix):] if self.path.startswith(prefix) else None
                if name not in hub.files:
                    return self._send(404, b"no such file")
                data = hub.files[name]
                start = 0
                ranged = self.headers.get("Range")
                if ranged:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
                    status = 206
                else:
                    headers, status = {}, 200
                body = data[start:]
                if name in hub.hold:
                    sent = hub.hold.pop(name)
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body[:sent])
                    self.wfile.flush()
                    hub.released.wait(60)
                    self.close_connection = True
                    return
                if name in hub.cut:
                    sent = hub.cut.pop(name)
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body[:sent])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._send(status, body, headers)

            def _send(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def listing(self) -> dict:
        siblings = []
        for name, data in self.listed.items():
            entry = {"rfilename": name, "size": len(data), "blobId": _blob_id(data)}
            if name == "model.bin":
                entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            siblings.append(entry)
        return {"id": REPO, "sha": REVISION, "siblings": siblings}

    def file_requests(self, name: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path.endswith(f"/resolve/{REVISION}/{name}")]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def models_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("FIELDNOTE_MODELS", str(folder))
    return folder


def _fieldnote(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600, cwd=ROOT)


def _installed(folder: Path, files: dict[str, bytes]) -> None:
    fetched = {name: data for name, data in files.items() if download._wanted(name)}
    assert sorted(p.name for p in folder.iterdir()) == sorted(fetched)
    for name, data in fetched.items():
        assert (folder / name).read_bytes() == data, name


# --- over HTTP --------------------------------------------------------------------------------------


def test_a_cut_download_is_continued_with_a_range_request_and_installed_whole(models_folder):
    files = _fake_model()
    with FakeHub(files) as hub:
        cut_at = 1_500_000
        hub.cut["model.bin"] = cut_at
        first = _fieldnote("models", "get", "tiny", "--no-measure", HF_ENDPOINT=hub.url)
        assert first.returncode == 2, first.stderr
        assert "connection was lost" in first.stderr and "run the same command again" in first.stderr
        assert "Traceback" not in first.stderr
        assert not (models_folder / "tiny").exists()  # no half-model where a model is looked for
        assert (models_folder / ".get-tiny" / "model.bin.part").stat().st_size == cut_at
        assert "tiny" not in models.available_models()

        second = _fieldnote("models", "get", "tiny", "--no-measure", HF_ENDPOINT=hub.url)
        assert second.returncode == 0, second.stderr
    assert hub.file_requests("model.bin") == [None, f"bytes={cut_at}-"]
    assert hub.file_requests("config.json") == [None]  # finished and checked in the first run: kept
    assert hub.file_requests("README.md") == []
    _installed(models_folder / "tiny", files)
    assert not (models_folder / ".get-tiny").exists()
    assert f"installed tiny" in second.stdout
    assert "model.bin: 3.2 MB of 3.2 MB" in second.stderr  # the progress, on stderr
    ref = models.resolve_model("tiny")
    assert ref.origin == "models-folder" and ref.path == models_folder / "tiny"


def test_ctrl_c_leaves_no_model_and_the_next_run_goes_on(models_folder):
    files = _fake_model()
    part = models_folder / ".get-tiny" / "model.bin.part"
    with FakeHub(files) as hub:
        hub.hold["model.bin"] = 1 << 20
        proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "models", "get", "tiny", "--no-measure"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "HF_ENDPOINT": hub.url}, preexec_fn=like_a_terminal)
        try:
            for _ in range(600):
                if part.exists() and part.stat().st_size == 1 << 20:
                    break
                time.sleep(0.1)
            assert part.exists() and part.stat().st_size == 1 << 20, proc.stderr.read() if proc.poll() is not None else ""
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 2, err
        assert "stopped; nothing was installed" in err and "Traceback" not in err
        assert not (models_folder / "tiny").exists()
        again = _fieldnote("models", "get", "tiny", "--no-measure", HF_ENDPOINT=hub.url)
        assert again.returncode == 0, again.stderr
    assert hub.file_requests("model.bin") == [None, f"bytes={1 << 20}-"]
    _installed(models_folder / "tiny", files)


def test_one_models_get_of_a_name_at_a_time(models_folder):
    import fcntl

    scratch = download.staging_dir("tiny")
    scratch.mkdir(parents=True)
    fd = os.open(scratch, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a `models get tiny` under way holds it
        with FakeHub(_fake_model()) as hub:
            out = _fieldnote("models", "get", "tiny", "--no-measure", HF_ENDPOINT=hub.url)
        assert out.returncode == 2 and "another `fieldnote models get tiny` is under way" in out.stderr
        assert hub.file_requests("model.bin") == []
    finally:
        os.close(fd)
    assert not (models_folder / "tiny").exists()


@pytest.mark.parametrize("damaged", ["model.bin", "config.json"])
def test_a_damaged_file_is_refused_and_nothing_is_installed(models_folder, damaged):
    files = _fake_model()
    with FakeHub(files) as hub:
        # Same size, other bytes: only the checksum (sha256 for model.bin, git blob id for config.json) tells.
        data = bytearray(files[damaged])
        data[len(data) // 2] ^= 0xFF
        hub.files[damaged] = bytes(data)
        out = _fieldnote("models", "get", "tiny", "--no-measure", HF_ENDPOINT=hub.url)
    assert out.returncode == 2, out.stderr
    assert f"{damaged} from the model hub came damaged" in out.stderr
    assert ("sha256" if damaged == "model.bin" else "git blob id") in out.stderr
    assert not (models_folder / "tiny").exists()
    assert not (models_folder / ".get-tiny" / damaged).exists()
    assert not (models_folder / ".get-tiny" / f"{damaged}.part").exists()


def test_offline_says_so_in_one_line_and_how_to_bring_a_model_otherwise(models_folder):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = _fieldnote("models", "get", "small", HF_ENDPOINT=f"http://127.0.0.1:{closed}")
    assert out.returncode == 2
    (error,) = [line for line in out.stderr.splitlines() if line.startswith("fieldnote: ")]
    assert "connection was refused" in error and "offline" in error and "--from FOLDER" in error
    assert "Traceback" not in out.stderr
    assert not (models_folder / "small").exists()


def test_no_name_lookup_is_offline_too(monkeypatch):
    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download.urllib.request, "urlopen", no_dns)
    with pytest.raises(download.Offline, match="name cannot be looked up.*offline.*--from"):
        download.hub_files("small")


def test_hf_hub_offline_is_respected_without_a_connection(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a connection was tried")

    monkeypatch.setattr(download.urllib.request, "urlopen", never)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(download.Offline, match="HF_HUB_OFFLINE"):
        download.hub_files("small")


def test_an_unknown_name_is_refused_with_the_names():
    out = _fieldnote("models", "get", "large-v9")
    assert out.returncode == 2
    assert "no faster-whisper model named 'large-v9'" in out.stderr and "large-v3" in out.stderr and "--from" in out.stderr


# --- from a folder ----------------------------------------------------------------------------------


@pytest.fixture
def model_folder(tmp_path) -> tuple[Path, dict[str, bytes]]:
    files = _fake_model()
    folder = tmp_path / "copied-from-usb"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder, files


@pytest.mark.parametrize("as_url", [False, True])
def test_from_a_folder_or_a_file_url(models_folder, model_folder, as_url):
    folder, files = model_folder
    source = folder.as_uri() if as_url else str(folder)
    out = _fieldnote("models", "get", "my-small", "--from", source, "--no-measure")
    assert out.returncode == 0, out.stderr
    _installed(models_folder / "my-small", files)
    assert "my-small" in models.available_models()
    again = _fieldnote("models", "get", "my-small", "--from", source, "--no-measure")
    assert again.returncode == 2 and "--force" in again.stderr
    (folder / "config.json").write_bytes(b'{"lang_ids": [1, 2]}')
    forced = _fieldnote("models", "get", "my-small", "--from", source, "--no-measure", "--force")
    assert forced.returncode == 0, forced.stderr
    _installed(models_folder / "my-small", {**files, "config.json": b'{"lang_ids": [1, 2]}'})
    assert sorted(p.name for p in models_folder.iterdir()) == ["my-small"]  # no scratch or old copy left


def test_a_stopped_copy_goes_on_from_where_it_stopped(models_folder, model_folder):
    folder, files = model_folder
    listed = download.folder_files(str(folder))

    def stop_after_a_block(name, done, total):
        if name == "model.bin":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download.get_model("mine", listed, origin=str(folder), on_progress=stop_after_a_block)
    assert not (models_folder / "mine").exists()
    assert (models_folder / ".get-mine" / "model.bin.part").stat().st_size == download.BLOCK

    seen = []
    download.get_model("mine", download.folder_files(str(folder)), origin=str(folder),
                       on_progress=lambda name, done, total: seen.append((name, done)))
    assert [done for name, done in seen if name == "model.bin"][0] == 2 * download.BLOCK  # not from 0
    _installed(models_folder / "mine", files)


def test_a_copy_that_does_not_match_the_folders_sha256sums_is_refused(models_folder, model_folder):
    folder, files = model_folder
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    sums["model.bin"] = hashlib.sha256(b"another model").hexdigest()
    (folder / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    out = _fieldnote("models", "get", "mine", "--from", str(folder), "--no-measure")
    assert out.returncode == 2
    assert "model.bin from" in out.stderr and "came damaged (sha256" in out.stderr
    assert not (models_folder / "mine").exists()


def test_a_folder_that_is_no_model_is_named(tmp_path, models_folder):
    (tmp_path / "notes.txt").write_text("hello")
    out = _fieldnote("models", "get", "mine", "--from", str(tmp_path))
    assert out.returncode == 2
    assert f"{tmp_path}: not a faster-whisper model (no model.bin and no config.json)" in out.stderr
    missing = _fieldnote("models", "get", "mine", "--from", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert not models_folder.exists() or not any(models_folder.iterdir())


# --- speed here -------------------------------------------------------------------------------------


def test_the_speed_is_measured_once_with_the_real_model_and_remembered(models_folder):
    ref = models.resolve_model("tiny.en")
    assert choice.measured_speed(ref) is None
    rtf = choice.measure_speed(ref)
    assert 0 < rtf < float("inf")
    choice.save_speed(ref, rtf)
    assert choice.measured_speeds([ref]) == {"tiny.en": round(rtf, 4)}
    data = json.loads((models_folder / "speeds.json").read_text())
    data[str(ref.path)]["machine"] = "another-machine"
    (models_folder / "speeds.json").write_text(json.dumps(data))
    assert choice.measured_speed(ref) is None  # a speed holds for the machine it was measured on


def test_models_lists_the_remembered_speeds_and_the_choice(models_folder):
    tiny, base = models.resolve_model("tiny.en"), models.resolve_model("base")
    choice.save_speed(tiny, 0.2)
    choice.save_speed(base, 0.9)
    out = _fieldnote("models")
    assert out.returncode == 0, out.stderr
    assert "measuring" not in out.stderr  # remembered, not measured again
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith(("tiny.en ", "base "))}
    assert "RTF 0.20, keeps up live" in rows["tiny.en"] and "RTF 0.90, too slow live" in rows["base"]
    assert "real-time factor <= 0.50" in out.stdout
    assert ("English: live (record, demo) tiny.en, the largest installed model that keeps up live here "
            "(real-time factor 0.20 <= 0.50); after the interview (transcribe) base, the largest installed") in out.stdout


def test_live_and_transcribe_say_which_model_they_took_and_why(models_folder, tmp_path):
    for name, rtf in (("tiny.en", 0.2), ("base", 0.9)):
        choice.save_speed(models.resolve_model(name), rtf)
    q, a = tmp_path / "q.wav", tmp_path / "a.wav"
    subprocess.run(["espeak-ng", "-w", str(q), "How do you organise your working week?"], check=True)
    subprocess.run(["espeak-ng", "-w", str(a), "I plan my week on Monday morning."], check=True)
    db = tmp_path / "study.db"
    demo = _fieldnote("--db", str(db), "demo", "--tracks", str(q), str(a), "--guide", "remote-work-en",
                      "--fast", "--no-ui")
    assert demo.returncode == 0, demo.stderr
    assert ("model (live): tiny.en, the largest installed model that keeps up live here (real-time factor 0.20 "
            "<= 0.50)") in demo.stderr
    from core.store.database import Store

    (session,) = Store(db).sessions()
    assert session["model"] == "tiny.en"
    after = _fieldnote("--db", str(db), "transcribe", str(session["id"]), "--mode", "sequential")
    assert after.returncode == 0, after.stderr
    assert "model (after the interview): base, the largest installed model (145 MB)" in after.stderr
    assert "re-transcribed with base" in after.stdout
    given = _fieldnote("--db", str(db), "transcribe", str(session["id"]), "--model", "tiny.en", "--mode", "sequential")
    assert "model tiny.en (after the interview): given with --model" in given.stderr


@pytest.mark.skipif(not shutil.which("pulseaudio"), reason="needs the Debian packages pulseaudio and pulseaudio-utils")
def test_record_says_which_model_it_took_live(models_folder, tmp_path):
    from pulse import private_server

    for name, rtf in (("tiny.en", 0.2), ("base", 0.7)):
        choice.save_speed(models.resolve_model(name), rtf)
    db = tmp_path / "study.db"
    with private_server(tmp_path / "pulse") as pulse:
        env = {**pulse.env, "FIELDNOTE_MODELS": str(models_folder)}
        out = subprocess.run([sys.executable, "-m", "tui.cli", "--db", str(db), "record", "--no-ui", "--guide",
                              "remote-work-en", "--consent", "--mic", "mic.monitor", "--system", "teams.monitor",
                              "--duration", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert ("fieldnote: model (live): tiny.en, the largest installed model that keeps up live here (real-time factor "
            "0.20 <= 0.50)") in out.stderr
    from core.store.database import Store

    (session,) = Store(db).sessions()
    assert session["model"] == "tiny.en"


# --- the choice, as a rule ----------------------------------------------------------------------------

TINY_EN = Installed("tiny.en", False, 75_000_000)
BASE = Installed("base", True, 145_000_000)
SMALL = Installed("small", True, 480_000_000)
SMALL_EN = Installed("small.en", False, 480_000_000)
LARGE = Installed("large-v3", True, 3_000_000_000)


def test_after_the_interview_the_largest_fitting_the_language():
    everything = [TINY_EN, BASE, SMALL_EN, SMALL, LARGE]
    assert choose_model(everything, {}, AFTER, "nl")[0] == "large-v3"
    assert choose_model([TINY_EN, BASE, SMALL_EN, SMALL], {}, AFTER, "nl")[0] == "small"
    assert choose_model([TINY_EN, BASE, SMALL, SMALL_EN], {}, AFTER, "en")[0] == "small.en"  # same size: English-only
    assert choose_model([TINY_EN, BASE], {}, AFTER, "en") == ("base", "base, the largest installed model (145 MB)")
    name, reason = choose_model([TINY_EN], {}, AFTER, "nl")
    assert name == "base" and "no installed multilingual model" in reason


def test_live_the_largest_that_keeps_up_here():
    installed = [TINY_EN, BASE, SMALL, LARGE]
    speeds = {"tiny.en": 0.1, "base": 0.3, "small": 0.45, "large-v3": 2.5}
    name, reason = choose_model(installed, speeds, LIVE, "nl")
    assert name == "small" and "keeps up live here (real-time factor 0.45 <= 0.50)" in reason
    assert choose_model(installed, {**speeds, "small": 0.51}, LIVE, "nl")[0] == "base"
    assert choose_model(installed, {**speeds, "small": 0.51, "base": 0.6}, LIVE, "en")[0] == "tiny.en"


def test_live_an_unmeasured_model_is_not_taken_but_the_default_is():
    name, reason = choose_model([TINY_EN, BASE, LARGE], {"tiny.en": 0.1}, LIVE, "en")
    assert name == "base" and "not measured yet" in reason and "large-v3" in reason
    assert choose_model([TINY_EN, BASE, LARGE], {"tiny.en": 0.1, "base": 0.7}, LIVE, "en")[0] == "tiny.en"


def test_live_when_none_keeps_up_the_fastest_and_the_lag_said():
    name, reason = choose_model([BASE, LARGE], {"base": 0.8, "large-v3": 3.0}, LIVE, "nl")
    assert name == "base" and "none keeps up live here" in reason and "transcribe" in reason
    name, reason = choose_model([SMALL, LARGE], {}, LIVE, "nl")
    assert name == "small" and "smallest" in reason


def test_an_english_only_model_is_never_chosen_for_another_language():
    assert choose_model([TINY_EN, BASE], {"tiny.en": 0.1, "base": 0.9}, LIVE, "nl")[0] == "base"
    assert choose_model([TINY_EN, BASE], {"tiny.en": 0.1, "base": 0.9}, LIVE, None)[0] == "base"


def test_a_purpose_that_is_neither_is_a_mistake():
    with pytest.raises(ValueError):
        choose_model([BASE], {}, "sometime", "en")
