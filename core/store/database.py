"""The study database: sessions, segments, question events, suggestions, codings and memos.

SQLite through sqlite-utils. Every schema change is an ordered, append-only migration
(core/store/migrations.py) recorded in the database and applied each time a store opens. One
thread owns each `Store` (sqlite3 refuses cross-thread use): a worker that writes opens its own
with `Store.open_like(other)`.

The Store is one class of short queries, grouped by table, that the pipeline, the screens and
the exports share (some 500 lines); what only one part reads has a module of its own here
(review/, browse, passages, respondents, pseudonyms, deletion).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils
from sqlite_utils.db import NotFoundError

from core.base import paths
from core.base.errors import UserError
from core.study.guide import Guide, parse_guide
from core.store.connection import DiskFull, LockingDatabase, ReadOnly, disk_full, read_only, unwritable
from core.store.migrations import migrations

SPEAKERS = ("interviewer", "respondent")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class NewSuggestion:
    dimension_id: str
    indicator_id: str
    score: float
    reason: str


@dataclass
class NewSegment:
    speaker: str
    text: str
    start: float | None
    end: float | None
    speaker_label: str | None = None
    origin: str = "asr"
    asks: int | None = None
    question: int | None = None
    question_score: float | None = None
    # A question an earlier segment of the same turn was taken to ask, which these words show it
    # did not (GuideTracker.reconsider): its detection is withdrawn.
    withdraws: int | None = None
    suggestions: list[NewSuggestion] = field(default_factory=list)
    # Who heard it, when not the session's own model on this machine (a group's server).
    model: str | None = None
    server: str | None = None


class Store:
    """One connection to the study database, owned by the thread that opened it."""

    def __init__(self, path: Path | str | None = None, *, memory_name: str | None = None):
        if memory_name is not None:
            self.path: Path | None = None
            self.memory_name: str | None = memory_name
            self.db = LockingDatabase(memory_name=memory_name)
        else:
            self.memory_name = None
            self.path = Path(path) if path is not None else paths.default_db()
            try:
                paths.ensure_private_dir(self.path.parent)
            except OSError as exc:
                raise UserError(f"{self.path.parent}: cannot make the folder for the study database "
                                f"({exc.strerror or exc}); make its parent writable for you, or give --db a "
                                "database in a folder you can write to") from None
            new = not self.path.exists()
            old_umask = os.umask(0o077)
            try:
                conn = sqlite3.connect(str(self.path), timeout=30)
            except sqlite3.Error as exc:
                blocked = unwritable(self.path)
                if blocked is not None:
                    raise ReadOnly(self.path, blocked, opening=True) from None
                raise UserError(f"{self.path}: cannot open the database ({exc})") from None
            finally:
                os.umask(old_umask)
            self.db = LockingDatabase(conn)
            self.db.path = self.path
            if new:
                self.path.chmod(0o600)
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA busy_timeout = 30000")
            deadline = time.monotonic() + 30
            while True:
                try:
                    self._prepare()
                    break
                except sqlite3.OperationalError as exc:
                    # Switching a new file to WAL needs it to itself, and SQLite answers 'locked'
                    # without waiting when several processes open a new database at once.
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        except sqlite3.DatabaseError as exc:
            if disk_full(exc, self.path):
                raise DiskFull(self.path, opening=True) from None
            blocked = read_only(exc, self.path)
            if blocked is not None:
                raise ReadOnly(self.path, blocked, opening=True) from None
            where = self.path or self.memory_name
            raise UserError(f"{where}: not a fieldnote database, or it is damaged ({exc})") from None

    def _prepare(self) -> None:
        if self.path is not None:
            self.db.enable_wal()
        if migrations.pending(self.db):
            # Under the write lock, so two processes opening a new or older database at once
            # do not both run a migration (pending is looked up again inside).
            with self.db.atomic():
                migrations.apply(self.db)

    @classmethod
    def open_like(cls, other: "Store") -> "Store":
        """A second connection to the same database, for another thread."""
        if other.memory_name is not None:
            return cls(memory_name=other.memory_name)
        return cls(other.path)

    def close(self) -> None:
        self.db.close()

    def atomic(self):
        """One transaction around several of the methods below: all of them are stored or none."""
        return self.db.atomic()

    # sessions -------------------------------------------------------------------------------

    def create_session(
        self,
        guide: Guide,
        *,
        origin: str,
        respondent: str | None = None,
        case_name: str | None = None,
        title: str | None = None,
        consent_at: str | None = None,
        model: str | None = None,
        status: str = "recording",
        started_at: str | None = None,
    ) -> int:
        with self.db.atomic():
            row = self.db["sessions"].insert(
                {
                    "title": title,
                    "guide_id": guide.id,
                    "guide_title": guide.title,
                    "guide_digest": guide.digest,
                    "guide_toml": guide.text,
                    "language": guide.language,
                    "respondent": respondent,
                    "case_name": case_name,
                    "consent_at": consent_at,
                    "started_at": started_at or now_iso(),
                    "status": status,
                    "origin": origin,
                    "model": model,
                }
            )
        return int(row.last_pk)

    def set_session_audio_dir(self, session_id: int, audio_dir: Path) -> None:
        with self.db.atomic():
            self.db["sessions"].update(session_id, {"audio_dir": str(audio_dir)})

    def end_session(self, session_id: int, status: str = "completed", duration: float | None = None) -> None:
        with self.db.atomic():
            self.db["sessions"].update(
                session_id, {"status": status, "ended_at": now_iso(), "duration": duration}
            )

    def mark_interrupted(self, session_id: int, duration: float | None, ended_at: str | None = None) -> None:
        """A recording whose process died: what was saved stays, the session says it was cut off."""
        with self.db.atomic():
            self.db["sessions"].update(
                session_id, {"status": "interrupted", "ended_at": ended_at or now_iso(), "duration": duration}
            )

    def reopen_session(self, session_id: int) -> None:
        """An interrupted session recording again (resumed)."""
        with self.db.atomic():
            self.db["sessions"].update(session_id, {"status": "recording", "ended_at": None})

    def add_gap(self, session_id: int, track: str | None, start: float, end: float | None, reason: str,
                detail: str = "") -> int:
        with self.db.atomic():
            return int(
                self.db["gaps"]
                .insert({"session_id": session_id, "track": track, "start": start, "end": end,
                         "reason": reason, "detail": detail})
                .last_pk
            )

    def end_gap(self, gap_id: int, end: float) -> None:
        with self.db.atomic():
            self.db["gaps"].update(gap_id, {"end": end})

    def gaps(self, session_id: int) -> list[dict]:
        return list(self.db["gaps"].rows_where("session_id = ?", [session_id], order_by="start, id"))

    def set_current_question(self, session_id: int, number: int | None, at: float | None, kind: str) -> None:
        with self.db.atomic():
            self.db["sessions"].update(session_id, {"current_question": number})
            if number is not None:
                self.db["question_events"].insert(
                    {"session_id": session_id, "question": number, "at": at, "kind": kind}
                )

    def asked_questions(self, session_id: int) -> set[int]:
        """The guide questions the session has moved to, detected or by hand."""
        return {
            row[0] for row in self.db.execute(
                "select distinct question from question_events where session_id = ? and question is not null"
                " and kind != 'withdrawn'",
                [session_id],
            )
        }

    def session(self, session_id: int) -> dict:
        try:
            return dict(self.db["sessions"].get(session_id))
        except sqlite_utils.db.NotFoundError:
            raise UserError(f"no session {session_id} (see `fieldnote sessions`)") from None

    def session_guide(self, session_id: int) -> Guide:
        row = self.session(session_id)
        return parse_guide(row["guide_toml"], source=f"session {session_id} guide")

    def imported_session(self, guide_id: str, title: str) -> int | None:
        """The first session imported with this guide under this title (a transcript's first
        line, which names the interview), if there is one."""
        row = self.db.execute(
            "select min(id) from sessions where origin = 'import' and guide_id = ? and title = ?", [guide_id, title]
        ).fetchone()
        return row[0]

    def sessions(self) -> list[dict]:
        # The counts the triggers keep: a few rows per session rather than every coding's.
        return list(
            self.db.query(
                """
                select s.*, coalesce(n.segments, 0) as segment_count, coalesce(n.codings, 0) as coding_count
                from sessions s left join session_counts n on n.session_id = s.id order by s.id
                """
            )
        )

    # segments --------------------------------------------------------------------------------

    def add_segment(self, session_id: int, seg: NewSegment) -> int:
        """Store a segment with its suggestions and question event in one transaction.

        A question is asked where it was last detected: a segment detected as asking a question
        that an earlier segment was taken to ask withdraws that earlier detection (guide tracking
        detects a question again only when it had taken it as asked too early, on weak evidence).
        The question events keep both. A segment that `withdraws` a question (the rest of a turn
        showed what its start asked) takes it off the segment that asked it, and its event becomes
        a withdrawn one: the question counts as not asked."""
        with self.db.atomic():
            for number in {seg.asks, seg.withdraws} - {None}:
                self.db.execute("update segments set asks = null where session_id = ? and asks = ?",
                                [session_id, number])
            if seg.withdraws is not None:
                self.db.execute("update question_events set kind = 'withdrawn' where id = (select max(id) "
                                "from question_events where session_id = ? and question = ? and kind = 'detected')",
                                [session_id, seg.withdraws])
            seg_id = int(
                self.db["segments"]
                .insert(
                    {
                        "session_id": session_id,
                        "speaker": seg.speaker,
                        "speaker_label": seg.speaker_label,
                        "start": seg.start,
                        "end": seg.end,
                        "text": seg.text,
                        "asr_text": seg.text if seg.origin == "asr" else None,
                        "origin": seg.origin,
                        "asks": seg.asks,
                        "question": seg.question,
                        "created_at": now_iso(),
                        "model": seg.model,
                        "server": seg.server,
                    }
                )
                .last_pk
            )
            if seg.suggestions:
                self.db["suggestions"].insert_all(
                    {
                        "segment_id": seg_id,
                        "rank": rank,
                        "dimension_id": s.dimension_id,
                        "indicator_id": s.indicator_id,
                        "score": round(float(s.score), 4),
                        "reason": s.reason,
                        "state": "pending",
                    }
                    for rank, s in enumerate(seg.suggestions)
                )
            if seg.asks is not None:
                self.db["question_events"].insert(
                    {
                        "session_id": session_id,
                        "question": seg.asks,
                        "at": seg.start,
                        "kind": "detected",
                        "segment_id": seg_id,
                        "score": seg.question_score,
                    }
                )
                self.db["sessions"].update(session_id, {"current_question": seg.asks})
        return seg_id

    def latest_pending_suggestion(self, session_id: int, min_score: float = 0.0) -> dict | None:
        """The best suggestion still waiting on the newest segment that has one: what the
        interviewer accepts or rejects with one key during a session."""
        return next(
            self.db.query(
                """
                select x.* from suggestions x join segments g on g.id = x.segment_id
                where g.session_id = ? and x.state = 'pending' and x.score >= ?
                order by g.id desc, x.rank limit 1
                """,
                [session_id, min_score],
            ),
            None,
        )

    def segment_count(self, session_id: int) -> int:
        row = self.db.execute("select segments from session_counts where session_id = ?", [session_id]).fetchone()
        return row[0] if row else 0

    def untimed_segments(self, session_id: int) -> int:
        """How many of the session's segments lack a start or an end (typed or imported text)."""
        return self.db.execute(
            'select count(*) from segments where session_id = ? and (start is null or "end" is null)', [session_id]
        ).fetchone()[0]

    def segment(self, segment_id: int) -> dict:
        """One segment by its id; KeyError if there is none."""
        try:
            return dict(self.db["segments"].get(segment_id))
        except NotFoundError:
            raise KeyError(segment_id) from None

    def segments(self, session_id: int, only: list[int] | None = None) -> list[dict]:
        where, params = "session_id = ?", [session_id]
        if only is not None:
            where += f" and id in ({','.join('?' * len(only))})"
            params += list(only)
        return list(
            self.db.query(
                f"select * from segments where {where} order by coalesce(start, 0), id", params
            )
        )

    def suggestions_for(self, segment_ids: Iterable[int]) -> dict[int, list[dict]]:
        ids = list(segment_ids)
        out: dict[int, list[dict]] = {i: [] for i in ids}
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"select * from suggestions where segment_id in ({marks}) order by segment_id, rank",
                chunk,
            ):
                out[row["segment_id"]].append(row)
        return out

    def next_suggestion_rank(self, segment_id: int) -> int:
        """The rank a suggestion added to the segment takes: after all it has."""
        return self.db.execute(
            "select coalesce(max(rank), -1) + 1 from suggestions where segment_id = ?", [segment_id]
        ).fetchone()[0]

    def codings_for(self, segment_ids: Iterable[int]) -> dict[int, list[dict]]:
        ids = list(segment_ids)
        out: dict[int, list[dict]] = {i: [] for i in ids}
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"select * from codings where segment_id in ({marks}) order by segment_id, id", chunk
            ):
                out[row["segment_id"]].append(row)
        return out

    # coding ----------------------------------------------------------------------------------

    def accept_suggestion(self, suggestion_id: int) -> int:
        with self.db.atomic():
            s = self.db["suggestions"].get(suggestion_id)
            self.db["suggestions"].update(suggestion_id, {"state": "accepted"})
            existing = list(
                self.db["codings"].rows_where(
                    "segment_id = ? and indicator_id = ? and start_offset is null",
                    [s["segment_id"], s["indicator_id"]],
                )
            )
            if existing:
                return int(existing[0]["id"])
            return int(
                self.db["codings"]
                .insert(
                    {
                        "segment_id": s["segment_id"],
                        "dimension_id": s["dimension_id"],
                        "indicator_id": s["indicator_id"],
                        "origin": "suggestion",
                        "suggestion_id": suggestion_id,
                        "created_at": now_iso(),
                    }
                )
                .last_pk
            )

    def reject_suggestion(self, suggestion_id: int) -> None:
        with self.db.atomic():
            self.db["suggestions"].update(suggestion_id, {"state": "rejected"})

    def add_coding(
        self,
        segment_id: int,
        dimension_id: str,
        indicator_id: str,
        *,
        start_offset: int | None = None,
        end_offset: int | None = None,
        origin: str = "manual",
    ) -> int:
        with self.db.atomic():
            return int(
                self.db["codings"]
                .insert(
                    {
                        "segment_id": segment_id,
                        "dimension_id": dimension_id,
                        "indicator_id": indicator_id,
                        "start_offset": start_offset,
                        "end_offset": end_offset,
                        "origin": origin,
                        "created_at": now_iso(),
                    }
                )
                .last_pk
            )

    def coded_examples(self, guide_id: str, exclude_session: int | None = None) -> Iterator[dict]:
        """Passages coded in sessions of this guide, and rejected suggestions: what suggestions learn from."""
        yield from self.db.query(
            """
            select g.text, g.question, c.dimension_id, c.indicator_id, c.start_offset, c.end_offset, 1 as positive
            from codings c join segments g on g.id = c.segment_id join sessions s on s.id = g.session_id
            where s.guide_id = ? and s.id is not coalesce(?, -1)
            union all
            select g.text, g.question, x.dimension_id, x.indicator_id, null, null, 0
            from suggestions x join segments g on g.id = x.segment_id join sessions s on s.id = g.session_id
            where x.state = 'rejected' and s.guide_id = ? and s.id is not coalesce(?, -1)
            """,
            [guide_id, exclude_session, guide_id, exclude_session],
        )

    # memos -----------------------------------------------------------------------------------

    def add_memo(self, session_id: int | None, target: str, target_id: str | int | None, text: str) -> int:
        with self.db.atomic():
            return int(
                self.db["memos"]
                .insert(
                    {
                        "session_id": session_id,
                        "target": target,
                        "target_id": None if target_id is None else str(target_id),
                        "text": text,
                        "created_at": now_iso(),
                    }
                )
                .last_pk
            )

    def memos(self, session_id: int) -> list[dict]:
        return list(self.db["memos"].rows_where("session_id = ?", [session_id], order_by="id"))

    def dimension_memos(self) -> list[dict]:
        """Memos on dimensions, from every session and from the comparison (no session), oldest first."""
        return list(self.db.query("select * from memos where target = 'dimension' order by id"))

    # bookmarks -------------------------------------------------------------------------------

    def add_bookmark(self, session_id: int, at: float, note: str | None = None) -> int:
        with self.db.atomic():
            return int(
                self.db["live_bookmarks"]
                .insert({"session_id": session_id, "at": round(float(at), 2), "note": tidy_note(note),
                         "created_at": now_iso()})
                .last_pk
            )

    def set_bookmark_note(self, bookmark_id: int, note: str | None) -> None:
        with self.db.atomic():
            self.db["live_bookmarks"].update(bookmark_id, {"note": tidy_note(note)})

    def bookmark(self, bookmark_id: int) -> dict:
        return dict(self.db["live_bookmarks"].get(bookmark_id))

    def bookmarks(self, session_id: int) -> list[dict]:
        return list(self.db["live_bookmarks"].rows_where("session_id = ?", [session_id], order_by="at, id"))

    # search ----------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 50) -> list[dict]:
        return list(
            self.db.query(
                """
                select g.id, g.session_id, g.speaker, g.start, g.text,
                  snippet(segments_fts, 0, '[', ']', '…', 12) as snippet
                from segments_fts join segments g on g.rowid = segments_fts.rowid
                where segments_fts match ? order by rank limit ?
                """,
                [_fts_query(query), limit],
            )
        )


def tidy_note(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return text or None


def _fts_query(text: str) -> str:
    """Each word as a quoted prefix term: user input never becomes FTS syntax."""
    words = [w for w in text.replace('"', " ").split() if w]
    return " ".join(f'"{w}"*' for w in words) or '""'


def chunks(items: list, size: int) -> Iterator[list]:
    """`items` in lists of at most `size`: SQLite limits the parameters of one statement."""
    for i in range(0, len(items), size):
        yield items[i : i + size]

