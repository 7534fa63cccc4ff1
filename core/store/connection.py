"""The SQLite connection a `Store` works through: transactions that take the write lock as they
begin, and a full disk told apart from a damaged file, so the user hears which one it is.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import sqlite_utils

from core.base.errors import UserError


class DiskFull(UserError):
    """The disk under the database is full: the change was rolled back, the database is as it was."""

    def __init__(self, path: Path | None, *, opening: bool = False):
        what = ("it cannot be opened (SQLite needs a little room beside it even to read it)" if opening
                else "the last change was not stored; the database is as it was before it")
        super().__init__(
            f"{path or 'the database'}: the disk is full, so {what}. Free some space on that disk and try again"
        )


def disk_full(exc: sqlite3.Error, path: Path | None) -> bool:
    """Whether SQLite failed because the disk is full.

    SQLite says so (SQLITE_FULL) when a write finds no room, but opening a database in WAL mode
    on a full disk fails while mapping its shared-memory file, as a plain 'disk I/O error'.
    """
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return True
    if code != sqlite3.SQLITE_IOERR or path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < 2**20
    except OSError:
        return False


class ReadOnly(UserError):
    """The database, or the folder it lives in, cannot be written: nothing was changed."""

    def __init__(self, path: Path | None, blocked: Path, *, opening: bool = False):
        what = "the folder" if blocked != path else "the database file"
        happened = ("so the study cannot be opened (SQLite writes beside the database even to read it)" if opening
                    else "so the last change was not stored; the database is as it was before it")
        super().__init__(
            f"{blocked}: {what} is read-only, {happened}. Make it writable for you (or remount its disk "
            "read-write), or copy the database to a folder you can write to and give that copy with --db"
        )


_NOT_WRITTEN = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM}


def read_only(exc: sqlite3.Error, path: Path | None) -> Path | None:
    """What cannot be written (the database's folder, else the file) when that is why SQLite
    failed; None when the failure is something else (a damaged file, a full disk)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if path is None or code not in _NOT_WRITTEN:
        return None
    return unwritable(path)


def unwritable(path: Path) -> Path | None:
    """The database's folder or the file itself when this process cannot write it."""
    import os

    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return folder
    if path.exists() and not os.access(path, os.W_OK):
        return path
    return None


class LockingDatabase(sqlite_utils.Database):
    """sqlite-utils' Database whose transactions take the write lock as they begin.

    Another process (a recording, an export) may write at any moment. A plain BEGIN that reads
    before it writes -- and sqlite-utils reads the schema before every insert -- cannot wait for
    that write to finish: SQLite answers 'database is locked' at once instead of calling the
    busy handler. BEGIN IMMEDIATE waits its turn (busy_timeout) and then sees the latest rows.
    """

    path: Path | None = None  # for messages; the Store sets it

    @contextlib.contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():  # nested: a savepoint
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.conn.execute("COMMIT")
        except BaseException as exc:
            self.rollback()
            if isinstance(exc, sqlite3.Error) and disk_full(exc, self.path):
                raise DiskFull(self.path) from None
            blocked = read_only(exc, self.path) if isinstance(exc, sqlite3.Error) else None
            if blocked is not None:
                raise ReadOnly(self.path, blocked) from None
            raise
