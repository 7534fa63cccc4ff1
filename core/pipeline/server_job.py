"""Transcribing a session again on a research group's Whisper server instead of on this machine.

Each track is cut into chunks at pauses (the same Silero VAD and settings as the local batched
pipeline, core.speech.batched.find_speech: stretches of speech joined into chunks of at most
CHUNK_MAX seconds, each cut where nobody speaks), and the chunks are sent several at a time
(`parallel`), read from the file in time order so that only the chunks in flight are in memory.
Each chunk's words are kept in the database as it comes back (core.store.servers), so a job that
dies (the server gone past its retries, a kill, Ctrl-C) resumes from the last chunk done when the
same command runs again. The words, put back in time order, are then laid onto the session
exactly as a local re-transcription's (core.pipeline.retranscribe.apply_words): all or nothing,
edits and codings surviving the same way, one undoable edit, and each segment recording the
server and model that transcribed it.

Any session with recorded tracks can go through here. A recording being imported
(`import RECORDING --server NAME`) is not a session yet: `track_on_server` sends its tracks the
same way, chunk by chunk, in place of the local pass, and the import stores it whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from core.audio.playback import session_tracks
from core.audio.sources import SAMPLE_RATE, stream_audio
from core.base.errors import UserError
from core.pipeline.retranscribe import Result, _require_times, apply_words
from core.speech.batched import Cancelled, find_speech
from core.speech.remote import RemoteWhisper, Server, reply_words
from core.speech.tracks import VERBATIM_PROMPT_OTHER, VERBATIM_PROMPTS, Progress, Word
from core.store import server_queue as queue
from core.store import servers as registry
from core.store.database import Store
from core.store.review import guide_of_session

# Whisper hears 30 seconds at a time; a chunk a little shorter leaves room for the VAD's padding.
CHUNK_MAX = 28.0
DEFAULT_PARALLEL = 2
WINDOW = 30  # seconds: the VAD's longest stretch of speech, as for the local batched pipeline


@dataclass(frozen=True)
class Chunk:
    speaker: str
    start: float  # session seconds
    end: float

    @property
    def key(self) -> tuple[str, float, float]:
        return (self.speaker, self.start, self.end)


def plan_chunks(speaker: str, track: Path, stop: threading.Event | None = None) -> list[Chunk]:
    """The track's speech in chunks of at most CHUNK_MAX seconds, each cut at a pause."""
    speeches = find_speech(track, WINDOW, stop)
    chunks: list[Chunk] = []
    first = last = None
    for s in speeches:
        if first is not None and s["end"] - first > CHUNK_MAX * SAMPLE_RATE:
            chunks.append(Chunk(speaker, round(first / SAMPLE_RATE, 3), round(last / SAMPLE_RATE, 3)))
            first = None
        if first is None:
            first = s["start"]
        last = s["end"]
    if first is not None:
        chunks.append(Chunk(speaker, round(first / SAMPLE_RATE, 3), round(last / SAMPLE_RATE, 3)))
    return chunks


def chunk_audio(track: Path, chunks: list[Chunk]) -> Iterator[tuple[Chunk, np.ndarray]]:
    """Each chunk's samples, the file read once front to back."""
    blocks = stream_audio(track)
    buf = np.zeros(0, dtype=np.float32)
    at = 0  # the track's sample at buf[0]
    try:
        for chunk in chunks:
            a, b = int(round(chunk.start * SAMPLE_RATE)), int(round(chunk.end * SAMPLE_RATE))
            while at + len(buf) < b:
                block = next(blocks, None)
                if block is None:
                    break
                buf = np.concatenate([buf, block])
            cut = max(0, min(a - at, len(buf)))
            buf, at = buf[cut:], at + cut
            yield chunk, buf[: b - at].copy()
    finally:
        blocks.close()


def job_key(server: Server, language: str | None, verbatim: bool, temperature: float | None,
            tracks: dict[str, Path], plan: list[Chunk]) -> str:
    """What makes two runs the same job: the server, model, language and options, the tracks and
    the chunks. A run with anything else changed starts afresh."""
    facts = {
        "url": server.url, "model": server.model, "language": language, "verbatim": verbatim, "temperature": temperature,
        "tracks": {s: [str(p), p.stat().st_size] for s, p in sorted(tracks.items())},
        "chunks": [[c.speaker, c.start, c.end] for c in plan],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


@dataclass
class ServerResult(Result):
    server: str = ""
    chunks: int = 0
    resumed: int = 0  # chunks done by an earlier run and not sent again
    parallel: int = DEFAULT_PARALLEL


def _prompt(language: str | None, verbatim: bool) -> str | None:
    return VERBATIM_PROMPTS.get(language or "", VERBATIM_PROMPT_OTHER) if verbatim else None


def transcribe_chunks(
    store: Store | None,
    session_id: int | None,
    job: str,
    tracks: dict[str, Path],
    plan: list[Chunk],
    client: RemoteWhisper,
    *,
    language: str | None,
    prompt: str | None,
    parallel: int,
    temperature: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[dict[str, list[Word]], int]:
    """Every chunk's words by speaker in time order, and how many chunks an earlier run had done.
    Each chunk done is kept as it comes back; a failure is raised once the chunks already in flight
    have come back (and been kept). Without a store (a recording being imported, not yet a
    session) nothing is kept: the import is stored whole or not at all."""
    done = registry.done_chunks(store, session_id, job) if store is not None else {}
    resumed = sum(1 for c in plan if c.key in done)
    total = sum(c.end - c.start for c in plan)
    got = {c.key: [Word(*w) for w in done[c.key]] for c in plan if c.key in done}
    heard = sum(c.end - c.start for c in plan if c.key in done)
    t0 = time.perf_counter()

    def report(stage: str) -> None:
        if on_progress is not None:
            on_progress(Progress(stage, heard, total, time.perf_counter() - t0))

    stage = f"transcribing on server {client.server.name}, {parallel} at a time"
    report(stage)
    failure: BaseException | None = None
    in_flight: dict[Future, Chunk] = {}

    def collect(block: bool) -> None:
        nonlocal heard, failure
        if not in_flight:
            return
        finished, _ = wait(list(in_flight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in finished:
            chunk = in_flight.pop(future)
            try:
                words = future.result()
            except BaseException as exc:  # noqa: BLE001 - raised below, once the rest are in
                failure = failure or exc
                continue
            if store is not None:
                registry.keep_chunk(store, session_id, job, chunk.speaker, chunk.start, chunk.end,
                                    [[w.start, w.end, w.text] for w in words])
            got[chunk.key] = words
            heard += chunk.end - chunk.start
            report(stage)

    def send(chunk: Chunk, audio: np.ndarray) -> list[Word]:
        reply = client.transcribe(audio, language=language, prompt=prompt, temperature=temperature, words=True)
        return reply_words(reply, chunk.start)

    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="server")
    try:
        for speaker, path in tracks.items():
            todo = [c for c in plan if c.speaker == speaker and c.key not in got]
            if not todo:
                continue
            for chunk, audio in chunk_audio(path, todo):
                if failure is not None or (stop is not None and stop.is_set()):
                    break
                while len(in_flight) >= parallel:
                    collect(block=True)
                if failure is not None:
                    break
                in_flight[pool.submit(send, chunk, audio)] = chunk
                collect(block=False)
            if failure is not None:
                break
        while in_flight:
            collect(block=True)
    finally:
        # After Ctrl-C the requests still out are not waited for: what came back is kept already.
        pool.shutdown(wait=False, cancel_futures=True)
    if failure is not None:
        raise failure
    if stop is not None and stop.is_set():
        raise Cancelled("transcription on the server stopped; the session is as it was, and running the "
                        "same command again goes on from the last chunk done")
    words: dict[str, list[Word]] = {}
    for speaker in tracks:
        ordered = sorted((c for c in plan if c.speaker == speaker), key=lambda c: c.start)
        words[speaker] = [w for c in ordered for w in got[c.key]]
    return words, resumed


def transcribe_on_server(
    store: Store,
    session_id: int,
    server: Server,
    *,
    parallel: int = DEFAULT_PARALLEL,
    verbatim: bool = False,
    overwrite_edited: bool = False,
    temperature: float | None = None,
    client: RemoteWhisper | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> ServerResult:
    """Transcribe the session's tracks on `server` and lay the words onto it (all or nothing)."""
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: give 1 or more requests in flight")
    session = store.session(session_id)
    tracks = session_tracks(session)
    _require_times(store, session_id)
    language = session["language"] or guide_of_session(store, session_id).language
    client = client or RemoteWhisper(server)
    if on_progress is not None:
        on_progress(Progress("finding the pauses to cut the tracks at", 0.0, 0.0, 0.0))
    plan = [c for speaker, path in tracks.items() for c in plan_chunks(speaker, path, stop)]
    job = job_key(server, language, verbatim, temperature, tracks, plan)
    registry.forget_chunks(store, session_id, keep_job=job)
    t0 = time.perf_counter()
    words, resumed = transcribe_chunks(store, session_id, job, tracks, plan, client, language=language,
                                       prompt=_prompt(language, verbatim), parallel=parallel, temperature=temperature,
                                       on_progress=on_progress, stop=stop)
    took = time.perf_counter() - t0
    audio_seconds = sum(c.end - c.start for c in plan)
    model = server.model or "the server's default model"
    result = ServerResult(session_id, model, False, audio_seconds, took, server=server.label, chunks=len(plan),
                          resumed=resumed, parallel=parallel)
    apply_words(store, session_id, words, model_name=model, overwrite_edited=overwrite_edited, result=result,
                server=server.label)
    registry.forget_chunks(store, session_id)
    return result


def track_on_server(
    client: RemoteWhisper,
    speaker: str,
    track: Path,
    *,
    language: str | None,
    verbatim: bool = False,
    parallel: int = DEFAULT_PARALLEL,
    temperature: float | None = None,
    on_share: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
) -> list[Word]:
    """One track's words in time order, heard on the server chunk by chunk (an import's pass:
    nothing is kept until the import stores the session). `on_share` is told the share of the
    track's speech done so far (0..1)."""
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: give 1 or more requests in flight")
    plan = plan_chunks(speaker, track, stop)
    if not plan:
        return []

    def progress(p: Progress) -> None:
        if on_share is not None:
            on_share(p.fraction)

    words, _ = transcribe_chunks(None, None, "", {speaker: track}, plan, client, language=language,
                                 prompt=_prompt(language, verbatim), parallel=parallel, temperature=temperature,
                                 on_progress=progress, stop=stop)
    return words[speaker]


# a live session's fallbacks, sent to the server afterwards ----------------------------------


def queue_fallbacks(store: Store, session_id: int, server: Server) -> int:
    """After a live session through `server`: queue the utterances this machine's model heard in
    its stead; how many are queued."""
    return queue.queue_local_segments(store, session_id, server.name)


def send_queued(
    store: Store,
    session_id: int,
    server: Server,
    *,
    parallel: int = DEFAULT_PARALLEL,
    client: RemoteWhisper | None = None,
    stop: threading.Event | None = None,
) -> ServerResult | None:
    """Send exactly the queued utterances' audio to the server and lay its words onto them (all or
    nothing, as a re-transcription: edits kept, one undoable edit, each segment naming the server
    and model). None when nothing is queued. A server that does not answer raises (ServerError)
    and leaves the queue as it was."""
    if parallel < 1:
        raise UserError(f"--parallel {parallel}: give 1 or more requests in flight")
    rows = queue.queued_segments(store, session_id)
    if not rows:
        return None
    session = store.session(session_id)
    tracks = session_tracks(session)
    language = session["language"] or guide_of_session(store, session_id).language
    client = client or RemoteWhisper(server)
    missing = sorted({r["speaker"] for r in rows} - set(tracks))
    if missing:
        raise UserError(f"session {session_id}: no recorded track of the {', '.join(missing)} to send to the server")
    plan = [Chunk(r["speaker"], float(r["start"]), float(r["end"])) for r in rows if r["end"] > r["start"]]
    by_chunk = {(r["speaker"], float(r["start"]), float(r["end"])): r for r in rows}
    t0 = time.perf_counter()
    got: dict[tuple[str, float, float], list[Word]] = {}

    def send(chunk: Chunk, audio: np.ndarray) -> tuple[Chunk, list[Word]]:
        reply = client.transcribe(audio, language=language, temperature=None, words=True)
        return chunk, reply_words(reply, chunk.start)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="server-queue") as pool:
        futures = []
        for speaker, path in tracks.items():
            mine = sorted((c for c in plan if c.speaker == speaker), key=lambda c: c.start)
            for chunk, audio in chunk_audio(path, mine):
                if stop is not None and stop.is_set():
                    break
                futures.append(pool.submit(send, chunk, audio))
        for future in futures:
            chunk, words = future.result()  # the first failure is raised, nothing applied
            # Each word is the utterance's: held within its time, so that it lands on it.
            got[chunk.key] = [Word(min(max(w.start, chunk.start), chunk.end), min(max(w.end, chunk.start), chunk.end),
                                   w.text) for w in words]
    if stop is not None and stop.is_set():
        raise Cancelled("sending the queued utterances stopped; they stay queued")
    words: dict[str, list[Word]] = {}
    for chunk in sorted(plan, key=lambda c: c.start):
        words.setdefault(chunk.speaker, []).extend(got.get(chunk.key, []))
    took = time.perf_counter() - t0
    model = server.model or "the server's default model"
    result = ServerResult(session_id, model, False, sum(c.end - c.start for c in plan), took, server=server.label,
                          chunks=len(plan), parallel=parallel)
    apply_words(store, session_id, words, model_name=model, result=result, server=server.label)
    queue.unqueue(store, [by_chunk[c.key]["id"] for c in plan] + [r["id"] for r in rows if r["end"] <= r["start"]])
    return result
