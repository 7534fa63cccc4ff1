"""Accepting every confident suggestion of a session at once, as one undoable edit."""

from __future__ import annotations

import pytest

from core.store import review
from core.base.errors import UserError
from core.store.database import Store

from review_data import add_demo_session, lead_answer


def states(store: Store, sid: int) -> dict[int, str]:
    return {
        r["id"]: r["state"]
        for r in store.db.query(
            "select x.id, x.state from suggestions x join segments g on g.id = x.segment_id where g.session_id = ?", [sid]
        )
    }


def test_suggestions_from_a_score_up_are_accepted_in_one_edit_and_one_undo_takes_them_back(memory_store):
    store = memory_store
    sid = add_demo_session(store)
    other = add_demo_session(store, respondent="2")
    before = {t: list(store.db.query(f"select * from {t} order by id")) for t in ("codings", "suggestions")}
    # One is decided by hand first: bulk accepting leaves it as it is.
    seg = lead_answer(store, sid)
    first = store.suggestions_for([seg["id"]])[seg["id"]][0]
    review.reject_suggestion(store, first["id"])

    expected = [s["id"] for s in review.confident_suggestions(store, sid, 0.8)]
    scores = {r["id"]: r["score"] for r in store.db.query("select id, score from suggestions")}
    assert expected and first["id"] not in expected and all(scores[i] >= 0.8 for i in expected)
    untouched = {i: s for i, s in states(store, sid).items() if s == "pending" and i not in expected}
    assert untouched and all(scores[i] < 0.8 for i in untouched)

    assert review.accept_confident(store, sid, 0.8) == len(expected)
    now = states(store, sid)
    assert all(now[i] == "accepted" for i in expected)
    assert {i: now[i] for i in untouched} == untouched and now[first["id"]] == "rejected"
    coded = list(store.db.query(
        "select c.suggestion_id, c.origin, c.start_offset from codings c join segments g on g.id = c.segment_id "
        "where g.session_id = ?", [sid]))
    assert sorted(c["suggestion_id"] for c in coded) == sorted(expected)
    assert {(c["origin"], c["start_offset"]) for c in coded} == {("suggestion", None)}
    assert set(states(store, other).values()) == {"pending"}  # another session is not touched
    assert review.history(store, sid)[0].label == f"accept {len(expected)} suggestions scoring 0.8 or more"

    assert review.accept_confident(store, sid, 0.8) == 0  # nothing open is left at that score
    undone = review.undo(store, sid)
    assert undone is not None and undone.label.startswith(f"accept {len(expected)}")
    assert states(store, sid)[first["id"]] == "rejected"
    review.undo(store, sid)  # and the hand rejection
    assert {t: list(store.db.query(f"select * from {t} order by id")) for t in ("codings", "suggestions")} == before


def test_a_score_outside_zero_to_one_is_refused(memory_store):
    sid = add_demo_session(memory_store)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(UserError, match="above 0 and at most 1"):
            review.accept_confident(memory_store, sid, bad)
    assert set(states(memory_store, sid).values()) == {"pending"}
