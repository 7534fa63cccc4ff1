"""Finding sessions and passages: the sessions overview and full-text search across sessions.

Both are single queries sized for studies of a thousand hour-long sessions (bench/bench_review.py);
the overview reads the counts the store's triggers keep (session_counts).
Search hits come newest session first, in speaking order within a session: FTS5 walks its index
in rowid order and stops at the limit, where ranking would have to score every match of a common
word first.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.store.database import Store, _fts_query

# Marks around matched words in a snippet; control characters never occur in transcripts.
HIT_OPEN, HIT_CLOSE = "\x02", "\x03"


@dataclass(frozen=True)
class SessionSummary:
    id: int
    title: str | None
    started_at: str
    respondent: str | None
    case_name: str | None
    guide_id: str
    guide_title: str | None
    duration: float | None
    status: str
    origin: str
    segments: int
    respondent_segments: int
    coded_segments: int
    codings: int

    @property
    def coded_share(self) -> float:
        """Share of the respondent's segments that carry at least one code."""
        base = self.respondent_segments or self.segments
        return min(1.0, self.coded_segments / base) if base else 0.0

    def matches(self, words: list[str]) -> bool:
        hay = " ".join(
            str(v) for v in (self.id, self.title, self.started_at[:10], self.respondent, self.case_name,
                             self.guide_id, self.guide_title, self.status, self.origin) if v
        ).casefold()
        return all(w in hay for w in words)


def session_summaries(store: Store) -> list[SessionSummary]:
    """Every session, newest first, with how much of it is transcribed and coded."""
    rows = store.db.execute(
        """
        select s.id, s.title, s.started_at, s.respondent, s.case_name, s.guide_id, s.guide_title,
          coalesce(s.duration, n.last_end), s.status, s.origin, coalesce(n.segments, 0),
          coalesce(n.respondent_segments, 0), coalesce(n.coded_segments, 0), coalesce(n.codings, 0)
        from sessions s left join session_counts n on n.session_id = s.id
        order by s.started_at desc, s.id desc
        """
    ).fetchall()
    return [SessionSummary(*r) for r in rows]


def filter_sessions(sessions: list[SessionSummary], text: str) -> list[SessionSummary]:
    words = text.casefold().split()
    return [s for s in sessions if s.matches(words)] if words else list(sessions)


@dataclass(frozen=True)
class SearchHit:
    segment_id: int
    session_id: int
    speaker: str
    start: float | None
    snippet: str  # matched words between HIT_OPEN and HIT_CLOSE
    respondent: str | None
    case_name: str | None
    title: str | None


def search(store: Store, query: str, limit: int = 100) -> list[SearchHit]:
    """Segments whose text has every word of `query` (as a word prefix), across all sessions."""
    if not query.split():
        return []
    rows = store.db.execute(
        f"""
        select g.id, g.session_id, g.speaker, g.start,
          snippet(segments_fts, 0, '{HIT_OPEN}', '{HIT_CLOSE}', '…', 16),
          s.respondent, s.case_name, s.title
        from segments_fts
          join segments g on g.rowid = segments_fts.rowid
          join sessions s on s.id = g.session_id
        where segments_fts match ?
        order by segments_fts.rowid desc
        limit ?
        """,
        [_fts_query(query), limit],
    ).fetchall()
    hits = [SearchHit(*r) for r in rows]
    # Newest session first, and within one session in the order things were said.
    order = {sid: i for i, sid in enumerate(dict.fromkeys(h.session_id for h in hits))}
    return sorted(hits, key=lambda h: (order[h.session_id], h.start or 0.0, h.segment_id))


def count_hits(store: Store, query: str) -> int:
    if not query.split():
        return 0
    return store.db.execute(
        "select count(*) from segments_fts where segments_fts match ?", [_fts_query(query)]
    ).fetchone()[0]


def snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    """A snippet as (text, is_a_match) pieces, for display."""
    parts: list[tuple[str, bool]] = []
    rest = snippet
    while rest:
        i = rest.find(HIT_OPEN)
        if i < 0:
            parts.append((rest, False))
            break
        if i:
            parts.append((rest[:i], False))
        j = rest.find(HIT_CLOSE, i)
        j = len(rest) if j < 0 else j
        parts.append((rest[i + 1 : j], True))
        rest = rest[j + 1 :]
    return parts
