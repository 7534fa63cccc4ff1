"""Commands that bring existing transcripts in.

    fieldnote import FILE --guide NAME [--format F] [--interviewer X] [--respondent-speakers Y,Y1]
                          [--respondent N] [--case NAME] [--title T]
    fieldnote import-samples [--guide NAME] [--again]

Each prints the id of every new session on standard output, one per line. `import-samples`
skips a sample imported with the guide before (a session imported under its title), so running
it again after an interruption imports only the missing ones; `--again` imports all once more.
"""

from __future__ import annotations

import sys
import tomllib

from tui.commands.args import open_store as _store


def _codes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    codes = [c.strip() for c in text.split(",") if c.strip()]
    return codes or None


def cmd_import(args) -> int:
    from core.base.errors import UserError
    from core.base.settings import guide_or_last, remember_guide
    from core.study.guide import load_guide
    from core.pipeline.importing import import_transcript, read_transcript, speaker_roles
    from tui.commands.recordings import cmd_import_recordings, is_recording_import

    if is_recording_import(args):
        return cmd_import_recordings(args)
    (args.file,) = args.file
    if args.model or args.verbatim or args.server:
        raise UserError("--model, --server and --verbatim are for a recording; a transcript is not transcribed")
    guide_ref = guide_or_last(args.guide)
    guide = load_guide(guide_ref)
    parsed = read_transcript(args.file, args.format)
    interviewer, respondents = _codes(args.interviewer), _codes(args.respondent_speakers)
    guess = speaker_roles(parsed, interviewer, respondents, guide).guess
    if guess is not None:
        # Found by who asks the guide's questions: said in one line, so a wrong guess is seen.
        interviewer = [guess.speaker]
        print(f"interviewer: {guess.speaker}, {guess.sureness:.0%} sure ({guess.reason}); "
              "--interviewer names another", file=sys.stderr)
    store = _store(args)
    session_id = import_transcript(
        store, parsed, guide,
        interviewer=interviewer,
        respondents=respondents,
        respondent=args.respondent,
        case=args.case,
        title=args.title,
    )
    print(session_id)
    print(f"imported {args.file}: {len(parsed.turns)} turns as session {session_id} (guide {guide.id})",
          file=sys.stderr)
    unsaved = remember_guide(guide_ref)
    if unsaved:
        print(f"fieldnote: warning: {unsaved}", file=sys.stderr)
    return 0


def cmd_import_samples(args) -> int:
    from core.base import paths
    from core.base.errors import UserError
    from core.study.guide import load_guide
    from core.pipeline.importing import AlreadyImported, import_transcript, read_transcript

    folder = paths.SAMPLE_SESSIONS / "transcripts"
    try:
        index = tomllib.loads((folder / "index.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{folder / 'index.toml'}: cannot read the list of sample transcripts ({exc})") from None
    guide = load_guide(args.guide or index["guide"])
    # Parse all before storing any: a broken sample stops the command before the database changes.
    samples = [(entry, read_transcript(folder / entry["file"])) for entry in index["transcript"]]
    store = _store(args)
    imported = skipped = 0
    for entry, parsed in samples:
        # The transcript's first line names the interview; a sample without one goes by its file name.
        title = parsed.title or entry["file"]
        # Looked up first to spare the understanding of a sample that is there; import_transcript
        # looks again under the write lock, for a second run at the same time.
        existing = None if args.again else store.imported_session(guide.id, title)
        if existing is None:
            try:
                session_id = import_transcript(
                    store, parsed, guide,
                    interviewer=entry.get("interviewer"),
                    respondents=entry.get("respondents"),
                    respondent=entry.get("respondent"),
                    case=entry.get("case"),
                    title=title,
                    once=not args.again,
                )
            except AlreadyImported as exc:
                existing = exc.session_id
        if existing is not None:
            skipped += 1
            print(f"skipped {entry['file']}: imported with guide {guide.id} before, as session {existing}",
                  file=sys.stderr)
            continue
        imported += 1
        print(session_id)
        print(f"imported {entry['file']} as session {session_id}", file=sys.stderr)
    again = " (--again imports them once more)" if skipped else ""
    print(f"imported {imported}, skipped {skipped}{again}", file=sys.stderr)
    return 0


def register(sub) -> None:
    from core.interchange.formats import FORMATS

    from tui.commands.recordings import add_arguments

    p = sub.add_parser(
        "import", help="import a transcript or a recording made elsewhere as a session",
        description="Import an existing transcript, or a recording (audio or video: wav, flac, mp3, m4a, "
        "ogg/opus, mp4, mkv/webm), as a new session and print its id. A recording is transcribed with "
        "Whisper: two files are the two speakers' tracks (the interviewer's first); one stereo file with "
        "a speaker per channel is split; one mixed file is read with its transcript's turns (--transcript) "
        "or with the speakers proposed, for review to confirm. Several files, or a folder, are a queue: each "
        "file its own session, a file imported before skipped. Guide tracking "
        "and code suggestions run over it turn by turn, as they would have live, learning from the "
        "sessions coded before. Nothing is stored if the file cannot be read whole.",
    )
    p.add_argument("file", metavar="FILE", nargs="+",
                   help="the transcript (thesis layout, 'Name: text', Teams VTT, SRT, or a Word .docx holding one "
                   "of those layouts or Teams' transcript download), or one or more recordings, or a folder of them")
    p.add_argument("--guide", metavar="NAME", help="the guide it was held with (see `fieldnote guides`); "
                   "remembered, so needed only to change it (record remembers it too)")
    p.add_argument("--format", choices=sorted(FORMATS), help="the file's format (default: found from the file); "
                   "for a Word document, thesis, named or text sets the layout of its paragraphs")
    p.add_argument("--interviewer", metavar="CODES",
                   help="speaker code(s) or name(s) of the interviewer, comma-separated "
                   "(default: the speaker the header calls Interviewer, else the one who clearly "
                   "asks the guide's questions, said on stderr)")
    p.add_argument("--respondent-speakers", metavar="CODES",
                   help="speaker codes of the respondents, comma-separated (default: everyone else); "
                   "speakers in neither list are observers: kept, never coded")
    p.add_argument("--respondent", metavar="N", help="the respondent's number or name, as in your respondent list")
    p.add_argument("--case", metavar="NAME", help="the case (site, pilot, organisation) of the interview")
    p.add_argument("--title", metavar="TITLE", help="the session's title (default: the transcript's first line, "
                   "or the recording's file name)")
    add_arguments(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "import-samples", help="import the eight sample interviews of the reference study",
        description="Import sample_sessions/transcripts/ (the eight interviews of the Koers en kansen "
        "thesis) in interview order, each with its respondent, case and speakers, and print the new "
        "sessions' ids. A sample imported with the guide before is skipped, so running it again after "
        "an interruption imports only the missing ones.",
    )
    p.add_argument("--guide", metavar="NAME", help="guide to use (default: koers-en-kansen)")
    p.add_argument("--again", action="store_true",
                   help="import every sample, also those imported before (a second copy of each)")
    p.set_defaults(func=cmd_import_samples)
