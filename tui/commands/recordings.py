"""`fieldnote import` of recordings: audio and video files, one session or a queue of them.

    fieldnote import RECORDING [RECORDING2] [--guide NAME] [--respondent N] [--case NAME]
        [--interviewer-track FILE] [--channels split|mix] [--transcript FILE [--interviewer NAME]]
        [--each] [--model M] [--threads N] [--verbatim] [--server NAME [--parallel N] [--yes]]
    fieldnote import FOLDER | A.m4a B.m4a C.m4a ...     (a queue: each file its own session)

Each new session's id goes to standard output, one per line; what the import decided and how
far it is go to standard error: a line per stage of each file, with the queue's share done.
A queue is all-or-nothing per file: a file that fails is named with its reason, the others go
on, and the command ends with exit status 2. A file whose session was stored (the same path,
size and time) is skipped on the next run, so a stopped queue goes on where it was.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tui.commands.args import EXIT_USER_ERROR, open_store as _store


def _say(message: str) -> None:
    sys.stderr.write(f"fieldnote: {message}\n")
    sys.stderr.flush()


def is_recording_import(args) -> bool:
    """Whether the files given are recordings (or a folder of them), not one transcript."""
    from core.audio.decoding import looks_like_recording

    files = [Path(f) for f in args.file]
    if args.transcript or args.channels or args.interviewer_track or args.each:
        return True
    return len(files) > 1 or any(f.is_dir() or looks_like_recording(f) for f in files)


def cmd_import_recordings(args) -> int:
    from core.base.errors import UserError
    from core.base.settings import guide_or_last, remember_guide
    from core.pipeline.recordings import Options, already_imported, folder_files, import_recording, plan, tidy_staging
    from core.speech.models import load_model, resolve_model
    from core.study.guide import load_guide

    given = [Path(f) for f in args.file]
    folders = [f for f in given if f.is_dir()]
    if folders and len(given) > 1:
        raise UserError(f"{folders[0]}: give one folder, or files, not both")
    each = args.each or bool(folders)
    files = folder_files(folders[0]) if folders else given
    if args.format:
        raise UserError("--format is for a transcript; a recording's format is found from the file")
    if args.respondent_speakers or (args.interviewer and not args.transcript):
        raise UserError("--interviewer and --respondent-speakers name a transcript's speakers: with a recording, "
                        "give the transcript with --transcript (or the interviewer's file with --interviewer-track)")
    jobs = plan(files, each=each, interviewer_track=Path(args.interviewer_track) if args.interviewer_track else None,
                channels=args.channels, transcript=Path(args.transcript) if args.transcript else None)
    guide_ref = guide_or_last(args.guide)
    guide = load_guide(guide_ref)
    if len(jobs) > 1 and args.title:
        raise UserError("--title names one session; a queue's sessions are named after their files")
    store = _store(args)
    for line in tidy_staging(store):
        _say(line)
    options = Options(guide, respondent=args.respondent, case_name=args.case, title=args.title,
                      interviewer=[c.strip() for c in args.interviewer.split(",") if c.strip()] if args.interviewer else None,
                      verbatim=args.verbatim, link=args.link)

    queue = len(jobs) > 1
    todo = []
    skipped = []
    for job in jobs:
        try:
            existing = None if args.again else already_imported(store, job)
        except UserError as exc:
            if not queue:
                raise
            todo.append((job, exc))
            continue
        if existing is not None:
            skipped.append((job, existing))
            _say(f"skipped {job.name}: imported before as session {existing} (unchanged since; --again imports "
                 "it once more)")
        else:
            todo.append((job, None))
    remote, model_name = None, None
    if args.server:
        from core.speech.remote import RemoteWhisper
        from core.store.servers import server
        from tui.commands.servers import allow_for_guide, client_server

        if args.model:
            raise UserError("give --server NAME or --model NAME, not both: the server's model is set with "
                            "`fieldnote servers add NAME URL --model M`")
        if args.parallel < 1:
            raise UserError(f"--parallel {args.parallel}: give 1 or more requests in flight")
        row = server(store, args.server)
        if todo:
            allow_for_guide(store, row, guide, args.yes)
        remote = RemoteWhisper(client_server(row))
        model_name = row.model or "the server's default model"
    ref = resolve_model(args.model) if remote is None else None
    loaded = []

    def model():
        if not loaded:
            _say(f"loading the model {ref.name}")
            loaded.append(load_model(ref, guide.language, args.threads))
        return loaded[0]

    imported, failed = [], []
    for number, (job, problem) in enumerate(todo, 1):
        where = f"[{number}/{len(todo)}] {job.name}" if queue else job.name
        if problem is not None:
            failed.append((job, str(problem)))
            _say(f"{where}: not imported: {problem}")
            continue
        last = {"stage": None, "tenth": -1}

        def progress(stage: str, fraction: float, where=where, number=number) -> None:
            tenth = int(fraction * 10)
            if stage == last["stage"] and tenth == last["tenth"]:
                return
            last.update(stage=stage, tenth=tenth)
            line = f"{where}: {stage} {fraction:.0%}"
            if queue:
                line += f"; queue {(number - 1 + fraction) / len(todo):.0%}"
            _say(line)

        try:
            result = import_recording(store, job, options, model, model_name=model_name or ref.name,
                                      on_progress=progress, server=remote, parallel=args.parallel)
        except UserError as exc:
            if not queue:
                raise
            failed.append((job, str(exc)))
            _say(f"{where}: not imported, nothing stored: {exc}")
            continue
        imported.append(result)
        print(result.session_id, flush=True)
        if len(imported) == 1:
            unsaved = remember_guide(guide_ref)
            if unsaved:
                _say(f"warning: {unsaved}")
        for note in result.notes:
            _say(f"{job.name}: {note}")
        on = f", transcribed on server {args.server}" if remote is not None else ""
        _say(f"imported {job.name} ({result.layout}, {_clock(result.seconds)}, {result.segments} segments{on}) "
             f"as session {result.session_id} (guide {guide.id})")
    if queue:
        _say(f"queue done: {len(imported)} imported, {len(skipped)} skipped (imported before), {len(failed)} failed")
        for job, reason in failed:
            _say(f"  failed: {job.name}: {reason}")
    return EXIT_USER_ERROR if failed else 0


def _clock(seconds: float) -> str:
    from core.audio.decoding import _clock as clock

    return clock(seconds)


def add_arguments(p) -> None:
    """The options only a recording takes, on the `import` parser."""
    p.add_argument("--transcript", metavar="FILE",
                   help="with one mixed recording: its transcript with speaker turns and times (Teams .vtt or .docx, "
                   "SRT, fieldnote's export); its turns say who spoke when, Whisper transcribes the audio anew")
    p.add_argument("--interviewer-track", metavar="FILE",
                   help="with two recordings (one per speaker): which is the interviewer's (default: the first)")
    p.add_argument("--channels", choices=("split", "mix"),
                   help="a stereo recording: split (one speaker per channel) or mix (both in each); "
                   "default: found from how little the channels share")
    p.add_argument("--each", action="store_true",
                   help="two or more recordings are each an interview of their own (two files are otherwise "
                   "the two speakers' tracks of one interview; more than two, or a folder, always each their own)")
    p.add_argument("--model", metavar="NAME_OR_PATH", help="Whisper model for a recording (default: base, bundled)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for transcribing a recording (default 2)")
    p.add_argument("--link", action="store_true",
                   help="keep the recording where it is instead of copying its audio into the session's folder "
                   "(review and transcribe then read it there; not for a stereo file split by channel)")
    p.add_argument("--again", action="store_true",
                   help="a recording imported before (the same file, unchanged) is imported once more, not skipped")
    p.add_argument("--verbatim", action="store_true", help="a recording: keep hesitations (uh, um) in the transcript")
    p.add_argument("--server", metavar="NAME", help="a recording: transcribe it on this server (see `fieldnote "
                   "servers`) instead of on this machine")
    p.add_argument("--parallel", type=int, default=2, metavar="N",
                   help="with --server: requests in flight at once (default 2)")
    p.add_argument("--yes", action="store_true",
                   help="with --server: allow the server for this study without asking (asked once per study)")
