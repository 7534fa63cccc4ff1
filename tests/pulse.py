"""A private PulseAudio server for tests: null sinks stand for Teams' output and a microphone.

The server runs with its own runtime folder, home and cookie under a temporary folder, and
only processes given `PulseServer.env` talk to it; the test process itself never connects.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


@contextmanager
def private_server(folder: Path, sinks: tuple[str, ...] = ("teams", "mic"), *, needs: tuple[str, ...] = (),
                   default_sink: str | None = None, default_source: str | None = None) -> Iterator["PulseServer"]:
    """A started server with these null sinks (by default "teams", the output Teams plays the
    respondent into, and "mic", whose monitor stands for the microphone), stopped afterwards;
    the test is skipped when PulseAudio or another tool it `needs` is not installed."""
    import pytest

    missing = [tool for tool in needs if not shutil.which(tool)]
    if not PulseServer.available() or missing:
        pytest.skip("needs the Debian packages pulseaudio and pulseaudio-utils"
                    + "".join(f" and {tool}" for tool in missing))
    server = PulseServer(folder)
    server.start()
    try:
        for sink in sinks:
            server.add_sink(sink)
        if default_sink:
            server.pactl("set-default-sink", default_sink)
        if default_source:
            server.pactl("set-default-source", default_source)
        yield server
    finally:
        server.stop()


class PulseServer:
    def __init__(self, root: Path):
        self.root = root
        self.runtime = root / "runtime"
        self.home = root / "home"
        self.socket = self.runtime / "pulse" / "native"
        self.log = root / "pulseaudio.log"
        self._proc: subprocess.Popen | None = None
        self.modules: dict[str, int] = {}

    @staticmethod
    def available() -> bool:
        return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "paplay"))

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            XDG_RUNTIME_DIR=str(self.runtime),
            PULSE_RUNTIME_PATH=str(self.runtime / "pulse"),
            PULSE_SERVER=f"unix:{self.socket}",
            PULSE_COOKIE=str(self.root / "cookie"),
            HOME=str(self.home),  # libpulse keeps a cookie and state in the home folder
            XDG_CONFIG_HOME=str(self.home / ".config"),
        )
        env.pop("PULSE_SOURCE", None)
        env.pop("PULSE_SINK", None)
        return env

    def start(self) -> None:
        for folder in (self.runtime / "pulse", self.home):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._proc = subprocess.Popen(
            [
                "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                "--system=false", "--use-pid-file=no", "--disable-shm=yes",
                f"--log-target=file:{self.log}",
                f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
            ],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pulseaudio exited with {self._proc.returncode}: {self._log_tail()}")
            if self.socket.exists() and self.pactl("info", check=False).returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pulseaudio did not come up: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, check=check, timeout=30)

    def add_sink(self, name: str) -> None:
        out = self.pactl("load-module", "module-null-sink", f"sink_name={name}",
                         f"sink_properties=device.description={name}")
        self.modules[name] = int(out.stdout.strip())

    def remove_sink(self, name: str) -> None:
        self.pactl("unload-module", str(self.modules.pop(name)))

    def play(self, sink: str, wav: Path) -> subprocess.Popen:
        """Start playing `wav` into `sink`; wait on the returned process to know it has played."""
        return subprocess.Popen(["paplay", "-d", sink, str(wav)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def record(self, source: str, rate: int = 16_000) -> "Recording":
        """Start recording `source` (a sink's monitor, say) as mono float samples at `rate`."""
        return Recording(subprocess.Popen(
            ["parec", "-d", source, "--raw", "--format=float32le", f"--rate={rate}", "--channels=1",
             "--latency-msec=20"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ))


class Recording:
    """parec running; its output is read on a thread so the pipe never fills and stalls it."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stdout.read1(65536):
            self._chunks.append(chunk)

    def frames(self) -> int:
        """How many samples have arrived so far."""
        return sum(len(c) for c in list(self._chunks)) // 4

    def stop(self) -> np.ndarray:
        """Stop recording; everything recorded."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").copy()
