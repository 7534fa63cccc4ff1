"""What every command needs from its arguments: the store, and session ids typed by a person."""

from __future__ import annotations

import argparse
from pathlib import Path


def open_store(args):
    from core.store import Store

    return Store(Path(args.db) if args.db else None)


def session_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a session id (see `fieldnote sessions`)") from None
