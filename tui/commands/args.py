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
    that is the study's database (or its journal) or lies in a recording's folder is refused:
    writing an export there would destroy the study or a recording."""
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
    return Path(path)
