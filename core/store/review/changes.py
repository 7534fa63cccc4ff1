"""The change recorder: every review edit is one transaction that can be undone and redone.

An edit runs in one transaction over a `Store` and records each row it touched, before and
after, as one entry of the `edits` table. Undo writes the before-images back in reverse order,
redo the after-images in order, so one mechanism serves every kind of edit (corrections, coding,
memos, bookmarks, and the re-transcription in core/pipeline/retranscribe.py). An undo or redo
refuses when a row it would restore has changed since by other means: it never overwrites work
it did not record.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from core.base.errors import UserError
from core.store.database import Store, now_iso

# Undo history kept per session; older entries are dropped when a new edit is recorded.
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Edit:
    id: int
    session_id: int | None
    label: str
    at: str
    undone: bool


class Changes:
    """Row writes inside one edit; each keeps the row's image before and after."""

    def __init__(self, store: Store):
        self.db = store.db
        self.items: list[tuple[str, int, dict | None, dict | None]] = []
        self.edit_id: int | None = None  # the undo log's entry, once recorded

    def get(self, table: str, pk: int) -> dict | None:
        cur = self.db.execute(f"select * from [{table}] where id = ?", [pk])
        row = cur.fetchone()
        return None if row is None else dict(zip((d[0] for d in cur.description), row))

    def insert(self, table: str, values: dict) -> int:
        cols = list(values)
        cur = self.db.execute(
            f"insert into [{table}] ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})",
            [values[c] for c in cols],
        )
        pk = int(cur.lastrowid)
        self.items.append((table, pk, None, self.get(table, pk)))
        return pk

    def update(self, table: str, pk: int, values: dict) -> None:
        before = self.get(table, pk)
        if before is None:
            raise UserError(f"no {table[:-1]} {pk}")
        if all(before.get(k) == v for k, v in values.items()):
            return
        sets = ", ".join(f"[{c}] = ?" for c in values)
        self.db.execute(f"update [{table}] set {sets} where id = ?", [*values.values(), pk])
        self.items.append((table, pk, before, self.get(table, pk)))

    def delete(self, table: str, pk: int) -> None:
        before = self.get(table, pk)
        if before is None:
            return
        self.db.execute(f"delete from [{table}] where id = ?", [pk])
        self.items.append((table, pk, before, None))


@contextmanager
def recorded(store: Store, session_id: int | None, label: str) -> Iterator[Changes]:
    """One edit: its writes and its entry in the undo log commit together or not at all."""
    with store.db.atomic():
        changes = Changes(store)
        yield changes
        if changes.items:
            db = store.db
            # A new edit ends the redo branch: what was undone before it cannot come back.
            db.execute("delete from edits where session_id is ? and undone = 1", [session_id])
            changes.edit_id = db.execute(
                "insert into edits (session_id, at, label, changes, undone) values (?, ?, ?, ?, 0)",
                [session_id, now_iso(), label, json.dumps(changes.items, ensure_ascii=False)],
            ).lastrowid
            db.execute(
                """delete from edits where session_id is ? and id not in
                   (select id from edits where session_id is ? order by id desc limit ?)""",
                [session_id, session_id, HISTORY_LIMIT],
            )


def _restore(changes: Changes, table: str, pk: int, expect: dict | None, target: dict | None, label: str) -> None:
    current = changes.get(table, pk)
    if current != expect:
        raise UserError(
            f"cannot undo or redo “{label}”: {table} row {pk} has changed since by other means"
        )
    db = changes.db
    if target is None:
        db.execute(f"delete from [{table}] where id = ?", [pk])
    elif current is None:
        cols = list(target)
        db.execute(
            f"insert into [{table}] ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})",
            [target[c] for c in cols],
        )
    else:
        cols = [c for c in target if c != "id"]
        db.execute(
            f"update [{table}] set {', '.join(f'[{c}] = ?' for c in cols)} where id = ?",
            [*(target[c] for c in cols), pk],
        )


def _edit_row(row) -> Edit:
    return Edit(id=row[0], session_id=row[1], label=row[2], at=row[3], undone=bool(row[4]))


def undo(store: Store, session_id: int | None) -> Edit | None:
    """Undo the session's latest edit; None when there is nothing to undo."""
    with store.db.atomic():
        row = store.db.execute(
            "select id, session_id, label, at, undone, changes from edits "
            "where session_id is ? and undone = 0 order by id desc limit 1",
            [session_id],
        ).fetchone()
        if row is None:
            return None
        changes = Changes(store)
        for table, pk, before, after in reversed(json.loads(row[5])):
            _restore(changes, table, pk, after, before, row[2])
        store.db.execute("update edits set undone = 1 where id = ?", [row[0]])
    return _edit_row(row)


def redo(store: Store, session_id: int | None) -> Edit | None:
    """Redo the edit undone last; None when there is nothing to redo."""
    with store.db.atomic():
        row = store.db.execute(
            "select id, session_id, label, at, undone, changes from edits "
            "where session_id is ? and undone = 1 order by id limit 1",
            [session_id],
        ).fetchone()
        if row is None:
            return None
        changes = Changes(store)
        for table, pk, before, after in json.loads(row[5]):
            _restore(changes, table, pk, before, after, row[2])
        store.db.execute("update edits set undone = 0 where id = ?", [row[0]])
    return _edit_row(row)


def history(store: Store, session_id: int | None, limit: int = 50) -> list[Edit]:
    rows = store.db.execute(
        "select id, session_id, label, at, undone from edits where session_id is ? order by id desc limit ?",
        [session_id, limit],
    ).fetchall()
    return [_edit_row(r) for r in rows]
