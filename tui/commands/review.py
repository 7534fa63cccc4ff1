"""Commands for the work after the interview.

    fieldnote browse                      the sessions screen: find, search, open
    fieldnote review [SESSION]            review a session (without one: the sessions screen)
    fieldnote matrix [--by respondent|case] [--format table|csv] [--indicators] [--guide ID] [--pseudonymise]
    fieldnote transcribe SESSION [--model NAME_OR_PATH] [--verbatim] [--overwrite-edited]
    fieldnote transcribe SESSION --server NAME [--parallel N] [--yes]   (tui/commands/servers.py)
"""

from __future__ import annotations

import sys
import threading

from core.base.errors import UserError
from tui.commands.args import open_store as _store, session_id as _session_id


def cmd_browse(args) -> int:
    from tui.app import make_app

    store = _store(args)
    session = getattr(args, "session", None)
    if session is not None:
        store.session(session)  # an unknown id is a clear error before the screen opens
    make_app(store, review_session=session).run()
    return 0


def cmd_matrix(args) -> int:
    from core.analysis.compare import build_matrix, matrix_csv, matrix_table

    store = _store(args)
    if args.pseudonymise:
        from core.interchange.pseudonymise import pseudonyms

        if not pseudonyms(store):
            raise UserError("the study's list of names is empty: add names with `fieldnote names add NAME`")
    matrix = build_matrix(store, args.by, guide_id=args.guide, pseudonymise=args.pseudonymise)
    out = matrix_csv if args.format == "csv" else matrix_table
    sys.stdout.write(out(matrix, indicators=args.indicators))
    return 0


class _ProgressLine:
    """One line on stderr, redrawn at most a few times a second (or a line per stage when
    stderr is not a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_stage: str | None = None
        self.last_draw = 0.0

    def __call__(self, p) -> None:
        import time

        from core.interchange.export import clock

        now = time.monotonic()
        if not self.tty:
            if p.stage != self.last_stage:
                print(p.stage, file=self.stream, flush=True)
            self.last_stage = p.stage
            return
        if p.stage == self.last_stage and now - self.last_draw < 0.25 and p.fraction < 1.0:
            return
        self.last_stage, self.last_draw = p.stage, now
        width = 30
        filled = int(width * p.fraction)
        bar = "█" * filled + "░" * (width - filled)
        self.stream.write(f"\r{bar} {p.fraction:4.0%}  {clock(p.eta)} left  {p.stage:<40.40}")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def cmd_transcribe(args) -> int:
    from core.base.errors import UserError
    from core.interchange.export import clock
    from core.pipeline.retranscribe import retranscribe, session_model

    if args.server:
        from tui.commands.servers import transcribe_with_server

        return transcribe_with_server(args)
    if args.queued:
        raise UserError("--queued goes with --server NAME: the server to send the queued utterances to")
    store = _store(args)
    model, reason = session_model(store, args.session, args.model)
    print(reason, file=sys.stderr, flush=True)
    stop = threading.Event()
    progress = _ProgressLine()
    try:
        result = retranscribe(
            store,
            args.session,
            model,
            verbatim=args.verbatim,
            overwrite_edited=args.overwrite_edited,
            batched={"auto": None, "batched": True, "sequential": False}[args.mode],
            threads=args.threads,
            on_progress=progress,
            stop=stop,
        )
    except KeyboardInterrupt:
        stop.set()
        progress.end()
        raise UserError("re-transcription stopped; the session is as it was") from None
    progress.end()
    mode = "batched" if result.batched else "sequential"
    print(
        f"session {result.session_id}: re-transcribed with {result.model} ({mode}), "
        f"{clock(result.audio_seconds)} of audio in {clock(result.transcribe_seconds)} (RTF {result.rtf:.3f})"
    )
    print(
        f"  {result.updated} segments updated, {result.unchanged} unchanged, {result.inserted} new, "
        f"{result.silent} with no speech heard (kept)"
    )
    if result.kept_edited:
        print(
            f"  {result.kept_edited} segments you edited were kept as you wrote them (their new "
            "recognition is in asr_text); --overwrite-edited replaces them"
        )
    if result.overwritten_edited:
        print(f"  {result.overwritten_edited} segments you edited were replaced (--overwrite-edited)")
    print("  undo it in the review screen (u), codings stay on the same words")
    return 0


def register(sub) -> None:
    p = sub.add_parser("browse", help="find sessions and passages, and open one for review",
                       description="Open the sessions screen: every session with its respondent, case and "
                       "how much is coded; filter them, search all transcripts, open one to review.")
    p.set_defaults(func=cmd_browse)

    p = sub.add_parser("review", help="review, correct and code a session",
                       description="Review a session: play it back, correct the transcript, accept or "
                       "reject suggestions, code passages, write memos. Without SESSION, the sessions screen.")
    p.add_argument("session", type=_session_id, nargs="?", metavar="SESSION",
                   help="session id, as `fieldnote sessions` shows")
    p.set_defaults(func=cmd_browse)

    p = sub.add_parser("matrix", help="coded passages per dimension, by respondent or by case",
                       description="Print the comparison matrix: how many passages were coded with each "
                       "dimension (and indicator) per respondent or per case (pilot).")
    p.add_argument("--by", choices=["respondent", "case"], default="respondent",
                   help="columns: respondents (default) or cases")
    p.add_argument("--format", choices=["table", "csv"], default="table", help="table (default) or csv")
    p.add_argument("--indicators", action="store_true", help="a row for each indicator under its dimension")
    p.add_argument("--guide", metavar="ID", help="compare the sessions of this guide (default: the most used)")
    p.add_argument("--pseudonymise", "--pseudonymize", action="store_true",
                   help="as exports do: respondents by number, every name on the study's list "
                   "(`fieldnote names`) replaced in case names, the title and the codes")
    p.set_defaults(func=cmd_matrix)

    p = sub.add_parser("transcribe", help="transcribe a session again from its recording, with another model",
                       description="Re-run transcription on a session's recorded tracks, typically with a "
                       "larger model after the interview. Your edits and codings are kept: codings stay on the "
                       "same audio time and words; segments you edited keep your text unless --overwrite-edited.")
    p.add_argument("session", type=_session_id, metavar="SESSION", help="session id, as `fieldnote sessions` shows")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="Whisper model name or faster-whisper model directory (default: the largest installed, "
                   "multilingual unless the session is in English; see `fieldnote models`)")
    p.add_argument("--server", metavar="NAME",
                   help="transcribe on this server instead of on this machine (see `fieldnote servers`)")
    p.add_argument("--parallel", type=int, default=2, metavar="N",
                   help="with --server: requests in flight at once (default 2)")
    p.add_argument("--yes", action="store_true",
                   help="with --server: allow the server for this study without asking (asked once per study)")
    p.add_argument("--queued", action="store_true",
                   help="with --server: send only the utterances of a live session that this machine heard while "
                   "the server was slow or away (queued at the session's end)")
    p.add_argument("--verbatim", action="store_true", help="keep fillers and hesitations (uhm, eh) as spoken")
    p.add_argument("--overwrite-edited", action="store_true",
                   help="replace the text of segments you edited by hand too (default: keep them)")
    p.add_argument("--mode", choices=["auto", "batched", "sequential"], default="auto",
                   help="faster-whisper's batched pipeline or chunk by chunk (default: batched for recordings "
                   "over 90 seconds)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    p.set_defaults(func=cmd_transcribe)
