"""Pseudonymisation: a study's list of names and their replacements, applied to exports.

The list lives in the study database (table `pseudonyms`). A name matches in any casing, with
or without diacritics ("Jurgen" covers "Jürgen"), with its whitespace spelled any way, and with
the possessive endings `'s`, `’s`, `s` and a bare apostrophe ("Johan's", "Johans", "Kees'").
It matches whole words only: "Jan" does not touch "Janssen" or "januari". A possessive keeps
its ending on the replacement ("Johans" -> "[collega 1]'s").

Replacing changes the length of a text, so `Replaced` carries the map from old positions to
new ones: codings keep their passages when their offsets are moved through it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from core.base.errors import UserError
from core.study.guide import Guide
from core.store.database import Store
from core.store.pseudonyms import delete_pseudonym, insert_pseudonym, listed_pseudonyms

DEFAULT_REPLACEMENT = "[name {n}]"


def _fold_char(c: str) -> str:
    # One character in, one out, so positions in the folded text are positions in the original.
    base = unicodedata.normalize("NFD", c)[0]
    lower = base.lower()
    return lower if len(lower) == 1 else base


def fold(text: str) -> str:
    return "".join(_fold_char(c) for c in text)


@dataclass(frozen=True)
class Pseudonym:
    name: str
    replacement: str


@dataclass(frozen=True)
class Replaced:
    """A text after replacement, and where each replacement sits (old start/end, new start/end)."""

    text: str
    spans: tuple[tuple[int, int, int, int], ...] = ()

    def position(self, old: int, *, end: bool) -> int:
        """Where position `old` of the original text lands; a position inside a replaced name
        widens to the whole replacement, so a passage never keeps half a name."""
        delta = 0
        for old_start, old_end, new_start, new_end in self.spans:
            if old_start < old < old_end:
                return new_end if end else new_start
            if old <= old_start:
                break
            delta = new_end - old_end
        return old + delta


class Pseudonymiser:
    """Replaces every listed name; with an empty list it leaves texts as they are."""

    def __init__(self, pseudonyms: list[Pseudonym]):
        self.pseudonyms = list(pseudonyms)
        by_folded = {fold(" ".join(p.name.split())): p.replacement for p in self.pseudonyms}
        self._replacement = by_folded
        if not by_folded:
            self._pattern = None
            return
        # Longest first, so "Jan de Vries" wins over "Jan" where both are listed.
        alternatives = [
            r"\s+".join(re.escape(part) for part in name.split())
            for name in sorted(by_folded, key=len, reverse=True)
        ]
        self._pattern = re.compile(
            r"(?<!\w)(?P<name>" + "|".join(alternatives) + r")(?P<suffix>['’]s|['’]|s)?(?!\w)"
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def replace(self, text: str) -> Replaced:
        if self._pattern is None or not text:
            return Replaced(text)
        out: list[str] = []
        spans: list[tuple[int, int, int, int]] = []
        last = 0
        length = 0
        for m in self._pattern.finditer(fold(text)):
            out.append(text[last : m.start()])
            length += m.start() - last
            key = " ".join(m.group("name").split())
            new = self._replacement[key]
            suffix = text[m.start("suffix") : m.end("suffix")] if m.group("suffix") else ""
            if suffix in ("s", "S"):
                suffix = "'s"
            new += suffix
            out.append(new)
            spans.append((m.start(), m.end(), length, length + len(new)))
            length += len(new)
            last = m.end()
        if not spans:
            return Replaced(text)
        out.append(text[last:])
        return Replaced("".join(out), tuple(spans))

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self.replace(value).text


NO_PSEUDONYMS = Pseudonymiser([])


# the study's list ------------------------------------------------------------------------------


def pseudonyms(store: Store) -> list[Pseudonym]:
    return [Pseudonym(name, replacement) for _, name, replacement in listed_pseudonyms(store)]


def pseudonymiser(store: Store) -> Pseudonymiser:
    return Pseudonymiser(pseudonyms(store))


def add_pseudonym(store: Store, name: str, replacement: str | None = None) -> Pseudonym:
    name = " ".join(name.split())
    if not re.search(r"\w", name):
        raise UserError(f"{name!r} is not a name: it needs at least one letter")
    existing = pseudonyms(store)
    folded = fold(name)
    if any(fold(p.name) == folded for p in existing):
        raise UserError(f"{name!r} is already listed (see `fieldnote names list`)")
    if replacement is None:
        taken = {p.replacement for p in existing}
        n = len(existing) + 1
        while DEFAULT_REPLACEMENT.format(n=n) in taken:
            n += 1
        replacement = DEFAULT_REPLACEMENT.format(n=n)
    replacement = " ".join(replacement.split())
    if not replacement:
        raise UserError("the replacement is empty; give a text such as '[collega 1]'")
    # A replacement that holds a listed name would put that name back into every export.
    names = existing + [Pseudonym(name, replacement)]
    for p in names:
        if Pseudonymiser([p]).replace(replacement).spans:
            raise UserError(f"the replacement {replacement!r} contains the listed name {p.name!r}")
        if Pseudonymiser([Pseudonym(name, "")]).replace(p.replacement).spans:
            raise UserError(f"{name!r} appears in the replacement {p.replacement!r} of {p.name!r}")
    insert_pseudonym(store, name, replacement)
    return Pseudonym(name, replacement)


def remove_pseudonym(store: Store, name: str) -> None:
    folded = fold(" ".join(name.split()))
    for pseudonym_id, listed, _ in listed_pseudonyms(store):
        if fold(listed) == folded:
            delete_pseudonym(store, pseudonym_id)
            return
    raise UserError(f"{name!r} is not in the list (see `fieldnote names list`)")


# proposing names ----------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# Thesis speaker codes and the roles an interview names its speakers by.
_CODE = re.compile(r"^[A-Z][0-9]{0,2}$")
# Words that start sentences in the study's languages; a capitalised one is no name. Most common
# words are caught because they also occur in lower case; these are the ones that may not.
_COMMON = set(
    """
    ja nee nou dus maar en of want omdat als toen dan daar hier die dat deze dit wat wie hoe waar
    waarom wanneer welke ik je jij u we wij ze zij hij het de een er ook nog wel niet geen goed
    oke oké okay precies inderdaad misschien natuurlijk eigenlijk uiteindelijk vervolgens verder
    bijvoorbeeld sowieso zeker uhm uh ehm hm hmm mm dank bedankt hoi hallo dag interviewer
    geïnterviewde respondent yes no so but and or because if when then there here that this what
    who how where why which i you we they he she it the a an also well ok right thanks hello
    """.split()
)


@dataclass(frozen=True)
class Candidate:
    word: str
    count: int
    sessions: tuple[int, ...]


def _guide_words(guides: list[Guide]) -> set[str]:
    words: set[str] = set()
    for g in guides:
        words.update(fold(w) for w in _WORD.findall(g.text))
    return words


def _sentence_initial(text: str, at: int) -> bool:
    before = text[:at].rstrip()
    return not before or before[-1] in ".!?…:;\"'“‘(-–"


def suggest_names(store: Store, session_ids: list[int] | None = None) -> list[Candidate]:
    """Capitalised words in the transcripts that may be names: not in any guide or codebook of
    these sessions, never written in lower case, seen at least once inside a sentence (a word
    capitalised only where sentences start is a common word), and not yet listed. Spellings
    that differ only by accents are one candidate: the list matches them alike."""
    rows = store.sessions()
    ids = [r["id"] for r in rows] if session_ids is None else session_ids
    guides = [store.session_guide(i) for i in ids]
    known = _guide_words(guides)
    listed = {fold(w) for p in pseudonyms(store) for w in p.name.split()}
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    where: dict[str, set[int]] = {}
    inside: set[str] = set()
    lower: set[str] = set()
    for sid in ids:
        for seg in store.segments(sid):
            label = seg["speaker_label"] or ""
            texts = [seg["text"]]
            if label and not _CODE.match(label):
                texts.append(label)
            for n, text in enumerate(texts):
                for m in _WORD.finditer(text):
                    word = m.group().rstrip("'’-")
                    if word.endswith(("'s", "’s")):
                        word = word[:-2]
                    if not word:
                        continue
                    key = fold(word)
                    if word[0].islower():
                        lower.add(key)
                        continue
                    if word.isupper() and len(word) > 1:
                        continue  # acronyms name organisations, not people
                    counts[key] += 1
                    spellings.setdefault(key, Counter())[word] += 1
                    where.setdefault(key, set()).add(sid)
                    # A speaker's name as a label counts as seen inside a sentence.
                    if n > 0 or not _sentence_initial(text, m.start()):
                        inside.add(key)
    out = []
    for key, count in counts.items():
        word = spellings[key].most_common(1)[0][0]
        if (len(word) < 2 or _CODE.match(word) or key in known or key in lower or key in _COMMON
                or key in listed or key not in inside):
            continue
        out.append(Candidate(word, count, tuple(sorted(where[key]))))
    out.sort(key=lambda c: (-c.count, c.word))
    return out
