"""The `fieldnote` command.

Errors a user can cause end in one message on stderr and exit status 2; the screen is only
imported by the commands that open it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from core.base import paths
from core.base.errors import UserError
from tui.commands.args import EXIT_USER_ERROR, open_store as _store

# Modules that add subcommands; each keeps its heavy imports inside its command functions.
COMMAND_MODULES: list[str] = [
    "tui.commands.exchange", "tui.commands.record", "tui.commands.review", "tui.commands.importing", "tui.commands.admin",
    "tui.commands.models", "tui.commands.servers",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit status is 2 as well
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"fieldnote: error: {message}\n")



# commands ------------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    from dataclasses import replace

    from core.audio.trackfiles import keep_tracks
    from core.pipeline.demo import load_demo, open_transcriber, recording_demo, replay_pipeline, run_headless
    from core.pipeline.recording import hold_session, interrupt_if_open
    from core.store.deletion import delete_session

    if args.tracks:
        if not args.guide:
            raise UserError("--tracks needs --guide NAME: the guide the interview followed")
        demo = recording_demo(Path(args.tracks[0]), Path(args.tracks[1]), args.guide,
                              respondent_label=args.respondent, case_name=args.case)
    else:
        if args.guide or args.respondent or args.case:
            raise UserError("--guide, --respondent and --case go with --tracks (a recording of your own)")
        demo = load_demo(args.language)
    from core.speech.choice import LIVE, pick_model

    model, reason = pick_model(args.model, LIVE, demo.guide.language)
    print(reason, file=sys.stderr, flush=True)
    transcriber = open_transcriber(model, demo.guide, threads=args.threads)
    store = _store(args)
    if args.server:
        from tui.commands.servers import live_transcriber

        transcriber = live_transcriber(args, store, demo.guide, transcriber)
    session_id = store.create_session(
        demo.guide,
        origin="demo",
        respondent=demo.respondent,
        case_name=demo.case_name,
        title=demo.title,
        model=transcriber.name,
    )
    # Held until the session is closed: a demo killed on the way is found by `fieldnote recover`.
    hold = hold_session(store, session_id)
    try:
        if demo.folder is None:
            # A recording of the researcher's own is kept in the session's folder, so review
            # plays and re-transcribes it whatever happens to the files it came from.
            folder = paths.sessions_dir(store.path) / str(session_id)
            try:
                demo = replace(demo, folder=folder, tracks=keep_tracks(demo.tracks, folder))
            except UserError:
                hold.release()
                delete_session(store, session_id)
                raise
        # The demo's tracks are its recording: review can play them and re-transcribe from them.
        store.set_session_audio_dir(session_id, demo.folder)
        pipeline = replay_pipeline(demo, transcriber, realtime=not args.fast, store=store,
                                   hearing=getattr(args, "hearing", None))
        if args.no_ui:
            run_headless(store, session_id, pipeline, out=sys.stdout)
        else:
            from tui.app import make_app

            app = make_app(store, session_id=session_id, pipeline=pipeline, state="replaying")
            if args.server:
                from tui.commands.servers import notify_fallbacks

                notify_fallbacks(app, transcriber)
            app.run()
            if store.session(session_id)["status"] == "recording":
                store.end_session(session_id, "completed", duration=round(pipeline.clock.now(), 1))
    finally:
        try:
            interrupt_if_open(store, session_id)
        except UserError:
            pass  # the database refuses (a full disk): recovery marks the session once the lock is gone
        finally:
            hold.release()
    if args.server:
        from tui.commands.servers import after_live_session

        after_live_session(store, session_id, transcriber)
    print(f"session {session_id}", file=sys.stderr)
    return 0


def cmd_sessions(args) -> int:
    from core.interchange.export import cell, clock
    from core.pipeline.recording import recover_interrupted

    store = _store(args)
    # A recording whose process died shows as interrupted, its audio repaired, before listing.
    interrupted = recover_interrupted(store)
    rows = store.sessions()
    if not rows:
        print("No sessions yet. Try `fieldnote demo`.")
        return 0
    print(f"{'id':>4}  {'started':<20} {'status':<11} {'respondent':<10} {'case':<24} {'guide':<20} {'length':>7} {'segments':>8} {'codings':>7}")
    for r in rows:
        print(
            f"{r['id']:>4}  {r['started_at'][:19]:<20} {r['status']:<11} {cell(r['respondent'], 10)} "
            f"{cell(r['case_name'], 24)} {cell(r['guide_id'], 20)} {clock(r['duration']):>7} "
            f"{r['segment_count']:>8} {r['coding_count']:>7}"
        )
    recordings = [i for i in interrupted if i.origin == "live"]
    demos = [i for i in interrupted if i.origin != "live"]
    if recordings:
        ids = ", ".join(str(i.session_id) for i in recordings)
        print(f"\nInterrupted recordings: {ids}. Resume one with `fieldnote record --resume ID --consent`, "
              "or close them with `fieldnote recover --close all`.")
    if demos:
        ids = ", ".join(str(i.session_id) for i in demos)
        print(f"\nInterrupted demos: {ids}. Close them with `fieldnote recover --close all`.")
    return 0


def cmd_export(args) -> int:
    from tui.commands.exchange import cmd_export as export

    return export(args)


def _without_word_lists(code: str) -> str:
    """A note for a guide whose language fieldnote has no word lists for; empty otherwise."""
    from core.study.language import load_language

    return "" if load_language(code).has_word_lists else f"no word lists for '{code}': see doctor"


def cmd_guides(args) -> int:
    from core.base.errors import UserError
    from core.study.guide import available_guides, load_guide

    broken = 0
    for name in available_guides():
        try:
            g = load_guide(name)
            plain = _without_word_lists(g.language)
            plain = f"  ({plain})" if plain else ""
        except UserError as exc:
            # One bad file in the guides folder does not hide the others.
            print(f"fieldnote: {exc}", file=sys.stderr)
            broken += 1
            continue
        print(f"{name:<24} {g.language:<4} {len(g.questions):>3} questions {len(g.dimensions):>3} dimensions  {g.title}{plain}")
    return 2 if broken else 0


def cmd_guides_new(args) -> int:
    from core.interchange.guide_draft import create_guide

    path, guide = create_guide(Path(args.questions), args.name, language=args.language, title=args.title,
                               planned_minutes=args.minutes, force=args.force)
    sections = len({q.section for q in guide.questions if q.section})
    probes = sum(len(q.probes) for q in guide.questions)
    print(path)
    print(f"guide {guide.id}: {len(guide.questions)} questions"
          + (f" in {sections} sections" if sections else "") + (f", {probes} probe{'' if probes == 1 else 's'}" if probes else "")
          + f", language {guide.language}", file=sys.stderr)
    plain = _without_word_lists(guide.language)
    if plain:
        print(f"fieldnote: {plain}", file=sys.stderr)
    print(f"next: add your codebook with `fieldnote codebook import FILE.qdc --guide {guide.id} --force`, "
          f"or record with `fieldnote record --guide {guide.id}`", file=sys.stderr)
    return 0


def cmd_guides_show(args) -> int:
    """A guide as the researcher checks it: each question with what fieldnote follows it by and
    the dimensions it asks about, then the codebook."""
    from core.study.guide import load_guide
    from core.understanding.suggester import names_only

    g = load_guide(args.name)
    print(f"{g.id}: {g.title}")
    print(f"language {g.language}, {g.planned_minutes:g} minutes planned, from {g.source}")
    print()
    section = None
    for q in g.questions:
        if q.section and q.section != section:
            section = q.section
            print(f"  {section}")
        print(f"  {q.number:>3}  {q.text}")
        follows = f"{len(q.cues)} cue{'' if len(q.cues) == 1 else 's'}" if q.cues else "its own words (no cues)"
        minutes = f", {q.minutes:g} min" if q.minutes else ""
        probes = f", {len(q.probes)} probe{'' if len(q.probes) == 1 else 's'}" if q.probes else ""
        print(f"       followed by {follows}{probes}{minutes}")
        about = [g.dimension(d).name for d in q.dimension_ids]
        about += [f"{g.dimension(d).name} (drafted)" for d in q.drafted_dimension_ids if d not in q.dimension_ids]
        if about:
            print(f"       asks about {', '.join(about)}")
    print()
    for d in g.dimensions:
        phrases = sum(len(i.phrases) for i in d.indicators)
        asked = ", ".join([str(n) for n in d.questions] + [f"{n} (drafted)" for n in d.drafted_questions])
        print(f"  {d.name}: {len(d.indicators)} indicator{'' if len(d.indicators) == 1 else 's'}, "
              f"{phrases} phrase{'' if phrases == 1 else 's'}; " + (f"asked by {asked}" if asked else "no question asks about it"))
    drafted = sum(len(d.drafted_questions) for d in g.dimensions)
    if drafted:
        print()
        print(f"{drafted} question link{'s' if drafted != 1 else ''} drafted from shared words, not checked yet: in "
              f"{g.source}, move a number from a dimension's `drafted_questions` to its `questions` where it is "
              "right, and delete it where not.")
    if names_only(g):
        print("The indicators listen for their names alone: phrases of your own (what a respondent would say "
              "about each) make code suggestions better.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fieldnote",
        description="A terminal assistant for qualitative research interviews: follows the guide, "
        "transcribes both sides of the call on this machine, and suggests codes from your codebook.",
    )
    parser.add_argument("--db", metavar="PATH", help=f"the study database (default: {paths.default_db()}; "
                        "FIELDNOTE_HOME moves the default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # `fieldnote` alone opens the sessions screen, as `fieldnote browse` does.
    sub.required = False

    p = sub.add_parser("demo", help="replay a sample two-track interview (or one of yours) through the live screen",
                       description="Replay a sample interview (interviewer and respondent tracks), or a two-track "
                       "recording of your own (--tracks), in real time through the live pipeline, as if it "
                       "were a Teams call. Press q to end.")
    p.add_argument("--language", default="en", help="which sample interview: en (default) or nl")
    p.add_argument("--tracks", nargs=2, metavar=("INTERVIEWER", "RESPONDENT"),
                   help="replay a recording of your own instead: one audio file per speaker, the interviewer's "
                   "first (wav, flac, mp3, m4a, ogg, ...: any rate; kept in the session's folder for review)")
    p.add_argument("--guide", metavar="NAME_OR_PATH", help="with --tracks: the guide the interview followed")
    p.add_argument("--respondent", metavar="N", help="with --tracks: the respondent's number or label")
    p.add_argument("--case", metavar="NAME", help="with --tracks: the case the respondent belongs to")
    p.add_argument("--model", metavar="NAME_OR_PATH", help="Whisper model (default: the largest installed that "
                   "keeps up live here, see `fieldnote models`)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for transcription (default 2)")
    p.add_argument("--fast", action="store_true", help="replay as fast as possible instead of in real time")
    p.add_argument("--no-ui", action="store_true", help="no screen: print each stored segment as a JSON line")
    from tui.commands.args import add_hearing_argument

    add_hearing_argument(p)
    from tui.commands.servers import add_live_arguments

    add_live_arguments(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sessions", help="list sessions", description="List the sessions in the study database.")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("export", help="export coded transcripts, quote tables, QDA projects, subtitles",
                       description="Export one session, several, or the whole study (--all). jsonl: one JSON "
                       "object per segment (the stable contract); md: the coded transcript as Markdown.")
    from tui.commands.exchange import add_export_arguments

    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("guides", help="list the guides fieldnote knows; make a new one from your questions",
                       description=f"List guides: the bundled ones and those in {paths.guides_dir()}. "
                       "`fieldnote guides new` makes one from a list of interview questions.")
    p.set_defaults(func=cmd_guides)
    actions = p.add_subparsers(dest="guides_action", metavar="ACTION")
    new = actions.add_parser(
        "new", help="make a guide from your interview questions (a text or Word file)",
        description="Make a guide from the interview questions as you have them: a text file or Word "
        "document listing them, numbered ('1. ...') or each ending with a question mark. Lines starting "
        "with a bullet become probes of the question above; a line before a question, its section. "
        "The guide is saved in your guides folder; add cues, probes and minutes to it as you like, and "
        "your codebook with `fieldnote codebook import`.")
    new.add_argument("name", metavar="NAME", help="the new guide's name (letters, digits, '-', '_', '.')")
    new.add_argument("--questions", required=True, metavar="FILE", help="the questions: .txt, .md or .docx")
    new.add_argument("--language", required=True, metavar="CODE",
                     help="the language the interviews are held in, as Whisper's code (en, nl, de, fr, ...)")
    new.add_argument("--title", help="the study's title (default: the file's first line before the questions)")
    new.add_argument("--minutes", type=float, default=60, help="planned length of an interview (default 60)")
    new.add_argument("--force", action="store_true", help="replace a guide of that name in your guides folder")
    new.set_defaults(func=cmd_guides_new)
    show = actions.add_parser(
        "show", help="a guide's questions, the dimensions each asks about, and its codebook",
        description="Show a guide as you check it: each question with what fieldnote follows it by (cues, "
        "or its own words) and the dimensions it asks about, links drafted at codebook import marked, "
        "then each dimension with its indicators and the questions that ask about it.")
    show.add_argument("name", metavar="NAME", help="a guide's name (see `fieldnote guides`) or a path")
    show.set_defaults(func=cmd_guides_show)

    # Further command groups live in their own modules, each with `register(subparsers)`.
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from core.base.text import PrintableWriter

    # Titles, names and messages come from imported files: none may drive the terminal.
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (s if isinstance(s, PrintableWriter) else PrintableWriter(s) for s in streams)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "browse"])
    from core.base.log import Plain, setup_logging

    try:
        try:
            setup_logging()
        except OSError:
            pass  # a full or read-only disk must not stop a command; the command says what failed
        logging.getLogger("fieldnote").info("command %s", Plain(args.command))
        return args.func(args)
    except UserError as exc:
        print(f"fieldnote: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped early (`fieldnote agreement ... | head`): not a failure. Standard
        # output goes to /dev/null so that Python's flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception:
        # The log keeps where it failed, never what was said (core/base/log.py withholds the text).
        logging.getLogger("fieldnote").exception("command %s failed", Plain(args.command))
        raise


if __name__ == "__main__":
    sys.exit(main())
