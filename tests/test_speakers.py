"""Who is the interviewer: found by who asks the guide's questions (in another language than
the reference study's), proposed per segment of one mixed track, taken by the text import
without --interviewer, and put right in the review screen."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.interchange.guide_draft import DraftGuide, DraftQuestion, guide_text
from core.store import review
from core.study.guide import parse_guide
from core.understanding.speakers import (
    CLEAR, RoleProposal, find_interviewer, propose_roles, reassign_roles, score_roles, up_to_next_question,
)
from tui.app import make_app
from tui.cli import main
from tui.widgets.transcript import TranscriptList

from review_data import add_demo_session, answer_to, lead_answer, next_of

SIZE = (140, 45)
GERMAN = Path(__file__).resolve().parent / "data" / "interview-de.toml"

# What a respondent says between the German interviewer's turns: about the pilot and the
# collaboration, in the guide's words now and then, without putting its questions.
ANSWERS = [
    "Ich arbeite seit acht Jahren bei der Bewährungshilfe in Köln, vor allem mit Klienten, die bald "
    "entlassen werden, und ich koordiniere die Übergänge in die Gemeinde.",
    "Ja, ich war von Anfang an dabei. Wir haben uns in der Justizvollzugsanstalt mit den Kollegen "
    "der Gemeinde zusammengesetzt und die ersten Fälle gemeinsam besprochen.",
    "Die Gemeinde hatte eigentlich die Regie, deren Koordinatorin hat die Treffen vorbereitet und "
    "die Protokolle geschrieben, aber die Entscheidungen haben wir zusammen getroffen.",
    "Einmal im Monat gab es eine Projektgruppe, da waren meistens alle Partner dabei, nur die "
    "Anstalt fehlte manchmal, wenn dort Personal knapp war.",
    "Das Vertrauen war gut, wir kannten uns ja schon aus früheren Fällen, und das hat vieles "
    "leichter gemacht, gerade am Anfang.",
    "Am Anfang nicht so richtig, das kam erst später, als wir gemerkt haben, dass jeder etwas "
    "anderes unter Nachsorge verstanden hat. Danach haben wir das aufgeschrieben.",
    "Es hat oft lange gedauert, bis eine Entscheidung da war, weil jede Organisation erst intern "
    "fragen musste. Effizient würde ich das nicht nennen.",
    "Mit den externen Stellen lief es gut, die Wohnungsbaugesellschaft war sehr offen, und die "
    "Schuldnerberatung hat uns auch schnell Termine gegeben.",
]


def german() -> tuple:
    """The German made-up study: a guide written from its question list (as `guides new`
    writes it) and the interview, each interviewer turn followed by an answer."""
    data = tomllib.loads(GERMAN.read_text(encoding="utf-8"))
    draft = DraftGuide("Prüfung", [DraftQuestion(q, n) for n, q in enumerate(data["questions"], 1)])
    text = guide_text(draft, guide_id="de-check", title=None, language="de", planned_minutes=60)
    turns = []
    for i, turn in enumerate(data["turns"]):
        turns.append(("Anna Schmidt", turn["text"]))
        turns.append(("Bernd Keller", ANSWERS[i % len(ANSWERS)]))
    return parse_guide(text), text, turns


def test_the_speaker_who_asks_the_guide_questions_is_found_in_german():
    guide, _, turns = german()
    guess = find_interviewer(turns, guide)
    assert guess is not None and guess.speaker == "Anna Schmidt"
    assert CLEAR <= guess.sureness <= 1
    assert guess.reason.startswith("asks ") and f"of the {len(guide.questions)} questions" in guess.reason
    # The respondent's answers are the other speaker's side of the count.
    assert "the other asks" in guess.reason
    # The names do not matter, nor who speaks first.
    swapped = [("Bernd Keller" if s == "Anna Schmidt" else "Anna Schmidt", t) for s, t in turns[1:]]
    assert find_interviewer(swapped, guide).speaker == "Bernd Keller"


def test_no_speaker_is_taken_when_none_clearly_asks_the_questions():
    guide, _, turns = german()
    # Two interviewers sharing the guide: each asks about half of the questions.
    asking = [t for s, t in turns if s == "Anna Schmidt"]
    shared = [("Anna Schmidt" if i % 2 else "Carla Weber", t) for i, t in enumerate(asking)]
    answers = [("Bernd Keller", t) for s, t in turns if s == "Bernd Keller"]
    mixed = [x for pair in zip(shared, answers) for x in pair]
    assert find_interviewer(mixed, guide) is None
    # Too few questions to tell: two turns of the interview.
    assert find_interviewer(turns[2:6], guide) is None
    # One speaker alone is no one to tell apart.
    assert find_interviewer([("Anna Schmidt", t) for t in asking], guide) is None


def test_roles_are_proposed_for_a_mixed_track_from_its_text_alone():
    guide, _, turns = german()
    texts = [t for _, t in turns]
    truth = [s == "Anna Schmidt" for s, _ in turns]
    proposals = propose_roles(texts, guide)
    assert len(proposals) == len(texts)
    assert all(isinstance(p, RoleProposal) and 0.5 <= p.sureness <= 1 for p in proposals)
    scored = score_roles(proposals, truth, texts)
    assert scored.segments == len(texts) and scored.share >= 0.9 and scored.word_share >= 0.9
    # Read as a recording's segments (with times), a question is still the interviewer's and
    # the long answer after it the respondent's.
    starts = [6.0 * i for i in range(len(texts))]
    ends = [s + 5.0 for s in starts]
    timed = propose_roles(texts, guide, starts=starts, ends=ends)
    asks = [i for i, t in enumerate(tomllib.loads(GERMAN.read_text(encoding="utf-8"))["turns"]) if t["asks"]]
    assert sum(timed[2 * i].interviewer and not timed[2 * i + 1].interviewer for i in asks) >= 0.8 * len(asks)
    assert propose_roles([], guide) == []


def test_score_roles_counts_segments_and_words():
    scored = score_roles([True, False, RoleProposal(False, 0.9)], [True, True, False],
                         ["one two", "three four five", "six"])
    assert (scored.right, scored.segments, scored.right_words, scored.words) == (2, 3, 3, 6)
    assert scored.share == pytest.approx(2 / 3) and scored.word_share == pytest.approx(0.5)
    assert score_roles([True, True], [True, False]).word_share is None
    with pytest.raises(ValueError):
        score_roles([True], [True, False])


# --- the text import ---------------------------------------------------------------------------


def teams_vtt(turns) -> str:
    out = ["WEBVTT", ""]
    for i, (speaker, text) in enumerate(turns):
        start, end = 6 * i, 6 * i + 5
        out += [f"00:{start // 60:02d}:{start % 60:02d}.000 --> 00:{end // 60:02d}:{end % 60:02d}.000",
                f"<v {speaker}>{text}</v>", ""]
    return "\n".join(out)


def named_text(turns) -> str:
    return "\n".join(f"{speaker}: {text}" for speaker, text in turns) + "\n"


@pytest.fixture(params=["vtt", "txt"])
def german_call(tmp_path, request):
    """The German interview as a Teams VTT and as a typed 'Name: text' transcript."""
    _, guide_text_, turns = german()
    guide = tmp_path / "de-check.toml"
    guide.write_text(guide_text_, encoding="utf-8")
    call = tmp_path / f"call.{request.param}"
    write = teams_vtt if request.param == "vtt" else named_text
    call.write_text(write(turns), encoding="utf-8")
    return tmp_path / "study.db", guide, call, turns, write


def _speakers(db) -> dict[str, set[str]]:
    from core.store.database import Store

    store = Store(db)
    try:
        out: dict[str, set[str]] = {}
        for s in store.segments(max(s["id"] for s in store.sessions())):
            out.setdefault(s["speaker"], set()).add(s["speaker_label"])
        return out
    finally:
        store.close()


def test_a_teams_transcript_imports_without_interviewer_and_says_whom_it_took(german_call, capsys):
    db, guide, call, turns, _ = german_call
    assert main(["--db", str(db), "import", str(call), "--guide", str(guide)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "1"
    said = [line for line in err.splitlines() if line.startswith("interviewer:")]
    assert len(said) == 1 and "Anna Schmidt" in said[0] and "% sure" in said[0] and "--interviewer" in said[0]
    assert _speakers(db) == {"interviewer": {"Anna Schmidt"}, "respondent": {"Bernd Keller"}}


def test_interviewer_overrides_the_guess(german_call, capsys):
    db, guide, call, _, _ = german_call
    assert main(["--db", str(db), "import", str(call), "--guide", str(guide), "--interviewer", "Bernd Keller"]) == 0
    err = capsys.readouterr().err
    assert "interviewer:" not in err
    assert _speakers(db) == {"interviewer": {"Bernd Keller"}, "respondent": {"Anna Schmidt"}}


def test_an_unclear_transcript_still_asks_for_interviewer(german_call, capsys):
    db, guide, call, turns, write = german_call
    call.write_text(write(turns[2:6]), encoding="utf-8")
    assert main(["--db", str(db), "import", str(call), "--guide", str(guide)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "cannot tell which speaker is the interviewer" in err and "--interviewer" in err
    assert not db.exists() or _no_sessions(db)


def _no_sessions(db) -> bool:
    from core.store.database import Store

    store = Store(db)
    try:
        return store.sessions() == []
    finally:
        store.close()


# --- the review keys ---------------------------------------------------------------------------


async def _review(pilot):
    from tui.screens.review import ReviewScreen

    for _ in range(200):
        if isinstance(pilot.app.screen, ReviewScreen) and pilot.app.screen.data is not None:
            return pilot.app.screen
        await pilot.pause(0.02)
    raise AssertionError("the review screen did not load")


async def _select(pilot, seg: dict) -> None:
    pilot.app.screen.query_one(TranscriptList).select_id(seg["id"])
    await pilot.pause()


def _pending(store, segment_id: int) -> list[dict]:
    return [s for s in store.suggestions_for([segment_id])[segment_id] if s["state"] == "pending"]


async def test_t_flips_a_turn_and_its_suggestions_follow(memory_store):
    store = memory_store
    one = add_demo_session(store)
    answer = lead_answer(store, one)
    question = next_of(store, one, answer, -1)
    before = [s["id"] for s in _pending(store, answer["id"])]
    assert before and question["asks"] == 4
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await _review(pilot)
        # An answer taken for the interviewer's: its open suggestions are withdrawn.
        await _select(pilot, answer)
        await pilot.press("t")
        await pilot.pause()
        assert store.db["segments"].get(answer["id"])["speaker"] == "interviewer"
        assert _pending(store, answer["id"]) == []
        # The other way: the question becomes the respondent's, poses nothing, gets suggestions.
        await _select(pilot, question)
        await pilot.press("t")
        await pilot.pause()
        row = store.db["segments"].get(question["id"])
        assert row["speaker"] == "respondent" and row["asks"] is None
        assert _pending(store, question["id"])
        assert store.db.execute("select count(*) from question_events where segment_id = ?",
                                [question["id"]]).fetchone()[0] == 0
        # Each flip is one undoable edit.
        await pilot.press("u")
        await pilot.pause()
        row = store.db["segments"].get(question["id"])
        assert row["speaker"] == "interviewer" and row["asks"] == 4 and _pending(store, question["id"]) == []
        await pilot.press("u")
        await pilot.pause()
        assert store.db["segments"].get(answer["id"])["speaker"] == "respondent"
        assert [s["id"] for s in _pending(store, answer["id"])] == before


async def test_T_gives_every_turn_up_to_the_next_question_the_selected_speaker(memory_store):
    store = memory_store
    one = add_demo_session(store)
    segments = store.segments(one)
    start = lead_answer(store, one)
    stretch = up_to_next_question(segments, start["id"])
    after = segments[[s["id"] for s in segments].index(stretch[-1]) + 1]
    kinds = {store.db["segments"].get(i)["speaker"] for i in stretch}
    assert kinds == {"interviewer", "respondent"} and after["asks"] is not None
    async with make_app(store, review_session=one).run_test(size=SIZE) as pilot:
        await _review(pilot)
        await _select(pilot, start)
        await pilot.press("T")
        await pilot.pause()
        assert {store.db["segments"].get(i)["speaker"] for i in stretch} == {"respondent"}
        assert store.db["segments"].get(after["id"])["speaker"] == "interviewer"
        # The interviewer's words in the stretch became an answer with suggestions.
        flipped = [i for i in stretch if segments[[s["id"] for s in segments].index(i)]["speaker"] == "interviewer"]
        assert flipped and all(_pending(store, i) for i in flipped)
        # One key, one step back.
        await pilot.press("u")
        await pilot.pause()
        assert all(store.db["segments"].get(i)["speaker"] == "interviewer" for i in flipped)
        assert all(_pending(store, i) == [] for i in flipped)


def test_reassign_roles_follows_the_guide_for_a_turn_that_becomes_the_interviewers(memory_store):
    store = memory_store
    one = add_demo_session(store, understand=True)
    question = next_of(store, one, answer_to(store, one, 6), -1)
    number = question["asks"]
    before = next_of(store, one, question, -1)["question"]
    answer = next_of(store, one, question)
    assert number is not None and before != number and answer["question"] == number
    review.set_roles(store, [question["id"]], "respondent")
    assert store.db["segments"].get(question["id"])["asks"] is None
    # What followed the question is back under the question before it.
    assert store.db["segments"].get(answer["id"])["question"] == before
    assert reassign_roles(store, one, [question["id"]], "interviewer") == 1
    assert store.db["segments"].get(question["id"])["asks"] == number
    assert store.db["segments"].get(answer["id"])["question"] == number
    assert reassign_roles(store, one, [question["id"]], "interviewer") == 0
    review.undo(store, one)
    assert store.db["segments"].get(answer["id"])["question"] == before


def test_up_to_next_question_stops_before_the_next_question_posed_or_at_the_end():
    rows = [{"id": 1, "asks": 3}, {"id": 2, "asks": None}, {"id": 3, "asks": None}, {"id": 4, "asks": 5},
            {"id": 5, "asks": None}]
    assert up_to_next_question(rows, 1) == [1, 2, 3]
    assert up_to_next_question(rows, 3) == [3]
    assert up_to_next_question(rows, 4) == [4, 5]
