"""Pilot tests of the live screen: the real replay source and VAD, a scripted transcriber."""

from __future__ import annotations

import json
import threading

from core.audio.sources import FileReplaySource
from core.pipeline.live import LivePipeline
from core.pipeline.demo import load_demo
from scripted import ScriptedTranscriber
from core.understanding.suggester import SHOWN_FROM
from tui.app import make_app
from tui.widgets.live import GuidePanel, SegmentRow, StatusBar, TranscriptView


def _scripted_demo(store, texts):
    demo = load_demo("en")
    source = FileReplaySource(demo.tracks, realtime=False)
    transcriber = ScriptedTranscriber(texts)
    pipeline = LivePipeline(source, transcriber, demo.guide, clock=source.clock)
    session_id = store.create_session(demo.guide, origin="demo", respondent="1", case_name="Samen starten")
    return demo, pipeline, session_id, transcriber


async def _wait_until_finished(app, pilot, screen, rounds=400):
    for _ in range(rounds):
        if screen.finished.is_set():
            break
        await pilot.pause(0.05)
    await pilot.pause()
    assert screen.finished.is_set(), "the replay did not finish"


async def test_segments_appear_and_are_stored(memory_store):
    expected = json.loads((load_demo("en").folder / "expected.json").read_text())
    texts = [t["text"] for t in expected] * 2  # more than the VAD will ask for
    demo, pipeline, session_id, transcriber = _scripted_demo(memory_store, texts)
    app = make_app(memory_store, session_id=session_id, pipeline=pipeline, state="replaying")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        await _wait_until_finished(app, pilot, screen)
        rows = list(screen.query(SegmentRow))
        stored = memory_store.segments(session_id)
        # Every utterance the VAD found was transcribed, stored, and shown, in time order.
        assert transcriber.calls >= len(expected) // 2
        assert len(stored) == transcriber.calls == len(rows)
        assert [r.record["id"] for r in rows] == [s["id"] for s in stored]
        assert {s["speaker"] for s in stored} == {"interviewer", "respondent"}
        assert screen.query_one(StatusBar).segments == len(stored)
        # Respondent segments carry suggestions in the guide's dimensions.
        with_suggestions = [
            s for s in stored if memory_store.suggestions_for([s["id"]])[s["id"]]
        ]
        assert with_suggestions and all(s["speaker"] == "respondent" for s in with_suggestions)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == session_id
    assert memory_store.session(session_id)["status"] == "completed"


async def test_keys_move_the_current_question(memory_store):
    demo, pipeline, session_id, _ = _scripted_demo(memory_store, [])
    app = make_app(memory_store, session_id=session_id, pipeline=pipeline, state="replaying")
    async with app.run_test(size=(140, 40)) as pilot:
        panel = app.screen.query_one(GuidePanel)
        await pilot.press("n")
        assert panel.current == 1
        await pilot.press("n", "n")
        assert panel.current == 3
        await pilot.press("p")
        assert panel.current == 2
        assert "current" in app.screen.query_one("#q2").classes
        assert "current" not in app.screen.query_one("#q3").classes
        assert "asked" in app.screen.query_one("#q3").classes
        assert memory_store.session(session_id)["current_question"] == 2
        events = list(memory_store.db["question_events"].rows_where("session_id = ?", [session_id]))
        assert [(e["question"], e["kind"]) for e in events] == [(1, "manual"), (2, "manual"), (3, "manual"), (2, "manual")]
        assert pipeline.tracker.current == 2
        await _wait_until_finished(app, pilot, app.screen)
        await pilot.press("q")


async def test_accepting_a_suggestion_codes_the_segment(memory_store):
    expected = json.loads((load_demo("en").folder / "expected.json").read_text())
    texts = [t["text"] for t in expected] * 2
    demo, pipeline, session_id, _ = _scripted_demo(memory_store, texts)
    app = make_app(memory_store, session_id=session_id, pipeline=pipeline, state="replaying")
    async with app.run_test(size=(140, 40)) as pilot:
        await _wait_until_finished(app, pilot, app.screen)
        pending = memory_store.latest_pending_suggestion(session_id, SHOWN_FROM)
        assert pending is not None and pending["score"] >= SHOWN_FROM
        await pilot.press("a")
        await pilot.pause()
        codings = list(memory_store.db["codings"].rows_where("segment_id = ?", [pending["segment_id"]]))
        assert [(c["indicator_id"], c["origin"]) for c in codings] == [(pending["indicator_id"], "suggestion")]
        assert memory_store.db["suggestions"].get(pending["id"])["state"] == "accepted"
        row = app.screen.query_one(TranscriptView).rows[pending["segment_id"]]
        assert row.record["codings"][0]["indicator_id"] == pending["indicator_id"]
        await pilot.press("q")


async def test_pause_and_end_a_running_replay(memory_store):
    demo = load_demo("en")
    source = FileReplaySource(demo.tracks, realtime=True)  # a real-time replay, still running
    pipeline = LivePipeline(source, ScriptedTranscriber([]), demo.guide, clock=source.clock)
    session_id = memory_store.create_session(demo.guide, origin="demo")
    app = make_app(memory_store, session_id=session_id, pipeline=pipeline, state="replaying")
    async with app.run_test(size=(100, 30)) as pilot:
        status = app.screen.query_one(StatusBar)
        assert "recording" in status.classes
        await pilot.press("space")
        assert status.state == "paused" and pipeline.paused.is_set()
        assert "recording" not in status.classes
        await pilot.press("space")
        assert status.state == "replaying" and not pipeline.paused.is_set()
        await pilot.press("q")
        for _ in range(200):
            if app.return_value is not None:
                break
            await pilot.pause(0.05)
    assert app.return_value == session_id
    session = memory_store.session(session_id)
    assert session["status"] == "completed"
    assert session["duration"] < source.duration


class _GatedTranscriber(ScriptedTranscriber):
    """Holds the first utterance until the test lets it go: the session is surely mid-way when
    the test acts."""

    def __init__(self, texts):
        super().__init__(texts)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def transcribe(self, audio):
        self.entered.set()
        self.gate.wait(30)
        return super().transcribe(audio)


async def test_a_bookmark_with_a_note_while_the_session_goes_on(memory_store):
    from textual.widgets import Input

    from core.store.review import load_session
    from tui.screens.dialogs import BookmarkDialog
    from tui.widgets.live import BookmarkRow

    expected = json.loads((load_demo("en").folder / "expected.json").read_text())
    demo = load_demo("en")
    source = FileReplaySource(demo.tracks, realtime=False)
    transcriber = _GatedTranscriber([t["text"] for t in expected] * 2)
    pipeline = LivePipeline(source, transcriber, demo.guide, clock=source.clock)
    session_id = memory_store.create_session(demo.guide, origin="demo")
    app = make_app(memory_store, session_id=session_id, pipeline=pipeline, state="replaying")
    async with app.run_test(size=(140, 40)) as pilot:
        live = app.screen
        for _ in range(400):
            if transcriber.entered.is_set():
                break
            await pilot.pause(0.05)
        assert transcriber.entered.is_set(), "the first utterance never reached the transcriber"
        await pilot.press("b")
        assert isinstance(app.screen, BookmarkDialog)
        # Stored at the key press, before any note: the moment is kept whatever happens next.
        (mark,) = memory_store.bookmarks(session_id)
        assert mark["note"] is None and 0 < mark["at"] < source.duration
        # The replay goes on, and its segments are stored and shown, while the dialog is open.
        transcriber.gate.set()
        await _wait_until_finished(app, pilot, live)
        assert isinstance(app.screen, BookmarkDialog)
        stored = memory_store.segments(session_id)
        assert len(stored) == transcriber.calls > 2
        assert len(live.query(SegmentRow)) == len(stored)
        assert stored[0]["start"] < mark["at"] < stored[-1]["start"]

        await pilot.press(*"who chairs?", "enter")
        assert app.screen is live
        assert memory_store.bookmarks(session_id)[0]["note"] == "who chairs?"
        row = live.query_one(TranscriptView).bookmarks[mark["id"]]
        assert "who chairs?" in str(row.render())

        await pilot.press("b")
        assert isinstance(app.screen, BookmarkDialog)
        app.screen.query_one(Input).value = "not kept"
        await pilot.press("escape")  # a bookmark without a note
        assert app.screen is live
        first, second = memory_store.bookmarks(session_id)
        assert (first["id"], second["note"]) == (mark["id"], None)
        assert second["at"] >= first["at"]
        assert len(live.query(BookmarkRow)) == 2
        await pilot.press("q")
        await pilot.pause()
    assert memory_store.session(session_id)["status"] == "completed"
    # In review it sits after the segment that had begun when the key was pressed.
    loaded = load_session(memory_store, session_id)
    (holder,) = [s for s in loaded.segments if first in s["bookmarks"]]
    later = [s for s in loaded.segments if s["start"] > holder["start"]]
    assert holder["start"] <= first["at"] < later[0]["start"]


def test_only_suggestions_worth_a_look_are_shown_live():
    from tui.widgets.live import SegmentRow

    guide = load_demo("en").guide
    dim = guide.dimensions[0]
    ind = dim.indicators[0]

    def chip(score):
        return {"dimension_id": dim.id, "indicator_id": ind.id, "score": score, "state": "pending"}

    record = {"id": 1, "speaker": "respondent", "start": 3.0, "text": "We met every week.", "asks": None,
              "codings": [], "suggestions": [chip(0.05)]}
    assert dim.name not in SegmentRow(record, guide)._render_text().plain
    record["suggestions"] = [chip(SHOWN_FROM)]
    assert dim.name in SegmentRow(record, guide)._render_text().plain


async def test_a_withdrawn_question_is_unticked_and_its_row_no_longer_asks_it(memory_store):
    from core.pipeline.live import SegmentReady
    from core.store.database import NewSegment

    demo, pipeline, session_id, _ = _scripted_demo(memory_store, [])
    app = make_app(memory_store, session_id=session_id, pipeline=pipeline, state="replaying")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        await _wait_until_finished(app, pilot, screen)
        screen.segment_ready(SegmentReady(NewSegment("interviewer", "And as a last question", 1.0, 2.0,
                                                     asks=4, question=4, question_score=0.6), 0.5, 2.0))
        screen.segment_ready(SegmentReady(NewSegment("interviewer", "how did you start?", 2.5, 3.5, asks=1,
                                                     question=1, question_score=0.9, withdraws=4), 0.5, 3.5))
        await pilot.pause()
        panel = screen.query_one(GuidePanel)
        assert panel.current == 1 and 4 not in panel.asked
        assert "asked" not in screen.query_one("#q4").classes and "asked" in screen.query_one("#q1").classes
        rows = list(screen.query(SegmentRow))
        assert ["[asks Q" in str(r.render()) for r in rows] == [False, True]
        await pilot.press("q")
