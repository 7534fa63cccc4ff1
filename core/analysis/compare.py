"""Comparing coded passages across sessions: the matrix of codes against respondents or cases,
the passages behind a cell, and which codes occur together.

A passage is a coded stretch of one segment: the whole segment, or a span of its text. The
matrix counts passages. An indicator's cell counts the passages coded with that indicator; a
dimension's cell counts the passages coded with any of its indicators, once each, so a passage
given two indicators of one dimension is one passage of that dimension. The thesis's tables of
factors per pilot and per respondent (Tabel 9-13) are this matrix by case and by respondent.

Sessions of one guide are compared at a time, since dimensions belong to a guide. The matrix
reads the per-session counts the store's triggers keep (code_counts, dimension_passages), so it
costs the same for ten sessions or a thousand; passages are read from the codings themselves.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field, replace

from core.base.errors import UserError
from core.interchange.exporters.tables import neutralised
from core.interchange.pseudonymise import NO_PSEUDONYMS, Pseudonymiser, pseudonymiser
from core.study.guide import Guide
from core.store import passages as stored
from core.store.review import guide_of_session
from core.store.database import Store
from core.store.respondents import numbering

BY = {"respondent": "respondent", "case": "case_name"}
NONE_LABEL = "(none)"


@dataclass(frozen=True)
class Row:
    kind: str  # dimension | indicator
    id: str
    name: str
    dimension_id: str
    colour: str


@dataclass
class Matrix:
    by: str
    guide: Guide
    columns: list[str]
    rows: list[Row]
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (kind, id, column)
    sessions: Counter = field(default_factory=Counter)  # column -> sessions in it
    dimension_memos: Counter = field(default_factory=Counter)  # dimension id -> memos on it

    def count(self, row: Row, column: str | None = None) -> int:
        if column is None:
            return sum(self.counts.get((row.kind, row.id, c), 0) for c in self.columns)
        return self.counts.get((row.kind, row.id, column), 0)

    def with_indicators(self, dimension_ids: set[str] | None = None) -> list[Row]:
        """Rows in display order: each dimension, followed by its indicators if it is expanded
        (all of them when `dimension_ids` is None)."""
        out = []
        for r in self.rows:
            if r.kind == "dimension" or dimension_ids is None or r.dimension_id in dimension_ids:
                out.append(r)
        return out


def study_guide(store: Store, guide_id: str | None = None) -> Guide:
    """The guide to compare by: the one named, or the one most sessions use."""
    session_id = stored.newest_session_of_guide(store, guide_id)
    if session_id is None:
        if guide_id is None:
            raise UserError("no sessions yet: record or import interviews first (try `fieldnote demo`)")
        raise UserError(f"no session uses the guide {guide_id!r} (see `fieldnote sessions`)")
    return guide_of_session(store, session_id)


def _column(by: str) -> str:
    try:
        return BY[by]
    except KeyError:
        raise UserError(f"compare by one of {', '.join(BY)}, not {by!r}") from None


def build_matrix(store: Store, by: str = "respondent", guide_id: str | None = None,
                 pseudonymise: bool = False) -> Matrix:
    """The matrix of the guide's sessions. Pseudonymised, as exports are: respondents by number
    (those of core/store/respondents.py), and the study's listed names replaced in case names,
    the guide's title and the codes' names."""
    col = _column(by)
    guide = study_guide(store, guide_id)
    p = pseudonymiser(store) if pseudonymise else NO_PSEUDONYMS
    label = _pseudonymous_columns(store, by, p) if pseudonymise else {}
    rows: list[Row] = []
    for d in guide.dimensions:
        rows.append(Row("dimension", d.id, p.text(d.name) or d.id, d.id, d.colour))
        rows += [Row("indicator", i.id, p.text(i.name) or i.id, d.id, d.colour) for i in d.indicators]
    known_dims = {d.id for d in guide.dimensions}
    known_inds = {i.id for i in guide.indicators}

    # Pseudonymised, two values can be one column ("Anna" and "anna" are respondent 1): summed.
    columns: Counter = Counter()
    for value, n in stored.sessions_per_value(store, guide.id, col, NONE_LABEL):
        columns[label.get(value, value)] += n
    counts: Counter = Counter()
    # The store's triggers keep these per session (code_counts, dimension_passages).
    for value, ind, n in stored.codings_per_indicator(store, guide.id, col, NONE_LABEL):
        if ind in known_inds:
            counts[("indicator", ind, label.get(value, value))] += n
    for value, dim, n in stored.passages_per_dimension(store, guide.id, col, NONE_LABEL):
        if dim in known_dims:
            counts[("dimension", dim, label.get(value, value))] += n
    memos = Counter(stored.memos_per_dimension(store))
    if pseudonymise:
        guide = replace(guide, title=p.text(guide.title) or guide.id)
    return Matrix(by, guide, _ordered(columns), rows, dict(counts), columns,
                  Counter({d: n for d, n in memos.items() if d in known_dims}))


def _pseudonymous_columns(store: Store, by: str, p: Pseudonymiser) -> dict[str, str]:
    """Each value a column may have (as typed) -> its pseudonymised label."""
    if by == "case":
        return {r["case_name"]: p.text(r["case_name"]) for r in store.sessions() if r["case_name"]}
    numbers = numbering(store)
    return {r["respondent"]: ", ".join(str(n) for n in numbers.get(r["id"], ())) or NONE_LABEL
            for r in store.sessions() if r["respondent"]}


def _ordered(columns: Counter) -> list[str]:
    """Respondent numbers in numeric order (a joint interview "2,3" by its first number, after
    2), names alphabetically, '(none)' last."""
    def key(v: str):
        numbers = [n.strip() for n in v.split(",")]
        numeric = all(n.isdigit() for n in numbers)
        return (v == NONE_LABEL, not numeric, [int(n) for n in numbers] if numeric else [], v.casefold())

    return sorted(columns, key=key)


# --- passages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    coding_id: int
    segment_id: int
    session_id: int
    respondent: str | None
    case_name: str | None
    dimension_id: str
    indicator_id: str
    speaker: str
    start: float | None
    text: str  # the segment's text
    span: tuple[int, int] | None  # the coded span in `text`; None = all of it
    before: str | None = None  # the previous segment's text, for context
    before_speaker: str | None = None
    after: str | None = None
    after_speaker: str | None = None
    other: tuple[str, str] | None = None  # a co-occurring code: its (dimension id, indicator id)

    @property
    def passage(self) -> str:
        return self.text if self.span is None else self.text[self.span[0] : self.span[1]]


def passages(
    store: Store,
    *,
    dimension_id: str | None = None,
    indicator_id: str | None = None,
    by: str | None = None,
    value: str | None = None,
    guide_id: str | None = None,
    context: bool = True,
    limit: int | None = None,
) -> list[Passage]:
    """The coded passages of a code (a dimension or an indicator), optionally only those of one
    matrix column (`by` and `value`), in session and time order, each with the segments spoken
    just before and after it."""
    guide = study_guide(store, guide_id)
    rows = stored.coded_passages(
        store, guide.id, dimension_id=dimension_id, indicator_id=indicator_id,
        column=None if by is None else _column(by), value=value, blank=value == NONE_LABEL, limit=limit,
    )
    # A passage coded with two indicators of the dimension asked for is listed once.
    seen: set[tuple] = set()
    out: list[dict] = []
    for r in rows:
        key = (r.segment_id, r.start_offset, r.end_offset)
        if indicator_id is None and key in seen:
            continue
        seen.add(key)
        out.append(_passage(r, span=None if r.start_offset is None else (r.start_offset, r.end_offset)))
    if context and out:
        _add_context(store, out)
    return [Passage(**p) for p in out]


def _passage(r: stored.CodedRow, **more) -> dict:
    return dict(coding_id=r.coding_id, segment_id=r.segment_id, session_id=r.session_id,
                respondent=r.respondent, case_name=r.case_name, dimension_id=r.dimension_id,
                indicator_id=r.indicator_id, speaker=r.speaker, start=r.start, text=r.text, **more)


def _add_context(store: Store, found: list[dict]) -> None:
    ids = list({p["segment_id"] for p in found})
    around = {segment_id: (before, after) for segment_id, before, after in stored.spoken_around(store, ids)}
    for p in found:
        before, after = around.get(p["segment_id"], (None, None))
        if before:
            p["before"], p["before_speaker"] = before.split("\x1f", 1)
        if after:
            p["after"], p["after_speaker"] = after.split("\x1f", 1)


# --- co-occurrence ----------------------------------------------------------------------------


@dataclass
class Cooccurrence:
    guide: Guide
    level: str  # dimension | indicator
    codes: list[tuple[str, str]]  # (id, name) in guide order
    counts: Counter  # (id, id) -> passages where both occur; (id, id) on the diagonal = passages of the code

    def count(self, a: str, b: str) -> int:
        return self.counts.get((a, b) if (a, b) in self.counts else (b, a), 0)


def _level_column(level: str) -> str:
    """The codings column that co-occurrence compares at this level."""
    if level not in ("dimension", "indicator"):
        raise UserError(f"co-occurrence is by dimension or by indicator, not {level!r}")
    return f"{level}_id"


def cooccurrence(store: Store, level: str = "dimension", guide_id: str | None = None) -> Cooccurrence:
    """How often two codes occur together: on the same segment, where at least one codes the
    whole segment or their spans overlap. Spans of one segment that do not overlap do not count."""
    column = _level_column(level)
    guide = study_guide(store, guide_id)
    rows = stored.coded_spans(store, guide.id, column)
    counts: Counter = Counter()
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][0] == rows[i][0]:
            j += 1
        group = rows[i:j]
        pairs: set[tuple[str, str]] = set()
        for code in {r[1] for r in group}:
            counts[(code, code)] += 1
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                a, b = group[x], group[y]
                if a[1] == b[1] or not _overlap(a[2], a[3], b[2], b[3]):
                    continue
                pairs.add(tuple(sorted((a[1], b[1]))))
        for pair in pairs:
            counts[pair] += 1
        i = j
    if level == "dimension":
        codes = [(d.id, d.name) for d in guide.dimensions]
    else:
        codes = [(x.id, x.name) for x in guide.indicators]
    return Cooccurrence(guide, level, codes, counts)


def _overlap(a1: int | None, a2: int | None, b1: int | None, b2: int | None) -> bool:
    if a1 is None or b1 is None:
        return True
    return a1 < b2 and b1 < a2


def _common(a1: int | None, a2: int | None, b1: int | None, b2: int | None) -> tuple[int, int] | None:
    """The stretch two overlapping codings share; None = the whole segment."""
    if a1 is None:
        return None if b1 is None else (b1, b2)
    if b1 is None:
        return (a1, a2)
    return (max(a1, b1), min(a2, b2))


def cooccurring_passages(
    store: Store,
    a: str,
    b: str,
    level: str = "dimension",
    guide_id: str | None = None,
    context: bool = True,
) -> list[Passage]:
    """The passages behind a cell of the co-occurrence table: one per segment where codes `a`
    and `b` occur together as `cooccurrence` counts them, so the list is as long as the cell's
    count. The span is the stretch coded with both (from the first such stretch to the last);
    on the diagonal (`a == b`), the passages of the one code. In session and time order, with
    the segments spoken before and after."""
    column = _level_column(level)
    guide = study_guide(store, guide_id)
    rows = stored.codes_together(store, guide.id, column, a, b)
    out: list[dict] = []
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j].segment_id == rows[i].segment_id:
            j += 1
        group = rows[i:j]
        i = j
        firsts = [r for r in group if r.code == a]
        if a == b:
            pairs = [(r, None) for r in firsts]
            shared = [None if r.start_offset is None else (r.start_offset, r.end_offset) for r in firsts]
        else:
            pairs = [(x, y) for x in firsts for y in group
                     if y.code == b and _overlap(x.start_offset, x.end_offset, y.start_offset, y.end_offset)]
            shared = [_common(x.start_offset, x.end_offset, y.start_offset, y.end_offset) for x, y in pairs]
        if not pairs:
            continue
        span = None if None in shared else (min(s[0] for s in shared), max(s[1] for s in shared))
        x, y = pairs[0]
        out.append(_passage(x, span=span, other=None if y is None else (y.dimension_id, y.indicator_id)))
    if context and out:
        _add_context(store, out)
    return [Passage(**p) for p in out]


# --- printing ---------------------------------------------------------------------------------


def matrix_records(matrix: Matrix, indicators: bool = False) -> tuple[list[str], list[list]]:
    header = ["code", "level", *matrix.columns, "total"]
    body = []
    for r in matrix.with_indicators(None if indicators else set()):
        body.append([r.name, r.kind, *(matrix.count(r, c) for c in matrix.columns), matrix.count(r)])
    return header, body


def matrix_csv(matrix: Matrix, indicators: bool = False) -> str:
    header, body = matrix_records(matrix, indicators)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Respondent and case names are the user's words: none may start a spreadsheet formula.
    writer.writerow([neutralised(v) for v in header])
    writer.writerows([neutralised(v) for v in row] for row in body)
    return out.getvalue()


def matrix_table(matrix: Matrix, indicators: bool = False) -> str:
    header, body = matrix_records(matrix, indicators)
    label = "respondent" if matrix.by == "respondent" else "case"
    names = [("  " if row[1] == "indicator" else "") + row[0] for row in body]
    width = max([len("code"), *(len(n) for n in names)])
    widths = [max(len(str(h)), 3) for h in header[2:]]
    lines = [f"{matrix.guide.title} — coded passages by {label}"]
    lines.append(" ".join([f"{'code':<{width}}", *(f"{h:>{w}}" for h, w in zip(header[2:], widths))]))
    for name, row in zip(names, body):
        cells = [(str(v) if v else "·") for v in row[2:]]
        lines.append(" ".join([f"{name:<{width}}", *(f"{c:>{w}}" for c, w in zip(cells, widths))]))
    return "\n".join(lines) + "\n"
