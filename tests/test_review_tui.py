"""The screens after the interview, driven with the keyboard through the Pilot; each test
asserts on what the store holds afterwards."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from textual.widgets import DataTable, OptionList

from core.store import review
from core.interchange.export import clock
from core.audio.playback import Player
from core.store.database import Store
from tui.app import make_app
from tui.screens.compare import CompareScreen
from tui.screens.dialogs import BookmarkNoteDialog, ChoiceDialog, IndicatorPicker, MemoDialog, PositionDialog, TextDialog
from tui.screens.review import ReviewScreen
from tui.screens.sessions import SessionsScreen
from tui.widgets.rows import RowList
from tui.widgets.transcript import TranscriptList

from review_data import (
    add_demo_session, answer_to, distinctive_word, first_sentence, lead_answer, next_of, words_span,
)
from suite import check_qdpx

SIZE = (140, 45)


@pytest.fixture
def study(memory_store: Store) -> tuple[Store, int, int]:
    """Two sessions of the English sample interview: respondent 1 (Samen starten) and
    respondent 4 (RIO Dordrecht)."""
    one = add_demo_session(memory_store)
    four = add_demo_session(memory_store, respondent="4", case_name="RIO Dordrecht",
                            started_at="2021-06-15T14:00:00+00:00")
    return memory_store, one, four


async def until(pilot, condition, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def review_loaded(pilot) -> ReviewScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen) and pilot.app.screen.data is not None,
                "the review screen to load")
    return pilot.app.screen


async def select(pilot, seg: dict) -> dict:
    pilot.app.screen.query_one(TranscriptList).select_id(seg["id"])
    await pilot.pause()
    return seg


async def type_text(pilot, text: str) -> None:
    await pilot.press(*("space" if ch == " " else ch for ch in text))


# --- finding ----------------------------------------------------------------------------------


async def test_sessions_screen_lists_filters_and_opens_a_session(study):
    store, one, four = study
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        rows = screen.query_one("#sessions", RowList)
        assert rows.keys == [four, one]  # newest first
        await pilot.press("f")
        await type_text(pilot, "samen")
        await pilot.pause()
        assert rows.keys == [one]
        await pilot.press("enter", "enter")  # leave the filter, open the session
        screen = await review_loaded(pilot)
        assert screen.session_id == one


async def test_search_shows_hits_in_context_and_jumps_to_the_segment(study):
    store, one, four = study
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        target = lead_answer(store, four)
        await pilot.press("slash")
        await type_text(pilot, distinctive_word(store, four, target))
        await pilot.press("enter")
        await pilot.pause()
        hits = app.screen.query_one("#hits", RowList)
        assert hits.keys[0] == target["id"]  # the newest session first
        assert len(hits.keys) == 2
        assert "2 segments match" in str(app.screen.query_one("#search-count").render())
        await pilot.press("enter")
        screen = await review_loaded(pilot)
        assert screen.session_id == four
        assert screen.query_one(TranscriptList).current_id == target["id"]


def _in_view(widget, region) -> bool:
    top = widget.scroll_offset.y
    return top <= region.y and region.bottom <= top + widget.size.height


async def test_the_keys_move_the_cursor_of_the_session_rows_and_of_the_transcript_and_keep_it_in_view(memory_store):
    store = memory_store
    ids = [add_demo_session(store, respondent=str(n), turns=2, started_at=f"2021-06-{n:02d}T10:00:00+00:00")
           for n in range(1, 31)]
    async with make_app(store).run_test(size=SIZE) as pilot:
        rows = pilot.app.screen.query_one("#sessions", RowList)
        rows.focus()
        await pilot.pause()
        page = rows.size.height - 1
        assert rows.current == ids[-1] and page < len(ids) - 1
        await pilot.press("up")  # held at the first row
        assert rows.cursor == 0
        await pilot.press("pagedown")  # a screen of rows on, and in view
        assert rows.cursor == page and _in_view(rows, rows.item_region(page))
        await pilot.press("j", "pageup")  # a screen back from the row after it
        assert rows.cursor == 1
        await pilot.press("pageup")  # held at the first row
        assert rows.cursor == 0 and rows.scroll_offset.y == 0
        await pilot.press("end", "down")  # held at the last row
        assert rows.current == ids[0] and _in_view(rows, rows.item_region(rows.cursor))
        await pilot.press("home")
        assert rows.current == ids[-1]

    long = add_demo_session(store)
    async with make_app(store, review_session=long).run_test(size=SIZE) as pilot:
        transcript = (await review_loaded(pilot)).query_one(TranscriptList)
        last = len(transcript.records) - 1
        await pilot.press("end", "down")  # held at the last segment, its whole block on screen
        assert transcript.cursor == last and _in_view(transcript, transcript.item_region(last))
        assert transcript.scroll_offset.y > 0
        await pilot.press("home", "k")
        assert transcript.cursor == 0 and transcript.scroll_offset.y == 0
        # A page is a screen of lines, whatever the segments' heights: the segment at that line.
        await pilot.press("pagedown")
        block = transcript.item_region(transcript.cursor)
        assert transcript.cursor > 1 and block.y <= transcript.size.height - 2 < block.bottom
        assert _in_view(transcript, block)
        await pilot.press("pageup")
        assert transcript.cursor == 0


# --- correcting -------------------------------------------------------------------------------


async def test_editing_a_segments_text_keeps_what_was_heard(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        seg = await select(pilot, answer_to(store, one, 1))
        await pilot.press("e")
        assert isinstance(pilot.app.screen, TextDialog)
        await pilot.press("end")
        await type_text(pilot, " Since twenty eleven")
        await pilot.press("ctrl+s")
        await pilot.pause()
        row = store.db["segments"].get(seg["id"])
        assert row["text"] == seg["text"] + " Since twenty eleven"
        assert row["asr_text"] == seg["text"]
        assert row["edited"] == 1
        assert (row["start"], row["end"]) == (seg["start"], seg["end"])


async def test_split_then_merge_a_segment(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        seg = await select(pilot, lead_answer(store, one))
        count = len(store.segments(one))
        await pilot.press("s")
        assert isinstance(pilot.app.screen, PositionDialog)
        head = first_sentence(seg["text"])
        await pilot.press(*["right"] * (len(head) + 1), "enter")
        await pilot.pause()
        assert len(store.segments(one)) == count + 1
        assert store.db["segments"].get(seg["id"])["text"] == head
        second = next_of(store, one, seg)
        assert second["text"] == seg["text"][len(head) + 1 :]
        assert second["start"] > seg["start"] and second["end"] == seg["end"]

        await pilot.press("m")  # the selection stayed on the first half
        await pilot.pause()
        assert len(store.segments(one)) == count
        assert store.db["segments"].get(seg["id"])["text"] == seg["text"]


async def test_changing_the_speaker(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        seg = await select(pilot, next_of(store, one, lead_answer(store, one)))
        assert seg["speaker"] == "interviewer"
        await pilot.press("t")
        await pilot.pause()
        assert store.db["segments"].get(seg["id"])["speaker"] == "respondent"


# --- coding -----------------------------------------------------------------------------------


async def test_coding_a_selected_span_with_an_indicator_found_by_typing(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        seg = await select(pilot, lead_answer(store, one))
        start, end, words = words_span(seg["text"], 1, 3)
        await pilot.press("v")
        assert isinstance(pilot.app.screen, PositionDialog)
        await pilot.press(*["right"] * start, *["shift+right"] * (end - start), "enter")
        assert isinstance(pilot.app.screen, IndicatorPicker)
        guide = pilot.app.screen.guide
        await type_text(pilot, guide.indicator("regie-en-sturing").name.lower())
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        (coding,) = store.codings_for([seg["id"]])[seg["id"]]
        assert (coding["dimension_id"], coding["indicator_id"]) == ("sturingsvorm", "regie-en-sturing")
        assert seg["text"][coding["start_offset"]:coding["end_offset"]] == words


async def test_coding_the_whole_segment_and_removing_the_coding(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        seg = await select(pilot, answer_to(store, one, 1))
        await pilot.press("c")
        await type_text(pilot, " ".join(pilot.app.screen.guide.indicator("taakvereisten").name.lower().split()[:2]))
        await pilot.press("enter")
        await pilot.pause()
        (coding,) = store.codings_for([seg["id"]])[seg["id"]]
        assert coding["indicator_id"] == "taakvereisten" and coding["start_offset"] is None
        await pilot.press("x")
        await pilot.pause()
        assert store.codings_for([seg["id"]])[seg["id"]] == []


async def test_accept_a_suggestion_then_undo_and_redo(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        seg = await select(pilot, lead_answer(store, one))
        top = store.suggestions_for([seg["id"]])[seg["id"]][0]
        # Each suggestion says why it was made.
        chips = screen.query_one("#chips", OptionList)
        offered = chips.get_option_at_index(chips.highlighted)
        assert offered.id == f"s{top['id']}" and top["reason"] in str(offered.prompt)
        await pilot.press("a")
        await pilot.pause()
        assert store.db["suggestions"].get(top["id"])["state"] == "accepted"
        (coding,) = store.codings_for([seg["id"]])[seg["id"]]
        assert coding["indicator_id"] == top["indicator_id"]
        chips = screen.query_one("#chips", OptionList)
        assert chips.get_option_at_index(0).id == f"c{coding['id']}"

        await pilot.press("u")
        await pilot.pause()
        assert store.db["suggestions"].get(top["id"])["state"] == "pending"
        assert store.codings_for([seg["id"]])[seg["id"]] == []

        await pilot.press("ctrl+r")
        await pilot.pause()
        assert store.db["suggestions"].get(top["id"])["state"] == "accepted"


async def test_rejecting_the_chosen_suggestion(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        seg = await select(pilot, lead_answer(store, one))
        first, second = store.suggestions_for([seg["id"]])[seg["id"]][:2]
        await pilot.press("right_square_bracket", "r")
        await pilot.pause()
        assert store.db["suggestions"].get(second["id"])["state"] == "rejected"
        assert store.db["suggestions"].get(first["id"])["state"] == "pending"


async def test_j_and_k_step_through_the_segments_with_open_suggestions(study):
    store, one, _ = study
    open_ids = [r["segment_id"] for r in store.db.query(
        "select distinct x.segment_id from suggestions x join segments g on g.id = x.segment_id "
        "where g.session_id = ? and x.state = 'pending' order by g.start", [one])]
    assert len(open_ids) > 3
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        transcript = screen.query_one(TranscriptList)
        assert transcript.current_id not in open_ids  # the interview opens with a question
        await pilot.press("J")
        assert transcript.current_id == open_ids[0]
        await pilot.press("J")
        assert transcript.current_id == open_ids[1]
        await pilot.press("a", "a", "a")  # every suggestion of the second one decided
        await pilot.pause()
        await pilot.press("K")
        assert transcript.current_id == open_ids[0]
        await pilot.press("J")  # the decided one is passed over
        assert transcript.current_id == open_ids[2]
        await pilot.press("end", "J")  # none after the last: a warning, the cursor stays
        assert transcript.current_id == store.segments(one)[-1]["id"]


async def test_accepting_every_confident_suggestion_at_once_and_one_undo(study):
    store, one, four = study

    def states_of(sid):
        return [r["state"] for r in store.db.query(
            "select x.state from suggestions x join segments g on g.id = x.segment_id "
            "where g.session_id = ? order by x.id", [sid])]

    before = states_of(one)
    confident = review.confident_suggestions(store, one, 0.9)
    assert 0 < len(confident) < len(review.confident_suggestions(store, one, 0.8))
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        await pilot.press("A")
        chooser = pilot.app.screen
        assert isinstance(chooser, ChoiceDialog)
        options = chooser.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert f"from 0.9: {len(confident)} suggestions" in prompts
        await pilot.press("escape")
        await pilot.pause()
        assert states_of(one) == before  # cancelled: nothing accepted
        await pilot.press("A")
        await pilot.pause()
        options = pilot.app.screen.query_one(OptionList)
        options.highlighted = prompts.index(f"from 0.9: {len(confident)} suggestions")
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen is screen
        states = states_of(one)
        assert states.count("accepted") == len(confident)
        assert {store.db["suggestions"].get(s["id"])["state"] for s in confident} == {"accepted"}
        assert set(states_of(four)) == {"pending"}
        # The transcript shows them coded at once.
        seg = store.db["segments"].get(confident[0]["segment_id"])
        await select(pilot, seg)
        chips = screen.query_one("#chips", OptionList)
        assert any(chips.get_option_at_index(i).id.startswith("c") for i in range(chips.option_count))
        await pilot.press("u")
        await pilot.pause()
        assert states_of(one) == before


async def test_memos_on_a_segment_and_on_the_session(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        seg = await select(pilot, lead_answer(store, one))
        await pilot.press("n")
        assert isinstance(pilot.app.screen, MemoDialog)
        await type_text(pilot, "Who chairs the meetings")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("n")
        pilot.app.screen.query("RadioButton").last().value = True  # the whole session
        await type_text(pilot, "Respondent had to leave early")
        await pilot.press("ctrl+s")
        await pilot.pause()
        memos = [(m["target"], m["target_id"], m["text"]) for m in store.memos(one)]
        assert memos == [
            ("segment", str(seg["id"]), "Who chairs the meetings"),
            ("session", str(one), "Respondent had to leave early"),
        ]
        shown = str(screen.query_one("#memos").render())
        assert "Who chairs the meetings" in shown and "Respondent had to leave early" in shown


def _screen_lines(transcript: TranscriptList) -> list[str]:
    """The transcript as shown, without the gutter column that marks the playing segment."""
    return [transcript.render_line(y).text[1:].rstrip() for y in range(transcript.size.height)]


def _header_line(lines: list[str], seg: dict) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(clock(seg["start"]) + " "))


async def test_live_bookmarks_appear_in_place_and_are_jumped_between(study):
    store, one, _ = study
    opening = store.segments(one)[0]
    lead = lead_answer(store, one)
    after_lead = next_of(store, one, lead)
    later = answer_to(store, one, 6)
    store.add_bookmark(one, 0.4, "before anyone spoke")
    store.add_bookmark(one, (lead["start"] + after_lead["start"]) / 2, "who chairs?")
    store.add_bookmark(one, later["start"] + 0.5)  # no note
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        transcript = screen.query_one(TranscriptList)
        assert transcript.current_id == opening["id"]
        assert "3 bookmarks" in str(screen.query_one("#playback").render())
        lines = _screen_lines(transcript)
        assert lines.index("  ⚑ 00:00 bookmark: before anyone spoke") < _header_line(lines, opening)

        await pilot.press("b")
        assert transcript.current_id == lead["id"]
        assert "who chairs?" in str(screen.query_one("#memos").render())
        await pilot.press("down")  # the segment after it on screen too
        lines = _screen_lines(transcript)
        mark = lines.index(f"  ⚑ {clock((lead['start'] + after_lead['start']) / 2)} bookmark: who chairs?")
        # Between the segment that had begun when it was made and the one after it.
        assert _header_line(lines, lead) < mark < _header_line(lines, after_lead)

        await pilot.press("b")
        assert transcript.current_id == later["id"]
        assert f"⚑ {clock(later['start'] + 0.5)} bookmark" in str(screen.query_one("#memos").render())
        await pilot.press("b")  # no bookmark after the last: the selection stays
        assert transcript.current_id == later["id"]
        assert any("No bookmark after" in n.message for n in pilot.app._notifications)
        await pilot.press("B", "B")
        assert transcript.current_id == opening["id"]

        # Bookmarks are anchored to time: a split of the segment leaves them where they were made.
        await pilot.press("b")
        head = first_sentence(lead["text"])
        review.split_segment(store, lead["id"], len(head) + 1)
        screen.reload()
        await pilot.pause()
        at = (lead["start"] + after_lead["start"]) / 2
        records = transcript.records
        (i,) = [i for i, r in enumerate(records) if any(b["note"] == "who chairs?" for b in r["bookmarks"])]
        assert records[i]["id"] in (lead["id"], next_of(store, one, lead)["id"])
        assert records[i]["start"] <= at < records[i + 1]["start"]
        assert records[i + 1]["id"] in (after_lead["id"], next_of(store, one, lead)["id"])


async def test_a_bookmarks_note_is_changed_in_review_and_undo_brings_the_old_one_back(study):
    store, one, _ = study
    lead = lead_answer(store, one)
    after_lead = next_of(store, one, lead)
    at = (lead["start"] + after_lead["start"]) / 2
    bookmark = store.add_bookmark(one, at, "who chairs?")
    old_line, new_line = f"  ⚑ {clock(at)} bookmark: who chairs?", f"  ⚑ {clock(at)} bookmark: the alderman chairs"
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        transcript = screen.query_one(TranscriptList)
        await select(pilot, lead)
        await pilot.press("f")  # the segment has a bookmark: change it, or add another
        chooser = pilot.app.screen
        assert isinstance(chooser, ChoiceDialog)
        options = chooser.query_one(OptionList)
        assert [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)] == [
            f"⚑ {clock(at)} bookmark: who chairs?", f"+ a new bookmark at {clock(review.bookmark_time(lead, after_lead))}",
        ]
        await pilot.press("enter")  # Enter takes the bookmark
        dialog = pilot.app.screen
        assert isinstance(dialog, BookmarkNoteDialog)
        assert dialog.query_one("#bookmark-note").value == "who chairs?"
        await pilot.press("ctrl+u")  # clear the line
        await type_text(pilot, "the alderman chairs")
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen is screen
        assert store.bookmark(bookmark)["note"] == "the alderman chairs"
        lines = _screen_lines(transcript)
        assert new_line in lines and old_line not in lines
        assert _header_line(lines, lead) < lines.index(new_line) < _header_line(lines, after_lead)
        assert "the alderman chairs" in str(screen.query_one("#memos").render())

        await pilot.press("u")
        assert store.bookmark(bookmark)["note"] == "who chairs?"
        lines = _screen_lines(transcript)
        assert old_line in lines and new_line not in lines
        assert "who chairs?" in str(screen.query_one("#memos").render())
        await pilot.press("ctrl+r")
        assert store.bookmark(bookmark)["note"] == "the alderman chairs"

        # Escape leaves the note as it was; an empty note keeps the bookmark without one.
        await pilot.press("f", "enter")
        await type_text(pilot, " and more")
        await pilot.press("escape")
        await pilot.pause()
        assert store.bookmark(bookmark)["note"] == "the alderman chairs"
        await pilot.press("f", "enter", "ctrl+u", "enter")
        await pilot.pause()
        assert store.bookmark(bookmark)["note"] is None
        assert f"  ⚑ {clock(at)} bookmark" in _screen_lines(transcript)


async def test_a_bookmark_is_added_after_a_segment_and_deleted_in_review(study):
    store, one, _ = study
    lead = lead_answer(store, one)
    after_lead = next_of(store, one, lead)
    line = f"  ⚑ {clock(lead['end'])} bookmark: check with the minutes"
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        transcript = screen.query_one(TranscriptList)
        await select(pilot, lead)
        await pilot.press("f")
        assert isinstance(pilot.app.screen, BookmarkNoteDialog)
        heading = f"⚑ New bookmark at {clock(lead['end'])}, after the segment at {clock(lead['start'])}"
        assert pilot.app.screen.heading() == heading
        await pilot.press("ctrl+d")  # nothing to delete yet: it stays open, the key edits the note
        assert isinstance(pilot.app.screen, BookmarkNoteDialog)
        await pilot.press("escape")  # cancelled: nothing added
        await pilot.pause()
        assert store.bookmarks(one) == []

        await pilot.press("f")
        await type_text(pilot, "check with the minutes")
        await pilot.press("enter")
        await pilot.pause()
        (added,) = store.bookmarks(one)
        assert (added["at"], added["note"]) == (lead["end"], "check with the minutes")
        lines = _screen_lines(transcript)
        assert _header_line(lines, lead) < lines.index(line) < _header_line(lines, after_lead)
        assert "1 bookmark (b/B next/previous, f note)" in str(screen.query_one("#playback").render())

        await pilot.press("f", "enter")  # now Enter takes that one; ctrl+d deletes it
        assert pilot.app.screen.query_one("#bookmark-note").value == "check with the minutes"
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert pilot.app.screen is screen
        assert store.bookmarks(one) == []
        assert line not in _screen_lines(transcript)
        await pilot.press("u")
        assert store.bookmarks(one) == [added]
        assert line in _screen_lines(transcript)


async def test_each_of_several_bookmarks_after_one_segment_is_chosen_edited_deleted_and_undone(study):
    store, one, _ = study
    lead = lead_answer(store, one)
    after_lead = next_of(store, one, lead)
    later = answer_to(store, one, 6)
    # Two bookmarks made during one long answer: both are drawn after it.
    step = (after_lead["start"] - lead["start"]) / 3
    first = store.add_bookmark(one, lead["start"] + step, "who chairs?")
    second = store.add_bookmark(one, lead["start"] + 2 * step, "ask for the minutes")
    store.add_bookmark(one, later["start"] + 0.5, "budget")
    at1, at2 = store.bookmark(first)["at"], store.bookmark(second)["at"]
    new_at = review.bookmark_time(lead, after_lead)
    line2 = f"  ⚑ {clock(at2)} bookmark: ask for the minutes"
    edited2 = f"  ⚑ {clock(at2)} bookmark: get the minutes"
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        screen = await review_loaded(pilot)
        transcript = screen.query_one(TranscriptList)

        # b and B stop once at the segment, which lists both; the next b goes on past it.
        await pilot.press("b")
        assert transcript.current_id == lead["id"]
        memos = str(screen.query_one("#memos").render())
        assert "who chairs?" in memos and "ask for the minutes" in memos
        await pilot.press("b")
        assert transcript.current_id == later["id"]
        await pilot.press("B")
        assert transcript.current_id == lead["id"]

        await pilot.press("f")  # which one: each by its time and note, or a new one
        chooser = pilot.app.screen
        assert isinstance(chooser, ChoiceDialog)
        options = chooser.query_one(OptionList)
        assert [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)] == [
            f"⚑ {clock(at1)} bookmark: who chairs?",
            f"⚑ {clock(at2)} bookmark: ask for the minutes",
            f"+ a new bookmark at {clock(new_at)}",
        ]
        await pilot.press("escape")  # nothing chosen, nothing changed
        await pilot.pause()
        assert pilot.app.screen is screen

        await pilot.press("f", "down", "enter")
        dialog = pilot.app.screen
        assert isinstance(dialog, BookmarkNoteDialog)
        assert dialog.query_one("#bookmark-note").value == "ask for the minutes"
        await pilot.press("ctrl+u")
        await type_text(pilot, "get the minutes")
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen is screen
        assert store.bookmark(second)["note"] == "get the minutes"
        assert store.bookmark(first)["note"] == "who chairs?"
        lines = _screen_lines(transcript)
        assert edited2 in lines and line2 not in lines
        assert _header_line(lines, lead) < lines.index(edited2) < _header_line(lines, after_lead)

        await pilot.press("f", "down", "enter", "ctrl+d")  # the second one again, deleted
        await pilot.pause()
        assert pilot.app.screen is screen
        assert [b["note"] for b in store.bookmarks(one)] == ["who chairs?", "budget"]
        lines = _screen_lines(transcript)
        assert edited2 not in lines and f"  ⚑ {clock(at1)} bookmark: who chairs?" in lines

        await pilot.press("u")  # the deletion undone: back with its edited note
        assert store.bookmark(second)["note"] == "get the minutes"
        assert edited2 in _screen_lines(transcript)
        await pilot.press("u")  # and the edit
        assert store.bookmark(second)["note"] == "ask for the minutes"
        assert line2 in _screen_lines(transcript)

        await pilot.press("f", "down", "down", "enter")  # a third one after the same segment
        assert pilot.app.screen.heading() == (
            f"⚑ New bookmark at {clock(new_at)}, after the segment at {clock(lead['start'])}"
        )
        await type_text(pilot, "check the dates")
        await pilot.press("enter")
        await pilot.pause()
        assert [(b["at"], b["note"]) for b in transcript.current["bookmarks"]] == sorted(
            [(at1, "who chairs?"), (at2, "ask for the minutes"), (new_at, "check the dates")]
        )
        assert len(store.bookmarks(one)) == 4


def test_exports_hold_live_bookmarks_as_notes_at_their_time(study, tmp_path):
    import io
    import xml.etree.ElementTree as ET
    import zipfile

    from docx import Document

    from core.interchange.exporters import render

    store, one, _ = study
    lead = lead_answer(store, one)
    after = next_of(store, one, lead)
    at = (lead["start"] + after["start"]) / 2
    store.add_bookmark(one, at, "who chairs?")
    store.add_bookmark(one, at + 0.1)

    (md,) = render(store, [one], "md")
    lines = md.data.decode("utf-8").splitlines()
    turn = next(i for i, line in enumerate(lines) if f"[{clock(lead['start'])}]:" in line)
    nxt = next(i for i, line in enumerate(lines) if f"[{clock(after['start'])}]:" in line)
    assert turn < lines.index(f"  - bookmark [{clock(at)}]: who chairs?") < nxt
    assert turn < lines.index(f"  - bookmark [{clock(at + 0.1)}]") < nxt

    (docx,) = render(store, [one], "docx")
    paragraphs = [p.text for p in Document(io.BytesIO(docx.data)).paragraphs]
    turn = next(i for i, t in enumerate(paragraphs) if t.startswith("Y") and lead["text"] in t)
    assert paragraphs[turn + 1] == f"Bookmark [{clock(at)}]: who chairs?"

    (qdpx,) = render(store, [one], "qdpx")
    path = tmp_path / "study.qdpx"
    path.write_bytes(qdpx.data)
    P = "{urn:QDA-XML:project:1.0}"
    root = ET.fromstring(zipfile.ZipFile(path).read("project.qde"))
    notes = {n.get("guid"): (n.get("name"), n.find(f"{P}PlainTextContent").text) for n in root.iter(f"{P}Note")}
    assert sorted(notes.values()) == sorted([(f"Bookmark at {clock(at)}", "who chairs?"),
                                             (f"Bookmark at {clock(at + 0.1)}", "Bookmark")])
    (source,) = root.iter(f"{P}TextSource")
    text = zipfile.ZipFile(path).read("sources/" + source.get("plainTextPath").removeprefix("internal://")).decode()
    refs = [(sel, ref.get("targetGUID")) for sel in source.iter(f"{P}PlainTextSelection")
            for ref in sel.findall(f"{P}NoteRef")]
    assert {notes[g][1] for _, g in refs} == {"who chairs?", "Bookmark"}
    assert {text[int(sel.get("startPosition")):int(sel.get("endPosition"))] for sel, _ in refs} == {lead["text"]}
    check_qdpx(path)  # last: without ../shared it skips (in CI fails), after the checks above


async def test_export_dialog_writes_the_chosen_format(study, tmp_path):
    from textual.widgets import Input

    from tui.screens.dialogs import ExportDialog

    store, one, _ = study
    seg = lead_answer(store, one)
    review.add_coding(store, seg["id"], "regie-en-sturing", 0, 10)
    review.add_coding(store, seg["id"], "betrokkenheid")
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        await pilot.press("o")
        assert isinstance(pilot.app.screen, ExportDialog)
        await pilot.press("down", "down", "down", "down")  # md, jsonl, docx, html, csv
        path = pilot.app.screen.query_one("#export-path", Input)
        assert path.value.endswith(f"session-{one}.csv")
        path.value = str(tmp_path / "quotes.csv")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: (tmp_path / "quotes.csv").exists(), "the export to be written")
        await pilot.pause()
    import csv

    rows = list(csv.reader((tmp_path / "quotes.csv").open(encoding="utf-8-sig")))
    coded = [c for s in review.load_session(store, one).segments for c in s["codings"]]
    assert len(coded) == 2 and rows[0][0].lower() == "session"
    assert len(rows) == 1 + len(coded)
    assert (tmp_path / "quotes.csv").stat().st_mode & 0o777 == 0o600


async def test_a_refused_edit_is_a_notification_and_changes_nothing(study):
    store, one, _ = study
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await review_loaded(pilot)
        await select(pilot, store.segments(one)[0])
        before = store.segments(one)
        await pilot.press("m")  # the next segment is the respondent's
        await pilot.pause()
        assert store.segments(one) == before
        assert any("different speakers" in n.message for n in pilot.app._notifications)


# --- playback ---------------------------------------------------------------------------------


class _ManualStream:
    """An output stream the test drives: each pull plays one block."""

    def __init__(self, fill, finished):
        self.fill, self.finished = fill, finished

    def start(self):
        pass

    def stop(self):
        pass

    def close(self):
        self.finished()


async def test_playback_follows_the_transcript(study):
    store, one, _ = study
    streams: list[_ManualStream] = []
    audio = np.zeros(int(220 * 16000), dtype=np.float32)

    def player_factory(session):
        return Player(audio, stream_factory=lambda fill, fin: streams.append(_ManualStream(fill, fin)) or streams[-1])

    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReviewScreen(store, one, player_factory=player_factory))
        screen = await review_loaded(pilot)
        first = await select(pilot, lead_answer(store, one))
        nxt = next_of(store, one, first)
        await pilot.press("space")
        await until(pilot, lambda: screen.player is not None and screen.player.playing, "playback to start")
        block = np.zeros(16000, dtype=np.float32)
        transcript = screen.query_one(TranscriptList)
        await until(pilot, lambda: transcript.playing_id == first["id"], "the played segment to be marked")
        while screen.player.position < nxt["start"] + 0.1:
            streams[-1].fill(block)
        await until(pilot, lambda: transcript.current_id == nxt["id"], "the highlight to follow the audio")
        await pilot.press("plus")
        assert screen.player.speed == 1.25
        await pilot.press("space")
        assert not screen.player.playing


# --- re-transcription from the screen ---------------------------------------------------------


async def test_retranscribe_action_runs_in_a_worker_and_reloads(study):
    store, one, _ = study
    started = threading.Event()

    def fake_retranscribe(worker_store, session_id, model, *, verbatim, overwrite_edited, on_progress, stop):
        from core.pipeline.retranscribe import Result
        from core.speech.tracks import Progress

        assert threading.current_thread() is not threading.main_thread()
        started.set()
        on_progress(Progress("transcribing the respondent's track", 50.0, 100.0, 5.0))
        seg = next_of(worker_store, session_id, lead_answer(worker_store, session_id))
        review.edit_text(worker_store, seg["id"], "I see, yes.")
        return Result(session_id, model, True, 100.0, 10.0, updated=1)

    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReviewScreen(store, one, retranscribe_fn=fake_retranscribe))
        screen = await review_loaded(pilot)
        await pilot.press("R")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("Re-transcribed" in n.message for n in app._notifications), "the result")
        assert started.is_set()
        texts = [r["text"] for r in screen.query_one(TranscriptList).records]
        assert "I see, yes." in texts
        assert not screen.query_one("#progress").display


# --- comparing --------------------------------------------------------------------------------


def _code_both(store: Store, one: int, four: int) -> None:
    for sid in (one, four):
        seg = lead_answer(store, sid)
        review.add_coding(store, seg["id"], "regie-en-sturing", 0, len(first_sentence(seg["text"])))
    review.add_coding(store, next_of(store, four, lead_answer(store, four), 2)["id"], "interactie-frequentie")


async def test_matrix_cell_lists_its_passages_and_opens_one_in_its_session(study):
    store, one, four = study
    _code_both(store, one, four)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.matrix is not None, "the matrix")
        screen = app.screen
        table = screen.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["Code", "1", "4", "Total"]
        assert str(table.get_cell("dimension:sturingsvorm", "4")) == "2"
        assert str(table.get_cell("dimension:sturingsvorm", "1")) == "1"
        table.move_cursor(row=table.get_row_index("dimension:sturingsvorm"), column=2)
        await pilot.press("enter")
        options = screen.query_one("#passages", OptionList)
        await until(pilot, lambda: options.option_count == 2, "the cell's passages")
        assert all(p.respondent == "4" for p in screen.shown_passages)
        answer = lead_answer(store, four)
        assert {p.passage for p in screen.shown_passages} == {
            first_sentence(answer["text"]),
            next_of(store, four, answer, 2)["text"],
        }
        options.focus()
        await pilot.press("down", "enter")
        review_screen = await review_loaded(pilot)
        assert review_screen.session_id == four
        assert review_screen.query_one(TranscriptList).current_id == screen.shown_passages[1].segment_id


async def test_matrix_expands_indicators_and_switches_to_cases(study):
    store, one, four = study
    _code_both(store, one, four)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CompareScreen(store))
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.matrix is not None, "the matrix")
        screen = app.screen
        table = screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("dimension:sturingsvorm"), column=0)
        await pilot.press("enter")
        await pilot.pause()
        assert str(table.get_cell("indicator:interactie-frequentie", "4")) == "1"
        await pilot.press("b")
        await until(pilot, lambda: screen.matrix.by == "case", "the matrix by case")
        assert [str(c.label) for c in table.columns.values()] == ["Code", "RIO Dordrecht", "Samen starten", "Total"]
        await pilot.press("o")
        await until(pilot, lambda: screen.co is not None, "the co-occurrence table")
        assert str(table.get_cell("co:sturingsvorm", "sturingsvorm")) == "3"


async def test_cooccurrence_cell_lists_where_two_codes_meet_and_opens_one(study):
    store, one, four = study
    _code_both(store, one, four)
    answer = lead_answer(store, four)
    review.add_coding(store, answer["id"], "hechte-groepen")  # the whole answer: meets the span
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CompareScreen(store))
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.matrix is not None, "the matrix")
        screen = app.screen
        await pilot.press("o")
        await until(pilot, lambda: screen.co is not None, "the co-occurrence table")
        table = screen.query_one(DataTable)
        assert str(table.get_cell("co:sturingsvorm", "type-organisatiecultuur")) == "1"
        table.move_cursor(row=table.get_row_index("co:sturingsvorm"),
                          column=table.get_column_index("type-organisatiecultuur"))
        await pilot.press("enter")
        options = screen.query_one("#passages", OptionList)
        await until(pilot, lambda: options.option_count == 1, "the passages where both codes occur")
        (p,) = screen.shown_passages
        assert (p.session_id, p.segment_id, p.passage) == (four, answer["id"], first_sentence(answer["text"]))
        shown = str(options.get_option_at_index(0).prompt)
        assert "Type organisatiecultuur" in shown and next_of(store, four, answer)["text"] in shown  # with context
        options.focus()
        await pilot.press("enter")
        review_screen = await review_loaded(pilot)
        assert review_screen.session_id == four
        assert review_screen.query_one(TranscriptList).current_id == answer["id"]


async def test_memos_on_a_dimension_from_the_comparison(study):
    from tui.screens.dialogs import DimensionMemoDialog

    store, one, four = study
    _code_both(store, one, four)
    review.add_memo(store, one, "dimension", "sturingsvorm", "Who chairs differs per pilot")
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CompareScreen(store))
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.matrix is not None, "the matrix")
        screen = app.screen
        table = screen.query_one(DataTable)
        assert "✉" in str(table.get_cell("dimension:sturingsvorm", "code"))
        assert "✉" not in str(table.get_cell("dimension:vertrouwen", "code"))
        table.move_cursor(row=table.get_row_index("dimension:vertrouwen"), column=1)
        await pilot.press("n")
        assert isinstance(app.screen, DimensionMemoDialog)
        assert "No memos" in str(app.screen.query_one("#dimension-memos Static").render())
        await type_text(pilot, "Trust grows with shared clients")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        assert [(m["session_id"], m["text"]) for m in review.dimension_memos(store, "vertrouwen")] == [
            (None, "Trust grows with shared clients")]
        assert "✉" in str(table.get_cell("dimension:vertrouwen", "code"))

        # On an indicator's row: its dimension's memos, read from any session.
        table.move_cursor(row=table.get_row_index("dimension:sturingsvorm"), column=0)
        await pilot.press("enter")  # expand the dimension
        await pilot.pause()
        table.move_cursor(row=table.get_row_index("indicator:regie-en-sturing"), column=1)
        await pilot.press("n")
        assert isinstance(app.screen, DimensionMemoDialog)
        written = str(app.screen.query_one("#dimension-memos Static").render())
        assert "Who chairs differs per pilot" in written and f"session {one}" in written
        await pilot.press("escape")
        assert app.screen is screen
        assert len(review.dimension_memos(store, "sturingsvorm")) == 1


# --- snapshots --------------------------------------------------------------------------------


def _snapshot_study(store: Store) -> tuple[int, int]:
    one = add_demo_session(store)
    four = add_demo_session(store, respondent="4", case_name="RIO Dordrecht", started_at="2021-06-15T14:00:00+00:00")
    _code_both(store, one, four)
    seg = lead_answer(store, one)
    review.add_memo(store, one, "segment", seg["id"], "Who chairs the meetings?")
    review.accept_suggestion(store, store.suggestions_for([seg["id"]])[seg["id"]][0]["id"])
    return one, four


def test_snapshot_sessions_screen(memory_store, snap_compare):
    one, _ = _snapshot_study(memory_store)
    word = distinctive_word(memory_store, one, lead_answer(memory_store, one))

    async def search(pilot):
        await pilot.press("slash")
        await type_text(pilot, word)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(memory_store), terminal_size=SIZE, run_before=search)


def test_snapshot_review_screen(memory_store, snap_compare):
    one, _ = _snapshot_study(memory_store)

    async def open_at_coded_segment(pilot):
        await review_loaded(pilot)
        await select(pilot, lead_answer(memory_store, one))

    assert snap_compare(make_app(memory_store, review_session=one), terminal_size=SIZE, run_before=open_at_coded_segment)


def test_snapshot_matrix_screen(memory_store, snap_compare):
    _snapshot_study(memory_store)

    async def open_cell(pilot):
        await pilot.press("m")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.matrix is not None,
                    "the matrix")
        table = pilot.app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("dimension:sturingsvorm"), column=2)
        await pilot.press("enter")
        options = pilot.app.screen.query_one("#passages", OptionList)
        await until(pilot, lambda: options.option_count == 2, "the passages")

    assert snap_compare(make_app(memory_store), terminal_size=SIZE, run_before=open_cell)
