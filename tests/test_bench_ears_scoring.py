"""bench/bench_ears.py counts the passages whose suggestions went wrong through the ears, and how
many of them stood under another question than on typed text (what guide tracking lost)."""

from __future__ import annotations

from types import SimpleNamespace

from benches import bench_module


def _record(question, *dimensions):
    return {"question": question, "suggestions": [{"dimension": d} for d in dimensions]}


def test_a_passage_counts_as_lost_only_when_typed_text_had_its_dimension_in_the_top_three():
    bench = bench_module("bench_ears")
    labels = SimpleNamespace(dimensions={0: ["Trust"], 1: ["Trust"], 2: ["Goals", "Trust"], 3: ["Size"]})
    typed = [_record(4, "Trust"), _record(4, "A", "B", "Trust"), _record(5, "Goals"), _record(6, "A", "B", "C", "Size")]
    heard = [
        _record(3, "A", "B", "C"),         # lost, under another question
        _record(4, "A", "B", "C", "Trust"),  # lost (fourth), under the same question
        _record(5, "Goals"),               # kept
        _record(2, "A"),                   # typed had it fourth: not right on typed text either
    ]
    assert bench.top3_lost(labels, typed, heard) == (2, 1)


def test_a_question_withdrawn_by_the_rest_of_its_turn_is_not_counted_as_asked():
    from core.pipeline.live import SegmentReady
    from core.store.database import NewSegment
    from core.study.guide import load_guide

    bench = bench_module("bench_ears")
    turns = [bench.VoicedTurn(0, "interviewer", 0.0, 4.0, "En als laatste inleidend vraagje ... gericht?"),
             bench.VoicedTurn(1, "respondent", 4.0, 8.0, "Er werd iets verwacht van iedere partij."),
             bench.VoicedTurn(2, "interviewer", 8.0, 12.0, "Hoe was de verbondenheid?")]
    voiced = bench.Voiced(5, {}, turns, 12.0)

    def heard(speaker, text, start, end, **kw):
        return SegmentReady(NewSegment(speaker, text, start, end, **kw), 0.5, end)

    segments = [heard("interviewer", "En als laatste inleidend vraagje", 0.5, 2.0, asks=24, question=24, question_score=0.65),
                heard("interviewer", "Kennisuitwisseling gericht?", 2.5, 3.5, asks=10, question=10, question_score=0.97,
                      withdraws=24),
                heard("respondent", "Er werd iets verwacht van iedere partij.", 4.5, 7.5, question=10),
                heard("interviewer", "Hoe was de verbondenheid?", 8.5, 11.0, asks=11, question=11, question_score=0.95)]
    parsed = SimpleNamespace(turns=turns)
    records, further = bench.heard_records(voiced, segments, load_guide("koers-en-kansen"), parsed)
    assert [r["asks"] for r in records] == [10, None, 11]
    assert further == []  # the turn asked one question, not 24 and then 10
    # Not withdrawn, the turn asked both.
    segments[1].segment.withdraws = None
    records, further = bench.heard_records(voiced, segments, load_guide("koers-en-kansen"), parsed)
    assert [r["asks"] for r in records] == [24, None, 11] and [(i, q) for i, q, _ in further] == [(0, 10)]
