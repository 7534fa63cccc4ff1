"""How far two coders agree: the codings in this database, and a colleague's in a REFI-QDA project.

The usual check of a codebook: a second coder codes the same transcripts without seeing the
first coder's codes (`fieldnote export --format qdpx --no-codings` gives them that), in fieldnote
or in ATLAS.ti, NVivo, MAXQDA or QualCoder, and brings back a `.qdpx` project. fieldnote then
compares the two, turn by turn:

- A source in the project is this database's session whose exported text it is: the text
  fieldnote wrote for it, with or without pseudonyms and respondent names, and with Windows line
  ends if a program gave it back so. A source whose text was changed (or that fieldnote never
  wrote) is named and left out: positions in it cannot be laid onto the turns.
- A code in the project counts for the dimension it belongs to: its top-level code is the
  dimension (by GUID, as fieldnote exports it, or by name), or it carries an indicator's name.
  It counts for an indicator by GUID, or by the indicator's name.
  Codes of neither kind are named and left out.
- The unit is a turn (segment). The colleague coded a turn with a dimension when one of their
  selections with that dimension's codes covers at least half of the turn or at least half of
  the selection lies in it; this database coded it when a coding of the turn has the dimension.
- Turns counted: every respondent turn of the compared sessions, and any other turn either coder
  coded.

Per dimension (or per indicator, where a code for a dimension alone counts for none of its
indicators): the turns each coder coded, both, the share of agreement among turns either one
coded, and Cohen's kappa over all turns counted (agreement beyond chance: 1 is full agreement,
0 no more than chance; undefined when both coders coded none of the turns with it, or all of
them). Over all dimensions: the same shares pooled, and the pooled kappa (the mean observed
agreement against the mean chance agreement, De Vries et al. 2008).

A turn only one of them coded is settled by taking the colleague's coding (`take_theirs`) or
dropping this database's (`drop_mine`), each one undoable edit of the session.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from core.base.errors import UserError
from core.interchange.export import cell, clock
from core.interchange.exporters import ExportOptions
from core.interchange.exporters.model import ExportSet, SessionView, build
from core.interchange.exporters.refi import code_guid, guid, source_text
from core.interchange.exporters.tables import neutralised
from core.interchange.projects import Project, Selection, read_project
from core.store.database import Store

EXPORT_USER = "fieldnote"  # the user fieldnote's own exports write their codings as
COLLEAGUE = "the colleague"  # how a coder is named whose project came from fieldnote


@dataclass
class CategoryAgreement:
    label: str  # the dimension's name, or "dimension / indicator"
    here: int  # turns this database coded with it
    there: int  # turns the colleague coded with it
    both: int
    turns: int  # turns counted

    @property
    def either(self) -> int:
        return self.here + self.there - self.both

    @property
    def agreement(self) -> float | None:
        """The share of the turns either coder coded with it that both coded with it."""
        return self.both / self.either if self.either else None

    @property
    def observed(self) -> float:
        return (self.turns - self.either + self.both) / self.turns if self.turns else 1.0

    @property
    def chance(self) -> float:
        if not self.turns:
            return 1.0
        p, q = self.here / self.turns, self.there / self.turns
        return p * q + (1 - p) * (1 - q)

    @property
    def kappa(self) -> float | None:
        return kappa(self.observed, self.chance)


def kappa(observed: float, chance: float) -> float | None:
    return None if chance >= 1 else (observed - chance) / (1 - chance)


@dataclass
class Disagreement:
    session_id: int
    segment_id: int
    turn: int  # 1-based, in the session
    time: str | None  # None: the session has no times (an imported transcript)
    speaker: str
    text: str
    category: str  # as CategoryAgreement.label
    coded_by: str  # "here" or the colleague's name
    dimension_id: str = ""
    indicator_id: str | None = None  # at the indicator level
    coding_ids: tuple[int, ...] = ()  # coded here only: the codings here that make it
    their_indicator: str | None = None  # coded there only: the indicator they used, if their code names one


@dataclass
class Agreement:
    path: Path
    coder: str  # the colleague's name in the project
    sessions: list[tuple[int, str]]  # (session id, source name) compared
    unmatched: list[str]  # sources left out: no session's text
    unknown_codes: list[str]  # codes of the colleague's left out: no dimension
    categories: list[CategoryAgreement]  # per dimension, or per indicator
    disagreements: list[Disagreement] = field(default_factory=list)
    level: str = "dimension"  # or "indicator"

    @property
    def turns(self) -> int:
        return self.categories[0].turns if self.categories else 0

    @property
    def totals(self) -> tuple[int, int, int]:
        """Turns coded here, there and both, summed over the categories."""
        rows = self.categories
        return sum(d.here for d in rows), sum(d.there for d in rows), sum(d.both for d in rows)

    @property
    def pooled_agreement(self) -> float | None:
        either = sum(d.either for d in self.categories)
        return sum(d.both for d in self.categories) / either if either else None

    @property
    def pooled_kappa(self) -> float | None:
        if not self.categories:
            return None
        n = len(self.categories)
        return kappa(sum(d.observed for d in self.categories) / n, sum(d.chance for d in self.categories) / n)


def _coder(project: Project, study_keys: set[str], asked: str | None) -> tuple[str, set[str | None]]:
    """The colleague's name and the user GUIDs whose codings are theirs."""
    coding_users = {s.user for src in project.sources for s in src.selections}
    if not coding_users:
        raise UserError(f"{project.path}: the project holds no codings to compare (an export made with "
                        "--no-codings that nobody has coded yet?)")
    names = {u: project.users.get(u, u) if u else "(no user)" for u in coding_users}
    if asked is not None:
        chosen = {u for u, n in names.items() if n.casefold() == asked.casefold()}
        if not chosen:
            known = ", ".join(sorted(set(names.values()))) or "none"
            raise UserError(f"{project.path}: no codings by '{asked}' in the project (its coders: {known})")
        return asked, chosen
    ours = {guid(key, "user", EXPORT_USER) for key in study_keys}
    others = {u for u in coding_users if u not in ours and names[u] != EXPORT_USER}
    if not others:
        # Only fieldnote's own user: a colleague who coded in fieldnote and exported.
        return COLLEAGUE, coding_users
    if len({names[u] for u in others}) > 1:
        listed = ", ".join(sorted({names[u] for u in others}))
        raise UserError(f"{project.path}: the project holds codings by several coders ({listed}); "
                        "choose one with --coder NAME")
    return names[next(iter(others))], others


def _variants(store: Store, session_ids: list[int]) -> Iterator[ExportSet]:
    """The sessions as each export could have written them: plain, with respondent names, and
    both pseudonymised (when the study has names to pseudonymise), built as they are asked for."""
    from core.interchange.pseudonymise import pseudonyms

    combos = [(False, False), (False, True)]
    if pseudonyms(store):
        combos += [(True, False), (True, True)]
    for p, r in combos:
        yield build(store, session_ids, ExportOptions(pseudonymise=p, respondent_names=r))


def _code_map(project: Project, export: ExportSet) -> dict[str, tuple[str, str | None] | None]:
    """Each of the project's codes -> (dimension id, indicator id or None) it counts for, or None."""
    key = export.study_id or "fieldnote"
    by_guid: dict[str, tuple[str, str | None]] = {code_guid(key, d.id): (d.id, None) for d in export.dimensions}
    by_guid.update({code_guid(key, d.id, i.id): (d.id, i.id) for d in export.dimensions for i in d.indicators})
    dim_names = {d.name.casefold(): d.id for d in export.dimensions}
    indicators: dict[str, list[tuple[str, str]]] = {}  # name -> (dimension id, indicator id)
    for d in export.dimensions:
        for i in d.indicators:
            indicators.setdefault(i.name.casefold(), []).append((d.id, i.id))

    def top(g: str) -> str:
        seen = set()
        while project.codes.get(g, ("", None))[1] and g not in seen:
            seen.add(g)
            g = project.codes[g][1]
        return g

    out: dict[str, tuple[str, str | None] | None] = {}
    for g, (name, _) in project.codes.items():
        if g in by_guid:
            out[g] = by_guid[g]
            continue
        head = top(g)
        dimension = by_guid[head][0] if head in by_guid else dim_names.get(project.codes[head][0].casefold())
        named = indicators.get(name.casefold(), [])
        if dimension is not None:
            # The indicator of that dimension with the code's name, if there is one.
            out[g] = (dimension, next((i for d, i in named if d == dimension), None))
        elif len(named) == 1:
            out[g] = named[0]
        else:
            out[g] = None
    return out


def _covers(sel: Selection, start: int, end: int) -> bool:
    overlap = min(sel.end, end) - max(sel.start, start)
    if overlap <= 0:
        return False
    return overlap * 2 >= (end - start) or overlap * 2 >= (sel.end - sel.start)


def compare(store: Store, path: Path, *, coder: str | None = None, sessions: list[int] | None = None,
            level: str = "dimension") -> Agreement:
    """The agreement between this database's codings and the colleague's in the project, per
    dimension, or per indicator (`level="indicator"`)."""
    project = read_project(path)
    ids = sessions if sessions is not None else [r["id"] for r in store.sessions()]
    for i in ids:
        store.session(i)  # an unknown session id is the user's mistake, named
    if not ids:
        raise UserError("no sessions in this database to compare with")

    # Each source against the sessions as exported plain, then with names or pseudonyms only for
    # the sources still unmatched: most projects line up with the first.
    plain: ExportSet | None = None
    found: dict[int, tuple[SessionView, dict[int, int]]] = {}  # index of the source -> its session
    for export in _variants(store, ids):
        plain = plain or export
        texts: dict[str, list[tuple[str, SessionView, dict[int, int]]]] = {}
        for view in export.sessions:
            st = source_text(view)
            source_guid = guid(export.study_id or "fieldnote", "source", view.id)
            texts.setdefault(st.text, []).append((source_guid, view, st.starts))
        for n, src in enumerate(project.sources):
            hits = texts.get(src.text, []) if src.text is not None and n not in found else []
            if hits:
                # A transcript imported twice has the same text twice: the source fieldnote wrote
                # for a session keeps that session's GUID (QDA programs keep it too); else the first.
                _, view, starts = next((h for h in hits if h[0] == src.guid), hits[0])
                found[n] = (view, starts)
        if len(found) == len(project.sources):
            break
    matched = [(src, *found[n]) for n, src in enumerate(project.sources) if n in found]
    unmatched = [src.name for n, src in enumerate(project.sources) if n not in found]
    if not matched:
        raise UserError(f"{path}: none of its {len(project.sources)} sources is the text of a session here "
                        "(a transcript edited since it was exported no longer lines up)")

    name, users = _coder(project, {plain.study_id or "fieldnote"}, coder)
    code_of = _code_map(project, plain)
    unknown = sorted({project.codes.get(s.code, (s.code, None))[0] or s.code
                      for src, _, _ in matched for s in src.selections
                      if s.user in users and code_of.get(s.code) is None})
    labels: dict = {d.id: d.name for d in plain.dimensions}
    if level == "indicator":
        labels = {(d.id, i.id): f"{d.name} / {i.name}" for d in plain.dimensions for i in d.indicators}

    # Per category (a dimension id, or a (dimension id, indicator id)), the turns each coder coded.
    here_sets: dict = {k: set() for k in labels}
    there_sets: dict = {k: set() for k in labels}
    counted: set[int] = set()
    where: dict[int, tuple[SessionView, int]] = {}
    theirs: dict[int, set[tuple[str, str | None]]] = {}  # turn -> the colleague's (dimension, indicator)
    for src, view, starts in matched:
        for index, seg in enumerate(view.segments):
            where[seg.id] = (view, index)
            start = starts[seg.id]
            end = start + len(seg.text)
            here = {(c.dimension_id, c.indicator_id) for c in seg.codings}
            there = {code_of[s.code] for s in src.selections
                     if s.user in users and code_of.get(s.code) is not None and _covers(s, start, end)}
            theirs[seg.id] = there
            if seg.speaker == "respondent" or here or there:
                counted.add(seg.id)
            for coded, sets in ((here, here_sets), (there, there_sets)):
                for d, i in coded:
                    if level == "dimension":
                        sets.setdefault(d, set()).add(seg.id)
                    elif i is not None:  # a code for the dimension alone names no indicator
                        sets.setdefault((d, i), set()).add(seg.id)

    dims, disagreements = [], []
    for k in dict.fromkeys(list(labels) + list(here_sets) + list(there_sets)):
        here, there = here_sets.get(k, set()), there_sets.get(k, set())
        label = labels.get(k, k if isinstance(k, str) else " / ".join(k))
        dims.append(CategoryAgreement(label, len(here), len(there), len(here & there), len(counted)))
        dimension_id, indicator_id = (k, None) if isinstance(k, str) else k

        def fits(d: str, i: str | None) -> bool:
            return d == dimension_id and (indicator_id is None or i == indicator_id)

        for seg_id, by in [(s, "here") for s in here - there] + [(s, name) for s in there - here]:
            view, index = where[seg_id]
            seg = view.segments[index]
            mine = tuple(c.id for c in seg.codings if fits(c.dimension_id, c.indicator_id)) if by == "here" else ()
            used = sorted(i for d, i in theirs[seg_id] if i is not None and fits(d, i)) if by != "here" else []
            disagreements.append(Disagreement(view.id, seg.id, index + 1, clock(seg.start) if seg.start is not None else None,
                                              seg.name, seg.text,
                                              label, by, dimension_id, indicator_id, mine,
                                              used[0] if used else None))
    disagreements.sort(key=lambda x: (x.session_id, x.turn, x.category))
    return Agreement(path, name, [(view.id, src.name) for src, view, _ in matched], unmatched, unknown,
                     dims, disagreements, level)


def take_theirs(store: Store, disagreement: Disagreement) -> int:
    """Settle a turn only the colleague coded their way: code it here with the indicator they
    used (one undoable step). Returns the coding's id."""
    from core.store import review

    if disagreement.coded_by == "here":
        raise UserError("this turn was coded here only: there is nothing of theirs to take")
    if disagreement.their_indicator is None:
        raise UserError(f"{disagreement.coded_by}'s code on this turn names the dimension alone, no indicator: "
                        "code the turn in the review screen")
    return review.add_coding(store, disagreement.segment_id, disagreement.their_indicator)


def drop_mine(store: Store, disagreement: Disagreement) -> int:
    """Settle a turn only this database coded their way: remove those codings (one undoable
    step). Returns how many were removed."""
    from core.store import review

    if disagreement.coded_by != "here" or not disagreement.coding_ids:
        raise UserError("this turn was not coded here: there is no coding of yours to drop")
    review.remove_codings(store, disagreement.coding_ids)
    return len(disagreement.coding_ids)



# --- as text and as CSV ---------------------------------------------------------------------------


def share_text(value: float | None) -> str:
    """A share as a whole percentage, '-' where it is undefined."""
    return "-" if value is None else f"{value:.0%}"


def kappa_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def agreement_table(result: Agreement) -> str:
    head = result.level
    width = min(60, max([len(head), len("all (pooled)")] + [len(d.label) for d in result.categories]))
    lines = [
        f"Agreement between the codings here and {result.coder}'s in {result.path.name}, turn by turn",
        "sessions: " + ", ".join(f"{sid} ({name})" for sid, name in result.sessions),
        f"turns counted: {result.turns} (respondent turns, and any other turn either coder coded)",
        "",
        f"{head:<{width}} {'here':>5} {'there':>6} {'both':>5} {'agree':>6} {'kappa':>6}",
    ]
    for d in result.categories:
        lines.append(f"{cell(d.label, width)} {d.here:>5} {d.there:>6} {d.both:>5} {share_text(d.agreement):>6} "
                     f"{kappa_text(d.kappa):>6}")
    here, there, both = result.totals
    lines.append(f"{'all (pooled)':<{width}} {here:>5} {there:>6} {both:>5} {share_text(result.pooled_agreement):>6} "
                 f"{kappa_text(result.pooled_kappa):>6}")
    lines += ["", f"agree: of the turns either coder coded with the {head}, the share both did. kappa: Cohen's, "
              "over all turns counted (pooled: De Vries et al. 2008); '-' where it is undefined."]
    return "\n".join(lines) + "\n"


def disagreements_text(result: Agreement) -> str:
    lines = [f"{len(result.disagreements)} disagreements (coded by one coder only):"]
    for x in result.disagreements:
        who = "here" if x.coded_by == "here" else f"by {x.coded_by}"
        at = f", {x.time}" if x.time else ""
        lines.append(f"  session {x.session_id}, turn {x.turn}{at}, {x.speaker}: {x.category}, coded {who} only")
        lines.append(f"      {cell(' '.join(x.text.split()), 90).rstrip()}")
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Names and passages are the user's words: none may start a spreadsheet formula.
    writer.writerow(header)
    writer.writerows([neutralised(v) for v in row] for row in rows)
    return out.getvalue()


def agreement_csv(result: Agreement) -> str:
    """One row per dimension (or indicator) and a pooled row; shares and kappa as numbers, empty
    where undefined."""
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    rows = [[d.label, d.here, d.there, d.both, d.turns, number(d.agreement), number(d.kappa)]
            for d in result.categories]
    here, there, both = result.totals
    rows.append(["all (pooled)", here, there, both, result.turns, number(result.pooled_agreement),
                 number(result.pooled_kappa)])
    return _csv([result.level, "here", "there", "both", "turns", "agreement", "kappa"], rows)


def disagreements_csv(result: Agreement) -> str:
    rows = [[x.session_id, x.turn, x.time or "", x.speaker, x.category,
             "here" if x.coded_by == "here" else x.coded_by, x.text] for x in result.disagreements]
    return _csv(["session", "turn", "time", "speaker", result.level, "coded by", "text"], rows)
