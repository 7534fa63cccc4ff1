"""Deleting a session for good: its rows in every table, its full-text index entries, its audio.

The tables are found from the schema, not listed here, so a table added later is covered:
a row goes when it refers to a row that goes, through a foreign key, through a column named
`<thing>_id` for a table `<thing>s` (a table whose author left out the foreign key), or through
a `target`/`target_id` pair (a memo on a segment or a coding). Starting from the session's row
this is followed until nothing more is found.

All rows go in one transaction, with foreign keys checked at its end: if anything still
referred to a deleted row, nothing is deleted. `secure_delete` overwrites the freed pages,
the full-text index is rebuilt without the deleted entries, and the write-ahead log is
emptied, so the words do not linger in the database file either.

The audio folder is deleted only when it is fieldnote's own (in the `sessions` folder next to
the database): the demo's sessions point at the bundled sample tracks, which must stay.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from core.audio.trackfiles import LOCK_NAME
from core.base import paths
from core.base.errors import UserError
from core.store.database import Store, chunks


@dataclass
class Deletion:
    session_id: int
    title: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows, the session's row included
    index_entries: int = 0  # full-text index entries
    audio_dir: Path | None = None
    audio_files: int = 0
    audio_bytes: int = 0
    audio_kept: str | None = None  # why the audio folder stays, when it does
    wal_emptied: bool = True

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class _Link:
    child: str
    column: str
    parent: str
    parent_column: str
    target: str | None = None  # for target/target_id pairs: the value of `target`


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' "
            "and sql not like 'CREATE VIRTUAL TABLE%' order by name"
        )
    ]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"pragma table_info([{table}])")]


def _links(conn: sqlite3.Connection) -> list[_Link]:
    tables = _tables(conn)
    known = set(tables)
    links: set[_Link] = set()
    for table in tables:
        columns = _columns(conn, table)
        declared = set()
        for fk in conn.execute(f"pragma foreign_key_list([{table}])"):
            # (id, seq, table, from, to, on_update, on_delete, match); `to` is None for the pk
            parent, column, parent_column = fk[2], fk[3], f"[{fk[4]}]" if fk[4] else "rowid"
            links.add(_Link(table, column, parent, parent_column))
            declared.add(column)
        for column in columns:
            if column in declared or not column.endswith("_id"):
                continue
            parent = column[: -len("_id")] + "s"
            if parent in known and parent != table and "id" in _columns(conn, parent):
                links.add(_Link(table, column, parent, "[id]"))
        if "target" in columns and "target_id" in columns:
            for parent in known:
                if parent.endswith("s") and parent != table and not parent.startswith("_") \
                        and "id" in _columns(conn, parent):
                    links.add(_Link(table, "target_id", parent, "[id]", target=parent[:-1]))
    return sorted(links, key=lambda x: (x.child, x.column, x.parent, x.target or ""))


# Rows per statement: a key of a WITHOUT ROWID table takes up to three parameters a row, and
# SQLite's limit may be as low as 999.
CHUNK = 300


def _key(conn: sqlite3.Connection, table: str) -> list[str]:
    """How to name one row: its rowid, or the primary key of a WITHOUT ROWID table."""
    try:
        conn.execute(f"select rowid from [{table}] limit 0")
        return ["rowid"]
    except sqlite3.OperationalError:
        info = sorted((r[5], r[1]) for r in conn.execute(f"pragma table_info([{table}])") if r[5])
        return [f"[{name}]" for _, name in info]


def _where_key(keys: list[str], rows: list[tuple]) -> tuple[str, list]:
    if len(keys) == 1:
        return f"{keys[0]} in ({','.join('?' * len(rows))})", [r[0] for r in rows]
    marks = ",".join("(" + ",".join("?" * len(keys)) + ")" for _ in rows)
    return f"({','.join(keys)}) in (values {marks})", [v for r in rows for v in r]


def _doomed(conn: sqlite3.Connection, session_id: int) -> dict[str, set[tuple]]:
    """The key of every row to delete, by table."""
    keys: dict[str, list[str]] = {}

    def key(table: str) -> list[str]:
        if table not in keys:
            keys[table] = _key(conn, table)
        return keys[table]

    doomed: dict[str, set[tuple]] = {"sessions": {tuple(r) for r in conn.execute(
        f"select {','.join(key('sessions'))} from sessions where id = ?", [session_id])}}
    links = _links(conn)
    changed = True
    while changed:
        changed = False
        for link in links:
            parent_rows = doomed.get(link.parent)
            if not parent_rows:
                continue
            parent_column = link.parent_column if link.parent_column != "rowid" else key(link.parent)[0]
            values: list = []
            for chunk in chunks(sorted(parent_rows), CHUNK):
                where, params = _where_key(key(link.parent), chunk)
                values += [r[0] for r in conn.execute(f"select {parent_column} from [{link.parent}] where {where}", params)]
            if link.target is not None:
                values = [str(v) for v in values]  # target_id holds text: an id or a dimension's name
            found: set[tuple] = set()
            for chunk in chunks(values, CHUNK):
                where = f"[{link.column}] in ({','.join('?' * len(chunk))})"
                params = list(chunk)
                if link.target is not None:
                    where += " and target = ?"
                    params.append(link.target)
                found |= {tuple(r) for r in conn.execute(
                    f"select {','.join(key(link.child))} from [{link.child}] where {where}", params)}
            new = found - doomed.get(link.child, set())
            if new:
                doomed.setdefault(link.child, set()).update(new)
                changed = True
    return {t: rows for t, rows in doomed.items() if rows}


def _fts_tables(conn: sqlite3.Connection) -> dict[str, str]:
    """content table -> its full-text index (sqlite-utils makes external-content FTS tables)."""
    out = {}
    for name, sql in conn.execute(
        "select name, sql from sqlite_master where type = 'table' and sql like 'CREATE VIRTUAL TABLE%'"
    ):
        if re.search(r"using\s+fts[345]", sql or "", re.I):
            content = re.search(r"content\s*=\s*['\"\[]?(\w+)", sql, re.I)
            if content:
                out[content.group(1)] = name
    return out


def _has_delete_trigger(conn: sqlite3.Connection, table: str, fts: str) -> bool:
    for (sql,) in conn.execute("select sql from sqlite_master where type = 'trigger' and tbl_name = ?", [table]):
        lowered = (sql or "").lower()
        if "after delete" in lowered and fts.lower() in lowered:
            return True
    return False


def _own_audio_dir(store: Store, folder: Path) -> bool:
    try:
        root = paths.sessions_dir(store.path).resolve()
        target = folder.resolve()
    except OSError:
        return False
    return root in target.parents


def _lock_held(folder: Path) -> bool:
    """Whether a recording process holds the session's lock (see core/audio/trackfiles.py)."""
    lock = folder / LOCK_NAME
    return lock.exists() and paths.held_by_another(lock)


def plan_deletion(store: Store, session_id: int) -> Deletion:
    """What deleting the session would remove, without removing anything."""
    row = store.session(session_id)  # a clear error for an unknown id
    conn = store.db.conn
    doomed = _doomed(conn, session_id)
    plan = Deletion(session_id, row["title"] or f"session {session_id}")
    plan.rows = {table: len(rows) for table, rows in sorted(doomed.items())}
    for content, fts in _fts_tables(conn).items():
        plan.index_entries += len(doomed.get(content, ()))
    if row["audio_dir"]:
        folder = Path(row["audio_dir"])
        plan.audio_dir = folder
        if not _own_audio_dir(store, folder):
            plan.audio_kept = "not in fieldnote's sessions folder (sample or imported audio stays where it is)"
        elif folder.is_dir():
            for f in folder.rglob("*"):
                if f.is_file():
                    plan.audio_files += 1
                    plan.audio_bytes += f.stat().st_size
        else:
            plan.audio_kept = "already gone"
    if row["status"] == "recording" and plan.audio_dir is not None and _lock_held(plan.audio_dir):
        raise UserError(f"session {session_id} is being recorded by a running fieldnote; stop that recording first")
    return plan


def delete_session(store: Store, session_id: int) -> Deletion:
    """Delete the session's rows, index entries and audio; returns what was removed."""
    plan = plan_deletion(store, session_id)
    conn = store.db.conn
    doomed = _doomed(conn, session_id)

    # Moved aside first, so a failed transaction can put it back and a crash leaves no half.
    parked: Path | None = None
    if plan.audio_dir is not None and plan.audio_kept is None:
        parked = plan.audio_dir.with_name(f".deleting-{plan.audio_dir.name}")
        try:
            if parked.exists():
                shutil.rmtree(parked)
            os.replace(plan.audio_dir, parked)
        except OSError as exc:
            raise UserError(f"{plan.audio_dir}: cannot remove the session's audio ({exc.strerror or exc}); "
                            "nothing was deleted") from None

    fts = _fts_tables(conn)
    try:
        conn.execute("pragma secure_delete = on")
        with store.db.atomic():
            conn.execute("pragma defer_foreign_keys = on")
            for table, rows in doomed.items():
                index = fts.get(table)
                manual_index = index is not None and not _has_delete_trigger(conn, table, index)
                keys = _key(conn, table)
                for chunk in chunks(sorted(rows), CHUNK):
                    where, params = _where_key(keys, chunk)
                    if manual_index:
                        conn.execute(f"delete from [{index}] where {where}", params)
                    conn.execute(f"delete from [{table}] where {where}", params)
            for table in doomed:
                if table in fts:
                    # Merges the index so the deleted entries' terms leave its pages.
                    conn.execute(f"insert into [{fts[table]}]([{fts[table]}]) values ('optimize')")
    except sqlite3.Error as exc:
        if parked is not None:
            os.replace(parked, plan.audio_dir)
        raise UserError(f"session {session_id}: nothing was deleted ({exc})") from None
    finally:
        try:
            conn.execute("pragma secure_delete = off")
        except sqlite3.Error:
            pass

    if parked is not None:
        shutil.rmtree(parked, ignore_errors=True)
        if parked.exists():
            plan.audio_kept = f"could not remove all of {parked}; delete that folder by hand"
    if store.path is not None:
        busy, _, _ = conn.execute("pragma wal_checkpoint(truncate)").fetchone()
        plan.wal_emptied = busy == 0
    return plan
