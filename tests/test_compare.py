"""Finding and comparing across sessions: the sessions overview, search, the matrix, passages
with context, co-occurrence, and `fieldnote matrix`."""

from __future__ import annotations

import csv
import io

import pytest

from core.store import browse, review
from core.analysis import compare
from core.base.errors import UserError
from core.store.database import Store
from tui.cli import main

from review_data import (
    add_demo_session, answer_to, demo_turns, distinctive_word, first_sentence, lead_answer, next_of, words_span,
)


@pytest.fixture
def study(memory_store: Store):
    store = memory_store
    one = add_demo_session(store)
    four = add_demo_session(store, respondent="4", case_name="RIO Dordrecht", started_at="2021-06-15T14:00:00+00:00")
    five = add_demo_session(store, respondent="5", case_name="Samen starten", started_at="2021-06-20T09:00:00+00:00",
                            turns=12)
    for sid in (one, four):
        seg = lead_answer(store, sid)
        head = len(first_sentence(seg["text"]))
        review.add_coding(store, seg["id"], "regie-en-sturing", 0, head)
        # The same passage with a second indicator of the same dimension: still one passage.
        review.add_coding(store, seg["id"], "interactie-frequentie", 0, head)
    seg = lead_answer(store, four)
    review.add_coding(store, seg["id"], "hechte-groepen")  # whole segment: overlaps the span
    later = next_of(store, four, seg, 2)  # the respondent again, after the interviewer's "I see"
    review.add_coding(store, later["id"], "interactie-frequentie", *words_span(later["text"], 2, 4)[:2])
    review.add_coding(store, later["id"], "vertrouwen-verdeling", *words_span(later["text"], 0, 0)[:2])  # apart
    review.add_coding(store, answer_to(store, five, 3)["id"], "aantal-organisaties")
    return store, one, four, five


# --- sessions and search ----------------------------------------------------------------------


def test_session_summaries_count_segments_and_the_coded_share(study):
    store, one, four, five = study
    rows = {s.id: s for s in browse.session_summaries(store)}
    assert [s.id for s in browse.session_summaries(store)] == [five, four, one]
    turns = demo_turns()
    answers = sum(t["speaker"] == "respondent" for t in turns)
    assert (rows[one].segments, rows[one].respondent_segments, rows[one].coded_segments, rows[one].codings) == (
        len(turns), answers, 1, 2)
    assert rows[four].coded_segments == 2 and rows[four].codings == 5
    assert rows[four].coded_share == pytest.approx(2 / answers)
    assert rows[five].duration == pytest.approx(store.segments(five)[-1]["end"] + 1.5, abs=0.1)
    assert [s.id for s in browse.filter_sessions(list(rows.values()), "samen 2021-06-20")] == [five]
    assert len(browse.filter_sessions(list(rows.values()), "  ")) == 3


def test_search_finds_word_prefixes_newest_session_first_and_marks_the_match(study):
    store, one, four, five = study
    word = distinctive_word(store, one, lead_answer(store, one))
    hits = browse.search(store, word[:-2])  # a word's beginning finds it
    assert [(h.session_id, h.segment_id) for h in hits] == [(sid, lead_answer(store, sid)["id"]) for sid in (five, four, one)]
    assert (word, True) in [(part.lower(), hit) for part, hit in browse.snippet_parts(hits[0].snippet)]
    assert browse.count_hits(store, word) == 3
    in_order = browse.search(store, "the")  # many segments in each session
    assert [h.session_id for h in in_order][:2] == [five, five]
    assert in_order[0].start < in_order[1].start
    assert browse.search(store, '"unbalanced AND (') == []  # typed text never becomes FTS syntax
    assert browse.search(store, "   ") == []


def test_search_sees_corrected_text(study):
    store, one, _, _ = study
    seg = next_of(store, one, lead_answer(store, one))
    review.edit_text(store, seg["id"], "I see, the reclassering.")
    assert [h.segment_id for h in browse.search(store, "reclassering")] == [seg["id"]]


# --- the matrix -------------------------------------------------------------------------------


def test_matrix_counts_passages_per_dimension_once_and_per_indicator(study):
    store, *_ = study
    m = compare.build_matrix(store, "respondent")
    assert m.columns == ["1", "4", "5"]
    row = {(r.kind, r.id): r for r in m.rows}
    sturing = row[("dimension", "sturingsvorm")]
    assert [m.count(sturing, c) for c in m.columns] == [1, 2, 0]
    assert m.count(row[("indicator", "interactie-frequentie")], "4") == 2
    assert m.count(row[("indicator", "regie-en-sturing")], "4") == 1
    assert m.count(row[("dimension", "aantal-netwerkleden")]) == 1
    by_case = compare.build_matrix(store, "case")
    assert by_case.columns == ["RIO Dordrecht", "Samen starten"]
    assert by_case.count(sturing, "Samen starten") == 1
    assert by_case.sessions["Samen starten"] == 2


def test_respondent_columns_go_by_number_a_joint_interview_by_its_first(memory_store):
    store = memory_store
    for respondent in ("10", "2,3", "Anna", "1", "4"):
        sid = add_demo_session(store, respondent=respondent)
        review.add_coding(store, lead_answer(store, sid)["id"], "regie-en-sturing")
    assert compare.build_matrix(store, "respondent").columns == ["1", "2,3", "4", "10", "Anna"]


def test_the_matrix_as_csv_starts_no_formula_with_a_case_name(memory_store):
    store = memory_store
    sid = add_demo_session(store, respondent="=1+1", case_name="@pilot")
    review.add_coding(store, lead_answer(store, sid)["id"], "regie-en-sturing")
    rows = list(csv.reader(io.StringIO(compare.matrix_csv(compare.build_matrix(store, "case")))))
    assert rows[0][2] == "'@pilot"
    rows = list(csv.reader(io.StringIO(compare.matrix_csv(compare.build_matrix(store, "respondent")))))
    assert rows[0][2] == "'=1+1"
    assert rows[1][0] == "Sturingsvorm"  # other text as it was


def test_matrix_of_an_unknown_guide_or_by_is_a_clear_error(study):
    store, *_ = study
    with pytest.raises(UserError, match="no session uses the guide"):
        compare.build_matrix(store, "respondent", guide_id="nope")
    with pytest.raises(UserError, match="compare by one of"):
        compare.build_matrix(store, "pilot")


def test_an_empty_study_has_no_matrix(memory_store):
    with pytest.raises(UserError, match="no sessions yet"):
        compare.build_matrix(memory_store)


def test_cell_passages_carry_what_was_said_before_and_after(study):
    store, one, four, _ = study
    found = compare.passages(store, dimension_id="sturingsvorm", by="respondent", value="4")
    assert [p.session_id for p in found] == [four, four]
    lead = found[0]
    answer = lead_answer(store, four)
    assert lead.passage == first_sentence(answer["text"])
    assert lead.before == next_of(store, four, answer, -1)["text"] and lead.before_speaker == "interviewer"
    assert lead.after == next_of(store, four, answer)["text"]
    later = next_of(store, four, answer, 2)
    assert found[1].passage == words_span(later["text"], 2, 4)[2]
    everywhere = compare.passages(store, indicator_id="interactie-frequentie")
    assert [p.session_id for p in everywhere] == [one, four, four]


def test_cooccurrence_counts_codes_on_the_same_passage(study):
    store, *_ = study
    co = compare.cooccurrence(store, "dimension")
    # The answer on who leads, of respondent 4: a sturingsvorm span, type-organisatiecultuur whole.
    assert co.count("sturingsvorm", "type-organisatiecultuur") == 1
    # Two spans of the next answer that do not overlap.
    assert co.count("sturingsvorm", "vertrouwen") == 0
    assert co.count("sturingsvorm", "sturingsvorm") == 3
    ind = compare.cooccurrence(store, "indicator")
    assert ind.count("regie-en-sturing", "interactie-frequentie") == 2


def test_cooccurring_passages_are_the_cells_passages(study):
    store, one, four, five = study
    co = compare.cooccurrence(store, "dimension")
    for a, _ in co.codes:
        for b, _ in co.codes:
            assert len(compare.cooccurring_passages(store, a, b, context=False)) == co.count(a, b), (a, b)
    answer = lead_answer(store, four)
    head = len(first_sentence(answer["text"]))
    (p,) = compare.cooccurring_passages(store, "sturingsvorm", "type-organisatiecultuur")
    # The whole segment is coded with one, its first sentence with the other: that sentence has both.
    assert (p.session_id, p.segment_id, p.span) == (four, answer["id"], (0, head))
    assert p.dimension_id == "sturingsvorm" and p.other == ("type-organisatiecultuur", "hechte-groepen")
    assert p.before == next_of(store, four, answer, -1)["text"] and p.after == next_of(store, four, answer)["text"]
    assert compare.cooccurring_passages(store, "sturingsvorm", "vertrouwen") == []  # spans apart
    diagonal = compare.cooccurring_passages(store, "sturingsvorm", "sturingsvorm")
    later = next_of(store, four, answer, 2)
    assert [(x.session_id, x.segment_id, x.other) for x in diagonal] == [
        (one, lead_answer(store, one)["id"], None), (four, answer["id"], None), (four, later["id"], None)]
    assert diagonal[2].passage == words_span(later["text"], 2, 4)[2]
    pair = compare.cooccurring_passages(store, "regie-en-sturing", "interactie-frequentie", "indicator")
    assert [x.session_id for x in pair] == [one, four]
    with pytest.raises(UserError, match="by dimension or by indicator"):
        compare.cooccurring_passages(store, "a", "b", "case")


def test_the_matrix_counts_memos_on_dimensions(study):
    store, one, *_ = study
    review.add_memo(store, None, "dimension", "sturingsvorm", "Formal lead vs. equal voice")
    review.add_memo(store, one, "dimension", "sturingsvorm", "Chair rotates?")
    m = compare.build_matrix(store)
    assert m.dimension_memos == {"sturingsvorm": 2}
    assert [x["text"] for x in review.dimension_memos(store, "sturingsvorm")] == [
        "Formal lead vs. equal voice", "Chair rotates?"]


# --- the command ------------------------------------------------------------------------------


def test_fieldnote_matrix_prints_csv_and_a_table(tmp_path, capsys):
    path = tmp_path / "study.db"
    store = Store(path)
    one = add_demo_session(store)
    review.add_coding(store, lead_answer(store, one)["id"], "regie-en-sturing")
    name = review.guide_of_session(store, one).indicator("regie-en-sturing").name
    store.close()

    assert main(["--db", str(path), "matrix", "--by", "case", "--format", "csv", "--indicators"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["code", "level", "Samen starten", "total"]
    assert ["Sturingsvorm", "dimension", "1", "1"] in rows
    assert [name, "indicator", "1", "1"] in rows

    assert main(["--db", str(path), "matrix"]) == 0
    table = capsys.readouterr().out
    assert "coded passages by respondent" in table
    assert any(line.startswith("Sturingsvorm") and line.split()[-2:] == ["1", "1"] for line in table.splitlines())


def test_fieldnote_transcribe_names_what_is_wrong(tmp_path, capsys):
    path = tmp_path / "study.db"
    Store(path).close()
    assert main(["--db", str(path), "transcribe", "7", "--model", "tiny.en"]) == 2
    assert "no session 7" in capsys.readouterr().err
