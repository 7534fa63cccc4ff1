"""What every command needs: the store, session ids typed by a person, output paths checked
before anything is written, and the exit status of an error the user can fix."""

from __future__ import annotations

import argparse
from pathlib import Path

# argparse's own exit status for a bad command line is 2 as well.
EXIT_USER_ERROR = 2


def open_store(args):
    from core.store.database import Store

    return Store(Path(args.db) if args.db else None)


def session_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a session id (see `fieldnote sessions`)") from None


def output_path(args, path: str | None) -> Path | None:
    """An -o argument: None for standard output (no path, or '-', as other tools take it). A path
    that is the study's database (or its journal), lies in a recording's folder, is fieldnote's
    log or settings, or lies among the guides, language files or models (the user's or the
    bundled ones) is refused: writing an export there would destroy the study, a recording, or a
    guide that every later session is followed and coded by."""
    if not path or path == "-":
        return None
    from core.base import paths
    from core.base.errors import UserError

    db = (Path(args.db) if getattr(args, "db", None) else paths.default_db()).resolve()
    target = Path(path).resolve()
    if target in {db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))}:
        raise UserError(f"{path} is the study's database ({db}); write the export to another file")
    recordings = paths.sessions_dir(db).resolve()
    if target.is_relative_to(recordings):
        raise UserError(f"{path} is in the folder of the study's recordings ({recordings}); "
                        "write the export somewhere else")
    from core.base.log import log_path

    for own, what in ((log_path(), "fieldnote's log"), (paths.config_file(), "fieldnote's settings")):
        if target == own.resolve():
            raise UserError(f"{path} is {what} ({own}); write the export to another file")
    for folder, what in ((paths.guides_dir(), "your guides"), (paths.BUNDLED_GUIDES, "the guides fieldnote ships with"),
                         (paths.languages_dir(), "your language files"), (paths.models_dir(), "the Whisper models")):
        folder = folder.resolve()
        if target == folder or target.is_relative_to(folder):
            raise UserError(f"{path} is in the folder of {what} ({folder}); write the export somewhere else")
    return Path(path)


def add_hearing_argument(p) -> None:
    """--hearing: how Whisper is told what to expect during a session (core.understanding.hearing)."""
    from core.understanding.hearing import LIVE_MODE, MODES

    p.add_argument("--hearing", choices=MODES, default=None,
                   help=f"what Whisper is told to expect: guided (the next questions for the interviewer, the "
                   f"codebook's words and the case for the respondent), previous (the speaker's last words), "
                   f"both, or plain (nothing); default {LIVE_MODE}")
