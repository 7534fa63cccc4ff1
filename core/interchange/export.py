"""The JSON-lines contract of one session (every other export format is in core/interchange/exporters/).

The JSON-lines contract (other tools and our evaluations read it; keep it stable): one object
per segment in time order with id, speaker, speaker_label, start, end, text, asks, question,
suggestions (best first: dimension, indicator, score, reason) and codings (dimension, indicator,
and the coded span when it is not the whole segment). Dimension names are the guide's own.
"""

from __future__ import annotations

import json
from typing import Iterator

from core.base.text import printable
from core.study.guide import Guide
from core.store.database import Store


def _names(guide: Guide, dimension_id: str, indicator_id: str) -> tuple[str, str]:
    try:
        dim = guide.dimension(dimension_id).name
    except KeyError:
        dim = dimension_id
    try:
        ind = guide.indicator(indicator_id).name
    except KeyError:
        ind = indicator_id
    return dim, ind


def segment_records(store: Store, session_id: int, only: list[int] | None = None) -> Iterator[dict]:
    guide = store.session_guide(session_id)
    segments = store.segments(session_id, only=only)
    ids = [s["id"] for s in segments]
    suggestions = store.suggestions_for(ids)
    codings = store.codings_for(ids)
    for s in segments:
        sugg = []
        for x in suggestions[s["id"]]:
            dim, ind = _names(guide, x["dimension_id"], x["indicator_id"])
            sugg.append(
                {
                    "dimension": dim,
                    "indicator": ind,
                    "score": x["score"],
                    "reason": x["reason"],
                    "state": x["state"],
                }
            )
        cods = []
        for c in codings[s["id"]]:
            dim, ind = _names(guide, c["dimension_id"], c["indicator_id"])
            coding = {"dimension": dim, "indicator": ind}
            if c["start_offset"] is not None:
                coding["start_offset"] = c["start_offset"]
                coding["end_offset"] = c["end_offset"]
                coding["passage"] = s["text"][c["start_offset"] : c["end_offset"]]
            cods.append(coding)
        yield {
            "id": s["id"],
            "session": session_id,
            "speaker": s["speaker"],
            "speaker_label": s["speaker_label"],
            "start": s["start"],
            "end": s["end"],
            "text": s["text"],
            "asks": s["asks"],
            "question": s["question"],
            "suggestions": sugg,
            "codings": cods,
        }


def to_jsonl(store: Store, session_id: int) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in segment_records(store, session_id))


def cell(text: str | None, width: int) -> str:
    """A table cell: the text padded to the width, or cut with an ellipsis so a cut shows; a
    control character or line break in it shows as its escape (core/base/text.py)."""
    text = printable(text, lines=False) if text else "-"
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
