"""Transcript corrections after the interview: a segment's text, a split, a merge, its speaker.

Codings follow their text. A span coding (start/end offsets in the segment's text) is moved
through a character diff when the text is edited, split off with its half when the segment is
split, and shifted when segments are merged. A span whose text was deleted entirely becomes a
coding of the whole segment rather than disappearing. Each correction is one undoable edit
(core/store/review/changes.py).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from core.base.errors import UserError
from core.store.database import SPEAKERS, Store, now_iso
from core.store.review.changes import Changes, recorded
from core.store.review.loading import memos_on, neighbours


def _segment(changes: Changes, segment_id: int) -> dict:
    row = changes.get("segments", segment_id)
    if row is None:
        raise UserError(f"no segment {segment_id}")
    return row


def _codings_of(store: Store, segment_id: int) -> list[dict]:
    return list(store.db.query("select * from codings where segment_id = ? order by id", [segment_id]))


# --- offsets through a text edit --------------------------------------------------------------


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


class OffsetMap:
    """Maps character offsets in an old text to the new text after an edit.

    The texts are aligned word by word first (case-insensitively, so a recogniser's new
    capitals do not count as changes), then character by character inside the words that
    changed. Text inserted exactly at a span's edge stays outside the span; text replaced inside
    a span stays inside it.
    """

    def __init__(self, old: str, new: str):
        self.old_len, self.new_len = len(old), len(new)
        old_tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(old)]
        new_tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(new)]
        words = SequenceMatcher(
            None,
            [old[a:b].lower() for a, b in old_tokens],
            [new[a:b].lower() for a, b in new_tokens],
            autojunk=False,
        )

        def span(tokens, i1, i2, length):
            if i1 < i2:
                return tokens[i1][0], tokens[i2 - 1][1]
            at = tokens[i1][0] if i1 < len(tokens) else length
            return at, at

        self.ops: list[tuple[str, int, int, int, int]] = []
        for tag, i1, i2, j1, j2 in words.get_opcodes():
            oa, ob = span(old_tokens, i1, i2, len(old))
            na, nb = span(new_tokens, j1, j2, len(new))
            if tag == "equal" and old[oa:ob] == new[na:nb]:
                self.ops.append(("equal", oa, ob, na, nb))
                continue
            chars = SequenceMatcher(None, old[oa:ob], new[na:nb], autojunk=False)
            for t, a1, a2, b1, b2 in chars.get_opcodes():
                self.ops.append((t, oa + a1, oa + a2, na + b1, na + b2))

    def start(self, p: int) -> int:
        for tag, i1, i2, j1, j2 in self.ops:
            if i1 <= p < i2:
                return j1 + (p - i1) if tag == "equal" else j1
        return self.new_len

    def end(self, p: int) -> int:
        for tag, i1, i2, j1, j2 in self.ops:
            if i1 < p <= i2:
                return j1 + (p - i1) if tag == "equal" else j2
        return 0

    def span(self, start: int, end: int, text: str | None = None) -> tuple[int, int] | None:
        """The span's place in the new text (`text`, if given, trims whitespace at its edges);
        None if nothing of it is left."""
        a, b = self.start(start), self.end(end)
        if text is not None:
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
        return (a, b) if a < b else None


def remap_codings(changes: Changes, store: Store, segment_id: int, old: str, new: str) -> None:
    """Move the segment's span codings from `old` to `new` text."""
    mapping = OffsetMap(old, new)
    for c in _codings_of(store, segment_id):
        if c["start_offset"] is None:
            continue
        span = mapping.span(c["start_offset"], c["end_offset"], new)
        a, b = span if span is not None else (None, None)
        changes.update("codings", c["id"], {"start_offset": a, "end_offset": b})


# --- transcript corrections -------------------------------------------------------------------


def edit_text(store: Store, segment_id: int, text: str) -> None:
    """Replace a segment's text. Its times stay; what the recogniser heard stays in asr_text."""
    text = " ".join(text.split())
    if not text:
        raise UserError("a segment cannot be empty; merge it into its neighbour instead")
    seg = store.db.execute("select session_id, text from segments where id = ?", [segment_id]).fetchone()
    if seg is None:
        raise UserError(f"no segment {segment_id}")
    if seg[1] == text:
        return
    with recorded(store, seg[0], "edit text") as ch:
        old = _segment(ch, segment_id)
        ch.update("segments", segment_id, {"text": text, "edited": 1})
        remap_codings(ch, store, segment_id, old["text"], text)


def _split_time(seg: dict, offset: int) -> float | None:
    if seg["start"] is None or seg["end"] is None or not seg["text"]:
        return None
    return round(seg["start"] + (seg["end"] - seg["start"]) * offset / len(seg["text"]), 2)


def split_segment(store: Store, segment_id: int, offset: int) -> int:
    """Split a segment at a character offset; returns the new (second) segment's id.

    The audio time is divided in proportion to the characters on each side; codings follow
    their text, and a coding of the whole segment codes both halves.
    """
    seg = store.db.execute("select session_id from segments where id = ?", [segment_id]).fetchone()
    if seg is None:
        raise UserError(f"no segment {segment_id}")
    with recorded(store, seg[0], "split segment") as ch:
        row = _segment(ch, segment_id)
        text = row["text"]
        left, right = text[:offset].rstrip(), text[offset:].lstrip()
        if not 0 < offset < len(text) or not left or not right:
            raise UserError("split inside the text: both parts need words")
        shift = len(text) - len(right)  # where the right part started in the old text
        at = _split_time(row, offset)
        asr_left, asr_right = row["asr_text"], None
        if row["asr_text"] == text:
            asr_left, asr_right = left, right
        ch.update("segments", segment_id, {"text": left, "end": at if at is not None else row["end"],
                                           "asr_text": asr_left, "edited": 1})
        new_id = ch.insert(
            "segments",
            {
                "session_id": row["session_id"],
                "speaker": row["speaker"],
                "speaker_label": row["speaker_label"],
                "start": at if at is not None else row["start"],
                "end": row["end"],
                "text": right,
                "asr_text": asr_right,
                "origin": row["origin"],
                "edited": 1,
                "asks": None,
                "question": row["question"],
                "created_at": now_iso(),
            },
        )
        for c in _codings_of(store, segment_id):
            copy = {k: c[k] for k in ("dimension_id", "indicator_id", "origin", "suggestion_id")}
            copy.update(segment_id=new_id, created_at=c["created_at"])
            if c["start_offset"] is None:
                ch.insert("codings", {**copy, "start_offset": None, "end_offset": None})
                continue
            a, b = c["start_offset"], c["end_offset"]
            ra, rb = max(0, a - shift), min(len(right), b - shift)
            if b <= offset or rb <= 0:
                la, lb = min(a, len(left)), min(b, len(left))
                ch.update("codings", c["id"], {"start_offset": la if la < lb else None, "end_offset": lb if la < lb else None})
            elif a >= offset or a >= len(left):
                ch.update("codings", c["id"], {"segment_id": new_id, "start_offset": ra if ra < rb else None,
                                                "end_offset": rb if ra < rb else None})
            else:
                ch.update("codings", c["id"], {"end_offset": len(left)})
                ch.insert("codings", {**copy, "start_offset": 0, "end_offset": rb})
    return new_id


def merge_segments(store: Store, first_id: int, second_id: int | None = None) -> None:
    """Join a segment with the next one of the same speaker; the text is joined with a space.

    The earlier segment keeps its id; the later one's codings, suggestions, question events and
    memos move to it, and codings that covered either whole segment now cover its text.
    """
    _, nxt = neighbours(store, first_id)
    if second_id is None:
        if nxt is None:
            raise UserError("this is the last segment: there is nothing after it to merge with")
        second_id = nxt["id"]
    elif nxt is None or nxt["id"] != second_id:
        raise UserError("only neighbouring segments can be merged")
    session_id = store.db.execute("select session_id from segments where id = ?", [first_id]).fetchone()[0]
    with recorded(store, session_id, "merge segments") as ch:
        a, b = _segment(ch, first_id), _segment(ch, second_id)
        if a["speaker"] != b["speaker"]:
            raise UserError("these segments have different speakers; change one's speaker before merging")
        shift = len(a["text"]) + 1
        text = f"{a['text']} {b['text']}"
        asr = f"{a['asr_text']} {b['asr_text']}" if a["asr_text"] and b["asr_text"] else a["asr_text"] or b["asr_text"]
        starts = [t for t in (a["start"], b["start"]) if t is not None]
        ends = [t for t in (a["end"], b["end"]) if t is not None]
        ch.update(
            "segments",
            first_id,
            {
                "text": text,
                "asr_text": asr,
                "start": min(starts) if starts else None,
                "end": max(ends) if ends else None,
                "edited": 1,
                "asks": a["asks"] if a["asks"] is not None else b["asks"],
            },
        )
        a_codings, b_codings = _codings_of(store, first_id), _codings_of(store, second_id)
        whole_a = {c["indicator_id"]: c for c in a_codings if c["start_offset"] is None}
        whole_b = {c["indicator_id"] for c in b_codings if c["start_offset"] is None}
        for c in a_codings:
            if c["start_offset"] is None and c["indicator_id"] not in whole_b:
                ch.update("codings", c["id"], {"start_offset": 0, "end_offset": len(a["text"])})
        for c in b_codings:
            if c["start_offset"] is None:
                twin = whole_a.get(c["indicator_id"])
                if twin is not None:
                    # Both halves carried the same code whole: the merged segment does too.
                    for memo in memos_on(store, "coding", c["id"]):
                        ch.update("memos", memo["id"], {"target_id": str(twin["id"])})
                    ch.delete("codings", c["id"])
                    continue
                span = (shift, shift + len(b["text"]))
            else:
                span = (c["start_offset"] + shift, c["end_offset"] + shift)
            ch.update("codings", c["id"], {"segment_id": first_id, "start_offset": span[0], "end_offset": span[1]})
        after = store.next_suggestion_rank(first_id)
        for s in store.db.query("select id, rank from suggestions where segment_id = ? order by rank", [second_id]):
            ch.update("suggestions", s["id"], {"segment_id": first_id, "rank": after + (s["rank"] or 0)})
        for e in store.db.query("select id from question_events where segment_id = ?", [second_id]):
            ch.update("question_events", e["id"], {"segment_id": first_id})
        for memo in memos_on(store, "segment", second_id):
            ch.update("memos", memo["id"], {"target_id": str(first_id)})
        ch.delete("segments", second_id)


def set_speaker(store: Store, segment_id: int, speaker: str, label: str | None = None) -> None:
    if speaker not in SPEAKERS:
        raise UserError(f"speaker must be one of {', '.join(SPEAKERS)}, not {speaker!r}")
    seg = store.db.execute("select session_id from segments where id = ?", [segment_id]).fetchone()
    if seg is None:
        raise UserError(f"no segment {segment_id}")
    with recorded(store, seg[0], "change speaker") as ch:
        ch.update("segments", segment_id, {"speaker": speaker, "speaker_label": label, "edited": 1})


def set_roles(
    store: Store,
    segment_ids: list[int],
    speaker: str,
    suggestions: dict[int, list] | None = None,
    asks: dict[int, tuple[int, float | None]] | None = None,
) -> int:
    """Give segments one speaker, as one undoable edit; returns how many changed.

    A segment that becomes the interviewer's loses its open suggestions (those decided on stay,
    as the user left them) and, when `asks` holds it, poses that guide question (number, score).
    One that becomes the respondent's poses no question any more and gets `suggestions` (each
    with dimension_id, indicator_id, score and reason, as the suggester makes them). The
    question in effect follows the questions posed (`_follow_questions`)."""
    if speaker not in SPEAKERS:
        raise UserError(f"speaker must be one of {', '.join(SPEAKERS)}, not {speaker!r}")
    if not segment_ids:
        return 0
    rows = store.segments(_session_of(store, segment_ids[0]), only=list(segment_ids))
    if len(rows) != len(set(segment_ids)):
        raise UserError("these segments are not all of one session")
    changing = [r for r in rows if r["speaker"] != speaker]
    if not changing:
        return 0
    label = "change speaker" if len(changing) == 1 else f"change speaker of {len(changing)} segments"
    with recorded(store, rows[0]["session_id"], label) as ch:
        for row in changing:
            sid = row["id"]
            ch.update("segments", sid, {"speaker": speaker, "speaker_label": None, "edited": 1})
            for e in store.db.query("select id from question_events where segment_id = ? and kind = 'detected'", [sid]):
                ch.delete("question_events", e["id"])
            ch.update("segments", sid, {"asks": None})
            decided = set()
            for s in store.suggestions_for([sid])[sid]:
                if s["state"] == "pending":
                    ch.delete("suggestions", s["id"])
                else:
                    decided.add(s["indicator_id"])
            if speaker == "interviewer" and asks and sid in asks:
                number, score = asks[sid]
                ch.update("segments", sid, {"asks": number})
                ch.insert("question_events", {"session_id": row["session_id"], "question": number, "at": row["start"],
                                              "kind": "detected", "segment_id": sid, "score": score})
            if speaker == "respondent" and suggestions:
                rank = store.next_suggestion_rank(sid)
                for s in suggestions.get(sid, ()):
                    if s.indicator_id in decided:
                        continue
                    ch.insert("suggestions", {"segment_id": sid, "rank": rank, "dimension_id": s.dimension_id,
                                              "indicator_id": s.indicator_id, "score": round(float(s.score), 4),
                                              "reason": s.reason, "state": "pending"})
                    rank += 1
        _follow_questions(ch, store, rows[0]["session_id"], {r["id"]: r["asks"] for r in changing})
    return len(changing)


def _follow_questions(ch: Changes, store: Store, session_id: int, asked_before: dict[int, int | None]) -> None:
    """The question in effect after segments that came to pose a question, or stopped posing
    one: from each such segment up to the next question posed, what was in effect because of
    it follows (segments where the question was moved by hand since are left as they are)."""
    segments = store.segments(session_id)
    for i, seg in enumerate(segments):
        if seg["id"] not in asked_before or seg["asks"] == asked_before[seg["id"]]:
            continue
        old = seg["question"]
        new = seg["asks"] if seg["asks"] is not None else (segments[i - 1]["question"] if i else None)
        ch.update("segments", seg["id"], {"question": new})
        seg["question"] = new
        for later in segments[i + 1:]:
            if later["asks"] is not None or later["question"] != old:
                break
            ch.update("segments", later["id"], {"question": new})
            later["question"] = new


def _session_of(store: Store, segment_id: int) -> int:
    seg = store.db.execute("select session_id from segments where id = ?", [segment_id]).fetchone()
    if seg is None:
        raise UserError(f"no segment {segment_id}")
    return seg[0]
