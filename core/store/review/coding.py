"""Coding after the interview: suggestions accepted, rejected or changed, codings added and
removed, and finding an indicator by a typed fragment. Each change is one undoable edit
(core/store/review/changes.py).
"""

from __future__ import annotations

from typing import Sequence

from core.base.errors import UserError
from core.study.guide import Guide
from core.store.database import Store, now_iso
from core.store.review.changes import Changes, recorded
from core.store.review.loading import guide_of_session, memos_on


def _suggestion(store: Store, suggestion_id: int) -> tuple[dict, int]:
    row = next(
        store.db.query(
            "select x.*, g.session_id from suggestions x join segments g on g.id = x.segment_id where x.id = ?",
            [suggestion_id],
        ),
        None,
    )
    if row is None:
        raise UserError(f"no suggestion {suggestion_id}")
    return row, row.pop("session_id")


def _drop_coding(ch: Changes, store: Store, coding_id: int) -> None:
    for memo in memos_on(store, "coding", coding_id):
        ch.delete("memos", memo["id"])
    ch.delete("codings", coding_id)


def accept_suggestion(store: Store, suggestion_id: int) -> int:
    """Accept a suggestion: it codes the whole segment. Returns the coding's id."""
    s, session_id = _suggestion(store, suggestion_id)
    with recorded(store, session_id, "accept suggestion") as ch:
        return _accept(ch, store, s)


def _accept(ch: Changes, store: Store, s: dict) -> int:
    ch.update("suggestions", s["id"], {"state": "accepted"})
    existing = store.db.execute(
        "select id from codings where segment_id = ? and indicator_id = ? and start_offset is null",
        [s["segment_id"], s["indicator_id"]],
    ).fetchone()
    if existing:
        return int(existing[0])
    return ch.insert(
        "codings",
        {
            "segment_id": s["segment_id"],
            "dimension_id": s["dimension_id"],
            "indicator_id": s["indicator_id"],
            "start_offset": None,
            "end_offset": None,
            "origin": "suggestion",
            "suggestion_id": s["id"],
            "created_at": now_iso(),
        },
    )


def confident_suggestions(store: Store, session_id: int, at_least: float) -> list[dict]:
    """The session's open suggestions on respondent segments scoring `at_least` or more.

    A suggestion's score is the chance that the researcher codes the passage with its
    dimension (calibrated on the reference study), so 0.8 takes those right about 9 times in 10.
    """
    return list(store.db.query(
        """select x.* from suggestions x join segments g on g.id = x.segment_id
           where g.session_id = ? and g.speaker = 'respondent' and x.state = 'pending' and x.score >= ?
           order by g.start is null, g.start, g.id, x.score desc""",
        [session_id, at_least],
    ))


def accept_confident(store: Store, session_id: int, at_least: float) -> int:
    """Accept every open suggestion of the session scoring `at_least` or more, as one edit
    (one undo takes them all back). Returns how many were accepted."""
    if not 0.0 < at_least <= 1.0:
        raise UserError(f"a score to accept from is above 0 and at most 1, not {at_least:g}")
    chosen = confident_suggestions(store, session_id, at_least)
    if not chosen:
        return 0
    label = f"accept {len(chosen)} suggestion{'' if len(chosen) == 1 else 's'} scoring {at_least:g} or more"
    with recorded(store, session_id, label) as ch:
        for s in chosen:
            _accept(ch, store, s)
    return len(chosen)


def reject_suggestion(store: Store, suggestion_id: int) -> None:
    """Reject a suggestion; if it had been accepted, the coding it made goes too."""
    _, session_id = _suggestion(store, suggestion_id)
    with recorded(store, session_id, "reject suggestion") as ch:
        _reject(ch, store, suggestion_id)


def _reject(ch: Changes, store: Store, suggestion_id: int) -> None:
    ch.update("suggestions", suggestion_id, {"state": "rejected"})
    for (coding_id,) in store.db.execute("select id from codings where suggestion_id = ?", [suggestion_id]).fetchall():
        _drop_coding(ch, store, coding_id)


def change_suggestion(store: Store, suggestion_id: int, indicator_id: str) -> int:
    """The suggested code was wrong, this one is right: reject it and code the segment with
    `indicator_id` instead (suggestions learn from both). Returns the new coding's id."""
    s, session_id = _suggestion(store, suggestion_id)
    indicator = _indicator(store, session_id, indicator_id)
    with recorded(store, session_id, "change suggestion") as ch:
        _reject(ch, store, suggestion_id)
        return ch.insert(
            "codings",
            {
                "segment_id": s["segment_id"],
                "dimension_id": indicator.dimension_id,
                "indicator_id": indicator.id,
                "start_offset": None,
                "end_offset": None,
                "origin": "manual",
                "suggestion_id": None,
                "created_at": now_iso(),
            },
        )


def _indicator(store: Store, session_id: int, indicator_id: str):
    guide = guide_of_session(store, session_id)
    try:
        return guide.indicator(indicator_id)
    except KeyError:
        raise UserError(f"the guide {guide.id} has no indicator {indicator_id!r}") from None


def add_coding(store: Store, segment_id: int, indicator_id: str, start: int | None = None, end: int | None = None) -> int:
    """Code a segment (or the span start:end of its text) with an indicator of its guide."""
    row = store.db.execute("select session_id, text from segments where id = ?", [segment_id]).fetchone()
    if row is None:
        raise UserError(f"no segment {segment_id}")
    session_id, text = row
    indicator = _indicator(store, session_id, indicator_id)
    if (start is None) != (end is None):
        raise UserError("a coded span needs both a start and an end")
    if start is not None:
        if not 0 <= start < end <= len(text):
            raise UserError(f"span {start}:{end} is outside the segment's text (0:{len(text)})")
        if start == 0 and end == len(text):
            start = end = None
    with recorded(store, session_id, f"code {indicator.name}") as ch:
        return ch.insert(
            "codings",
            {
                "segment_id": segment_id,
                "dimension_id": indicator.dimension_id,
                "indicator_id": indicator.id,
                "start_offset": start,
                "end_offset": end,
                "origin": "manual",
                "suggestion_id": None,
                "created_at": now_iso(),
            },
        )


def remove_coding(store: Store, coding_id: int) -> None:
    """Remove a coding (and memos on it). A coding made by accepting a suggestion turns that
    suggestion into a rejected one: the user has said no to it."""
    remove_codings(store, [coding_id])


def remove_codings(store: Store, coding_ids: Sequence[int]) -> None:
    """Remove codings of one session, as remove_coding does, in one undoable step."""
    if not coding_ids:
        return
    rows = []
    for coding_id in coding_ids:
        row = store.db.execute(
            "select g.session_id, c.suggestion_id from codings c join segments g on g.id = c.segment_id where c.id = ?",
            [coding_id],
        ).fetchone()
        if row is None:
            raise UserError(f"no coding {coding_id}")
        rows.append((coding_id, *row))
    sessions = {session_id for _, session_id, _ in rows}
    if len(sessions) != 1:
        raise UserError("codings of several sessions are removed one session at a time")
    label = "remove coding" if len(rows) == 1 else f"remove {len(rows)} codings"
    with recorded(store, sessions.pop(), label) as ch:
        for coding_id, _, _ in rows:
            _drop_coding(ch, store, coding_id)
        for suggestion_id in dict.fromkeys(s for _, _, s in rows if s is not None):
            others = store.db.execute("select count(*) from codings where suggestion_id = ?", [suggestion_id]).fetchone()[0]
            if not others:
                ch.update("suggestions", suggestion_id, {"state": "rejected"})


def rank_indicators(guide: Guide, query: str, limit: int = 30) -> list[tuple[str, str]]:
    """Indicators matching a typed fragment, best first, as (indicator id, label).

    Every word typed must appear in the dimension's or indicator's name or id, at the start of
    a word or fuzzily; an empty query lists the codebook in guide order.
    """
    from rapidfuzz import fuzz

    labels = [(i.id, f"{guide.dimension(i.dimension_id).name} / {i.name}") for i in guide.indicators]
    words = query.casefold().split()
    if not words:
        return labels[:limit] if limit else labels
    scored = []
    for order, (ind_id, label) in enumerate(labels):
        hay = f"{label} {ind_id}".casefold()
        total = 0.0
        for w in words:
            if w in hay:
                total += 100 + (20 if f" {w}" in f" {hay}" else 0)
            else:
                best = fuzz.partial_ratio(w, hay)
                if best < 75:
                    break
                total += best
        else:
            scored.append((-total, order, ind_id, label))
    scored.sort()
    return [(ind_id, label) for _, _, ind_id, label in scored[:limit]]
