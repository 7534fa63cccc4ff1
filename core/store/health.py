"""Whether a database file is sound, read without writing to it (for `fieldnote doctor`).

Opening it as a `Store` would apply pending migrations and switch it to WAL: a check must leave a
damaged or newer database exactly as it found it, so this reads it read-only instead.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from core.store.migrations import migrations


class Unreadable(Exception):
    """SQLite could not open the file (`opening`) or read it; the message is SQLite's."""

    def __init__(self, error: sqlite3.Error, *, opening: bool = False):
        super().__init__(error)
        self.opening = opening


@dataclass(frozen=True)
class Health:
    problems: list[str] = field(default_factory=list)  # what the integrity check found; none: sound
    fieldnote: bool = False  # whether it is a fieldnote database (has its sessions table)
    known: list[str] = field(default_factory=list)  # the migrations this fieldnote has
    applied: list[str] = field(default_factory=list)  # the migrations the database has had
    sessions: int = 0
    segments: int = 0


def examine(path: Path) -> Health:
    """The file's integrity and, when sound and a fieldnote database, its migrations and size.
    Raises Unreadable when SQLite cannot open or read it."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise Unreadable(exc, opening=True) from None
    try:
        problems = [r[0] for r in conn.execute("pragma integrity_check(20)")]
        if problems != ["ok"]:
            return Health(problems=problems)
        db = sqlite_utils.Database(conn)
        if "sessions" not in db.table_names():
            return Health()
        return Health(
            fieldnote=True,
            known=[m.name for m in migrations._migrations],
            applied=[m.name for m in migrations.applied(db)],
            sessions=conn.execute("select count(*) from sessions").fetchone()[0],
            segments=conn.execute("select count(*) from segments").fetchone()[0],
        )
    except sqlite3.DatabaseError as exc:
        raise Unreadable(exc) from None
    finally:
        conn.close()
