"""Corrections after the interview on the store: each edit, what happens to codings, undo and redo."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.store import review
from core.base.errors import UserError
from core.store.review import OffsetMap
from core.store.database import Store

from review_data import add_demo_session, answer_to, first_sentence, lead_answer, next_of, words_span


@pytest.fixture
def demo(memory_store: Store) -> tuple[Store, int]:
    return memory_store, add_demo_session(memory_store)


def codings(store: Store, segment_id: int) -> list[dict]:
    return list(store.db.query("select * from codings where segment_id = ? order by id", [segment_id]))


def passage(store: Store, coding_id: int) -> str:
    c = store.db["codings"].get(coding_id)
    text = store.db["segments"].get(c["segment_id"])["text"]
    return text if c["start_offset"] is None else text[c["start_offset"] : c["end_offset"]]


def undo_and_redo_all(store: Store, sid: int, states: list[dict]) -> None:
    """Undo every edit, each back to the state before it, then redo every one."""
    for expected in reversed(states[:-1]):
        assert review.undo(store, sid) is not None
        assert snapshot(store) == expected
    assert review.undo(store, sid) is None
    for expected in states[1:]:
        assert review.redo(store, sid) is not None
        assert snapshot(store) == expected
    assert review.redo(store, sid) is None


def snapshot(store: Store) -> dict:
    """Every row a review edit may touch, to compare a database before and after undo."""
    return {
        t: list(store.db.query(f"select * from {t} order by id"))
        for t in ("segments", "codings", "suggestions", "memos", "question_events", "live_bookmarks")
    }


# --- schema -----------------------------------------------------------------------------------


def test_the_edit_log_and_review_indexes_are_created_on_a_blank_database(memory_store):
    db = memory_store.db
    assert db["edits"].columns_dict == {
        "id": int, "session_id": int, "at": str, "label": str, "changes": str, "undone": int,
    }
    assert [fk.other_table for fk in db["edits"].foreign_keys] == ["sessions"]
    indexed = {tuple(i.columns) for t in ("edits", "segments", "codings", "memos") for i in db[t].indexes}
    assert {("session_id", "id"), ("session_id", "speaker", "end"),
            ("segment_id", "dimension_id", "start_offset", "end_offset", "indicator_id"), ("session_id",)} <= indexed


# --- editing text -----------------------------------------------------------------------------


def test_editing_text_keeps_times_and_the_recognised_text_and_moves_span_codings(demo):
    store, sid = demo
    seg = answer_to(store, sid, 1)
    a, b, coded = words_span(seg["text"], 2, 4)
    coding = review.add_coding(store, seg["id"], "taakvereisten", a, b)
    whole = review.add_coding(store, seg["id"], "betrokkenheid")

    _, _, last = words_span(seg["text"], -1, -1)
    new = "For eleven years now: " + seg["text"][:-len(last)] + "(in Zwolle and Deventer) " + last
    review.edit_text(store, seg["id"], new)

    after = store.db["segments"].get(seg["id"])
    assert after["text"] == new
    assert after["asr_text"] == seg["text"]
    assert (after["start"], after["end"]) == (seg["start"], seg["end"])
    assert after["edited"] == 1
    assert passage(store, coding) == coded
    assert passage(store, whole) == new


def test_a_word_replaced_inside_a_coded_span_stays_in_the_span(demo):
    store, sid = demo
    seg = answer_to(store, sid, 1)
    a, b, coded = words_span(seg["text"], 2, 4)
    coding = review.add_coding(store, seg["id"], "taakvereisten", a, b)
    _, _, middle = words_span(seg["text"], 3, 3)
    review.edit_text(store, seg["id"], seg["text"][:a] + coded.replace(f" {middle} ", " Replaced ") + seg["text"][b:])
    assert passage(store, coding) == coded.replace(f" {middle} ", " Replaced ")


def test_a_coded_span_whose_text_is_deleted_becomes_a_coding_of_the_whole_segment(demo):
    store, sid = demo
    seg = answer_to(store, sid, 1)
    a, b, _ = words_span(seg["text"], 2, 4)
    coding = review.add_coding(store, seg["id"], "taakvereisten", a, b)
    review.edit_text(store, seg["id"], seg["text"][:a] + seg["text"][b + 1 :])
    row = store.db["codings"].get(coding)
    assert (row["start_offset"], row["end_offset"]) == (None, None)


def test_an_empty_text_is_refused_and_nothing_changes(demo):
    store, sid = demo
    seg = answer_to(store, sid, 1)
    before = snapshot(store)
    with pytest.raises(UserError, match="cannot be empty"):
        review.edit_text(store, seg["id"], "   ")
    assert snapshot(store) == before
    assert review.history(store, sid) == []


@settings(max_examples=60, deadline=None)
@given(
    st.text("abc .", max_size=12), st.text("XYZ", min_size=1, max_size=8), st.text("def,", max_size=12),
    st.text("abc .", max_size=12), st.text("def,", max_size=12),
)
def test_an_edit_around_a_span_leaves_the_spans_text_coded(before, span, after, new_before, new_after):
    # Text before and after the span is rewritten freely (but not moved across it).
    old = before + span + after
    new = new_before + span + new_after
    mapped = OffsetMap(old, new).span(len(before), len(before) + len(span))
    assert mapped is not None
    assert new[mapped[0] : mapped[1]] == span


# --- split and merge --------------------------------------------------------------------------


def test_split_divides_time_by_characters_and_codings_follow_their_text(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    text = seg["text"]
    head = first_sentence(text)
    cut = len(head) + 1  # the second sentence
    n = len(head.split())
    a1, b1, first_words = words_span(text, 1, n - 2)
    a2, b2, second_words = words_span(text, n + 1, n + 2)
    a3, b3, across_words = words_span(text, n - 2, n + 1)
    first_span = review.add_coding(store, seg["id"], "regie-en-sturing", a1, b1)
    second_span = review.add_coding(store, seg["id"], "interactie-frequentie", a2, b2)
    across = review.add_coding(store, seg["id"], "hechte-groepen", a3, b3)
    whole = review.add_coding(store, seg["id"], "betrokkenheid")

    new_id = review.split_segment(store, seg["id"], cut)

    left, right = store.db["segments"].get(seg["id"]), store.db["segments"].get(new_id)
    assert left["text"] == text[:cut].rstrip()
    assert right["text"] == text[cut:]
    expected_cut = round(seg["start"] + (seg["end"] - seg["start"]) * cut / len(text), 2)
    assert (left["start"], left["end"], right["start"], right["end"]) == (seg["start"], expected_cut, expected_cut, seg["end"])
    assert right["speaker"] == left["speaker"] == "respondent"
    assert passage(store, first_span) == first_words
    assert store.db["codings"].get(second_span)["segment_id"] == new_id
    assert passage(store, second_span) == second_words
    left_part, right_part = across_words.split(". ")
    assert passage(store, across) == left_part + "."
    right_codings = {c["indicator_id"]: c for c in codings(store, new_id)}
    assert right["text"][right_codings["hechte-groepen"]["start_offset"]:right_codings["hechte-groepen"]["end_offset"]] == right_part
    assert store.db["codings"].get(whole)["start_offset"] is None
    assert right_codings["betrokkenheid"]["start_offset"] is None
    # Segment order in the session is the spoken order.
    ids = [s["id"] for s in store.segments(sid)]
    assert ids.index(new_id) == ids.index(seg["id"]) + 1


def test_split_needs_words_on_both_sides(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    for offset in (0, len(seg["text"]), -3):
        with pytest.raises(UserError, match="both parts"):
            review.split_segment(store, seg["id"], offset)


def test_merge_joins_the_next_segment_and_its_codings_suggestions_and_memos_move(demo):
    store, sid = demo
    first = lead_answer(store, sid)
    second = next_of(store, sid, first)  # the interviewer's "I see."
    third = next_of(store, sid, first, 2)
    review.set_speaker(store, second["id"], "respondent")
    review.merge_segments(store, first["id"])  # with the acknowledgement, now the respondent's
    whole_first = review.add_coding(store, first["id"], "regie-en-sturing")
    a, b, third_words = words_span(third["text"], 1, 3)
    span_third = review.add_coding(store, third["id"], "interactie-frequentie", a, b)
    whole_third = review.add_coding(store, third["id"], "hechte-groepen")
    memo = review.add_memo(store, sid, "segment", third["id"], "Check the meeting frequency with respondent 4.")
    third_suggestions = [s["id"] for s in store.suggestions_for([third["id"]])[third["id"]]]
    head_text = store.db["segments"].get(first["id"])["text"]

    review.merge_segments(store, first["id"], third["id"])

    merged = store.db["segments"].get(first["id"])
    assert merged["text"] == f"{head_text} {third['text']}"
    assert merged["start"] == first["start"] and merged["end"] == third["end"]
    assert merged["edited"] == 1
    assert not store.db.execute("select 1 from segments where id in (?, ?)", [second["id"], third["id"]]).fetchall()
    assert passage(store, whole_first) == head_text
    assert passage(store, span_third) == third_words
    assert passage(store, whole_third) == third["text"]
    assert store.db["memos"].get(memo)["target_id"] == str(first["id"])
    moved = [s["id"] for s in store.suggestions_for([first["id"]])[first["id"]]]
    assert set(third_suggestions) <= set(moved)
    word = max(third_words.split(), key=len).strip(".,")
    hits = store.db.execute("select rowid from segments_fts where segments_fts match ?", [word]).fetchall()
    assert (first["id"],) in hits and (third["id"],) not in hits


def test_merge_refuses_different_speakers_and_the_last_segment(demo):
    store, sid = demo
    segs = store.segments(sid)
    with pytest.raises(UserError, match="different speakers"):
        review.merge_segments(store, segs[0]["id"])
    with pytest.raises(UserError, match="last segment"):
        review.merge_segments(store, segs[-1]["id"])
    with pytest.raises(UserError, match="neighbouring"):
        review.merge_segments(store, segs[1]["id"], segs[5]["id"])


# --- coding -----------------------------------------------------------------------------------


def test_accepting_rejecting_and_changing_suggestions(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    top, second, third = store.suggestions_for([seg["id"]])[seg["id"]][:3]

    coding = review.accept_suggestion(store, top["id"])
    assert store.db["suggestions"].get(top["id"])["state"] == "accepted"
    assert store.db["codings"].get(coding)["indicator_id"] == top["indicator_id"]

    review.reject_suggestion(store, top["id"])  # changing one's mind removes its coding
    assert store.db["suggestions"].get(top["id"])["state"] == "rejected"
    assert codings(store, seg["id"]) == []

    review.reject_suggestion(store, second["id"])
    changed = review.change_suggestion(store, third["id"], "doelmatigheid")
    assert store.db["suggestions"].get(third["id"])["state"] == "rejected"
    row = store.db["codings"].get(changed)
    assert (row["dimension_id"], row["indicator_id"], row["start_offset"]) == ("efficientie", "doelmatigheid", None)


def test_coding_a_span_checks_it_against_the_text_and_the_guide(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    with pytest.raises(UserError, match="outside"):
        review.add_coding(store, seg["id"], "regie-en-sturing", 5, 5000)
    with pytest.raises(UserError, match="no indicator"):
        review.add_coding(store, seg["id"], "no-such-indicator")
    full = review.add_coding(store, seg["id"], "regie-en-sturing", 0, len(seg["text"]))
    assert store.db["codings"].get(full)["start_offset"] is None
    row = store.db["codings"].get(review.add_coding(store, seg["id"], "betrokkenheid", 4, 16))
    assert (row["dimension_id"], row["start_offset"], row["end_offset"]) == ("inclusiviteit", 4, 16)


def test_removing_an_accepted_suggestions_coding_rejects_it_and_drops_its_memos(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    top = store.suggestions_for([seg["id"]])[seg["id"]][0]
    coding = review.accept_suggestion(store, top["id"])
    memo = review.add_memo(store, sid, "coding", coding, "Typical of Samen starten.")
    before = snapshot(store)

    review.remove_coding(store, coding)
    assert codings(store, seg["id"]) == []
    assert store.db["suggestions"].get(top["id"])["state"] == "rejected"
    assert not store.db.execute("select 1 from memos where id = ?", [memo]).fetchall()

    assert review.undo(store, sid).label == "remove coding"
    assert snapshot(store) == before


def test_memos_on_each_kind_of_target(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    coding = review.add_coding(store, seg["id"], "regie-en-sturing")
    ids = [
        review.add_memo(store, sid, "session", None, "Respondent was in a hurry."),
        review.add_memo(store, sid, "segment", seg["id"], "Who is 'their'?"),
        review.add_memo(store, sid, "coding", coding, "Lead, or coordination?"),
        review.add_memo(store, sid, "dimension", "sturingsvorm", "Compare with RIO Dordrecht."),
    ]
    rows = [store.db["memos"].get(i) for i in ids]
    assert [(r["target"], r["target_id"]) for r in rows] == [
        ("session", str(sid)), ("segment", str(seg["id"])), ("coding", str(coding)), ("dimension", "sturingsvorm"),
    ]
    review.edit_memo(store, ids[1], "Their = the municipality's.")
    assert store.db["memos"].get(ids[1])["text"] == "Their = the municipality's."
    with pytest.raises(UserError, match="no segment"):
        review.add_memo(store, sid, "segment", 99999, "lost")
    with pytest.raises(UserError, match="needs some text"):
        review.add_memo(store, sid, "session", None, "  ")
    loaded = review.load_session(store, sid)
    on_segment = next(s for s in loaded.segments if s["id"] == seg["id"])
    assert [m["text"] for m in on_segment["memos"]] == ["Their = the municipality's."]
    assert [m["text"] for m in loaded.coding_memos[coding]] == ["Lead, or coordination?"]
    assert {m["target"] for m in loaded.memos} == {"session", "dimension"}


# --- bookmarks --------------------------------------------------------------------------------


def test_bookmarks_added_edited_and_deleted_in_review_undo_and_redo_exactly(demo):
    store, sid = demo
    lead = lead_answer(store, sid)
    after = next_of(store, sid, lead)
    live = store.add_bookmark(sid, (lead["start"] + after["start"]) / 2, "who chairs?")
    states = [snapshot(store)]

    added = review.add_bookmark(store, sid, 12.345, "  check   the dates ")
    assert store.bookmark(added)["at"] == 12.35 and store.bookmark(added)["note"] == "check the dates"
    states.append(snapshot(store))
    review.edit_bookmark(store, live, "Who chairs the meetings?")
    assert store.bookmark(live)["note"] == "Who chairs the meetings?"
    states.append(snapshot(store))
    review.edit_bookmark(store, live, "   ")  # an empty note: the bookmark stays, without one
    assert store.bookmark(live)["note"] is None
    states.append(snapshot(store))
    review.delete_bookmark(store, added)
    assert [b["id"] for b in store.bookmarks(sid)] == [live]
    states.append(snapshot(store))
    review.edit_bookmark(store, live, "")  # no change: nothing to undo
    assert [e.label for e in review.history(store, sid)] == [
        "delete bookmark", "edit bookmark note", "edit bookmark note", "add bookmark",
    ]

    # Undone to the first state: the live screen's bookmark with its note, as it was.
    undo_and_redo_all(store, sid, states)


def test_bookmark_edits_refuse_what_does_not_exist_and_change_nothing(demo):
    store, sid = demo
    kept = store.add_bookmark(sid, 3.0, "kept")
    before = snapshot(store)
    with pytest.raises(UserError, match="no bookmark 99999"):
        review.edit_bookmark(store, 99999, "lost")
    with pytest.raises(UserError, match="no bookmark 99999"):
        review.delete_bookmark(store, 99999)
    with pytest.raises(UserError, match="no session 99999"):
        review.add_bookmark(store, 99999, 3.0, "lost")
    for at in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UserError, match="not a time"):
            review.add_bookmark(store, sid, at, "lost")
    review.delete_bookmark(store, kept)
    with pytest.raises(UserError, match=f"no bookmark {kept}"):
        review.edit_bookmark(store, kept, "again")
    review.undo(store, sid)
    assert snapshot(store) == before
    assert [e.label for e in review.history(store, sid)] == ["delete bookmark"]


def test_a_bookmark_added_after_a_segment_is_placed_after_it_and_exported_with_its_note(demo):
    from core.interchange.export import clock
    from core.interchange.exporters import render

    store, sid = demo
    lead = lead_answer(store, sid)
    after = next_of(store, sid, lead)
    at = review.bookmark_time(lead, after)
    assert at == lead["end"]
    bid = review.add_bookmark(store, sid, at, "first note")
    review.edit_bookmark(store, bid, "Who chairs the meetings?")
    placed = next(s for s in review.load_session(store, sid).segments if s["bookmarks"])
    assert placed["id"] == lead["id"]
    assert review.segment_record(store, lead["id"])["bookmarks"][0]["note"] == "Who chairs the meetings?"
    (md,) = render(store, [sid], "md")
    lines = md.data.decode("utf-8").splitlines()
    assert f"  - bookmark [{clock(at)}]: Who chairs the meetings?" in lines
    assert not any("first note" in line for line in lines)

    # An end that runs into the next segment, or none: the bookmark goes at the segment's start.
    assert review.bookmark_time({**lead, "end": after["start"]}, after) == lead["start"]
    assert review.bookmark_time({**lead, "end": None}, after) == lead["start"]
    assert review.bookmark_time(after, None) == after["end"]
    assert review.bookmark_time({**lead, "start": None, "end": None}, after) is None


# --- undo and redo ----------------------------------------------------------------------------


def test_every_kind_of_edit_undoes_to_the_exact_previous_state_and_redoes(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    nxt = next_of(store, sid, seg, 2)
    sugg = store.suggestions_for([seg["id"]])[seg["id"]][0]
    states = [snapshot(store)]
    steps = [
        lambda: review.add_coding(store, seg["id"], "regie-en-sturing", *words_span(seg["text"], 1, 3)[:2]),
        lambda: review.accept_suggestion(store, sugg["id"]),
        lambda: review.edit_text(store, seg["id"], "Really, " + seg["text"]),
        lambda: review.split_segment(store, seg["id"], 40),
        lambda: review.set_speaker(store, nxt["id"], "interviewer"),
        lambda: review.set_speaker(store, nxt["id"], "respondent"),
        lambda: review.add_memo(store, sid, "segment", seg["id"], "A memo."),
        lambda: review.merge_segments(store, seg["id"]),
    ]
    for step in steps:
        step()
        states.append(snapshot(store))
    assert [e.label for e in review.history(store, sid)][:3] == ["merge segments", "memo on segment", "change speaker"]

    undo_and_redo_all(store, sid, states)


def test_a_new_edit_after_undo_drops_the_redo_branch(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    review.edit_text(store, seg["id"], "First correction.")
    review.undo(store, sid)
    review.edit_text(store, seg["id"], "Second correction.")
    assert review.redo(store, sid) is None
    assert store.db["segments"].get(seg["id"])["text"] == "Second correction."
    review.undo(store, sid)
    assert store.db["segments"].get(seg["id"])["text"] == seg["text"]


def test_undo_refuses_to_overwrite_a_change_it_did_not_record(demo):
    store, sid = demo
    seg = lead_answer(store, sid)
    review.edit_text(store, seg["id"], "Corrected in review.")
    store.db["segments"].update(seg["id"], {"text": "Changed by another tool."})
    with pytest.raises(UserError, match="changed since"):
        review.undo(store, sid)
    assert store.db["segments"].get(seg["id"])["text"] == "Changed by another tool."
    assert review.history(store, sid)[0].undone is False


def test_undo_is_per_session(memory_store):
    store = memory_store
    one, two = add_demo_session(store, turns=12), add_demo_session(store, respondent="4", turns=12)
    a, b = store.segments(one)[3], store.segments(two)[3]
    review.edit_text(store, a["id"], "Edited in session one.")
    review.edit_text(store, b["id"], "Edited in session two.")
    review.undo(store, one)
    assert store.db["segments"].get(a["id"])["text"] == a["text"]
    assert store.db["segments"].get(b["id"])["text"] == "Edited in session two."


def test_a_file_database_keeps_the_undo_log_across_connections(tmp_path):
    path = tmp_path / "study.db"
    store = Store(path)
    sid = add_demo_session(store, turns=6)
    seg = store.segments(sid)[3]
    review.edit_text(store, seg["id"], "Corrected before closing.")
    store.close()
    again = Store(path)
    assert review.undo(again, sid).label == "edit text"
    assert again.db["segments"].get(seg["id"])["text"] == seg["text"]
    again.close()


# --- the counts the store keeps for the overview and the matrix --------------------------------


def recount(store: Store) -> dict:
    """The counts as computed from scratch from segments and codings."""
    db = store.db
    sessions = {
        r[0]: [r[1], r[2], 0, 0, r[3]]
        for r in db.execute(
            "select session_id, count(*), sum(speaker = 'respondent'), max(\"end\") from segments group by session_id"
        )
    }
    for sid, coded, n in db.execute(
        "select g.session_id, count(distinct c.segment_id), count(*) from codings c join segments g on g.id = c.segment_id group by 1"
    ):
        sessions[sid][2:4] = [coded, n]
    codes = {tuple(r[:3]): r[3] for r in db.execute(
        "select g.session_id, c.dimension_id, c.indicator_id, count(*) from codings c join segments g on g.id = c.segment_id group by 1, 2, 3"
    )}
    passages = {tuple(r[:2]): r[2] for r in db.execute(
        """select session_id, dimension_id, count(*) from (select distinct g.session_id, c.dimension_id, c.segment_id,
           c.start_offset, c.end_offset from codings c join segments g on g.id = c.segment_id) group by 1, 2"""
    )}
    return {"sessions": {k: tuple(v) for k, v in sessions.items()}, "codes": codes, "passages": passages}


def kept_counts(store: Store) -> dict:
    db = store.db
    return {
        "sessions": {r[0]: tuple(r[1:]) for r in db.execute(
            "select session_id, segments, respondent_segments, coded_segments, codings, last_end from session_counts where segments > 0"
        )},
        "codes": {tuple(r[:3]): r[3] for r in db.execute(
            "select session_id, dimension_id, indicator_id, codings from code_counts where codings > 0")},
        "passages": {tuple(r[:2]): r[2] for r in db.execute(
            "select session_id, dimension_id, passages from dimension_passages where passages > 0")},
    }


def test_the_kept_counts_match_a_recount_through_any_sequence_of_edits(memory_store):
    import random

    store = memory_store
    sids = [add_demo_session(store, turns=20), add_demo_session(store, respondent="4", turns=20)]
    guide = review.guide_of_session(store, sids[0])
    indicators = [i.id for i in guide.indicators][:6]  # few indicators: passages get several codes
    rnd = random.Random(5)
    done = 0
    for step in range(250):
        sid = rnd.choice(sids)
        segs = store.segments(sid)
        seg = rnd.choice(segs)
        codings_here = [c["id"] for c in store.codings_for([seg["id"]])[seg["id"]]]
        pending = [s["id"] for s in store.suggestions_for([seg["id"]])[seg["id"]]]
        op = rnd.choice(["code", "code", "span", "uncode", "accept", "reject", "change", "edit", "split",
                         "merge", "speaker", "undo", "undo", "redo"])
        try:
            if op == "code":
                review.add_coding(store, seg["id"], rnd.choice(indicators))
            elif op == "span" and len(seg["text"]) > 10:
                a = rnd.choice([0, 4])
                review.add_coding(store, seg["id"], rnd.choice(indicators), a, a + 6)
            elif op == "uncode" and codings_here:
                review.remove_coding(store, rnd.choice(codings_here))
            elif op == "accept" and pending:
                review.accept_suggestion(store, rnd.choice(pending))
            elif op == "reject" and pending:
                review.reject_suggestion(store, rnd.choice(pending))
            elif op == "change" and pending:
                review.change_suggestion(store, rnd.choice(pending), rnd.choice(indicators))
            elif op == "edit":
                review.edit_text(store, seg["id"], seg["text"][rnd.randrange(0, 5):] + " (checked)")
            elif op == "split" and len(seg["text"]) > 20:
                review.split_segment(store, seg["id"], seg["text"].index(" ", 8))
            elif op == "merge":
                review.merge_segments(store, seg["id"])
            elif op == "speaker":
                review.set_speaker(store, seg["id"], rnd.choice(["interviewer", "respondent"]))
            elif op == "undo":
                review.undo(store, sid)
            elif op == "redo":
                review.redo(store, sid)
            done += 1
        except UserError:
            pass  # refused edits (different speakers, the last segment) change nothing
        assert kept_counts(store) == recount(store), f"after step {step}: {op}"
    assert done > 150
    assert kept_counts(store)["passages"]  # the sequence did code passages


def test_the_counts_migration_counts_what_is_already_there(tmp_path):
    path = tmp_path / "older.db"
    store = Store(path)
    sid = add_demo_session(store, turns=14)
    seg = lead_answer(store, sid)
    review.add_coding(store, seg["id"], "regie-en-sturing", 0, 10)
    review.add_coding(store, seg["id"], "interactie-frequentie", 0, 10)
    review.add_coding(store, seg["id"], "betrokkenheid")
    expected = recount(store)
    # The database as it was before the counts existed.
    for name in ("session_counts", "code_counts", "dimension_passages"):
        store.db.execute(f"drop table {name}")
    for trigger in [t.name for t in store.db.triggers if t.name.startswith("counts_")]:
        store.db.execute(f"drop trigger {trigger}")
    store.db.execute("drop index sessions_overview")
    store.db.execute("drop index sessions_compare")
    store.db.execute("delete from _sqlite_migrations where name = 'm004_review_counts'")
    store.db.conn.commit()
    store.close()

    again = Store(path)
    assert kept_counts(again) == expected
    assert expected["passages"][(sid, "sturingsvorm")] == 1
    again.close()
