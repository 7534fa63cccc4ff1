"""Interview guides and codebooks, read from TOML data files.

A guide file holds one study: its questions (with cue phrases and probes) and its codebook
(dimensions, each with indicators and the phrases respondents use for them). Nothing about a
particular study lives in code; another study in another language is another file.

    [study]
    id = "koers-en-kansen"          # letters, digits, '-' and '_'
    title = "..."
    language = "nl"                 # Whisper language code
    planned_minutes = 60            # optional, default 60

    [[question]]
    number = 1                      # 1, 2, 3 ... in guide order
    text = "..."
    cues = ["..."]                  # optional: other ways an interviewer asks it (without
                                    # cues, each part of the text that can be said on its own)
    probes = ["..."]                # optional: follow-up prompts to show
    minutes = 3                     # optional: planned time

    [[dimension]]
    id = "vertrouwen"
    name = "Vertrouwen"
    definition = "..."
    colour = "#2ca02c"
    questions = [6, 7]              # the questions that ask about it
    drafted_questions = [8]         # optional: questions fieldnote linked to it by their words
                                    # (`codebook import` into a guide with no links); each counts
                                    # until passages coded under the question say otherwise.
                                    # Move a number to `questions` once checked.

      [[dimension.indicator]]
      id = "vertrouwen-verdeling"
      name = "..."
      phrases = ["...", "..."]      # what a respondent would say about it
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.base import paths
from core.base.errors import GuideError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")

_STUDY_KEYS = {"id", "title", "language", "planned_minutes", "description"}
_QUESTION_KEYS = {"number", "text", "cues", "probes", "minutes", "section"}
_DIMENSION_KEYS = {"id", "name", "definition", "colour", "questions", "drafted_questions", "indicator"}
_INDICATOR_KEYS = {"id", "name", "description", "phrases"}
_TOP_KEYS = {"study", "question", "dimension"}


@dataclass(frozen=True)
class Question:
    number: int
    text: str
    cues: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    minutes: float | None = None
    section: str | None = None
    dimension_ids: tuple[str, ...] = ()
    drafted_dimension_ids: tuple[str, ...] = ()  # linked by fieldnote from shared words, unchecked


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    dimension_id: str
    phrases: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    definition: str
    colour: str
    questions: tuple[int, ...]
    indicators: tuple[Indicator, ...]
    drafted_questions: tuple[int, ...] = ()


@dataclass(frozen=True)
class Guide:
    id: str
    title: str
    language: str
    planned_minutes: float
    questions: tuple[Question, ...]
    dimensions: tuple[Dimension, ...]
    source: str = ""
    text: str = field(default="", repr=False)

    def question(self, number: int | None) -> Question | None:
        if number is None:
            return None
        for q in self.questions:
            if q.number == number:
                return q
        return None

    def dimension(self, dimension_id: str) -> Dimension:
        for d in self.dimensions:
            if d.id == dimension_id:
                return d
        raise KeyError(dimension_id)

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for d in self.dimensions for i in d.indicators)

    def indicator(self, indicator_id: str) -> Indicator:
        for i in self.indicators:
            if i.id == indicator_id:
                return i
        raise KeyError(indicator_id)

    @property
    def digest(self) -> str:
        """Identifies this exact version of the guide (stored with each session)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]


def _fail(where: str, message: str) -> GuideError:
    return GuideError(f"{where}: {message}")


def _check_keys(where: str, table: dict, allowed: set[str]) -> None:
    if not isinstance(table, dict):
        raise _fail(where, f"must be a table, not {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _str(where: str, table: dict, key: str, required: bool = True) -> str:
    value = table.get(key)
    if value is None:
        if required:
            raise _fail(where, f"missing {key!r}")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(where, f"{key!r} must be a non-empty text")
    return value.strip()


def _str_list(where: str, table: dict, key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(where, f"{key!r} must be a list of non-empty texts")
    return tuple(v.strip() for v in value)


def parse_guide(text: str, source: str = "<guide>") -> Guide:
    """Validate and build a guide from TOML text; every error names `source` and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(source, f"not valid TOML: {exc}") from None
    _check_keys(source, data, _TOP_KEYS)

    study = data.get("study")
    if not isinstance(study, dict):
        raise _fail(source, "missing the [study] table")
    where = f"{source} [study]"
    _check_keys(where, study, _STUDY_KEYS)
    guide_id = _str(where, study, "id")
    if not _ID.match(guide_id):
        raise _fail(where, f"id {guide_id!r} may hold only letters, digits, '-', '_' and '.'")
    planned = study.get("planned_minutes", 60)
    if not isinstance(planned, (int, float)) or planned <= 0:
        raise _fail(where, "'planned_minutes' must be a positive number")

    raw_questions = data.get("question", [])
    if not isinstance(raw_questions, list) or not raw_questions:
        raise _fail(source, "a guide needs at least one [[question]]")
    raw_dimensions = data.get("dimension", [])
    if not isinstance(raw_dimensions, list):
        raise _fail(source, "[[dimension]] must be an array of tables")

    numbers: set[int] = set()
    for n, q in enumerate(raw_questions, 1):
        where = f"{source} question #{n}"
        _check_keys(where, q, _QUESTION_KEYS)
        number = q.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise _fail(where, "'number' must be a whole number from 1")
        where = f"{source} question {number}"
        if number in numbers:
            raise _fail(where, "duplicate question number")
        numbers.add(number)

    dimensions: list[Dimension] = []
    seen_dims: set[str] = set()
    seen_inds: set[str] = set()
    asked_by: dict[int, list[str]] = {}
    drafted_by: dict[int, list[str]] = {}
    for n, d in enumerate(raw_dimensions, 1):
        where = f"{source} dimension #{n}"
        _check_keys(where, d, _DIMENSION_KEYS)
        dim_id = _str(where, d, "id")
        where = f"{source} dimension {dim_id!r}"
        if not _ID.match(dim_id):
            raise _fail(where, "id may hold only letters, digits, '-', '_' and '.'")
        if dim_id in seen_dims:
            raise _fail(where, "duplicate dimension id")
        seen_dims.add(dim_id)
        colour = _str(where, d, "colour")
        if not _COLOUR.match(colour):
            raise _fail(where, f"colour {colour!r} is not of the form #RRGGBB")
        links = {}
        for key, into in (("questions", asked_by), ("drafted_questions", drafted_by)):
            qs = d.get(key, [])
            if not isinstance(qs, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in qs):
                raise _fail(where, f"'{key}' must be a list of question numbers")
            for x in qs:
                if x not in numbers:
                    raise _fail(where, f"'{key}' refers to question {x}, which the guide does not have")
                into.setdefault(x, []).append(dim_id)
            links[key] = tuple(qs)
        raw_inds = d.get("indicator", [])
        if not isinstance(raw_inds, list) or not raw_inds:
            raise _fail(where, "a dimension needs at least one [[dimension.indicator]]")
        indicators = []
        for m, i in enumerate(raw_inds, 1):
            iw = f"{where} indicator #{m}"
            _check_keys(iw, i, _INDICATOR_KEYS)
            ind_id = _str(iw, i, "id")
            iw = f"{where} indicator {ind_id!r}"
            if not _ID.match(ind_id):
                raise _fail(iw, "id may hold only letters, digits, '-', '_' and '.'")
            if ind_id in seen_inds:
                raise _fail(iw, "duplicate indicator id")
            seen_inds.add(ind_id)
            phrases = _str_list(iw, i, "phrases")
            if not phrases:
                raise _fail(iw, "needs at least one phrase in 'phrases'")
            indicators.append(
                Indicator(
                    id=ind_id,
                    name=_str(iw, i, "name"),
                    dimension_id=dim_id,
                    phrases=phrases,
                    description=_str(iw, i, "description", required=False),
                )
            )
        dimensions.append(
            Dimension(
                id=dim_id,
                name=_str(where, d, "name"),
                definition=_str(where, d, "definition", required=False),
                colour=colour.lower(),
                questions=links["questions"],
                indicators=tuple(indicators),
                drafted_questions=links["drafted_questions"],
            )
        )

    questions = []
    for q in sorted(raw_questions, key=lambda q: q["number"]):
        where = f"{source} question {q['number']}"
        minutes = q.get("minutes")
        if minutes is not None and (not isinstance(minutes, (int, float)) or minutes <= 0):
            raise _fail(where, "'minutes' must be a positive number")
        section = q.get("section")
        if section is not None and not isinstance(section, str):
            raise _fail(where, "'section' must be a text")
        questions.append(
            Question(
                number=q["number"],
                text=_str(where, q, "text"),
                cues=_str_list(where, q, "cues"),
                probes=_str_list(where, q, "probes"),
                minutes=minutes,
                section=section,
                dimension_ids=tuple(asked_by.get(q["number"], ())),
                drafted_dimension_ids=tuple(drafted_by.get(q["number"], ())),
            )
        )

    return Guide(
        id=guide_id,
        title=_str(f"{source} [study]", study, "title"),
        language=_str(f"{source} [study]", study, "language"),
        planned_minutes=float(planned),
        questions=tuple(questions),
        dimensions=tuple(dimensions),
        source=source,
        text=text,
    )


def resolve_guide_path(name_or_path: str) -> Path:
    """A guide's name (a file in the user's guides folder or in prompts/) or a path to one."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".toml" or "/" in name_or_path or candidate.exists():
        if candidate.is_file():
            return candidate
        raise GuideError(f"{name_or_path}: no such guide file")
    for folder in (paths.guides_dir(), paths.BUNDLED_GUIDES):
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    known = ", ".join(g for g in available_guides()) or "none"
    raise GuideError(
        f"no guide named {name_or_path!r} (known guides: {known}); "
        f"give a path to a .toml file or put it in {paths.guides_dir()}"
    )


def user_guide_path(guide_id: str, *, force: bool, replaced: str = "") -> Path:
    """Where fieldnote writes a guide made for the user (`guides new`, `codebook import`): in
    their guides folder. Refused when `guide_id` cannot name a guide, or when a guide of that
    name is there and `force` is not given (`replaced` says what replacing it would lose)."""
    from core.base.errors import UserError

    if not _ID.match(guide_id):
        raise UserError(f"{guide_id!r} cannot name a guide: use letters, digits, '-', '_' and '.'")
    target = paths.guides_dir() / f"{guide_id}.toml"
    if target.exists() and not force:
        raise UserError(f"{target} exists; add --force to replace it" + (f" ({replaced})" if replaced else ""))
    return target


def available_guides() -> list[str]:
    names: set[str] = set()
    for folder in (paths.guides_dir(), paths.BUNDLED_GUIDES):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.toml"))
    return sorted(names)


def load_guide(name_or_path: str | Path) -> Guide:
    path = resolve_guide_path(str(name_or_path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GuideError(f"{path}: cannot read the guide ({exc})") from None
    return parse_guide(text, source=str(path))
