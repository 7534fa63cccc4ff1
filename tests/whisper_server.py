"""A real OpenAI-compatible transcription server for the tests, on 127.0.0.1, serving the bundled
base model offline: faster-whisper-server (a PyPI package serving faster-whisper over FastAPI),
installed by .ci/install into its own environment, build/whisper-server, so that its web stack
never meets fieldnote's.

It is run with a config that names the model `whisper-1` (faster-whisper-server reads the
request's model from a `model_name` field, so OpenAI's `model` field leaves it at that default)
and decodes as fieldnote's re-transcription does (beam 5, VAD, no conditioning on the previous
text, word timestamps).

`FaultyFront` is a small HTTP front (stdlib ThreadingHTTPServer) that passes requests through to
the real server, and can answer 401 without the right token, 429 or 500 for the next requests,
answer slowly, or give a reply of the wrong shape: the faults a group's server shows, which
faster-whisper-server itself cannot be made to show. The transcriptions are always the real
server's.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_BIN = Path(os.environ.get("FIELDNOTE_TEST_WHISPER_SERVER", ROOT / "build" / "whisper-server" / "bin" /
                                 "faster-whisper-server"))
MODEL_NAME = "whisper-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return SERVER_BIN.is_file()


class WhisperServer:
    """faster-whisper-server on 127.0.0.1 with a local model folder; stop() and start() again."""

    def __init__(self, model_dir: Path, folder: Path, threads: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "whisper-server.yaml"
        self.log = folder / "whisper-server.log"
        self.config.write_text(
            "models:\n"
            f"  - name: {MODEL_NAME}\n"
            f"    path: {model_dir}\n"
            f"    model_options: {{device: cpu, compute_type: int8, cpu_threads: {threads}}}\n"
            "    transcribe_options: {beam_size: 5, vad_filter: true, condition_on_previous_text: false,"
            " word_timestamps: true}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ORT_DISABLE_TELEMETRY": "1"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SERVER_BIN), "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"faster-whisper-server ended at start: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("faster-whisper-server did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


class FaultyFront:
    """Passes requests to `upstream`, with faults switched on by setting its attributes."""

    def __init__(self, upstream: str):
        self.upstream = upstream.removeprefix("http://")
        self.token: str | None = None  # a request without "Bearer <token>" gets 401
        self.too_many = 0  # the next N transcription requests get 429 (Retry-After: 0)
        self.broken = 0  # the next N transcription requests get 500
        self.wrong_shape = False  # transcriptions answered with {"text": ...} only
        self.delay = 0.0  # seconds before each answer
        self.requests: list[dict] = []  # path, status and the headers of each request seen
        self.lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
                # Noted before the answer goes out: a test reads the list once it has its answer.
                with front.lock:
                    front.requests.append({"path": self.path, "status": status, "headers": dict(self.headers)})
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if front.delay:
                    time.sleep(front.delay)
                if front.token is not None and self.headers.get("Authorization") != f"Bearer {front.token}":
                    return self._answer(401, b'{"error": {"message": "Invalid API key"}}',
                                        {"Content-Type": "application/json"})
                transcription = self.path.startswith("/v1/audio/transcriptions")
                with front.lock:
                    fault = None
                    if transcription and front.too_many:
                        front.too_many -= 1
                        fault = 429
                    elif transcription and front.broken:
                        front.broken -= 1
                        fault = 500
                if fault == 429:
                    return self._answer(429, b'{"error": {"message": "busy"}}', {"Retry-After": "0"})
                if fault == 500:
                    return self._answer(500, b"Internal Server Error")
                conn = http.client.HTTPConnection(front.upstream, timeout=300)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
                    conn.request(method, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    content = r.read()
                    status = r.status
                except OSError:
                    return self._answer(502, b"upstream gone")
                finally:
                    conn.close()
                if transcription and status == 200 and front.wrong_shape:
                    content = json.dumps({"text": json.loads(content)["text"]}).encode()
                self._answer(status, content, {"Content-Type": "application/json"})

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def transcriptions(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"].startswith("/v1/audio/transcriptions")]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
