"""A research group's Whisper server: naming it, checking it, and transcribing on it.

    fieldnote servers add NAME URL [--model M] [--token-env VAR] [--insecure-http]
    fieldnote servers list
    fieldnote servers remove NAME
    fieldnote servers check NAME
    fieldnote transcribe SESSION --server NAME [--parallel N] [--yes]   (tui/commands/review.py)
    fieldnote transcribe SESSION --server NAME --queued   (a live session's fallbacks, sent afterwards)

A server is used only when it is named, and for a study only once the researcher said yes
(asked once per study, recorded in the database; --yes says it for scripts).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time

from core.base.errors import UserError
from tui.commands.args import open_store as _store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
LIVE_BUDGET_DEFAULT = 4.0  # core.speech.remote.LIVE_BUDGET, without importing it for every command line
DEFAULT_PARALLEL_QUEUE = 2


def _server_name(text: str) -> str:
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a server name: letters, digits, '-', '_' and '.'")
    return text


def _env_name(text: str) -> str:
    if not _ENV.match(text):
        raise argparse.ArgumentTypeError(
            "--token-env takes the NAME of the environment variable that holds the token (such as "
            "WHISPER_TOKEN), never the token itself, which fieldnote does not store")
    return text


def client_server(row):
    from core.speech.remote import Server

    return Server(row.name, row.url, row.model, row.token_env, row.insecure_http)


def cmd_add(args) -> int:
    from core.speech.remote import check_address
    from core.store.servers import add_server

    url = check_address(args.url, args.insecure_http)
    store = _store(args)
    row = add_server(store, args.name, url, args.model, args.token_env, args.insecure_http)
    print(f"server {row.name}: {row.url}, model {row.model or 'the server default'}"
          + (f", token from ${row.token_env}" if row.token_env else ", no token"))
    print(f"  `fieldnote servers check {row.name}` tries it; nothing is sent to it until you name it")
    return 0


def cmd_list(args) -> int:
    from core.store.servers import servers

    rows = servers(_store(args))
    if not rows:
        print("no servers: add one with `fieldnote servers add NAME URL`")
        return 0
    print(f"{'name':<16} {'url':<40} {'model':<18} {'token from':<18} added")
    for r in rows:
        token = f"${r.token_env}" if r.token_env else "-"
        print(f"{r.name:<16} {r.url:<40} {r.model or '(default)':<18} {token:<18} {r.created[:10]}")
    return 0


def cmd_remove(args) -> int:
    from core.store.servers import remove_server

    row = remove_server(_store(args), args.name)
    print(f"server {row.name} ({row.url}) removed; segments it transcribed still say so")
    return 0


def _sample():
    """A few seconds of speech from the English sample interview, to time the server with."""
    from core.base import paths
    from core.pipeline.server_job import chunk_audio, plan_chunks

    track = paths.SAMPLE_SESSIONS / "demo-en" / "respondent.flac"
    chunk = plan_chunks("respondent", track)[0]
    return next(chunk_audio(track, [chunk]))[1]


def cmd_check(args) -> int:
    from core.speech.remote import RemoteWhisper, ServerError
    from core.store.servers import server

    row = server(_store(args), args.name)
    client = RemoteWhisper(client_server(row), retries=1, timeout=args.timeout)
    print(f"server {row.name}: {client.url}" + (" (plain http)" if client.url.startswith("http:") else ""))
    try:
        models = client.models()
    except ServerError as exc:
        print(f"  answers:      no: {exc}")
        return 1
    print("  answers:      yes")
    if models is None:
        print("  models:       it offers no list (GET /v1/models not there); the model asked for is "
              f"{row.model or 'its default'}")
    else:
        print(f"  models:       {', '.join(models) or 'none listed'}")
        if row.model and row.model not in models:
            print(f"                (the model set for it, {row.model}, is not among them)")
    audio = _sample()
    t0 = time.perf_counter()
    try:
        reply = client.transcribe(audio, language="en", words=True)
    except ServerError as exc:
        print(f"  transcribes:  no: {exc}")
        return 1
    took = time.perf_counter() - t0
    seconds = len(audio) / 16_000
    print(f"  transcribes:  {seconds:.1f} s of speech in {took:.2f} s from here ({took / seconds:.2f} s a second of "
          f"audio): {reply.text.strip()[:70]!r}")
    lacks = []
    if reply.words is None:
        lacks.append("word times (each segment's words are spread over its time)")
    if not any(s.avg_logprob is not None and s.no_speech_prob is not None for s in reply.segments):
        lacks.append("avg_logprob/no_speech_prob (Whisper's inventions on silence are caught by their text only)")
    print(f"  lacks:        {'; '.join(lacks) if lacks else 'nothing fieldnote uses'}")
    print("  hotwords:     the API cannot tell whether it takes them (speaches does; others ignore them)")
    return 0


def allow_for_study(store, row, session_id: int, yes: bool) -> None:
    from core.store.review import guide_of_session

    allow_for_guide(store, row, guide_of_session(store, session_id), yes)


def allow_for_guide(store, row, guide, yes: bool) -> None:
    """The first use of a server for a study asks once; the answer is kept in the database."""
    from core.store.servers import approve, approved

    if approved(store, row.id, guide.id):
        return
    question = (f"Send the recorded audio of study {guide.title!r} ({guide.id}) to server {row.name} ({row.url}) "
                "to be transcribed there?")
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"{question[:-1]}: not yet allowed for this study. Run again with --yes to allow it "
                            "(asked once per study)")
        answer = input(f"{question} This is asked once for the study. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise UserError(f"nothing sent: server {row.name} is not allowed for study {guide.id}")
    approve(store, row.id, guide.id)
    print(f"server {row.name} is allowed for study {guide.id} from now on", file=sys.stderr)


def live_transcriber(args, store, guide, local):
    """`record --server NAME` and `demo --server NAME`: the live path through the server, this
    machine's model standing in whenever the server is slower than the live budget."""
    from core.speech.remote import RemoteWhisper, ServerTranscriber
    from core.store.servers import server

    row = server(store, args.server)
    allow_for_guide(store, row, guide, args.yes)

    hinted = []

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        if not hinted and "on this machine" in message:
            hinted.append(True)
            print("  at the end of the session, the utterances this machine heard are sent to the server (or "
                  "queued for it, if it is still away)", file=sys.stderr, flush=True)

    client = RemoteWhisper(client_server(row), retries=0, timeout=30.0)
    return ServerTranscriber(client, local, language=guide.language, budget=args.live_budget, on_fallback=say)


def screen_transcriber(args, row, guide, local):
    """`record --server NAME` on the setup screen: the live path through the server, built on the
    screen's worker thread (the server and the study's consent were settled before it opened)."""
    from core.speech.remote import RemoteWhisper, ServerTranscriber

    client = RemoteWhisper(client_server(row), retries=0, timeout=30.0)
    return ServerTranscriber(client, local, language=guide.language, budget=args.live_budget)


def notify_fallbacks(app, live) -> None:
    """On the live screen, each change of hands between the server and this machine is a notification
    (the transcriber calls from the pipeline's worker thread)."""
    live.on_fallback = lambda message: app.call_from_thread(app.notify, message, severity="warning", timeout=8)


def add_live_arguments(p) -> None:
    p.add_argument("--server", metavar="NAME", help="transcribe live on this server (see `fieldnote servers`), the "
                   "local model standing in when it is slower than the live budget")
    p.add_argument("--yes", action="store_true",
                   help="with --server: allow the server for this study without asking (asked once per study)")
    p.add_argument("--live-budget", type=float, default=LIVE_BUDGET_DEFAULT, metavar="SECONDS",
                   help=f"with --server: how long to wait for the server before this machine hears an utterance "
                   f"(default {LIVE_BUDGET_DEFAULT:g})")


def transcribe_with_server(args) -> int:
    """`fieldnote transcribe SESSION --server NAME`."""
    from core.interchange.export import clock
    from core.pipeline.server_job import transcribe_on_server
    from core.store.servers import server
    from tui.commands.review import _ProgressLine

    if args.model:
        raise UserError("give --server NAME or --model NAME, not both: the server's model is set with "
                        "`fieldnote servers add NAME URL --model M`")
    if args.parallel < 1:
        raise UserError(f"--parallel {args.parallel}: give 1 or more requests in flight")
    store = _store(args)
    store.session(args.session)  # an unknown session is named before anything is asked
    row = server(store, args.server)
    allow_for_study(store, row, args.session, args.yes)
    if getattr(args, "queued", False):
        return _send_queued(store, args.session, row, args.parallel, strict=True)
    stop = threading.Event()
    progress = _ProgressLine()
    try:
        result = transcribe_on_server(store, args.session, client_server(row), parallel=args.parallel,
                                      verbatim=args.verbatim, overwrite_edited=args.overwrite_edited,
                                      on_progress=progress, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        progress.end()
        raise UserError("transcription on the server stopped; the session is as it was, and running the same "
                        "command again goes on from the last chunk done") from None
    except UserError:
        progress.end()
        raise
    progress.end()
    resumed = f", {result.resumed} of them done by an earlier run" if result.resumed else ""
    print(f"session {result.session_id}: transcribed on server {row.name} with {result.model}, "
          f"{result.chunks} chunks{resumed}, {args.parallel} at a time: {clock(result.audio_seconds)} of speech "
          f"in {clock(result.transcribe_seconds)}")
    print(f"  {result.updated} segments updated, {result.unchanged} unchanged, {result.inserted} new, "
          f"{result.silent} with no speech heard (kept)")
    if result.kept_edited:
        print(f"  {result.kept_edited} segments you edited were kept as you wrote them (their new recognition is "
              "in asr_text); --overwrite-edited replaces them")
    if result.overwritten_edited:
        print(f"  {result.overwritten_edited} segments you edited were replaced (--overwrite-edited)")
    print("  undo it in the review screen (u), codings stay on the same words")
    return 0


def _send_queued(store, session_id: int, row, parallel: int, *, strict: bool) -> int:
    """Send a live session's queued utterances to the server; `strict`: a server that does not
    answer is an error (the command asked for it), else a line saying they stay queued."""
    from core.pipeline.server_job import send_queued
    from core.speech.remote import RemoteWhisper, ServerError
    from core.store.server_queue import queued_count

    waiting = queued_count(store, session_id)
    if not waiting:
        print(f"session {session_id}: no utterances queued for a server")
        return 0
    try:
        result = send_queued(store, session_id, client_server(row), parallel=parallel,
                             client=RemoteWhisper(client_server(row), retries=1 if not strict else 3))
    except ServerError as exc:
        message = (f"session {session_id}: the {waiting} utterances this machine heard stay queued for the server "
                   f"({exc}); `fieldnote transcribe {session_id} --server {row.name} --queued` sends them later")
        if strict:
            raise UserError(message) from None
        print(message, file=sys.stderr, flush=True)
        return 0
    print(f"session {session_id}: the {result.chunks} utterances this machine heard were sent to server {row.name} "
          f"({result.model}): {result.updated} segments updated, {result.unchanged} unchanged, "
          f"{result.kept_edited} you edited kept, {result.silent} with nothing heard (kept)",
          file=sys.stderr if not strict else sys.stdout, flush=True)
    return 0


def after_live_session(store, session_id: int, live) -> None:
    """At the end of a live session through a server: the utterances this machine heard in its
    stead are queued and sent to the server, if it answers now; else they stay queued."""
    from core.pipeline.server_job import queue_fallbacks
    from core.store.servers import server

    if not live.fallbacks:
        return
    if queue_fallbacks(store, session_id, live.client.server):
        try:
            row = server(store, live.client.server.name)
        except UserError as exc:  # removed during the session: the queue waits for a server named later
            print(f"session {session_id}: utterances stay queued ({exc})", file=sys.stderr, flush=True)
            return
        _send_queued(store, session_id, row, DEFAULT_PARALLEL_QUEUE, strict=False)


def register(sub) -> None:
    p = sub.add_parser("servers", help="a research group's Whisper server: add, list, remove, check",
                       description="Transcription servers that speak OpenAI's API (speaches, vLLM, whisper.cpp's "
                       "server, LocalAI). A server is used only when you name it (`transcribe --server NAME`); "
                       "its token is read from the environment variable you name, never stored.")
    p.set_defaults(func=cmd_list)
    actions = p.add_subparsers(dest="servers_action", metavar="ACTION")
    add = actions.add_parser("add", help="name a server", description="Name a transcription server. Plain http "
                             "is refused except to loopback and private addresses, unless --insecure-http.")
    add.add_argument("name", type=_server_name, metavar="NAME", help="a short name for it (letters, digits, -_.)")
    add.add_argument("url", metavar="URL", help="its base URL, e.g. https://whisper.lab.example:8000")
    add.add_argument("--model", metavar="M", help="the model to ask for (default: the server's own)")
    add.add_argument("--token-env", type=_env_name, metavar="VAR",
                     help="the environment variable holding its token (the token is never stored)")
    add.add_argument("--insecure-http", action="store_true",
                     help="allow plain http to an address that is not loopback or private")
    add.set_defaults(func=cmd_add)
    lst = actions.add_parser("list", help="the servers named", description="List the servers named.")
    lst.set_defaults(func=cmd_list)
    rm = actions.add_parser("remove", help="forget a server", description="Forget a server (and the studies "
                            "allowed to use it); segments it transcribed keep saying so.")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=cmd_remove)
    check = actions.add_parser("check", help="does it answer, which models, how fast from here, what it lacks",
                               description="Ask the server for its models and time it on a few seconds of the "
                               "English sample interview (no study's audio is sent).")
    check.add_argument("name", metavar="NAME")
    check.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an answer (default 60)")
    check.set_defaults(func=cmd_check)
