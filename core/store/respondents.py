"""Respondents by number, and what the study records about each (organisation, role).

A session's `respondent` is what the researcher typed: "3", "2, 3" for two interviewees at
once (as the thesis's interview 2), or a name. Exports show respondents by number. Numbers
typed are kept; each distinct other value gets the next free number, in session order, so the
numbering is stable while sessions are added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.base.errors import UserError
from core.store.database import Store

_PREFIX = r"(?:(?:respondent|resp\.?|r)\s*)?"
_NUMBERS = re.compile(
    rf"^\s*{_PREFIX}(\d+)((?:\s*(?:,|&|\+|/|en|and)\s*{_PREFIX}\d+)*)\s*$", re.IGNORECASE
)


def parse_numbers(value: str | None) -> tuple[int, ...] | None:
    """The respondent numbers a value names ("3", "R3", "2, 3", "2 en 3"), or None."""
    if value is None:
        return None
    m = _NUMBERS.match(value)
    if not m:
        return None
    return tuple(int(n) for n in re.findall(r"\d+", value))


def numbering(store: Store) -> dict[int, tuple[int, ...]]:
    """Session id -> the numbers of its respondents (empty when none was recorded)."""
    rows = list(store.db.query("select id, respondent from sessions order by id"))
    out: dict[int, tuple[int, ...]] = {}
    used = {n for r in rows for n in (parse_numbers(r["respondent"]) or ())}
    assigned: dict[str, int] = {}
    next_free = 1
    for r in rows:
        value = r["respondent"]
        numbers = parse_numbers(value)
        if numbers is not None:
            out[r["id"]] = numbers
            continue
        key = " ".join((value or "").split()).casefold()
        if not key:
            out[r["id"]] = ()
            continue
        if key not in assigned:
            while next_free in used:
                next_free += 1
            assigned[key] = next_free
            used.add(next_free)
        out[r["id"]] = (assigned[key],)
    return out


@dataclass(frozen=True)
class Respondent:
    number: int
    organisation: str | None = None
    role: str | None = None


def attributes(store: Store) -> dict[int, Respondent]:
    return {
        r["number"]: Respondent(r["number"], r["organisation"], r["role"])
        for r in store.db.query("select number, organisation, role from respondents order by number")
    }


def set_attributes(store: Store, number: int, *, organisation: str | None = None, role: str | None = None) -> Respondent:
    if number < 1:
        raise UserError(f"{number} is not a respondent number; numbers start at 1")
    current = attributes(store).get(number, Respondent(number))
    updated = Respondent(
        number,
        current.organisation if organisation is None else (organisation.strip() or None),
        current.role if role is None else (role.strip() or None),
    )
    with store.db.atomic():
        store.db["respondents"].upsert(
            {"number": number, "organisation": updated.organisation, "role": updated.role}, pk="number"
        )
    return updated
