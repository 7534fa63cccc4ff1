"""Commands that move a study in and out: export options, the pseudonym list, respondents'
attributes, and REFI-QDA codebooks.

    fieldnote export SESSION [SESSION ...] | --all --format F [-o PATH] [--pseudonymise]
    fieldnote names add NAME [REPLACEMENT] | list | remove NAME | suggest [SESSION ...]
    fieldnote respondents list | set NUMBER [--organisation TEXT] [--role TEXT]
    fieldnote codebook export (--guide NAME | SESSION) -o FILE.qdc
    fieldnote codebook import FILE.qdc --guide NAME [--from GUIDE] [--replace] [--force]
    fieldnote agreement FILE.qdpx [SESSION ...] [--coder NAME] [--indicators] [--disagreements] [--format csv] [--settle]

`codebook import` never invents interview questions: the codebook is merged into a copy of an
existing guide (its questions and study facts kept), written as NAME to the user's guides
folder. By default that base is the guide called NAME itself (a bundled guide of that name
becomes the user's own copy); `--from` names another.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.base.errors import UserError
from tui.commands.args import open_store as _store, output_path, session_id as _session_id


# export -------------------------------------------------------------------------------------------


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The export command's arguments; tui/cli.py declares the command and calls this."""
    from core.interchange.exporters import FORMATS

    p.add_argument("sessions", type=_session_id, nargs="*", metavar="SESSION",
                   help="session ids, as `fieldnote sessions` shows")
    p.add_argument("--all", action="store_true", help="every session of the study")
    listing = "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())
    p.add_argument("--format", choices=list(FORMATS), default="md", metavar="FORMAT",
                   help=f"md (default). {listing}")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="write to PATH instead of standard output ('-': standard output; a path is "
                   "needed for docx, xlsx, qdpx; a folder for srt, vtt and txt of several sessions)")
    p.add_argument("--pseudonymise", "--pseudonymize", action="store_true",
                   help="replace every name on the study's list (`fieldnote names`) in all the export")
    p.add_argument("--respondent-names", action="store_true",
                   help="show respondents and speakers as recorded instead of by number")
    p.add_argument("--audio", action="store_true",
                   help="qdpx: add each session's recording, with the transcript synced to it")
    p.add_argument("--no-codings", dest="codings", action="store_false",
                   help="the transcripts without codings and open suggestions: for a second coder to code "
                   "without seeing yours (then `fieldnote agreement` on what they bring back)")




def _export_progress(fmt: str):
    """How far a long export is, on stderr: a line per thousand turns from 5,000 turns up."""

    def progress(done: int, total: int) -> None:
        if total >= 5000:
            print(f"fieldnote: {fmt}: {done:,} of {total:,} turns written", file=sys.stderr, flush=True)

    return progress


def cmd_export(args) -> int:
    from core.interchange.exporters import ExportOptions, write_export

    store = _store(args)
    if args.all and args.sessions:
        raise UserError("give session ids or --all, not both")
    ids = [r["id"] for r in store.sessions()] if args.all else list(dict.fromkeys(args.sessions))
    if not ids:
        raise UserError("no sessions to export: give session ids or --all (see `fieldnote sessions`)")
    options = ExportOptions(pseudonymise=args.pseudonymise, respondent_names=args.respondent_names,
                            audio=args.audio, codings=args.codings)
    if args.pseudonymise:
        from core.interchange.pseudonymise import pseudonyms

        if not pseudonyms(store):
            raise UserError("the study's list of names is empty: add names with `fieldnote names add NAME`")
    notes: list[str] = []
    written = write_export(store, ids, args.format, output_path(args, args.output), options, notes,
                           progress=_export_progress(args.format))
    for note in notes:
        print(f"fieldnote: {note}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


# names --------------------------------------------------------------------------------------------


def cmd_names_add(args) -> int:
    from core.interchange.pseudonymise import add_pseudonym

    p = add_pseudonym(_store(args), args.name, args.replacement)
    print(f"{p.name} -> {p.replacement}")
    return 0


def cmd_names_list(args) -> int:
    from core.interchange.pseudonymise import pseudonyms

    rows = pseudonyms(_store(args))
    if not rows:
        print("No names listed. `fieldnote names suggest` proposes some from the transcripts.")
    for p in rows:
        print(f"{p.name:<30} -> {p.replacement}")
    return 0


def cmd_names_remove(args) -> int:
    from core.interchange.pseudonymise import remove_pseudonym

    remove_pseudonym(_store(args), args.name)
    print(f"removed {args.name}")
    return 0


def cmd_names_suggest(args) -> int:
    from core.interchange.pseudonymise import suggest_names

    store = _store(args)
    for sid in args.sessions:
        store.session(sid)
    found = suggest_names(store, args.sessions or None)
    if not found:
        print("No candidates: every capitalised word is in the guide, listed, or also written in lower case.")
    for c in found[: args.limit]:
        sessions = ", ".join(str(s) for s in c.sessions)
        print(f"{c.word:<24} {c.count:>4}x  session {sessions}")
    return 0


# respondents --------------------------------------------------------------------------------------


def cmd_respondents_list(args) -> int:
    from core.store.respondents import attributes, numbering

    store = _store(args)
    attrs = attributes(store)
    by_number: dict[int, list[int]] = {}
    for sid, numbers in numbering(store).items():
        for n in numbers:
            by_number.setdefault(n, []).append(sid)
    numbers = sorted(set(by_number) | set(attrs))
    if not numbers:
        print("No respondents yet.")
    for n in numbers:
        a = attrs.get(n)
        sessions = ", ".join(str(s) for s in by_number.get(n, [])) or "-"
        print(f"{n:>4}  {(a.organisation if a and a.organisation else '-'):<28.28} "
              f"{(a.role if a and a.role else '-'):<28.28} session {sessions}")
    return 0


def cmd_respondents_set(args) -> int:
    from core.store.respondents import set_attributes

    if args.organisation is None and args.role is None:
        raise UserError("give --organisation and/or --role")
    r = set_attributes(_store(args), args.number, organisation=args.organisation, role=args.role)
    print(f"respondent {r.number}: organisation {r.organisation or '-'}, role {r.role or '-'}")
    return 0


# codebook -----------------------------------------------------------------------------------------


def cmd_codebook_export(args) -> int:
    from core.interchange.exporters import write_atomic
    from core.interchange.exporters.model import build, codebook_only
    from core.interchange.exporters.refi import to_qdc

    if (args.guide is None) == (args.session is None):
        raise UserError("give either --guide NAME or a SESSION whose codebook to export")
    if args.guide is not None:
        from core.study.guide import load_guide

        export = codebook_only(load_guide(args.guide))
    else:
        export = build(_store(args), [args.session])
    data = to_qdc(export)
    if output_path(args, args.output):
        write_atomic(Path(args.output), data)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def cmd_codebook_import(args) -> int:
    from core.interchange.codebook import import_codebook
    from core.study.guide import load_guide

    base_name = args.base or args.guide
    try:
        base = load_guide(base_name)
    except UserError:
        if args.base:
            raise
        raise UserError(
            f"no guide named {args.guide!r} to merge the codebook into: a guide needs its interview "
            "questions, so give --from GUIDE whose questions to keep (see `fieldnote guides`)"
        ) from None
    target, merged = import_codebook(Path(args.file), guide_id=args.guide, base=base, replace=args.replace,
                                     force=args.force)
    guide = load_guide(str(target))
    print(f"wrote {target}: {len(guide.questions)} questions from {base.id}, "
          f"{len(guide.dimensions)} dimensions, {len(guide.indicators)} indicators", file=sys.stderr)
    if merged.drafted_links:
        print(f"linked {len(merged.drafted_links)} questions to the dimension they share the rarest words with, "
              f"for code suggestions to start from; check them (`fieldnote guides show {guide.id}`; "
              f"`drafted_questions` in {target}):", file=sys.stderr)
        for n, name in sorted(merged.drafted_links.items()):
            print(f"  question {n} -> {name}", file=sys.stderr)
    return 0


def cmd_agreement(args) -> int:
    from core.analysis.agreement import agreement_csv, agreement_table, compare, disagreements_csv, disagreements_text

    store = _store(args)
    path, sessions = Path(args.file), list(dict.fromkeys(args.sessions)) or None
    level = "indicator" if args.indicators else "dimension"
    result = compare(store, path, coder=args.coder, sessions=sessions, level=level)
    if args.settle:
        # The errors a user can make are named above, before the screen opens.
        from tui.app import make_app
        from tui.screens.agreement import AgreementScreen

        make_app(store, screen=lambda s: AgreementScreen(s, path, coder=args.coder, level=level,
                                                         sessions=sessions)).run()
        return 0
    if args.format == "csv":
        sys.stdout.write(disagreements_csv(result) if args.disagreements else agreement_csv(result))
    else:
        sys.stdout.write(agreement_table(result))
        if args.disagreements:
            sys.stdout.write("\n" + disagreements_text(result))
    if result.unmatched:
        print(f"left out, no session's text here (edited since the export?): {', '.join(result.unmatched)}",
              file=sys.stderr)
    if result.unknown_codes:
        print(f"left out, codes that are no dimension or indicator of the codebook: {', '.join(result.unknown_codes)}",
              file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("names", help="the study's names to pseudonymise in exports",
                       description="Names replaced in every export made with --pseudonymise (and in "
                       "`fieldnote matrix --pseudonymise`), in any casing, with or without accents, with "
                       "possessive endings ('s, s, '), and however they were typed: any apostrophe or dash, "
                       "a hyphen, a space or nothing between their parts (Jan-Willem, Jan Willem), the "
                       "dotless ı, invisible characters inside, fullwidth letters.")
    names = p.add_subparsers(dest="names_command", metavar="ACTION", parser_class=type(p))
    names.required = True
    a = names.add_parser("add", help="add a name and its replacement")
    a.add_argument("name", help="a name as it is written, e.g. Johan or 'Jan de Vries'")
    a.add_argument("replacement", nargs="?", help="what to write instead (default: [name N])")
    a.set_defaults(func=cmd_names_add)
    a = names.add_parser("list", help="list the names and their replacements")
    a.set_defaults(func=cmd_names_list)
    a = names.add_parser("remove", help="remove a name from the list")
    a.add_argument("name")
    a.set_defaults(func=cmd_names_remove)
    a = names.add_parser("suggest", help="propose names from the transcripts",
                         description="Capitalised words in the transcripts that are not in the guide or its "
                         "codebook, never written in lower case, and not common sentence openers.")
    a.add_argument("sessions", type=_session_id, nargs="*", metavar="SESSION", help="only these sessions")
    a.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")
    a.set_defaults(func=cmd_names_suggest)

    p = sub.add_parser("respondents", help="respondents by number, with organisation and role",
                       description="Respondents appear in exports by number; their organisation and role "
                       "go into REFI-QDA projects as case attributes.")
    resp = p.add_subparsers(dest="respondents_command", metavar="ACTION", parser_class=type(p))
    resp.required = True
    a = resp.add_parser("list", help="list respondents with their attributes and sessions")
    a.set_defaults(func=cmd_respondents_list)
    a = resp.add_parser("set", help="record a respondent's organisation and role")
    a.add_argument("number", type=int, help="the respondent's number")
    a.add_argument("--organisation", "--organization", help="where the respondent works")
    a.add_argument("--role", help="the respondent's role or function")
    a.set_defaults(func=cmd_respondents_set)

    p = sub.add_parser("codebook", help="exchange codebooks with QDA software (REFI-QDA .qdc)")
    book = p.add_subparsers(dest="codebook_command", metavar="ACTION", parser_class=type(p))
    book.required = True
    a = book.add_parser("export", help="write a guide's codebook as .qdc")
    a.add_argument("session", type=_session_id, nargs="?", metavar="SESSION",
                   help="the codebook this session was coded with")
    a.add_argument("--guide", metavar="NAME", help="a guide's codebook instead of a session's")
    a.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output ('-': standard output)")
    a.set_defaults(func=cmd_codebook_export)
    a = book.add_parser("import", help="make a guide with the codebook of a .qdc (or .qdpx) file",
                        description="Merge a REFI-QDA codebook into a copy of a guide and save it as NAME in "
                        "your guides folder. Top-level codes become dimensions, the codes under them "
                        "indicators (each with its name as its first phrase). The guide's questions are kept. "
                        "When none of them is linked to a dimension yet (a guide just made with `guides new`), "
                        "each is linked to the dimension it shares the rarest words with, as "
                        "`drafted_questions` for you to check.")
    a.add_argument("file", metavar="FILE", help="a .qdc codebook or a .qdpx project")
    a.add_argument("--guide", required=True, metavar="NAME", help="the guide to write")
    a.add_argument("--from", dest="base", metavar="GUIDE",
                   help="the guide whose questions to keep (default: the guide called NAME)")
    a.add_argument("--replace", action="store_true",
                   help="drop dimensions and indicators the file does not have (default: keep them)")
    a.add_argument("--force", action="store_true", help="overwrite NAME if it is already in your guides folder")
    a.set_defaults(func=cmd_codebook_import)

    a = sub.add_parser("agreement", help="how far a second coder's codings (a .qdpx project) agree with yours",
                       description="Compare the codings here with a colleague's, brought back as a REFI-QDA "
                       "project (.qdpx) from fieldnote, ATLAS.ti, NVivo, MAXQDA or QualCoder: turn by turn, per "
                       "dimension, the turns each coded, the share of agreement and Cohen's kappa. Give them "
                       "the transcripts with `fieldnote export --all --format qdpx --no-codings -o FILE`. "
                       "Sources are matched to sessions by their text, codes to dimensions by GUID or name.")
    a.add_argument("file", metavar="FILE", help="the colleague's .qdpx project")
    a.add_argument("sessions", type=_session_id, nargs="*", metavar="SESSION",
                   help="only these sessions (default: every session the project holds)")
    a.add_argument("--coder", metavar="NAME",
                   help="whose codings in the project to compare (needed when it holds several coders')")
    a.add_argument("--indicators", action="store_true",
                   help="per indicator instead of per dimension (a code for a dimension alone counts for none)")
    a.add_argument("--disagreements", action="store_true",
                   help="list each turn only one coder coded, by dimension (with --format csv: only that list)")
    a.add_argument("--format", choices=["table", "csv"], default="table", help="table (default) or csv")
    a.add_argument("--settle", action="store_true",
                   help="open a screen of the figures and the turns only one of you coded, to settle them: take "
                   "their coding, drop yours, or open the turn in review")
    a.set_defaults(func=cmd_agreement)
