"""What the respondent has spoken about so far, and whether the questions left fit the time.

A dimension is covered when a passage of the session is coded with it (an accepted suggestion
or a code added by hand), or has a suggestion for it that is still open with a score of at
least `CONFIDENT`: suggestion scores are calibrated chances that the researcher would code the
passage so, so 0.5 means "more likely than not". Rejected suggestions never count.

Time: the elapsed time is given by the caller (the live screen's clock) or taken from the
session (its duration once ended, else the end of its last segment); imported transcripts
without times have none. The questions left are those not asked yet (detected or moved to by
hand); their planned minutes (or, for a question without them, an even share of the guide's
planned duration) are compared with the time remaining.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.store.database import Store

CONFIDENT = 0.5


@dataclass(frozen=True)
class DimensionCoverage:
    dimension_id: str
    name: str
    colour: str
    coded: int  # passages coded with it
    suggested: int  # passages with an open suggestion for it scored at least CONFIDENT
    questions: tuple[int, ...]  # the guide questions that ask about it
    asked: bool  # whether any of those questions was asked

    @property
    def covered(self) -> bool:
        return self.coded > 0 or self.suggested > 0


@dataclass(frozen=True)
class Coverage:
    dimensions: list[DimensionCoverage]
    elapsed: float | None  # seconds
    planned: float  # seconds
    asked: tuple[int, ...]
    remaining: tuple[int, ...]  # questions not asked yet, in guide order
    remaining_minutes: float
    warning: str | None

    @property
    def open(self) -> list[DimensionCoverage]:
        return [d for d in self.dimensions if not d.covered]


def _asked_questions(store: Store, session_id: int, segments: list[dict]) -> set[int]:
    asked = {s["asks"] for s in segments if s["asks"] is not None} | store.asked_questions(session_id)
    current = store.session(session_id)["current_question"]
    if current is not None:
        asked.add(current)
    return asked


def coverage(store: Store, session_id: int, *, elapsed: float | None = None,
             confident: float = CONFIDENT) -> Coverage:
    session = store.session(session_id)
    guide = store.session_guide(session_id)
    segments = store.segments(session_id)
    ids = [s["id"] for s in segments if s["speaker"] == "respondent"]
    coded: dict[str, set[int]] = {}
    for seg_id, rows in store.codings_for(ids).items():
        for c in rows:
            coded.setdefault(c["dimension_id"], set()).add(seg_id)
    suggested: dict[str, set[int]] = {}
    for seg_id, rows in store.suggestions_for(ids).items():
        for x in rows:
            if x["state"] == "pending" and x["score"] >= confident:
                suggested.setdefault(x["dimension_id"], set()).add(seg_id)

    asked = _asked_questions(store, session_id, segments)
    dims = [
        DimensionCoverage(
            dimension_id=d.id,
            name=d.name,
            colour=d.colour,
            coded=len(coded.get(d.id, ())),
            suggested=len(suggested.get(d.id, set()) - coded.get(d.id, set())),
            # Links drafted from shared words count until the researcher checks them.
            questions=d.questions + d.drafted_questions,
            asked=any(q in asked for q in d.questions + d.drafted_questions),
        )
        for d in guide.dimensions
    ]

    if elapsed is None:
        if session["duration"] is not None:
            elapsed = float(session["duration"])
        else:
            ends = [s["end"] for s in segments if s["end"] is not None]
            elapsed = max(ends) if ends else None
    share = guide.planned_minutes / len(guide.questions)
    remaining = tuple(q.number for q in guide.questions if q.number not in asked)
    remaining_minutes = sum(
        (guide.question(n).minutes or share) for n in remaining
    )
    warning = None
    if elapsed is not None and remaining:
        left = guide.planned_minutes - elapsed / 60
        if remaining_minutes > left:
            over = remaining_minutes - left
            warning = (
                f"{len(remaining)} questions left need about {remaining_minutes:.0f} min, "
                f"{max(0.0, left):.0f} min of the planned {guide.planned_minutes:.0f} remain "
                f"({over:.0f} min over)"
            )
    return Coverage(
        dimensions=dims,
        elapsed=elapsed,
        planned=guide.planned_minutes * 60,
        asked=tuple(sorted(asked)),
        remaining=remaining,
        remaining_minutes=remaining_minutes,
        warning=warning,
    )
