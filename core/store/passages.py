"""What the comparison across sessions reads (core/analysis/compare.py): sessions per matrix
column, the per-session counts the triggers keep (code_counts, dimension_passages), and coded
passages with the segments spoken around them.

Columns come in as names of the sessions and codings tables, checked against the few that may
be compared by, since they are written into the SQL.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

from core.store.database import Store, chunks

SESSION_COLUMNS = ("respondent", "case_name")  # what a matrix's columns are
CODE_COLUMNS = ("dimension_id", "indicator_id")  # what co-occurrence compares


class CodedRow(NamedTuple):
    """One coding with its segment and session, as `coded_passages` reads it."""

    coding_id: int
    segment_id: int
    session_id: int
    respondent: str | None
    case_name: str | None
    dimension_id: str
    indicator_id: str
    speaker: str
    start: float | None
    text: str
    start_offset: int | None
    end_offset: int | None
    code: str | None = None  # the compared column's value (`codes_together`), else None


def _known(column: str, allowed: tuple[str, ...]) -> str:
    if column not in allowed:
        raise ValueError(f"{column!r} is not one of {allowed}")
    return column


def newest_session_of_guide(store: Store, guide_id: str | None) -> int | None:
    """The id of the guide's newest session; with no guide named, of the guide most sessions
    use (the one used last, on a tie). None when there is no such session."""
    if guide_id is None:
        row = store.db.execute(
            "select guide_id, max(id) from sessions group by guide_id order by count(*) desc, max(id) desc limit 1"
        ).fetchone()
    else:
        row = store.db.execute(
            "select guide_id, max(id) from sessions where guide_id = ? group by guide_id", [guide_id]
        ).fetchone()
    return None if row is None else row[1]


def sessions_per_value(store: Store, guide_id: str, column: str, none: str) -> list[tuple[str, int]]:
    """(value, sessions) of the guide's sessions by a sessions column; no value counts as `none`."""
    col = _known(column, SESSION_COLUMNS)
    return store.db.execute(
        f"select coalesce(nullif({col}, ''), ?), count(*) from sessions where guide_id = ? group by 1",
        [none, guide_id],
    ).fetchall()


def _counted(store: Store, counts: str, code: str, amount: str, guide_id: str, column: str, none: str
             ) -> list[tuple[str, str, int]]:
    """(value, code, total) over the guide's sessions from one of the tables the triggers keep."""
    col = _known(column, SESSION_COLUMNS)
    return store.db.execute(
        f"""
        select coalesce(nullif(s.{col}, ''), ?), k.{code}, sum(k.{amount})
        from {counts} k join sessions s on s.id = k.session_id
        where s.guide_id = ? and k.{amount} > 0 group by 1, 2
        """,
        [none, guide_id],
    ).fetchall()


def codings_per_indicator(store: Store, guide_id: str, column: str, none: str) -> list[tuple[str, str, int]]:
    """(value, indicator id, codings) over the guide's sessions, from the counts the triggers keep."""
    return _counted(store, "code_counts", "indicator_id", "codings", guide_id, column, none)


def passages_per_dimension(store: Store, guide_id: str, column: str, none: str) -> list[tuple[str, str, int]]:
    """(value, dimension id, passages) over the guide's sessions, from the counts the triggers keep."""
    return _counted(store, "dimension_passages", "dimension_id", "passages", guide_id, column, none)


def memos_per_dimension(store: Store) -> dict[str, int]:
    """Dimension id -> memos on it, from every session and from the comparison."""
    return dict(store.db.execute(
        "select target_id, count(*) from memos where target = 'dimension' group by 1"
    ).fetchall())


_CODED = """
    select c.id, g.id, g.session_id, s.respondent, s.case_name, c.dimension_id, c.indicator_id,
      g.speaker, g.start, g.text, c.start_offset, c.end_offset{extra}
    from codings c join segments g on g.id = c.segment_id join sessions s on s.id = g.session_id
    where {where}
    order by s.started_at, s.id, coalesce(g.start, 0), g.id, c.id
"""


def coded_passages(
    store: Store,
    guide_id: str,
    *,
    dimension_id: str | None = None,
    indicator_id: str | None = None,
    column: str | None = None,
    value: str | None = None,
    blank: bool = False,
    limit: int | None = None,
) -> list[CodedRow]:
    """The codings of the guide's sessions, of one indicator or else of one dimension (or all),
    optionally only of sessions whose `column` is `value` (or, with `blank`, is empty), in
    session and time order."""
    where, params = ["s.guide_id = ?"], [guide_id]
    if indicator_id is not None:
        where.append("c.indicator_id = ?")
        params.append(indicator_id)
    elif dimension_id is not None:
        where.append("c.dimension_id = ?")
        params.append(dimension_id)
    if column is not None:
        col = _known(column, SESSION_COLUMNS)
        if blank:
            where.append(f"coalesce({col}, '') = ''")
        else:
            where.append(f"s.{col} = ?")
            params.append(value)
    sql = _CODED.format(extra="", where=" and ".join(where))
    if limit is not None:
        sql += f" limit {int(limit)}"
    return [CodedRow(*r) for r in store.db.execute(sql, params).fetchall()]


def codes_together(store: Store, guide_id: str, column: str, a: str, b: str) -> list[CodedRow]:
    """The codings of the guide's sessions whose `column` (dimension_id or indicator_id) is `a`
    or `b`, in session and time order, each with that value as its `code`."""
    col = _known(column, CODE_COLUMNS)
    sql = _CODED.format(extra=f", c.{col}", where=f"s.guide_id = ? and c.{col} in (?, ?)")
    return [CodedRow(*r) for r in store.db.execute(sql, [guide_id, a, b]).fetchall()]


def coded_spans(store: Store, guide_id: str, column: str) -> list[tuple[int, str, int | None, int | None]]:
    """(segment id, code, start offset, end offset) of every coding of the guide's sessions,
    by segment; the code is the coding's `column` (dimension_id or indicator_id)."""
    col = _known(column, CODE_COLUMNS)
    return store.db.execute(
        f"""
        select c.segment_id, c.{col}, c.start_offset, c.end_offset
        from codings c join segments g on g.id = c.segment_id join sessions s on s.id = g.session_id
        where s.guide_id = ? order by c.segment_id
        """,
        [guide_id],
    ).fetchall()


def spoken_around(store: Store, segment_ids: list[int]) -> Iterator[tuple[int, str | None, str | None]]:
    """(segment id, before, after) for each segment: the text and speaker of the segments spoken
    just before and after it in its session, joined by a unit separator (char 31), or None."""
    for chunk in chunks(sorted(segment_ids), 400):
        marks = ",".join("?" * len(chunk))
        yield from store.db.execute(
            f"""
            select g.id,
              (select p.text || char(31) || p.speaker from segments p where p.session_id = g.session_id
                 and (coalesce(p.start, 0) < coalesce(g.start, 0) or (coalesce(p.start, 0) = coalesce(g.start, 0) and p.id < g.id))
                 order by coalesce(p.start, 0) desc, p.id desc limit 1),
              (select n.text || char(31) || n.speaker from segments n where n.session_id = g.session_id
                 and (coalesce(n.start, 0) > coalesce(g.start, 0) or (coalesce(n.start, 0) = coalesce(g.start, 0) and n.id > g.id))
                 order by coalesce(n.start, 0), n.id limit 1)
            from segments g where g.id in ({marks})
            """,
            chunk,
        )
