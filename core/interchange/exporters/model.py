"""What every export format writes, read once from the store: sessions with their turns, coded
passages, memos, respondents and the codebook they were coded with.

Pseudonymisation and showing respondents by number happen here, so no format can leak what
this model does not hold. Offsets are code points in the text as exported (after replacement),
end exclusive; a coding of a whole segment spans the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.interchange.export import clock
from core.study.guide import Guide
from core.interchange.pseudonymise import NO_PSEUDONYMS, Pseudonymiser, pseudonymiser
from core.store.respondents import attributes, numbering
from core.store.review import bookmark_places
from core.store.database import Store
from core.interchange.exporters.registry import ExportOptions

# A thesis speaker code ("X", "Y1", "Q"): shown as typed. Other labels may be people's names.
SPEAKER_CODE = re.compile(r"^[A-Z][0-9]{0,2}$")


@dataclass(frozen=True)
class IndicatorView:
    id: str
    name: str
    description: str


@dataclass
class DimensionView:
    id: str
    name: str
    definition: str
    colour: str
    indicators: list[IndicatorView]
    memos: list["MemoView"] = field(default_factory=list)


@dataclass(frozen=True)
class MemoView:
    id: int
    target: str
    target_id: str | None
    text: str
    created_at: str


@dataclass(frozen=True)
class BookmarkView:
    """A moment marked during the interview, with the note typed then (if any)."""

    id: int
    at: float
    note: str | None
    created_at: str

    @property
    def time(self) -> str:
        return clock(self.at)


@dataclass
class CodingView:
    id: int
    dimension_id: str
    indicator_id: str
    dimension: str
    indicator: str
    colour: str
    start: int
    end: int
    whole: bool  # coded as the whole segment (no offsets stored)
    passage: str
    created_at: str | None
    memos: list[MemoView] = field(default_factory=list)


@dataclass
class SegmentView:
    id: int
    speaker: str  # interviewer | respondent
    code: str  # thesis layout: X, Y, Y1 ...
    name: str  # as shown: "Interviewer", "Respondent 3"
    start: float | None
    end: float | None
    text: str
    asks: int | None
    question: int | None
    codings: list[CodingView]
    memos: list[MemoView]
    pending: list[tuple[str, str, float]]  # suggestions not yet decided: dimension, indicator, score
    bookmarks: list[BookmarkView] = field(default_factory=list)  # marked after it began, before the next

    @property
    def time(self) -> str:
        return clock(self.start)


@dataclass
class SessionView:
    id: int
    title: str
    guide: Guide
    study: str
    respondent: str  # "3", "2, 3", or as recorded when respondent names are asked for
    respondent_numbers: tuple[int, ...]
    case: str | None
    started_at: str
    duration: float | None
    status: str
    audio_dir: Path | None
    speakers: dict[str, str]  # code -> name, in order of first turn
    segments: list[SegmentView]
    memos: list[MemoView]  # on the session itself
    # Which group's servers transcribed how many of its segments (None: all on this machine).
    servers: str | None = None

    @property
    def date(self) -> str:
        return self.started_at[:10]

    @property
    def length(self) -> str:
        return clock(self.duration) if self.duration else "—"

    @property
    def codings(self) -> list[tuple[SegmentView, CodingView]]:
        return [(s, c) for s in self.segments for c in s.codings]


@dataclass(frozen=True)
class RespondentView:
    number: int | None
    label: str  # "Respondent 3" or, when asked for, as recorded
    cases: tuple[str, ...]
    organisation: str | None
    role: str | None
    session_ids: tuple[int, ...]


@dataclass
class ExportSet:
    study: str
    sessions: list[SessionView]
    dimensions: list[DimensionView]
    respondents: list[RespondentView]
    options: ExportOptions
    pseudonymiser: Pseudonymiser
    study_id: str  # the guide's id: REFI-QDA GUIDs derive from it

    def dimension(self, dimension_id: str) -> DimensionView | None:
        return next((d for d in self.dimensions if d.id == dimension_id), None)


def _memo(row: dict, p: Pseudonymiser) -> MemoView:
    return MemoView(row["id"], row["target"], row["target_id"], p.text(row["text"]) or "", row["created_at"])


def _respondent_text(numbers: tuple[int, ...]) -> str:
    return ", ".join(str(n) for n in numbers)


def _speaker_names(
    segments: list[dict], numbers: tuple[int, ...], respondent_names: bool, p: Pseudonymiser
) -> dict[tuple[str, str], tuple[str, str]]:
    """(role, label) -> (code, shown name) for every speaker of a session.

    A label that is a thesis code keeps it; other labels (names, or none) get X/Y codes.
    Respondents are named by their numbers, in order of first turn when a session has as many
    interviewees as numbers. A code of another letter than its side's own (the observer "Q",
    whom imports store on the interviewer's side) is neither interviewer nor interviewee."""
    order: dict[str, list[str]] = {"interviewer": [], "respondent": []}
    for s in segments:
        labels = order.setdefault(s["speaker"], [])
        label = s["speaker_label"] or ""
        if label not in labels:
            labels.append(label)
    used = {label for labels in order.values() for label in labels if SPEAKER_CODE.match(label)}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for role, labels in order.items():
        letter = "X" if role == "interviewer" else "Y"
        others = [label for label in labels if not SPEAKER_CODE.match(label)]
        n = 0
        for label in others:
            code = letter if len(others) == 1 and letter not in used else ""
            while not code or code in used:
                n += 1
                code = f"{letter}{n}"
            used.add(code)
            out[(role, label)] = (code, "")
        for label in labels:
            if SPEAKER_CODE.match(label):
                out[(role, label)] = (label, "")
        own = [label for label in labels if out[(role, label)][0].startswith(letter)]
        for label in labels:
            code = out[(role, label)][0]
            if label not in own:
                name = f"Speaker {code}"
            elif role == "interviewer":
                name = "Interviewer" if len(own) == 1 else f"Interviewer {code}"
            elif numbers and len(numbers) == len(own):
                name = f"Respondent {numbers[own.index(label)]}"
            elif len(own) == 1:
                name = f"Respondent {numbers[0]}" if numbers else "Respondent"
            else:
                name = f"Respondent {code}"
            if respondent_names and label and not SPEAKER_CODE.match(label):
                name = p.text(label) or name
            out[(role, label)] = (code, name)
    return out


def _merge_codebook(guides: list[Guide], p: Pseudonymiser) -> list[DimensionView]:
    """One codebook for all sessions: the latest session's guide decides names and colours;
    dimensions and indicators only older guides have are kept after it."""
    dims: dict[str, DimensionView] = {}
    for guide in reversed(guides):
        for d in guide.dimensions:
            view = dims.get(d.id)
            if view is None:
                view = dims[d.id] = DimensionView(
                    d.id, p.text(d.name) or d.id, p.text(d.definition) or "", d.colour, []
                )
            have = {i.id for i in view.indicators}
            view.indicators += [
                IndicatorView(i.id, p.text(i.name) or i.id, p.text(i.description) or "")
                for i in d.indicators
                if i.id not in have
            ]
    return list(dims.values())


_FALLBACK_COLOUR = "#999999"


def _servers_used(segments: list[dict]) -> str | None:
    """The servers that transcribed segments, each as 'lab (https://...), whisper-1: 35 of 40 segments'."""
    used: dict[tuple[str, str | None], int] = {}
    for s in segments:
        if s.get("server"):
            used[(s["server"], s.get("model"))] = used.get((s["server"], s.get("model")), 0) + 1
    if not used:
        return None
    return "; ".join(f"{server}, {model or 'its default model'}: {n} of {len(segments)} segments"
                     for (server, model), n in sorted(used.items()))


def build(store: Store, session_ids: list[int], options: ExportOptions = ExportOptions()) -> ExportSet:
    p = pseudonymiser(store) if options.pseudonymise else NO_PSEUDONYMS
    numbers_of = numbering(store)
    rows = [store.session(i) for i in session_ids]
    guides = [store.session_guide(i) for i in session_ids]
    dimensions = _merge_codebook(guides, p)
    dim_by_id = {d.id: d for d in dimensions}
    ind_by_id = {(d.id, i.id): i for d in dimensions for i in d.indicators}
    for row in store.dimension_memos():
        if row["target_id"] in dim_by_id:
            dim_by_id[row["target_id"]].memos.append(_memo(row, p))

    sessions: list[SessionView] = []
    for row, guide in zip(rows, guides):
        sid = row["id"]
        numbers = numbers_of.get(sid, ())
        segments = store.segments(sid)
        ids = [s["id"] for s in segments]
        codings = store.codings_for(ids) if options.codings else {i: [] for i in ids}
        suggestions = store.suggestions_for(ids) if options.codings else {i: [] for i in ids}
        memos = [m for m in store.memos(sid) if m["target"] != "dimension"]
        memos_on: dict[tuple[str, str], list[MemoView]] = {}
        for m in memos:
            memos_on.setdefault((m["target"], str(m["target_id"])), []).append(_memo(m, p))
        speakers = _speaker_names(segments, numbers, options.respondent_names, p)
        seg_views = []
        for s in segments:
            replaced = p.replace(s["text"])
            text = replaced.text
            cviews = []
            for c in codings[s["id"]]:
                whole = c["start_offset"] is None
                old_len = len(s["text"])
                a = 0 if whole else max(0, min(c["start_offset"], old_len))
                b = old_len if whole or c["end_offset"] is None else max(a, min(c["end_offset"], old_len))
                start, end = replaced.position(a, end=False), replaced.position(b, end=True)
                dim = dim_by_id.get(c["dimension_id"])
                ind = ind_by_id.get((c["dimension_id"], c["indicator_id"]))
                cviews.append(
                    CodingView(
                        id=c["id"],
                        dimension_id=c["dimension_id"],
                        indicator_id=c["indicator_id"],
                        dimension=dim.name if dim else c["dimension_id"],
                        indicator=ind.name if ind else c["indicator_id"],
                        colour=dim.colour if dim else _FALLBACK_COLOUR,
                        start=start,
                        end=end,
                        whole=whole,
                        passage=text[start:end],
                        created_at=c["created_at"],
                        memos=memos_on.get(("coding", str(c["id"])), []),
                    )
                )
            pending = []
            for x in suggestions[s["id"]]:
                if x["state"] == "pending":
                    dim = dim_by_id.get(x["dimension_id"])
                    ind = ind_by_id.get((x["dimension_id"], x["indicator_id"]))
                    pending.append((dim.name if dim else x["dimension_id"], ind.name if ind else x["indicator_id"], x["score"]))
            code, name = speakers[(s["speaker"], s["speaker_label"] or "")]
            seg_views.append(
                SegmentView(
                    id=s["id"],
                    speaker=s["speaker"],
                    code=code,
                    name=name,
                    start=s["start"],
                    end=s["end"],
                    text=text,
                    asks=s["asks"],
                    question=s["question"],
                    codings=cviews,
                    memos=memos_on.get(("segment", str(s["id"])), []),
                    pending=pending,
                )
            )
        bookmarks = store.bookmarks(sid)
        if seg_views:
            for b, i in zip(bookmarks, bookmark_places(segments, bookmarks)):
                seg_views[i].bookmarks.append(BookmarkView(b["id"], b["at"], p.text(b["note"]), b["created_at"]))
        respondent = _respondent_text(numbers)
        if options.respondent_names and row["respondent"]:
            respondent = p.text(row["respondent"]) or respondent
        audio_dir = Path(row["audio_dir"]) if row["audio_dir"] else None
        sessions.append(
            SessionView(
                id=sid,
                title=p.text(row["title"]) or f"Session {sid}",
                guide=guide,
                study=p.text(guide.title) or guide.id,
                respondent=respondent,
                respondent_numbers=numbers,
                case=p.text(row["case_name"]),
                started_at=row["started_at"],
                duration=row["duration"],
                status=row["status"],
                audio_dir=audio_dir,
                speakers={code: name for code, name in dict.fromkeys(speakers.values())},
                segments=seg_views,
                memos=memos_on.get(("session", str(sid)), []) + memos_on.get(("session", "None"), []),
                servers=_servers_used(segments),
            )
        )

    return ExportSet(
        study=sessions[-1].study if sessions else "",
        sessions=sessions,
        dimensions=dimensions,
        respondents=_respondents(store, sessions, options, p),
        options=options,
        pseudonymiser=p,
        study_id=sessions[-1].guide.id if sessions else "",
    )


def codebook_only(guide: Guide) -> ExportSet:
    """A guide's codebook and nothing else, for a .qdc export without sessions."""
    return ExportSet(guide.title, [], _merge_codebook([guide], NO_PSEUDONYMS), [], ExportOptions(),
                     NO_PSEUDONYMS, guide.id)


def _respondents(
    store: Store, sessions: list[SessionView], options: ExportOptions, p: Pseudonymiser
) -> list[RespondentView]:
    attrs = attributes(store)
    seen: dict[int, dict] = {}
    for s in sessions:
        for n in s.respondent_numbers:
            entry = seen.setdefault(n, {"cases": [], "sessions": [], "label": f"Respondent {n}"})
            if s.case and s.case not in entry["cases"]:
                entry["cases"].append(s.case)
            entry["sessions"].append(s.id)
            if options.respondent_names and len(s.respondent_numbers) == 1 and s.respondent:
                entry["label"] = s.respondent
    out = []
    for n in sorted(seen):
        a = attrs.get(n)
        out.append(
            RespondentView(
                number=n,
                label=seen[n]["label"],
                cases=tuple(seen[n]["cases"]),
                organisation=p.text(a.organisation) if a else None,
                role=p.text(a.role) if a else None,
                session_ids=tuple(seen[n]["sessions"]),
            )
        )
    return out


def pieces(segment: SegmentView) -> list[tuple[int, int, list[CodingView]]]:
    """The segment's text cut at every coding boundary: (start, end, codings covering it)."""
    cuts = {0, len(segment.text)}
    for c in segment.codings:
        cuts.update((c.start, c.end))
    bounds = sorted(cuts)
    out = []
    for a, b in zip(bounds, bounds[1:]):
        if a == b:
            continue
        covering = sorted(
            (c for c in segment.codings if c.start <= a and b <= c.end and c.start < c.end),
            key=lambda c: (c.start, -c.end, c.id),
        )
        out.append((a, b, covering))
    return out
