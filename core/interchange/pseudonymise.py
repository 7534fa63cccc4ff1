"""Pseudonymisation: a study's list of names and their replacements, applied to exports.

The list lives in the study database (table `pseudonyms`). A name matches in any casing, with
or without diacritics ("Jurgen" covers "Jürgen", written with a ü or with u and a combining
diaeresis), with the possessive endings `'s`, `’s`, `s` and a bare apostrophe ("Johan's",
"Johans", "Kees'"), and however a keyboard, a word processor or a PDF wrote it:

- any apostrophe for another (O'Brien, O’Brien, Oʼbrien), any dash for a hyphen, and between the
  parts of a name a hyphen, an apostrophe, whitespace or nothing alike (Jan-Willem, Jan–Willem,
  Jan Willem, JanWillem);
- the Turkish dotless ı and dotted İ as i (Yıldız, YILDIZ, Yildiz);
- invisible characters (a soft hyphen, a zero-width space or joiner) as not there, so a name
  with one inside is found, as a reader sees it;
- compatibility forms as their letters (fullwidth Ｓａｎｎｅ, ligatures), as NFKC reads them.

It matches whole words only: "Jan" does not touch "Janssen" or "januari". A possessive keeps
its ending on the replacement ("Johans" -> "[collega 1]'s").

Replacing changes the length of a text, so `Replaced` carries the map from old positions to
new ones: codings keep their passages when their offsets are moved through it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from core.base.errors import UserError
from core.study.guide import Guide
from core.store.database import Store
from core.store.pseudonyms import delete_pseudonym, insert_pseudonym, listed_pseudonyms

DEFAULT_REPLACEMENT = "[name {n}]"


# What stands for an apostrophe or a hyphen in names as people type them, and the dotless i, which
# neither casing nor taking accents off turns into an i.
_SAME = str.maketrans({c: "'" for c in "’‘‛ʼʹ′`´＇"} | {c: "-" for c in "‐‑‒–—―−⁃﹘﹣－"} | {"ı": "i"})
# Invisible characters that are not format characters (category Cf, all invisible): the
# combining grapheme joiner, Hangul fillers, variation selectors.
_ALSO_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
                             "\U000e0100-\U000e01ef]")
# Between the parts of a listed name, in a folded text: none, or any run of these.
_SEPARATOR = r"[\s\-']*"
_SEPARATORS = re.compile(r"[\s\-']+")


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    """One character of a text as the names list reads it: none, one or more characters."""
    c = c.translate(_SAME)
    if unicodedata.category(c) == "Cf" or _ALSO_INVISIBLE.match(c):
        return ""
    letters = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", c))
    return "".join(d for d in letters if not unicodedata.combining(d)).casefold().translate(_SAME)


def _folded(text: str) -> tuple[str, Sequence[int]]:
    """The folded text, and for each of its characters the position of the character of `text` it
    comes from: a match in the folded text is the stretch of the original those positions span."""
    if text.isascii():
        return text.lower().replace("`", "'"), range(len(text))
    out: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        f = _fold_char(c)
        out.append(f)
        origin.extend([i] * len(f))
    return "".join(out), origin


def fold(text: str) -> str:
    return _folded(text)[0]


def _parts(name: str) -> list[str]:
    """A name folded, in the parts a hyphen, an apostrophe or whitespace separates."""
    return [part for part in _SEPARATORS.split(fold(name)) if part]


def _key(name: str) -> str:
    """A name as the list tells names apart: Jan-Willem, Jan Willem and JanWillem are one."""
    return "".join(_parts(name))


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
        self._replacement: dict[str, str] = {}
        parts: dict[str, list[str]] = {}
        for p in self.pseudonyms:
            key = _key(p.name)
            # A name without letters (none can be listed; a database edited by hand might hold
            # one) would match everywhere.
            if key and key not in self._replacement:
                self._replacement[key] = p.replacement
                parts[key] = _parts(p.name)
        if not parts:
            self._pattern = None
            return
        # Longest first, so "Jan de Vries" wins over "Jan" where both are listed.
        alternatives = [_SEPARATOR.join(re.escape(part) for part in parts[key])
                        for key in sorted(parts, key=lambda k: len(" ".join(parts[k])), reverse=True)]
        self._pattern = re.compile(
            r"(?<!\w)(?P<name>" + "|".join(alternatives) + r")(?P<suffix>'s|'|s)?(?!\w)"
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def replace(self, text: str) -> Replaced:
        if self._pattern is None or not text:
            return Replaced(text)
        folded, origin = _folded(text)
        out: list[str] = []
        spans: list[tuple[int, int, int, int]] = []
        last = 0
        length = 0
        for m in self._pattern.finditer(folded):
            start, end = origin[m.start()], origin[m.end() - 1] + 1
            out.append(text[last:start])
            length += start - last
            new = self._replacement[_SEPARATORS.sub("", m.group("name"))]
            if m.group("suffix") == "s":
                new += "'s"
            elif m.group("suffix"):
                new += text[origin[m.start("suffix")] : end]
            out.append(new)
            spans.append((start, end, length, length + len(new)))
            length += len(new)
            last = end
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
    key = _key(name)
    if any(_key(p.name) == key for p in existing):
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
    key = _key(name)
    for pseudonym_id, listed, _ in listed_pseudonyms(store):
        if _key(listed) == key:
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
    # A listed name and each of its parts: "Jan-Willem" covers "Jan–Willem", "Jan" and "Willem".
    listed = {k for p in pseudonyms(store) for k in (_key(p.name), *_parts(p.name))}
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
                or _key(word) in listed or key not in inside):
            continue
        out.append(Candidate(word, count, tuple(sorted(where[key]))))
    out.sort(key=lambda c: (-c.count, c.word))
    return out
