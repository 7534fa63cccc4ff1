"""Study databases for the review, comparison and re-transcription tests, built through the
Store API from the English sample session (its script's turns with their times)."""

from __future__ import annotations

import json

from core.base import paths
from core.study.guide import load_guide
from core.pipeline.live import annotate
from core.store.database import NewSegment, NewSuggestion, Store
from core.understanding.suggester import Suggester
from core.understanding.tracker import GuideTracker

DEMO = paths.SAMPLE_SESSIONS / "demo-en"


def demo_turns() -> list[dict]:
    return json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))


def add_demo_session(
    store: Store,
    *,
    respondent: str = "1",
    case_name: str = "Samen starten",
    started_at: str = "2021-06-08T10:00:00+00:00",
    turns: int | None = None,
    understand: bool = False,
) -> int:
    """One completed session holding the demo interview's turns.

    Questions and suggestions come from the script's own annotations (the questions each turn
    asks, the dimensions each answer gives evidence of, padded to three suggestions), so tests
    and snapshots do not move when the suggester is tuned. `understand=True` runs the live
    pipeline's guide tracker and suggester instead."""
    guide = load_guide(DEMO / "guide.toml")
    session_id = store.create_session(
        guide,
        origin="demo",
        respondent=respondent,
        case_name=case_name,
        title=f"Demo, respondent {respondent}",
        started_at=started_at,
    )
    store.set_session_audio_dir(session_id, DEMO)
    tracker, suggester = GuideTracker(guide), Suggester(guide)
    rows = demo_turns()[:turns]
    question = None
    for t in rows:
        seg = NewSegment(speaker=t["speaker"], text=t["text"], start=round(t["start"], 2), end=round(t["end"], 2))
        if understand:
            annotate(seg, tracker, suggester)
        else:
            question = t["asks"] or question
            seg.asks, seg.question = t["asks"], question
            if t["speaker"] == "respondent":
                seg.suggestions = _scripted_suggestions(guide, t["dimensions"])
        store.add_segment(session_id, seg)
    store.end_session(session_id, "completed", duration=round(rows[-1]["end"] + 1.5, 1))
    return session_id


def _scripted_suggestions(guide, names: list[str]) -> list[NewSuggestion]:
    by_name = {d.name: d for d in guide.dimensions}
    dims = [by_name[n] for n in names]
    dims += [d for d in guide.dimensions if d not in dims][: max(0, 3 - len(dims))]
    scores = [0.9, 0.8, 0.3, 0.2, 0.1]
    return [NewSuggestion(d.id, d.indicators[0].id, scores[i], "demo script") for i, d in enumerate(dims)]


def segment_with(store: Store, session_id: int, words: str) -> dict:
    """The session's first segment whose text contains `words`."""
    for seg in store.segments(session_id):
        if words in seg["text"]:
            return seg
    raise AssertionError(f"no segment with {words!r}")


# Places in the demo interview, found by its structure rather than its wording (the script is
# rewritten now and then): the answer to a guide question, and the turns around it.


def answer_to(store: Store, session_id: int, question: int) -> dict:
    """The respondent's segment right after the interviewer's that asks `question`."""
    segs = store.segments(session_id)
    for i, seg in enumerate(segs):
        if seg["asks"] == question and seg["speaker"] == "interviewer":
            return next(s for s in segs[i + 1 :] if s["speaker"] == "respondent")
    raise AssertionError(f"no question {question} in session {session_id}")


def next_of(store: Store, session_id: int, segment: dict, steps: int = 1) -> dict:
    segs = store.segments(session_id)
    return segs[[s["id"] for s in segs].index(segment["id"]) + steps]


def lead_answer(store: Store, session_id: int) -> dict:
    """The answer to question 4 (who leads the collaboration): two sentences, two dimensions."""
    return answer_to(store, session_id, 4)


def first_sentence(text: str) -> str:
    return text[: text.index(". ") + 1]


def words_span(text: str, first: int, last: int) -> tuple[int, int, str]:
    """Where words first..last (inclusive) of `text` are, and what they say."""
    import re

    found = list(re.finditer(r"\S+", text))
    start, end = found[first].start(), found[last].end()
    return start, end, text[start:end]


def distinctive_word(store: Store, session_id: int, segment: dict) -> str:
    """The longest word of the segment that no other segment of the session has."""
    import re

    def words(text: str) -> set[str]:
        return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)}

    others = set().union(*(words(s["text"]) for s in store.segments(session_id) if s["id"] != segment["id"]))
    unique = sorted(words(segment["text"]) - others, key=lambda w: (-len(w), w))
    assert unique, segment["text"]
    return unique[0]
