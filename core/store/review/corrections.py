"""Corrections and coding after the interview, each one a transaction that can be undone.

Every edit here runs in one transaction over a `Store` and records each row it touched, before
and after, as one entry of the `edits` table. Undo writes the before-images back in reverse
order, redo the after-images in order, so one mechanism serves every kind of edit (and the
re-transcription in core/pipeline/retranscribe.py). An undo or redo refuses when a row it would restore
has changed since by other means: it never overwrites work it did not record.

Codings follow their text. A span coding (start/end offsets in the segment's text) is moved
through a character diff when the text is edited, split off with its half when the segment is
split, and shifted when segments are merged. A span whose text was deleted entirely becomes a
coding of the whole segment rather than disappearing.
"""

from __future__ import annotations

import bisect
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Iterator, Sequence

from core.base.errors import UserError
from core.study.guide import Guide, parse_guide
from core.store.database import SPEAKERS, Store, tidy_note, now_iso

MEMO_TARGETS = ("session", "segment", "coding", "dimension")
# Undo history kept per session; older entries are dropped when a new edit is recorded.
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Edit:
    id: int
    session_id: int | None
    label: str
    at: str
    undone: bool


# --- the change recorder ----------------------------------------------------------------------


class Changes:
    """Row writes inside one edit; each keeps the row's image before and after."""

    def __init__(self, store: Store):
        self.db = store.db
        self.items: list[tuple[str, int, dict | None, dict | None]] = []
        self.edit_id: int | None = None  # the undo log's entry, once recorded

    def get(self, table: str, pk: int) -> dict | None:
        cur = self.db.execute(f"select * from [{table}] where id = ?", [pk])
        row = cur.fetchone()
        return None if row is None else dict(zip((d[0] for d in cur.description), row))

    def insert(self, table: str, values: dict) -> int:
        cols = list(values)
        cur = self.db.execute(
            f"insert into [{table}] ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})",
            [values[c] for c in cols],
        )
        pk = int(cur.lastrowid)
        self.items.append((table, pk, None, self.get(table, pk)))
        return pk

    def update(self, table: str, pk: int, values: dict) -> None:
        before = self.get(table, pk)
        if before is None:
            raise UserError(f"no {table[:-1]} {pk}")
        if all(before.get(k) == v for k, v in values.items()):
            return
        sets = ", ".join(f"[{c}] = ?" for c in values)
        self.db.execute(f"update [{table}] set {sets} where id = ?", [*values.values(), pk])
        self.items.append((table, pk, before, self.get(table, pk)))

    def delete(self, table: str, pk: int) -> None:
        before = self.get(table, pk)
        if before is None:
            return
        self.db.execute(f"delete from [{table}] where id = ?", [pk])
        self.items.append((table, pk, before, None))


@contextmanager
def recorded(store: Store, session_id: int | None, label: str) -> Iterator[Changes]:
    """One edit: its writes and its entry in the undo log commit together or not at all."""
    with store.db.atomic():
        changes = Changes(store)
        yield changes
        if changes.items:
            db = store.db
            # A new edit ends the redo branch: what was undone before it cannot come back.
            db.execute("delete from edits where session_id is ? and undone = 1", [session_id])
            changes.edit_id = db.execute(
                "insert into edits (session_id, at, label, changes, undone) values (?, ?, ?, ?, 0)",
                [session_id, now_iso(), label, json.dumps(changes.items, ensure_ascii=False)],
            ).lastrowid
            db.execute(
                """delete from edits where session_id is ? and id not in
                   (select id from edits where session_id is ? order by id desc limit ?)""",
                [session_id, session_id, HISTORY_LIMIT],
            )


def _restore(changes: Changes, table: str, pk: int, expect: dict | None, target: dict | None, label: str) -> None:
    current = changes.get(table, pk)
    if current != expect:
        raise UserError(
            f"cannot undo or redo “{label}”: {table} row {pk} has changed since by other means"
        )
    db = changes.db
    if target is None:
        db.execute(f"delete from [{table}] where id = ?", [pk])
    elif current is None:
        cols = list(target)
        db.execute(
            f"insert into [{table}] ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})",
            [target[c] for c in cols],
        )
    else:
        cols = [c for c in target if c != "id"]
        db.execute(
            f"update [{table}] set {', '.join(f'[{c}] = ?' for c in cols)} where id = ?",
            [*(target[c] for c in cols), pk],
        )


def _edit_row(row) -> Edit:
    return Edit(id=row[0], session_id=row[1], label=row[2], at=row[3], undone=bool(row[4]))


def undo(store: Store, session_id: int | None) -> Edit | None:
    """Undo the session's latest edit; None when there is nothing to undo."""
    with store.db.atomic():
        row = store.db.execute(
            "select id, session_id, label, at, undone, changes from edits "
            "where session_id is ? and undone = 0 order by id desc limit 1",
            [session_id],
        ).fetchone()
        if row is None:
            return None
        changes = Changes(store)
        for table, pk, before, after in reversed(json.loads(row[5])):
            _restore(changes, table, pk, after, before, row[2])
        store.db.execute("update edits set undone = 1 where id = ?", [row[0]])
    return _edit_row(row)


def redo(store: Store, session_id: int | None) -> Edit | None:
    """Redo the edit undone last; None when there is nothing to redo."""
    with store.db.atomic():
        row = store.db.execute(
            "select id, session_id, label, at, undone, changes from edits "
            "where session_id is ? and undone = 1 order by id limit 1",
            [session_id],
        ).fetchone()
        if row is None:
            return None
        changes = Changes(store)
        for table, pk, before, after in json.loads(row[5]):
            _restore(changes, table, pk, before, after, row[2])
        store.db.execute("update edits set undone = 0 where id = ?", [row[0]])
    return _edit_row(row)


def history(store: Store, session_id: int | None, limit: int = 50) -> list[Edit]:
    rows = store.db.execute(
        "select id, session_id, label, at, undone from edits where session_id is ? order by id desc limit ?",
        [session_id, limit],
    ).fetchall()
    return [_edit_row(r) for r in rows]


# --- looking things up ------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _parse_cached(digest: str, text: str, source: str) -> Guide:
    return parse_guide(text, source=source)


def guide_of_session(store: Store, session_id: int) -> Guide:
    row = store.db.execute(
        "select guide_toml, guide_digest from sessions where id = ?", [session_id]
    ).fetchone()
    if row is None:
        raise UserError(f"no session {session_id} (see `fieldnote sessions`)")
    return _parse_cached(row[1] or "", row[0], f"session {session_id} guide")


def _segment(changes: Changes, segment_id: int) -> dict:
    row = changes.get("segments", segment_id)
    if row is None:
        raise UserError(f"no segment {segment_id}")
    return row


def _codings_of(store: Store, segment_id: int) -> list[dict]:
    return list(store.db.query("select * from codings where segment_id = ? order by id", [segment_id]))


def _memos_on(store: Store, target: str, target_id: int | str) -> list[dict]:
    return list(
        store.db.query("select * from memos where target = ? and target_id = ? order by id", [target, str(target_id)])
    )


def neighbours(store: Store, segment_id: int) -> tuple[dict | None, dict | None]:
    """The segments before and after this one in the session's time order."""
    seg = store.db.execute("select session_id, coalesce(start, 0), id from segments where id = ?", [segment_id]).fetchone()
    if seg is None:
        raise UserError(f"no segment {segment_id}")
    sid, start, _ = seg
    prev = next(
        store.db.query(
            "select * from segments where session_id = ? and (coalesce(start, 0) < ? or (coalesce(start, 0) = ? and id < ?)) "
            "order by coalesce(start, 0) desc, id desc limit 1",
            [sid, start, start, segment_id],
        ),
        None,
    )
    nxt = next(
        store.db.query(
            "select * from segments where session_id = ? and (coalesce(start, 0) > ? or (coalesce(start, 0) = ? and id > ?)) "
            "order by coalesce(start, 0), id limit 1",
            [sid, start, start, segment_id],
        ),
        None,
    )
    return prev, nxt


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
                    for memo in _memos_on(store, "coding", c["id"]):
                        ch.update("memos", memo["id"], {"target_id": str(twin["id"])})
                    ch.delete("codings", c["id"])
                    continue
                span = (shift, shift + len(b["text"]))
            else:
                span = (c["start_offset"] + shift, c["end_offset"] + shift)
            ch.update("codings", c["id"], {"segment_id": first_id, "start_offset": span[0], "end_offset": span[1]})
        top = store.db.execute("select coalesce(max(rank), -1) from suggestions where segment_id = ?", [first_id]).fetchone()[0]
        for s in store.db.query("select id, rank from suggestions where segment_id = ? order by rank", [second_id]):
            ch.update("suggestions", s["id"], {"segment_id": first_id, "rank": top + 1 + (s["rank"] or 0)})
        for e in store.db.query("select id from question_events where segment_id = ?", [second_id]):
            ch.update("question_events", e["id"], {"segment_id": first_id})
        for memo in _memos_on(store, "segment", second_id):
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


# --- coding -----------------------------------------------------------------------------------


def _suggestion(store: Store, suggestion_id: int) -> tuple[dict, int]:
    row = next(
        store.db.query(
            "select x.*, g.session_id from suggestions x join segments g on g.id = x.segment_id where x.id = ?",
            [suggestion_id],
        ),
        None,
    )
    if row is None:
        raise UserError(f"no suggestion {suggestion_id}")
    return row, row.pop("session_id")


def _drop_coding(ch: Changes, store: Store, coding_id: int) -> None:
    for memo in _memos_on(store, "coding", coding_id):
        ch.delete("memos", memo["id"])
    ch.delete("codings", coding_id)


def accept_suggestion(store: Store, suggestion_id: int) -> int:
    """Accept a suggestion: it codes the whole segment. Returns the coding's id."""
    s, session_id = _suggestion(store, suggestion_id)
    with recorded(store, session_id, "accept suggestion") as ch:
        return _accept(ch, store, s)


def _accept(ch: Changes, store: Store, s: dict) -> int:
    ch.update("suggestions", s["id"], {"state": "accepted"})
    existing = store.db.execute(
        "select id from codings where segment_id = ? and indicator_id = ? and start_offset is null",
        [s["segment_id"], s["indicator_id"]],
    ).fetchone()
    if existing:
        return int(existing[0])
    return ch.insert(
        "codings",
        {
            "segment_id": s["segment_id"],
            "dimension_id": s["dimension_id"],
            "indicator_id": s["indicator_id"],
            "start_offset": None,
            "end_offset": None,
            "origin": "suggestion",
            "suggestion_id": s["id"],
            "created_at": now_iso(),
        },
    )


def confident_suggestions(store: Store, session_id: int, at_least: float) -> list[dict]:
    """The session's open suggestions on respondent segments scoring `at_least` or more.

    A suggestion's score is the chance that the researcher codes the passage with its
    dimension (calibrated on the reference study), so 0.8 takes those right about 9 times in 10.
    """
    return list(store.db.query(
        """select x.* from suggestions x join segments g on g.id = x.segment_id
           where g.session_id = ? and g.speaker = 'respondent' and x.state = 'pending' and x.score >= ?
           order by g.start is null, g.start, g.id, x.score desc""",
        [session_id, at_least],
    ))


def accept_confident(store: Store, session_id: int, at_least: float) -> int:
    """Accept every open suggestion of the session scoring `at_least` or more, as one edit
    (one undo takes them all back). Returns how many were accepted."""
    if not 0.0 < at_least <= 1.0:
        raise UserError(f"a score to accept from is above 0 and at most 1, not {at_least:g}")
    chosen = confident_suggestions(store, session_id, at_least)
    if not chosen:
        return 0
    label = f"accept {len(chosen)} suggestion{'' if len(chosen) == 1 else 's'} scoring {at_least:g} or more"
    with recorded(store, session_id, label) as ch:
        for s in chosen:
            _accept(ch, store, s)
    return len(chosen)


def reject_suggestion(store: Store, suggestion_id: int) -> None:
    """Reject a suggestion; if it had been accepted, the coding it made goes too."""
    _, session_id = _suggestion(store, suggestion_id)
    with recorded(store, session_id, "reject suggestion") as ch:
        _reject(ch, store, suggestion_id)


def _reject(ch: Changes, store: Store, suggestion_id: int) -> None:
    ch.update("suggestions", suggestion_id, {"state": "rejected"})
    for (coding_id,) in store.db.execute("select id from codings where suggestion_id = ?", [suggestion_id]).fetchall():
        _drop_coding(ch, store, coding_id)


def change_suggestion(store: Store, suggestion_id: int, indicator_id: str) -> int:
    """The suggested code was wrong, this one is right: reject it and code the segment with
    `indicator_id` instead (suggestions learn from both). Returns the new coding's id."""
    s, session_id = _suggestion(store, suggestion_id)
    indicator = _indicator(store, session_id, indicator_id)
    with recorded(store, session_id, "change suggestion") as ch:
        _reject(ch, store, suggestion_id)
        return ch.insert(
            "codings",
            {
                "segment_id": s["segment_id"],
                "dimension_id": indicator.dimension_id,
                "indicator_id": indicator.id,
                "start_offset": None,
                "end_offset": None,
                "origin": "manual",
                "suggestion_id": None,
                "created_at": now_iso(),
            },
        )


def _indicator(store: Store, session_id: int, indicator_id: str):
    guide = guide_of_session(store, session_id)
    try:
        return guide.indicator(indicator_id)
    except KeyError:
        raise UserError(f"the guide {guide.id} has no indicator {indicator_id!r}") from None


def add_coding(store: Store, segment_id: int, indicator_id: str, start: int | None = None, end: int | None = None) -> int:
    """Code a segment (or the span start:end of its text) with an indicator of its guide."""
    row = store.db.execute("select session_id, text from segments where id = ?", [segment_id]).fetchone()
    if row is None:
        raise UserError(f"no segment {segment_id}")
    session_id, text = row
    indicator = _indicator(store, session_id, indicator_id)
    if (start is None) != (end is None):
        raise UserError("a coded span needs both a start and an end")
    if start is not None:
        if not 0 <= start < end <= len(text):
            raise UserError(f"span {start}:{end} is outside the segment's text (0:{len(text)})")
        if start == 0 and end == len(text):
            start = end = None
    with recorded(store, session_id, f"code {indicator.name}") as ch:
        return ch.insert(
            "codings",
            {
                "segment_id": segment_id,
                "dimension_id": indicator.dimension_id,
                "indicator_id": indicator.id,
                "start_offset": start,
                "end_offset": end,
                "origin": "manual",
                "suggestion_id": None,
                "created_at": now_iso(),
            },
        )


def remove_coding(store: Store, coding_id: int) -> None:
    """Remove a coding (and memos on it). A coding made by accepting a suggestion turns that
    suggestion into a rejected one: the user has said no to it."""
    remove_codings(store, [coding_id])


def remove_codings(store: Store, coding_ids: Sequence[int]) -> None:
    """Remove codings of one session, as remove_coding does, in one undoable step."""
    if not coding_ids:
        return
    rows = []
    for coding_id in coding_ids:
        row = store.db.execute(
            "select g.session_id, c.suggestion_id from codings c join segments g on g.id = c.segment_id where c.id = ?",
            [coding_id],
        ).fetchone()
        if row is None:
            raise UserError(f"no coding {coding_id}")
        rows.append((coding_id, *row))
    sessions = {session_id for _, session_id, _ in rows}
    if len(sessions) != 1:
        raise UserError("codings of several sessions are removed one session at a time")
    label = "remove coding" if len(rows) == 1 else f"remove {len(rows)} codings"
    with recorded(store, sessions.pop(), label) as ch:
        for coding_id, _, _ in rows:
            _drop_coding(ch, store, coding_id)
        for suggestion_id in dict.fromkeys(s for _, _, s in rows if s is not None):
            others = store.db.execute("select count(*) from codings where suggestion_id = ?", [suggestion_id]).fetchone()[0]
            if not others:
                ch.update("suggestions", suggestion_id, {"state": "rejected"})


# --- memos ------------------------------------------------------------------------------------


def add_memo(store: Store, session_id: int | None, target: str, target_id: int | str | None, text: str) -> int:
    """A memo on the session, a segment, a coding or a dimension (a dimension id)."""
    text = text.strip()
    if not text:
        raise UserError("a memo needs some text")
    if target not in MEMO_TARGETS:
        raise UserError(f"a memo is on one of {', '.join(MEMO_TARGETS)}, not {target!r}")
    if target == "session":
        target_id = session_id
    if target in ("segment", "coding"):
        table = "segments" if target == "segment" else "codings"
        if target_id is None or store.db.execute(f"select 1 from {table} where id = ?", [target_id]).fetchone() is None:
            raise UserError(f"no {target} {target_id}")
    with recorded(store, session_id, f"memo on {target}") as ch:
        return ch.insert(
            "memos",
            {
                "session_id": session_id,
                "target": target,
                "target_id": None if target_id is None else str(target_id),
                "text": text,
                "created_at": now_iso(),
            },
        )


def edit_memo(store: Store, memo_id: int, text: str) -> None:
    text = text.strip()
    row = store.db.execute("select session_id from memos where id = ?", [memo_id]).fetchone()
    if row is None:
        raise UserError(f"no memo {memo_id}")
    if not text:
        delete_memo(store, memo_id)
        return
    with recorded(store, row[0], "edit memo") as ch:
        ch.update("memos", memo_id, {"text": text})


def delete_memo(store: Store, memo_id: int) -> None:
    row = store.db.execute("select session_id from memos where id = ?", [memo_id]).fetchone()
    if row is None:
        raise UserError(f"no memo {memo_id}")
    with recorded(store, row[0], "delete memo") as ch:
        ch.delete("memos", memo_id)


# --- bookmarks --------------------------------------------------------------------------------


def bookmark_time(segment: dict, following: dict | None) -> float | None:
    """When a bookmark added in review after `segment` is placed: at its end, so it reads
    between it and `following` (the next segment); at its start when it has no end or its end
    runs past the next one's start. None for a segment without times."""
    start, end = segment["start"], segment["end"]
    if start is None:
        return None
    later = following["start"] if following is not None else None
    # Compared as stored (to the hundredth) so the bookmark cannot land on the next one's start.
    if end is not None and end >= start and (later is None or round(end, 2) < later):
        return end
    return start


def _bookmark_session(store: Store, bookmark_id: int) -> int:
    row = store.db.execute("select session_id from live_bookmarks where id = ?", [bookmark_id]).fetchone()
    if row is None:
        raise UserError(f"no bookmark {bookmark_id}")
    return row[0]


def add_bookmark(store: Store, session_id: int, at: float, note: str | None = None) -> int:
    """A bookmark at `at` session seconds, added in review as one undoable edit; returns its id.
    The note is stored as the live screen stores one: whitespace collapsed, none when empty."""
    if store.db.execute("select 1 from sessions where id = ?", [session_id]).fetchone() is None:
        raise UserError(f"no session {session_id} (see `fieldnote sessions`)")
    at = float(at)
    if not at >= 0 or at == float("inf"):
        raise UserError(f"a bookmark marks a moment of the session: {at} is not a time in seconds")
    with recorded(store, session_id, "add bookmark") as ch:
        return ch.insert(
            "live_bookmarks",
            {"session_id": session_id, "at": round(at, 2), "note": tidy_note(note), "created_at": now_iso()},
        )


def edit_bookmark(store: Store, bookmark_id: int, note: str | None) -> None:
    """Replace a bookmark's note. An empty note keeps the bookmark without a note (unlike a
    memo, which an empty text deletes): the moment stays marked; `delete_bookmark` removes it."""
    session_id = _bookmark_session(store, bookmark_id)
    with recorded(store, session_id, "edit bookmark note") as ch:
        ch.update("live_bookmarks", bookmark_id, {"note": tidy_note(note)})


def delete_bookmark(store: Store, bookmark_id: int) -> None:
    session_id = _bookmark_session(store, bookmark_id)
    with recorded(store, session_id, "delete bookmark") as ch:
        ch.delete("live_bookmarks", bookmark_id)


# --- a session for review ---------------------------------------------------------------------


@dataclass
class SessionForReview:
    session: dict
    guide: Guide
    segments: list[dict]  # each with "codings", "suggestions", "memos" and "bookmarks" lists
    memos: list[dict] = field(default_factory=list)  # on the session and on dimensions
    coding_memos: dict[int, list[dict]] = field(default_factory=dict)
    bookmarks: list[dict] = field(default_factory=list)  # in time order, each also on its segment


def bookmark_places(segments: list[dict], bookmarks: list[dict]) -> list[int]:
    """For each bookmark, the index of the segment it belongs after: the last one that had
    begun when it was made (so it reads between that segment and the next). A bookmark made
    before anyone spoke belongs to the first segment. `segments` are in time order."""
    starts = [s["start"] or 0.0 for s in segments]
    return [max(0, bisect.bisect_right(starts, b["at"]) - 1) for b in bookmarks]


def load_session(store: Store, session_id: int) -> SessionForReview:
    """Everything the review screen shows, in five queries whatever the session's length."""
    session = store.session(session_id)
    guide = guide_of_session(store, session_id)
    segments = store.segments(session_id)
    by_id = {s["id"]: s for s in segments}
    for s in segments:
        s["codings"], s["suggestions"], s["memos"], s["bookmarks"] = [], [], [], []
    bookmarks = store.bookmarks(session_id)
    if segments:
        for b, i in zip(bookmarks, bookmark_places(segments, bookmarks)):
            segments[i]["bookmarks"].append(b)
    for c in store.db.query(
        "select c.* from codings c join segments g on g.id = c.segment_id where g.session_id = ? order by c.id",
        [session_id],
    ):
        by_id[c["segment_id"]]["codings"].append(c)
    for x in store.db.query(
        "select x.* from suggestions x join segments g on g.id = x.segment_id where g.session_id = ? "
        "order by x.segment_id, x.rank",
        [session_id],
    ):
        by_id[x["segment_id"]]["suggestions"].append(x)
    other: list[dict] = []
    coding_memos: dict[int, list[dict]] = {}
    for m in store.memos(session_id):
        if m["target"] == "segment" and m["target_id"] and int(m["target_id"]) in by_id:
            by_id[int(m["target_id"])]["memos"].append(m)
        elif m["target"] == "coding" and m["target_id"]:
            coding_memos.setdefault(int(m["target_id"]), []).append(m)
        else:
            other.append(m)
    return SessionForReview(session, guide, segments, other, coding_memos, bookmarks)


def dimension_memos(store: Store, dimension_id: str) -> list[dict]:
    """Memos on a dimension, from every session and from the comparison (no session), oldest first."""
    return _memos_on(store, "dimension", dimension_id)


def segment_record(store: Store, segment_id: int) -> dict | None:
    """One segment as `load_session` gives it; None if it no longer exists."""
    rows = list(store.db.query("select * from segments where id = ?", [segment_id]))
    if not rows:
        return None
    seg = rows[0]
    seg["codings"] = store.codings_for([segment_id])[segment_id]
    seg["suggestions"] = store.suggestions_for([segment_id])[segment_id]
    seg["memos"] = _memos_on(store, "segment", segment_id)
    prev, nxt = neighbours(store, segment_id)
    low = (seg["start"] or 0.0) if prev is not None else float("-inf")
    high = (nxt["start"] or 0.0) if nxt is not None else float("inf")
    seg["bookmarks"] = [b for b in store.bookmarks(seg["session_id"]) if low <= b["at"] < high]
    return seg


def rank_indicators(guide: Guide, query: str, limit: int = 30) -> list[tuple[str, str]]:
    """Indicators matching a typed fragment, best first, as (indicator id, label).

    Every word typed must appear in the dimension's or indicator's name or id, at the start of
    a word or fuzzily; an empty query lists the codebook in guide order.
    """
    from rapidfuzz import fuzz

    labels = [(i.id, f"{guide.dimension(i.dimension_id).name} / {i.name}") for i in guide.indicators]
    words = query.casefold().split()
    if not words:
        return labels[:limit] if limit else labels
    scored = []
    for order, (ind_id, label) in enumerate(labels):
        hay = f"{label} {ind_id}".casefold()
        total = 0.0
        for w in words:
            if w in hay:
                total += 100 + (20 if f" {w}" in f" {hay}" else 0)
            else:
                best = fuzz.partial_ratio(w, hay)
                if best < 75:
                    break
                total += best
        else:
            scored.append((-total, order, ind_id, label))
    scored.sort()
    return [(ind_id, label) for _, _, ind_id, label in scored[:limit]]
