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
