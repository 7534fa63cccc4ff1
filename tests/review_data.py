"""Study databases for the review, comparison and re-transcription tests, built through the
Store API from the English sample session (its script's turns with their times)."""

from __future__ import annotations

import json

from core import paths
from core.guide import load_guide
from core.live import annotate
from core.store import NewSegment, Store
from core.understanding import GuideTracker, Suggester

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
) -> int:
    """One completed session holding the demo interview's turns, with the suggestions the live
    pipeline would have made for them."""
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
    for t in rows:
        seg = NewSegment(speaker=t["speaker"], text=t["text"], start=round(t["start"], 2), end=round(t["end"], 2))
        store.add_segment(session_id, annotate(seg, tracker, suggester))
    store.end_session(session_id, "completed", duration=round(rows[-1]["end"] + 1.5, 1))
    return session_id


def segment_with(store: Store, session_id: int, words: str) -> dict:
    """The session's first segment whose text contains `words`."""
    for seg in store.segments(session_id):
        if words in seg["text"]:
            return seg
    raise AssertionError(f"no segment with {words!r}")
