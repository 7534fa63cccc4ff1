"""A session as the review screen reads it, and the lookups the edits share: a session's
guide, a segment's neighbours in time, the memos on a thing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache

from core.base.errors import UserError
from core.study.guide import Guide, parse_guide
from core.store.database import Store


@lru_cache(maxsize=16)
def _parse_cached(digest: str, text: str, source: str) -> Guide:
    return parse_guide(text, source=source)


def guide_of_session(store: Store, session_id: int) -> Guide:
    row = store.db.execute(
        "select guide_toml, guide_digest from sessions where id = ?", [session_id]
    ).fetchone()
    if row is None:
        raise UserError(f"no session {session_id} (see `fieldnote sessions`)")
    return _parse_cached(row[1] or "", row[0], f"session {session_id} guide")


def memos_on(store: Store, target: str, target_id: int | str) -> list[dict]:
    return list(
        store.db.query("select * from memos where target = ? and target_id = ? order by id", [target, str(target_id)])
    )


def neighbours(store: Store, segment_id: int) -> tuple[dict | None, dict | None]:
    """The segments before and after this one in the session's time order."""
    seg = store.db.execute("select session_id, coalesce(start, 0), id from segments where id = ?", [segment_id]).fetchone()
    if seg is None:
        raise UserError(f"no segment {segment_id}")
    sid, start, _ = seg
    prev = next(
        store.db.query(
            "select * from segments where session_id = ? and (coalesce(start, 0) < ? or (coalesce(start, 0) = ? and id < ?)) "
            "order by coalesce(start, 0) desc, id desc limit 1",
            [sid, start, start, segment_id],
        ),
        None,
    )
    nxt = next(
        store.db.query(
            "select * from segments where session_id = ? and (coalesce(start, 0) > ? or (coalesce(start, 0) = ? and id > ?)) "
            "order by coalesce(start, 0), id limit 1",
            [sid, start, start, segment_id],
        ),
        None,
    )
    return prev, nxt


@dataclass
class SessionForReview:
    session: dict
    guide: Guide
    segments: list[dict]  # each with "codings", "suggestions", "memos" and "bookmarks" lists
    memos: list[dict] = field(default_factory=list)  # on the session and on dimensions
    coding_memos: dict[int, list[dict]] = field(default_factory=dict)
    bookmarks: list[dict] = field(default_factory=list)  # in time order, each also on its segment


def bookmark_places(segments: list[dict], bookmarks: list[dict]) -> list[int]:
    """For each bookmark, the index of the segment it belongs after: the last one that had
    begun when it was made (so it reads between that segment and the next). A bookmark made
    before anyone spoke belongs to the first segment. `segments` are in time order."""
    starts = [s["start"] or 0.0 for s in segments]
    return [max(0, bisect.bisect_right(starts, b["at"]) - 1) for b in bookmarks]


def load_session(store: Store, session_id: int) -> SessionForReview:
    """Everything the review screen shows, in five queries whatever the session's length."""
    session = store.session(session_id)
    guide = guide_of_session(store, session_id)
    segments = store.segments(session_id)
    by_id = {s["id"]: s for s in segments}
    for s in segments:
        s["codings"], s["suggestions"], s["memos"], s["bookmarks"] = [], [], [], []
    bookmarks = store.bookmarks(session_id)
    if segments:
        for b, i in zip(bookmarks, bookmark_places(segments, bookmarks)):
            segments[i]["bookmarks"].append(b)
    for c in store.db.query(
        "select c.* from codings c join segments g on g.id = c.segment_id where g.session_id = ? order by c.id",
        [session_id],
    ):
        by_id[c["segment_id"]]["codings"].append(c)
    for x in store.db.query(
        "select x.* from suggestions x join segments g on g.id = x.segment_id where g.session_id = ? "
        "order by x.segment_id, x.rank",
        [session_id],
    ):
        by_id[x["segment_id"]]["suggestions"].append(x)
    other: list[dict] = []
    coding_memos: dict[int, list[dict]] = {}
    for m in store.memos(session_id):
        if m["target"] == "segment" and m["target_id"] and int(m["target_id"]) in by_id:
            by_id[int(m["target_id"])]["memos"].append(m)
        elif m["target"] == "coding" and m["target_id"]:
            coding_memos.setdefault(int(m["target_id"]), []).append(m)
        else:
            other.append(m)
    return SessionForReview(session, guide, segments, other, coding_memos, bookmarks)


def dimension_memos(store: Store, dimension_id: str) -> list[dict]:
    """Memos on a dimension, from every session and from the comparison (no session), oldest first."""
    return memos_on(store, "dimension", dimension_id)


def segment_record(store: Store, segment_id: int) -> dict | None:
    """One segment as `load_session` gives it; None if it no longer exists."""
    rows = list(store.db.query("select * from segments where id = ?", [segment_id]))
    if not rows:
        return None
    seg = rows[0]
    seg["codings"] = store.codings_for([segment_id])[segment_id]
    seg["suggestions"] = store.suggestions_for([segment_id])[segment_id]
    seg["memos"] = memos_on(store, "segment", segment_id)
    prev, nxt = neighbours(store, segment_id)
    low = (seg["start"] or 0.0) if prev is not None else float("-inf")
    high = (nxt["start"] or 0.0) if nxt is not None else float("inf")
    seg["bookmarks"] = [b for b in store.bookmarks(seg["session_id"]) if low <= b["at"] < high]
    return seg
