"""How fieldnote reads speech in one language, from a data file (prompts/languages/CODE.toml).

Guide tracking and code suggestions need a little of each language: its function words and
fillers (they carry no topic), how a clause that asks something opens, and how the forms of
one word are brought to one stem. None of it lives in code: another language is another file,
found by the guide's language code in the user's `languages` folder first, then among the
bundled ones. A language without a file is read plainly (words as they are, a question only
where there is a question mark), which works, less well; `fieldnote doctor` and `fieldnote
guides` say so.

    language = "nl"
    name = "Nederlands"
    stopwords = "aan al alle ..."          # words separated by white space
    question_openers = "hoe wat welke ..."
    question_pairs = ["in hoeverre"]      # optional
    clause_fillers = "ja nee oke ..."
    conjunctions = "en maar want of dus"
    asking = ['\\bbenieuwd\\b', ...]       # optional: regular expressions
    [stemming]                             # optional: no stemming without it
    forms = { stond = "staan" }            # irregular forms, to the word they are a form of
    min_stem = 4
    passes = 1                             # how many endings may come off, one after the other
    endings = ["en", "es", "e", "s"]
    replace = { heden = "heid" }
    single_final = "bdfgklmnprst"
    single_vowels = "aeou"
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from core.base import paths
from core.base.errors import UserError

_WORD = re.compile(r"\w+", re.UNICODE)
_COMBINING = re.compile(r"[\u0300-\u036f]+")
_CLAUSE = re.compile(r"[.,;:!…]+")
_IN_WORD_BRACKETS = re.compile(r"\((\w+)\)(?=\w)")  # "(netwerk)samenwerking"
_SHORT_BRACKETS = re.compile(r"\(\s*(\S+(?:\s+\S+)?)\s*\)")  # "the (network) collaboration"
_SENTENCE_PARTS = re.compile(r"[?.;:!…]+(?=\s|$)|(?:^|\s)\(|\)(?=\s|$|[?.,;:!…])")
_CODE = re.compile(r"^[a-z]{2,3}$")

_KEYS = {"language", "name", "stopwords", "question_openers", "question_pairs", "clause_fillers",
         "conjunctions", "asking", "stemming"}
_STEMMING_KEYS = {"forms", "min_stem", "passes", "endings", "replace", "single_final", "single_vowels"}


class LanguageError(UserError):
    """A language file that cannot be read or is not as described."""


def normalise(text: str) -> str:
    """Lowercase, accents off, punctuation to spaces: what matching compares."""
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    return normalise(text).split()


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    stopwords: frozenset[str] = frozenset()
    question_openers: frozenset[str] = frozenset()
    question_pairs: tuple[tuple[str, ...], ...] = ()
    clause_fillers: frozenset[str] = frozenset()
    conjunctions: frozenset[str] = frozenset()
    asking: tuple[re.Pattern, ...] = ()
    forms: dict[str, str] = field(default_factory=dict, hash=False)  # irregular form -> its word
    min_stem: int = 4
    passes: int = 1
    endings: tuple[str, ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    single_final: str = ""
    single_vowels: str = ""
    source: str = ""  # the file it came from; "" for the plain reading of a language without one
    _stems: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def has_word_lists(self) -> bool:
        return bool(self.source)

    def stem(self, word: str) -> str:
        """A light stem of a normalised word: the forms of one word meet."""
        hit = self._stems.get(word)
        if hit is not None:
            return hit
        out = self.forms.get(word, word)
        if len(out) > self.min_stem:
            for ending, instead in self.replace:
                if out.endswith(ending):
                    out = out[: -len(ending)] + instead
                    break
            else:
                for _ in range(self.passes):
                    for ending in self.endings:
                        if out.endswith(ending) and len(out) - len(ending) >= self.min_stem:
                            out = out[: -len(ending)]
                            break
                    else:
                        break
            if self.single_final and len(out) > 1 and out[-1] == out[-2] and out[-1] in self.single_final:
                out = out[:-1]
            if self.single_vowels:
                out = _single_vowels(out, self.single_vowels)
        if len(self._stems) > 65536:
            self._stems.clear()
        self._stems[word] = out
        return out

    def is_content(self, word: str) -> bool:
        """A normalised word that says something (not a function word, a filler or a number)."""
        return word not in self.stopwords and len(word) > 2 and not word.isdigit()

    def stems_of(self, tokens: list[str]) -> list[str]:
        return [self.stem(w) for w in tokens if self.is_content(w)]

    def content_stems(self, text: str) -> list[str]:
        return self.stems_of(words(text))

    def clauses(self, text: str, min_words: int = 3) -> list[str]:
        """The parts of a written question that an interviewer may say on their own: its
        sentences, an aside in brackets, and within a sentence the pieces between commas and
        before a conjunction. A piece without a word of substance ("How are, or were, things
        with trust") joins the piece after it; pieces shorter than `min_words` words are left
        out. A text with none is its own clause."""
        # A word or two in brackets is read as part of the sentence ("the (network)
        # collaboration", "(netwerk)samenwerking").
        text = _SHORT_BRACKETS.sub(r"\1", _IN_WORD_BRACKETS.sub(r"\1 ", text))
        between = r",\s*"
        if self.conjunctions:
            between += r"|\s+(?:" + "|".join(map(re.escape, sorted(self.conjunctions))) + r")\s+"
        out: list[str] = []
        for sentence in _SENTENCE_PARTS.split(text):
            pieces = re.split(f"({between})", sentence, flags=re.IGNORECASE)
            held = ""
            for k in range(0, len(pieces), 2):
                held += pieces[k]
                if k + 1 < len(pieces) and sum(self.is_content(w) for w in words(held)) < 1:
                    held += pieces[k + 1]  # nothing on its own: it goes with the next piece
                    continue
                out.append(held)
                held = ""
        out = [" ".join(part.split()).strip(" ?.!,;:…") for part in out
               if sum(len(w) > 1 for w in words(part)) >= min_words]
        return list(dict.fromkeys(out)) or [" ".join(text.split())]

    def asks_something(self, text: str) -> bool:
        """Whether speech is put as a question: a question mark, a clause that opens with a
        question word or verb (after its fillers), or words that announce a question."""
        if "?" in text:
            return True
        for clause in _CLAUSE.split(text.lower()):
            plain = normalise(clause)
            if any(p.search(plain) for p in self.asking):
                return True
            toks = plain.split()
            for start, tok in enumerate(toks):
                if start and tok not in self.conjunctions:
                    continue
                rest = toks[start:]
                while rest and rest[0] in self.clause_fillers:
                    rest = rest[1:]
                if not rest:
                    continue
                if rest[0] in self.question_openers:
                    return True
                if any(tuple(rest[: len(pair)]) == pair for pair in self.question_pairs):
                    return True
        return False


@functools.lru_cache(maxsize=256)
def _single_vowels(word: str, vowels: str) -> str:
    return re.sub(f"([{re.escape(vowels)}])\\1", r"\1", word)


def _word_set(where: str, data: dict, key: str) -> frozenset[str]:
    value = data.get(key, "")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(value)
    if not isinstance(value, str):
        raise LanguageError(f"{where}: '{key}' must be words separated by spaces (a string)")
    return frozenset(normalise(value).split())


def parse_language(text: str, source: str = "<language>") -> Language:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LanguageError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise LanguageError(f"{source}: unknown entries {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    code = data.get("language")
    if not isinstance(code, str) or not is_language_code(code):
        raise LanguageError(f"{source}: 'language' must be a language code such as \"nl\" or \"en\"")
    name = data.get("name", code)
    if not isinstance(name, str):
        raise LanguageError(f"{source}: 'name' must be a string")
    pairs = data.get("question_pairs", [])
    if not isinstance(pairs, list) or not all(isinstance(p, str) for p in pairs):
        raise LanguageError(f"{source}: 'question_pairs' must be a list of strings")
    asking = []
    raw_asking = data.get("asking", [])
    if not isinstance(raw_asking, list) or not all(isinstance(p, str) for p in raw_asking):
        raise LanguageError(f"{source}: 'asking' must be a list of regular expressions (strings)")
    for pattern in raw_asking:
        try:
            asking.append(re.compile(pattern))
        except re.error as exc:
            raise LanguageError(f"{source}: 'asking' entry {pattern!r} is not a regular expression ({exc})") from None
    stemming = data.get("stemming", {})
    if not isinstance(stemming, dict):
        raise LanguageError(f"{source}: [stemming] must be a table")
    unknown = sorted(set(stemming) - _STEMMING_KEYS)
    if unknown:
        raise LanguageError(f"{source}: [stemming] has unknown entries {', '.join(unknown)}")
    min_stem = stemming.get("min_stem", 4)
    if not isinstance(min_stem, int) or isinstance(min_stem, bool) or min_stem < 1:
        raise LanguageError(f"{source}: [stemming] min_stem must be a whole number from 1 up")
    passes = stemming.get("passes", 1)
    if not isinstance(passes, int) or isinstance(passes, bool) or not 1 <= passes <= 3:
        raise LanguageError(f"{source}: [stemming] passes must be 1, 2 or 3")
    endings = stemming.get("endings", [])
    if not isinstance(endings, list) or not all(isinstance(e, str) and e for e in endings):
        raise LanguageError(f"{source}: [stemming] endings must be a list of word endings")
    forms = stemming.get("forms", {})
    if not isinstance(forms, dict) or not all(isinstance(v, str) for v in forms.values()):
        raise LanguageError(f"{source}: [stemming] forms must map a word to the word it is a form of, e.g. {{ felt = \"feel\" }}")
    replace = stemming.get("replace", {})
    if not isinstance(replace, dict) or not all(isinstance(v, str) for v in replace.values()):
        raise LanguageError(f"{source}: [stemming] replace must map endings to endings, e.g. {{ heden = \"heid\" }}")
    for key in ("single_final", "single_vowels"):
        if not isinstance(stemming.get(key, ""), str):
            raise LanguageError(f"{source}: [stemming] {key} must be a string of letters")
    return Language(
        code=code,
        name=name,
        stopwords=_word_set(source, data, "stopwords"),
        question_openers=_word_set(source, data, "question_openers"),
        question_pairs=tuple(tuple(normalise(p).split()) for p in pairs if normalise(p)),
        clause_fillers=_word_set(source, data, "clause_fillers"),
        conjunctions=_word_set(source, data, "conjunctions"),
        asking=tuple(asking),
        forms={normalise(k): normalise(v) for k, v in forms.items() if normalise(k) and normalise(v)},
        min_stem=min_stem,
        passes=passes,
        endings=tuple(sorted(endings, key=len, reverse=True)),
        replace=tuple(sorted(replace.items(), key=lambda kv: -len(kv[0]))),
        single_final=stemming.get("single_final", ""),
        single_vowels=stemming.get("single_vowels", ""),
        source=source,
    )


def is_language_code(code: str) -> bool:
    """Whether `code` has the shape of a Whisper language code ("nl", "haw")."""
    return bool(_CODE.match(code))


def language_path(code: str) -> Path | None:
    for folder in (paths.languages_dir(), paths.BUNDLED_LANGUAGES):
        path = folder / f"{code}.toml"
        if path.is_file():
            return path
    return None


def available_languages() -> list[str]:
    codes: set[str] = set()
    for folder in (paths.languages_dir(), paths.BUNDLED_LANGUAGES):
        if folder.is_dir():
            codes.update(p.stem for p in folder.glob("*.toml"))
    return sorted(codes)


@functools.lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int) -> Language:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LanguageError(f"{path}: cannot read the language file ({exc})") from None
    return parse_language(text, source=path)


def load_language(code: str) -> Language:
    """The reading of this language: its file if there is one, else the plain reading."""
    path = language_path(code)
    if path is None:
        return Language(code=code, name=code)
    lang = _load(str(path), path.stat().st_mtime_ns)
    if lang.code != code:
        raise LanguageError(f"{path}: says it is language {lang.code!r}, but its name says {code!r}")
    return lang
