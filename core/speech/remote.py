"""Transcription on a research group's Whisper server, through the API they all speak: OpenAI's
`POST /v1/audio/transcriptions` (speaches, faster-whisper-server, vLLM, whisper.cpp's server
started with `--inference-path /v1/audio/transcriptions`, LocalAI).

One request sends one chunk of a track (16 kHz mono WAV, cut at a pause) as a multipart form:
file, model, language, prompt, temperature, response_format=verbose_json and
timestamp_granularities[] (segment, and word where the server offers words). The answer's
segments become the same `Word`s a local re-transcription gives (core.speech.tracks), with the
same guards against what Whisper invents on silence and its repetition loops. A server that gives
no word times (vLLM, faster-whisper-server) has each segment's words spread over its time by
their length, which is all laying words onto segments by time needs.

Nothing is sent unless a server was named. Plain http is refused except to loopback and private
addresses, unless the user said `--insecure-http`; redirects are not followed (they would carry
the audio and the token elsewhere), and no proxy from the environment is used. The token is read
from the environment variable the server names, at each request, and appears in no message.

Faults: connection refused or reset, a timeout, 429 and 5xx are retried with backoff (a 429's
Retry-After is honoured, up to a limit); 401/403, 413, 404 and a reply that is not the shape above
end in one message (ServerError), since asking again cannot help.
"""

from __future__ import annotations

import http.client
import inspect
import io
import ipaddress
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.base.errors import UserError
from core.speech.tracks import Word
from core.speech.transcriber import loop_free, made_up

SAMPLE_RATE = 16_000
TIMEOUT = 120.0  # seconds for one chunk's answer: a busy GPU server queues requests
RETRIES = 4
BACKOFF = 0.5  # seconds before the first retry, doubled after each
BACKOFF_MAX = 8.0
RETRY_AFTER_MAX = 30.0
_RETRIED_STATUS = {429, 500, 502, 503, 504}
_MESSAGE_MAX = 300


class ServerError(UserError):
    """A transcription server that cannot be used as asked; the message says why and what to do."""


class ServerUnreachable(ServerError):
    """The server did not answer, or kept answering that it is busy or broken, after the retries."""


class ServerRefused(ServerError):
    """401 or 403: the token is missing, wrong, or not allowed."""


class ChunkTooLarge(ServerError):
    """413: the server takes smaller uploads than a chunk."""


class BadReply(ServerError):
    """An answer that is not OpenAI's verbose_json transcription."""


class InsecureAddress(UserError):
    """Plain http to an address that is neither loopback nor private, without --insecure-http."""


@dataclass(frozen=True)
class Server:
    name: str
    url: str  # the base, e.g. https://whisper.lab.example:8000 (a trailing /v1 is taken off)
    model: str | None = None
    token_env: str | None = None
    insecure_http: bool = False

    @property
    def label(self) -> str:
        """What a segment records as the server that transcribed it."""
        return f"{self.name} ({self.url})"


def base_url(url: str) -> str:
    """The server's base URL as stored: scheme, host, port and path, without a trailing /v1."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UserError(f"{url!r} is not a server's URL: give it as https://HOST[:PORT] (or http:// to a "
                        "private address)")
    if parsed.username or parsed.password:
        raise UserError(f"{parsed.scheme}://{parsed.hostname}: put no user or password in the URL; give the "
                        "token in an environment variable and name it with --token-env")
    if parsed.query or parsed.fragment:
        raise UserError(f"{url!r}: give the server's address without a query (?...) or fragment (#...)")
    path = parsed.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    netloc = parsed.netloc.lower()
    return f"{parsed.scheme}://{netloc}{path}"


def is_local_address(host: str) -> bool:
    """Loopback or a private range, told from the address itself (no name is looked up)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_private


def check_address(url: str, insecure_http: bool) -> str:
    """The base URL, if audio may be sent there: https, or http to loopback or a private address,
    or http anywhere when the user allowed it."""
    url = base_url(url)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "http" and not insecure_http and not is_local_address(parsed.hostname or ""):
        raise InsecureAddress(
            f"{url}: plain http would carry the interviews' audio unencrypted to {parsed.hostname}, which is not "
            "a loopback or private address; use https, or add --insecure-http if you trust every network between"
        )
    return url


def token(server: Server) -> str | None:
    if not server.token_env:
        return None
    value = os.environ.get(server.token_env)
    if not value:
        raise ServerRefused(f"server {server.name}: its token is read from the environment variable "
                            f"{server.token_env}, which is not set; set it (export {server.token_env}=...) and "
                            "try again")
    return value


def wav_bytes(audio: np.ndarray) -> bytes:
    import soundfile as sf

    out = io.BytesIO()
    sf.write(out, np.asarray(audio, dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


def multipart(fields: list[tuple[str, str]], file_name: str, file_bytes: bytes, file_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = f"fieldnote-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n".encode()
    )
    parts.append(file_bytes)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx is raised as an HTTPError, and said plainly


def _opener() -> urllib.request.OpenerDirector:
    # No proxy from the environment: the audio goes to the server named and nowhere else.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


@dataclass(frozen=True)
class RemoteSegment:
    start: float
    end: float
    text: str
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None = None


@dataclass(frozen=True)
class Reply:
    language: str | None
    duration: float | None
    text: str
    segments: list[RemoteSegment]
    words: list[Word] | None  # the server's word times, where it gives them


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{what} is {value!r}, not a number")
    return float(value)


def parse_reply(data) -> Reply:
    """OpenAI's verbose_json transcription; ValueError naming what is wrong otherwise."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    segs = data.get("segments")
    if not isinstance(segs, list):
        raise ValueError("the answer has no list of segments (was response_format=verbose_json ignored?)")
    segments = []
    for i, s in enumerate(segs):
        if not isinstance(s, dict) or not isinstance(s.get("text"), str):
            raise ValueError(f"segment {i} has no text")
        start, end = _number(s.get("start"), f"segment {i}'s start"), _number(s.get("end"), f"segment {i}'s end")
        if end < start:
            raise ValueError(f"segment {i} ends before it starts")
        optional = {}
        for key in ("avg_logprob", "no_speech_prob", "compression_ratio"):
            optional[key] = None if s.get(key) is None else _number(s[key], f"segment {i}'s {key}")
        segments.append(RemoteSegment(start, end, s["text"], **optional))
    words = None
    if isinstance(data.get("words"), list) and data["words"]:
        words = []
        for i, w in enumerate(data["words"]):
            if not isinstance(w, dict) or not isinstance(w.get("word"), str):
                raise ValueError(f"word {i} has no text")
            words.append(Word(_number(w.get("start"), f"word {i}'s start"), _number(w.get("end"), f"word {i}'s end"),
                              w["word"]))
    text = data.get("text") if isinstance(data.get("text"), str) else "".join(s.text for s in segments)
    language = data.get("language") if isinstance(data.get("language"), str) else None
    duration = data.get("duration") if isinstance(data.get("duration"), (int, float)) else None
    return Reply(language, duration, text, segments, words)


def _spread(seg: RemoteSegment) -> list[Word]:
    """A segment's words over its time, each as long as its letters: for servers without word times."""
    pieces = seg.text.split()
    if not pieces:
        return []
    total = sum(len(p) + 1 for p in pieces)
    span = max(seg.end - seg.start, 0.0)
    out, at = [], seg.start
    for p in pieces:
        length = span * (len(p) + 1) / total
        out.append(Word(at, at + length, " " + p))
        at += length
    return out


def reply_words(reply: Reply, offset: float) -> list[Word]:
    """The words heard, in session seconds (the chunk starts at `offset`), Whisper's inventions on
    silence and its repetition loops dropped as in a local re-transcription."""
    words: list[Word] = []
    server_words = sorted(reply.words or [], key=lambda w: w.start)
    for seg in reply.segments:
        no_speech = seg.no_speech_prob if seg.no_speech_prob is not None else 0.0
        logprob = seg.avg_logprob if seg.avg_logprob is not None else 0.0
        if made_up(seg.text.strip(), no_speech, logprob, seg.compression_ratio):
            continue
        if reply.words is not None:
            heard = [w for w in server_words if seg.start - 0.01 <= (w.start + w.end) / 2 <= seg.end + 0.01]
        else:
            heard = _spread(seg)
        heard = [w for w in heard if w.text.strip()]
        for k in loop_free([w.text for w in heard]):
            w = heard[k]
            words.append(Word(round(w.start + offset, 3), round(w.end + offset, 3), w.text))
    return words


def _server_message(body: bytes) -> str:
    """What a server said about a refusal, short and as plain text."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            inner = data.get("error", data.get("detail", data))
            if isinstance(inner, dict):
                inner = inner.get("message", inner)
            text = inner if isinstance(inner, str) else json.dumps(inner)
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:_MESSAGE_MAX] + ("…" if len(text) > _MESSAGE_MAX else "")


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    return isinstance(exc, (ConnectionError, TimeoutError, socket.timeout, http.client.RemoteDisconnected,
                            http.client.IncompleteRead, urllib.error.URLError))


class RemoteWhisper:
    """One server's transcription endpoint. Safe to use from several threads at once."""

    def __init__(self, server: Server, *, timeout: float = TIMEOUT, retries: int = RETRIES, backoff: float = BACKOFF,
                 sleep: Callable[[float], None] = time.sleep, on_retry: Callable[[str], None] | None = None):
        self.server = server
        self.url = check_address(server.url, server.insecure_http)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.on_retry = on_retry
        self._opener = _opener()

    # requests ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "fieldnote"}
        secret = token(self.server)
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return headers

    def _once(self, path: str, body: bytes | None, content_type: str | None) -> tuple[int, bytes, dict]:
        headers = self._headers()
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=body, headers=headers,
                                         method="POST" if body is not None else "GET")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            try:
                content = exc.read()
            except (OSError, http.client.HTTPException):
                content = b""
            return exc.code, content, dict(exc.headers or {})

    def _request(self, path: str, body: bytes | None = None, content_type: str | None = None,
                 what: str = "transcription") -> tuple[int, bytes]:
        """The status and body of the first answer that is not worth waiting out, after retries."""
        delay = self.backoff
        last = ""
        for attempt in range(self.retries + 1):
            try:
                status, content, headers = self._once(path, body, content_type)
            except (OSError, http.client.HTTPException) as exc:
                if not _transient(exc):
                    raise ServerUnreachable(f"server {self.server.name} ({self.url}): {exc}") from None
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                last = f"no answer ({reason or type(reason).__name__})"
                wait = delay
            else:
                if status not in _RETRIED_STATUS:
                    return status, content
                last = f"HTTP {status} {_server_message(content)}".rstrip()
                wait = delay
                if status == 429:
                    try:
                        wait = min(max(float(headers.get("Retry-After", delay)), 0.0), RETRY_AFTER_MAX)
                    except ValueError:
                        wait = delay
            if attempt == self.retries:
                break
            if self.on_retry is not None:
                self.on_retry(f"server {self.server.name}: {last}; trying again in {wait:.1f} s")
            self.sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX)
        raise ServerUnreachable(
            f"server {self.server.name} ({self.url}): {last} after {self.retries + 1} tries of the {what}; "
            "nothing was changed, and running the same command again goes on from the last chunk done"
        )

    def _refusal(self, status: int, content: bytes, path: str) -> ServerError:
        said = _server_message(content)
        where = f"server {self.server.name} ({self.url}{path})"
        if status in (401, 403):
            how = (f"the token in {self.server.token_env} was refused" if self.server.token_env else
                   "it wants a token: add it to the environment and name the variable with "
                   f"`fieldnote servers remove {self.server.name}` then `servers add ... --token-env VAR`")
            return ServerRefused(f"{where} answered {status} ({said or 'not allowed'}): {how}")
        if status == 413:
            return ChunkTooLarge(f"{where} answered 413: it takes smaller uploads than a chunk of audio; ask its "
                                 "administrators to raise the upload limit (fieldnote sends 30 s at most)")
        if status == 404:
            return ServerError(f"{where} answered 404: no transcription there. Give the server's base URL (without "
                               "/v1/audio/...); whisper.cpp's server wants --inference-path /v1/audio/transcriptions")
        if 300 <= status < 400:
            return ServerError(f"{where} answered {status}, a redirect, which fieldnote does not follow; give the "
                               "URL it redirects to")
        return ServerError(f"{where} answered {status}: {said or 'no reason given'}")

    # the API --------------------------------------------------------------------------------

    def models(self) -> list[str] | None:
        """The models the server offers, or None when it has no list (GET /v1/models: 404)."""
        status, content = self._request("/v1/models", what="model list")
        if status == 404 or status == 405:
            return None
        if status != 200:
            raise self._refusal(status, content, "/v1/models")
        try:
            data = json.loads(content)
            return [str(m["id"]) for m in data["data"]]
        except (ValueError, KeyError, TypeError):
            raise BadReply(f"server {self.server.name}: its model list (/v1/models) is not OpenAI's shape") from None

    def transcribe(self, audio: np.ndarray, *, language: str | None, prompt: str | None = None,
                   temperature: float | None = None, words: bool = False,
                   extra: dict[str, str] | None = None) -> Reply:
        """One chunk (16 kHz mono float samples) transcribed by the server. Without a temperature
        the server decodes as it does by default (Whisper's fallback to higher temperatures on
        doubtful text, in faster-whisper); a temperature given is the only one it uses."""
        fields = [("model", self.server.model or "whisper-1"), ("response_format", "verbose_json"),
                  ("timestamp_granularities[]", "segment")]
        if temperature is not None:
            fields.append(("temperature", f"{temperature:g}"))
        if words:
            fields.append(("timestamp_granularities[]", "word"))
        if language:
            fields.append(("language", language))
        if prompt:
            fields.append(("prompt", prompt))
        fields.extend((extra or {}).items())
        body, content_type = multipart(fields, "chunk.wav", wav_bytes(audio), "audio/wav")
        path = "/v1/audio/transcriptions"
        status, content = self._request(path, body, content_type)
        if status != 200:
            raise self._refusal(status, content, path)
        try:
            return parse_reply(json.loads(content))
        except ValueError as exc:
            raise BadReply(f"server {self.server.name} ({self.url}{path}): its answer is not OpenAI's verbose_json "
                           f"transcription ({exc}); is it an OpenAI-compatible transcription server?") from None


# live: utterance by utterance ------------------------------------------------------------------

# Seconds the live path waits for the server before an utterance is heard on this machine: the
# live screen shows a segment a few seconds after it was said, and the server must not make it later.
LIVE_BUDGET = 4.0
# After a fallback, this long on this machine before the server is tried again.
LIVE_COOL_OFF = 30.0


class ServerTranscriber:
    """The live transcriber through a group's server, utterance by utterance, with this machine's
    model (`local`) standing in whenever the server is slower than the live budget or fails:
    no utterance is lost, and `on_fallback` is told each time the live path changes hands."""

    def __init__(self, client: RemoteWhisper, local, *, language: str | None, budget: float = LIVE_BUDGET,
                 cool_off: float = LIVE_COOL_OFF, on_fallback: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        from concurrent.futures import ThreadPoolExecutor

        self.client = client
        self.local = local
        self.language = language
        self.budget = budget
        self.cool_off = cool_off
        self.on_fallback = on_fallback
        self.clock = clock
        self.model = client.server.model or "whisper-1"
        self.name = f"{self.model} on server {client.server.name}"
        self.fallbacks = 0
        self.on_server = 0
        # The prompt (what fieldnote expects to hear) goes to the local model too, if it takes one.
        self._local_prompted = "prompt" in inspect.signature(local.transcribe).parameters
        self._local_until = 0.0
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="live-server")

    def _say(self, message: str) -> None:
        if self.on_fallback is not None:
            self.on_fallback(message)

    def _local(self, audio: np.ndarray, prompt: str | None):
        self.fallbacks += 1
        if prompt and self._local_prompted:
            return self.local.transcribe(audio, prompt=prompt)
        return self.local.transcribe(audio)

    def transcribe(self, audio: np.ndarray, prompt: str | None = None):
        from concurrent.futures import TimeoutError as FutureTimeout

        from core.speech.transcriber import Transcript, without_loops

        now = self.clock()
        if now < self._local_until:
            return self._local(audio, prompt)
        future = self._pool.submit(self.client.transcribe, audio, language=self.language, prompt=prompt)
        try:
            reply = future.result(timeout=self.budget)
        except FutureTimeout:
            why = f"slower than the live budget of {self.budget:g} s"
        except ServerError as exc:
            why = str(exc).split(";")[0]
        else:
            if self._local_until:
                self._say(f"server {self.client.server.name} is back: live transcription goes through it again")
                self._local_until = 0.0
            self.on_server += 1
            kept = [s for s in reply.segments
                    if s.text.strip() and not made_up(s.text.strip(), s.no_speech_prob or 0.0, s.avg_logprob or 0.0,
                                                       s.compression_ratio)]
            return Transcript(
                text=" ".join(without_loops(s.text.strip()) for s in kept).strip(),
                language=reply.language,
                avg_logprob=float(np.mean([s.avg_logprob for s in kept if s.avg_logprob is not None]))
                if any(s.avg_logprob is not None for s in kept) else None,
                no_speech_prob=max((s.no_speech_prob for s in kept if s.no_speech_prob is not None), default=None),
                model=self.model,
                server=self.client.server.label,
            )
        self._local_until = self.clock() + self.cool_off
        self._say(f"server {self.client.server.name}: {why}; live transcription on this machine "
                  f"({self.local.name}) for the next {self.cool_off:g} s")
        return self._local(audio, prompt)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
