"""The live path hears an interviewer's turn in pieces, cut at its pauses, and follows the guide on
each piece read with the words of the turn before it (LivePipeline `join_turns`), as an import
reads the turn whole. Words that have asked a question are not read again with what follows.
"""

from __future__ import annotations

import threading

import pytest

from core.audio.segmenter import VadSegmenter
from core.pipeline.live import LivePipeline
from core.study.guide import load_guide
from core.understanding.tracker import GuideTracker
from scripted import ScriptedTranscriber
from test_hear_ahead import Source
from test_understanding import REST, TOO_EARLY
from test_segmenter import LoudnessVad, timeline


@pytest.fixture(scope="module")
def guide():
    return load_guide("koers-en-kansen")


def heard_turn(guide, pieces: list[str], asked_up_to: int, join_turns: bool = True) -> tuple[list, GuideTracker]:
    """One interviewer turn said in `pieces`, each after a pause of one second (an utterance each,
    one turn), with the guide followed up to question `asked_up_to`: the question each piece was
    taken to ask."""
    segments, tracker = heard_segments(guide, pieces, asked_up_to, join_turns)
    return [s.asks for s in segments], tracker


def heard_segments(guide, pieces: list[str], asked_up_to: int, join_turns: bool = True) -> tuple[list, GuideTracker]:
    """As `heard_turn`: the segments the pieces became."""
    tracker = GuideTracker(guide)
    for number in range(1, asked_up_to + 1):
        tracker.set_current(number)
    parts = [("silence", 0.5)]
    for _ in pieces:
        parts += [("speech", 1.5), ("silence", 1.0)]
    source = Source(timeline(*parts, ("silence", 1.0)), track="interviewer")
    pipeline = LivePipeline(source, ScriptedTranscriber(pieces), guide, clock=source.clock, tracker=tracker,
                            segmenter_factory=lambda track: VadSegmenter(track, vad=LoudnessVad()),
                            join_turns=join_turns)
    out = []
    pipeline.run(out.append, threading.Event())
    assert [r.segment.text for r in out] == pieces  # one utterance a piece
    return [r.segment for r in out], tracker


def test_a_question_put_over_two_utterances_is_followed(guide):
    pieces = ["En dan het vertrouwen.", "Hoe was dat tussen de partners?"]
    asks, tracker = heard_turn(guide, pieces, asked_up_to=5)
    assert asks == [None, 6]
    # Each piece alone asks nothing: the turn is what asks.
    assert heard_turn(guide, pieces, asked_up_to=5, join_turns=False)[0] == [None, None]


def test_the_words_that_asked_a_question_do_not_ask_the_next_one_with_what_follows(guide):
    # As Whisper heard interview 2 of the reference study: the interviewer asks question 20 and
    # ends on words of her own. Read with the words before them, the last ones made question 24
    # ("nog iets toe te voegen", "de laatste vraag") asked, and it was not followed when it came.
    pieces = ["Ja oké voordat we naar de laatste vraag toegaan heb ik nog één vraag over spanningen en "
              "knelpunten. Zijn er nog andere dingen of hebben zich andere dingen voorgedaan of hebben "
              "jullie nog iets toe te voegen aan het lijstje dat ik net",
              "heb behandeld?"]
    asks, tracker = heard_turn(guide, pieces, asked_up_to=19)
    assert asks == [20, None]
    assert tracker.current == 20 and 24 not in tracker.asked
    last = "Zijn er nog andere dingen die u mij wilt meegeven over de pilot of heeft u nog iets toe te voegen?"
    assert tracker.observe(last).number == 24


def test_a_turn_that_asks_two_questions_asks_both(guide):
    pieces = ["Hoe stond het met het vertrouwen in de samenwerking en de andere organisaties?",
              "En was dat vertrouwen breed gedeeld over het hele netwerk?"]
    asks, _ = heard_turn(guide, pieces, asked_up_to=5)
    assert asks == [6, 7]


def test_the_rest_of_a_turn_withdraws_what_its_start_was_weakly_taken_to_ask(guide):
    # Interview 5 through the ears: "als laatste inleidend vraagje" was heard as the guide's last
    # question, on weak evidence; the rest of the turn shows it introduced question 10.
    pieces = [TOO_EARLY, REST]
    segments, tracker = heard_segments(guide, pieces, asked_up_to=9)
    assert [(s.asks, s.withdraws) for s in segments] == [(24, None), (10, 24)]
    assert tracker.current == 10 and 24 not in tracker.asked
    # Each piece alone: question 24 stays asked, and question 10 is not followed.
    segments, tracker = heard_segments(guide, pieces, asked_up_to=9, join_turns=False)
    assert [(s.asks, s.withdraws) for s in segments] == [(24, None), (None, None)]
    assert tracker.current == 24
