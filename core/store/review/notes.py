"""Memos (on a session, a segment, a coding or a dimension) and bookmarks added in review, each
one undoable edit (core/store/review/changes.py).
"""

from __future__ import annotations

from core.base.errors import UserError
from core.store.database import Store, now_iso, tidy_note
from core.store.review.changes import recorded

MEMO_TARGETS = ("session", "segment", "coding", "dimension")


# --- memos ------------------------------------------------------------------------------------


def add_memo(store: Store, session_id: int | None, target: str, target_id: int | str | None, text: str) -> int:
    """A memo on the session, a segment, a coding or a dimension (a dimension id)."""
    text = text.strip()
    if not text:
        raise UserError("a memo needs some text")
    if target not in MEMO_TARGETS:
        raise UserError(f"a memo is on one of {', '.join(MEMO_TARGETS)}, not {target!r}")
    if target == "session":
        target_id = session_id
    if target in ("segment", "coding"):
        table = "segments" if target == "segment" else "codings"
        if target_id is None or store.db.execute(f"select 1 from {table} where id = ?", [target_id]).fetchone() is None:
            raise UserError(f"no {target} {target_id}")
    with recorded(store, session_id, f"memo on {target}") as ch:
        return ch.insert(
            "memos",
            {
                "session_id": session_id,
                "target": target,
                "target_id": None if target_id is None else str(target_id),
                "text": text,
                "created_at": now_iso(),
            },
        )


def edit_memo(store: Store, memo_id: int, text: str) -> None:
    text = text.strip()
    row = store.db.execute("select session_id from memos where id = ?", [memo_id]).fetchone()
    if row is None:
        raise UserError(f"no memo {memo_id}")
    if not text:
        delete_memo(store, memo_id)
        return
    with recorded(store, row[0], "edit memo") as ch:
        ch.update("memos", memo_id, {"text": text})


def delete_memo(store: Store, memo_id: int) -> None:
    row = store.db.execute("select session_id from memos where id = ?", [memo_id]).fetchone()
    if row is None:
        raise UserError(f"no memo {memo_id}")
    with recorded(store, row[0], "delete memo") as ch:
        ch.delete("memos", memo_id)


# --- bookmarks --------------------------------------------------------------------------------


def bookmark_time(segment: dict, following: dict | None) -> float | None:
    """When a bookmark added in review after `segment` is placed: at its end, so it reads
    between it and `following` (the next segment); at its start when it has no end or its end
    runs past the next one's start. None for a segment without times."""
    start, end = segment["start"], segment["end"]
    if start is None:
        return None
    later = following["start"] if following is not None else None
    # Compared as stored (to the hundredth) so the bookmark cannot land on the next one's start.
    if end is not None and end >= start and (later is None or round(end, 2) < later):
        return end
    return start


def _bookmark_session(store: Store, bookmark_id: int) -> int:
    row = store.db.execute("select session_id from live_bookmarks where id = ?", [bookmark_id]).fetchone()
    if row is None:
        raise UserError(f"no bookmark {bookmark_id}")
    return row[0]


def add_bookmark(store: Store, session_id: int, at: float, note: str | None = None) -> int:
    """A bookmark at `at` session seconds, added in review as one undoable edit; returns its id.
    The note is stored as the live screen stores one: whitespace collapsed, none when empty."""
    if store.db.execute("select 1 from sessions where id = ?", [session_id]).fetchone() is None:
        raise UserError(f"no session {session_id} (see `fieldnote sessions`)")
    at = float(at)
    if not at >= 0 or at == float("inf"):
        raise UserError(f"a bookmark marks a moment of the session: {at} is not a time in seconds")
    with recorded(store, session_id, "add bookmark") as ch:
        return ch.insert(
            "live_bookmarks",
            {"session_id": session_id, "at": round(at, 2), "note": tidy_note(note), "created_at": now_iso()},
        )


def edit_bookmark(store: Store, bookmark_id: int, note: str | None) -> None:
    """Replace a bookmark's note. An empty note keeps the bookmark without a note (unlike a
    memo, which an empty text deletes): the moment stays marked; `delete_bookmark` removes it."""
    session_id = _bookmark_session(store, bookmark_id)
    with recorded(store, session_id, "edit bookmark note") as ch:
        ch.update("live_bookmarks", bookmark_id, {"note": tidy_note(note)})


def delete_bookmark(store: Store, bookmark_id: int) -> None:
    session_id = _bookmark_session(store, bookmark_id)
    with recorded(store, session_id, "delete bookmark") as ch:
        ch.delete("live_bookmarks", bookmark_id)
