"""What guide tracking and suggestions share: how a passage's words are matched to the guide's.

Words are compared as light stems (in Dutch: plural and inflection endings off, doubled vowels
single: "afspraken" and "afspraak" are one stem), so a cue or phrase matches the forms speech
uses; a stem also matches inside a compound ("vertrouwensband", "netwerksamenwerking") and
through small recognition errors (rapidfuzz, on long words only). What each language needs
(function words, fillers, how a question opens, its stemming) is read from its data file by
`core.study.language`, chosen by the guide's language.

A `Lexicon` knows the stems of the guide's cues or the codebook's phrases; a `_Passage` is one
text read against it; a `_Pattern` is one cue or phrase, found in a passage.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import Iterable

from rapidfuzz import fuzz, process

from core.study.language import Language, words

class Lexicon:
    """Finds which known stems a spoken word is a form of.

    A word's stem matches a known stem when they are equal, when it extends it by an ending or
    a compound part ("vertrouwensband" holds "vertrouw"), or, for long words, when they differ
    by a letter or two (recognition errors). Answers are cached per word: a session repeats
    its vocabulary, so after the first minutes almost every word is a dictionary look-up.
    """

    _CACHE_LIMIT = 50_000

    def __init__(self, stems: Iterable[str]):
        self.stems = sorted(set(s for s in stems if s))
        self._known = set(self.stems)
        by_length: dict[int, list[str]] = defaultdict(list)
        for s in self.stems:
            if len(s) >= 6:
                by_length[len(s)].append(s)
        self._by_length = dict(by_length)
        # No known stem is longer than this, so no longer part of a word can be one: matching
        # looks at parts up to this length only, and its work grows with a word's length, not
        # with its square or cube (a pasted blob of 80,000 letters without a space is one word).
        self._longest = max(map(len, self.stems), default=0)
        # The opening six letters of every stem a compound can hold: a part of a word is looked
        # up only where one of them starts, not at every length from every letter.
        self._openings = {s[:6] for s in self.stems if len(s) >= 6}
        self._cache = self._shared_cache(tuple(self.stems))

    # Trackers and suggesters are made anew for every session and every import, nearly always
    # with the stems of one guide and codebook: lexicons of the same stems share their answers.
    _CACHES_KEPT = 4
    _caches: dict[tuple[str, ...], dict[str, tuple[tuple[str, float], ...]]] = {}
    _caches_lock = threading.Lock()

    @classmethod
    def _shared_cache(cls, stems: tuple[str, ...]) -> dict[str, tuple[tuple[str, float], ...]]:
        with cls._caches_lock:  # the live worker and a review screen may both make one
            cache = cls._caches.pop(stems, None)
            if cache is None:
                cache = {}
                while len(cls._caches) >= cls._CACHES_KEPT:
                    del cls._caches[next(iter(cls._caches))]  # the longest unused
            cls._caches[stems] = cache  # the most recently used last
            return cache

    @classmethod
    def forget_all(cls) -> None:
        """Drops every answer lexicons share, so the next look-ups are made cold (a benchmark
        timing what a session's first minutes cost)."""
        with cls._caches_lock:
            cls._caches.clear()

    def match(self, word_stem: str) -> tuple[tuple[str, float], ...]:
        hit = self._cache.get(word_stem)
        if hit is not None:
            return hit
        found = self._held(word_stem)
        n = len(word_stem)
        if n >= 6 and not found:
            for length in range(n - 2, n + 3):
                pool = self._by_length.get(length)
                if not pool:
                    continue
                for cand, score, _ in process.extract(
                    word_stem, pool, scorer=fuzz.ratio, score_cutoff=85, limit=3
                ):
                    found[cand] = max(found.get(cand, 0.0), 0.9 * score / 100)
        result = tuple((s, v) for s, v in found.items() if v > 0)
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()
        self._cache[word_stem] = result
        return result

    def held(self, joined_stem: str, min_length: int) -> dict[str, float]:
        """The known stems of at least `min_length` letters that words read together hold, as
        `match` finds them but never through a near miss: the joined forms of a session's word
        pairs are nearly all new, and a near miss of a whole joined form is too costly for the
        little it finds. Not cached, for the same reason."""
        return {s: v for s, v in self._held(joined_stem).items() if v > 0 and len(s) >= min_length}

    def _held(self, word_stem: str) -> dict[str, float]:
        """The known stems this word's stem is, starts with or holds as a compound part."""
        found: dict[str, float] = {}
        n = len(word_stem)
        if word_stem in self._known:
            found[word_stem] = 1.0
        # Longer known stems at the start: an inflected form ("efficiente" -> "efficient") or
        # the first part of a compound ("vertrouwensband").
        for k in range(4, min(n, self._longest + 1)):
            head = word_stem[:k]
            if head in self._known:
                found[head] = max(found.get(head, 0.0), 0.95 if n - k <= 3 else (0.85 if k >= 6 else 0.0))
        # A known stem inside a compound ("netwerksamenwerking" holds "samenwerk").
        if n >= 7:
            for i in range(1, n - 5):
                if word_stem[i:i + 6] not in self._openings:
                    continue
                for j in range(i + 6, min(n, i + self._longest) + 1):
                    part = word_stem[i:j]
                    if part in self._known:
                        found[part] = max(found.get(part, 0.0), 0.85)
        return found


# The shortest known stem that words read together may match: shorter ones ("werk", "net")
# are said as words of their own.
JOINED_MIN = 7


@dataclass
class _Passage:
    """One text, read once: where each known stem occurs and how well."""

    tokens: list[str]
    hits: dict[str, list[tuple[int, float]]]  # known stem -> (position, match score)
    plain: dict[str, list[int]]  # normalised word -> positions (for function words in phrases)

    @classmethod
    def read(cls, text: str, lexicon: Lexicon, language: Language) -> "_Passage":
        tokens = words(text)
        hits: dict[str, list[tuple[int, float]]] = defaultdict(list)
        plain: dict[str, list[int]] = defaultdict(list)
        for pos, w in enumerate(tokens):
            plain[w].append(pos)
            found = {} if w in language.stopwords or len(w) <= 2 else dict(lexicon.match(language.stem(w)))
            # Recognition splits compounds ("informatie uit wisseling" for "informatie-
            # uitwisseling", "net werk"): two or three words read as one match a long known
            # stem that none of them matches alone.
            for k in (2, 3):
                if pos + k > len(tokens):
                    break
                joined = "".join(tokens[pos:pos + k])
                for known, score in lexicon.held(language.stem(joined), JOINED_MIN).items():
                    if score >= 0.85 and known not in found:
                        found[known] = score
            for known, score in found.items():
                hits[known].append((pos, score))
        return cls(tokens, hits, plain)


@dataclass(frozen=True)
class _Pattern:
    """A cue or phrase: its content stems (each must be heard) and function words."""

    text: str
    stems: tuple[str, ...]
    function_words: tuple[str, ...]
    # Its words in order: (True, stem) for a content word, (False, word) for a function word.
    sequence: tuple[tuple[bool, str], ...] = ()

    @classmethod
    def of(cls, text: str, language: Language) -> "_Pattern | None":
        toks = words(text)
        content = [w not in language.stopwords and len(w) > 2 for w in toks]
        stems = tuple(dict.fromkeys(language.stem(w) for w, c in zip(toks, content) if c))
        function = tuple(w for w, c in zip(toks, content) if not c)
        if not stems:
            return None
        sequence = tuple((c, language.stem(w) if c else w) for w, c in zip(toks, content))
        return cls(text, stems, function, sequence)

    def said_in_order(self, passage: _Passage, max_gap: int = 5) -> bool:
        """Whether the passage says this pattern word for word, in its order, with at most
        `max_gap` other words between two of its words: "involved in the pilot" is said in
        "involved in the Samen starten pilot", and in what recognition makes of a name ("involved
        in the same and star of the pilot")."""
        places = []
        for content, key in self.sequence:
            at = [p for p, _ in passage.hits.get(key, ())] if content else passage.plain.get(key, [])
            if not at:
                return False
            places.append(at)
        reach = set(places[0])
        for at in places[1:]:
            # Each place looks back over the gap, not over every earlier place: a long turn
            # that repeats the words costs its length, not its square.
            reach = {p for p in at if any(p - d in reach for d in range(1, max_gap + 2))}
            if not reach:
                return False
        return True

    def find(self, passage: _Passage) -> float:
        """How well the passage says this pattern: every stem heard close together (and the
        function words too), scored by how well each stem matched; 0 if not said."""
        lists = [passage.hits.get(s) for s in self.stems]
        if not all(lists):
            return 0.0
        span = len(self.stems) + len(self.function_words) + 3
        anchors = min(lists, key=len)
        best = 0.0
        for pos, _ in anchors:
            lo, hi = pos - span, pos + span
            got = 0.0
            for hits in lists:
                here = _near(hits, lo, hi)
                if not here:
                    break
                got += max(sc for _, sc in here)
            else:
                if all(_said_within(passage.plain.get(f, ()), lo, hi) for f in self.function_words):
                    best = max(best, got / len(self.stems))
        return best

    def cover(self, passage: _Passage, weights: dict[str, float], span: int | None = None) -> float:
        """The weighted share of this pattern's stems heard within one stretch of speech (`span`
        words either side of each; by default twice the pattern's length and four more)."""
        heard = [(s, passage.hits[s]) for s in self.stems if s in passage.hits]
        if not heard:
            return 0.0
        total = sum(weights.get(s, 1.0) for s in self.stems)
        if span is None:
            span = 2 * (len(self.stems) + len(self.function_words)) + 4
        best = 0.0
        for _, hits in heard:
            for pos, _ in hits:
                lo, hi = pos - span, pos + span
                got = 0.0
                for s, hs in heard:
                    here = _near(hs, lo, hi)
                    if here:
                        got += weights.get(s, 1.0) * max(sc for _, sc in here)
                best = max(best, got)
        return best / total if total else 0.0


def _near(hits: list[tuple[int, float]], lo: int, hi: int) -> list[tuple[int, float]]:
    """The hits from position `lo` to `hi`. A passage's hits are in the order of their positions,
    one per position at most, so this is found by bisection and is no longer than the window:
    a pattern looks at the words around each place it is heard, never at every place again (a
    one-hour turn that says "samenwerking" a thousand times would otherwise cost a million)."""
    return hits[bisect_left(hits, lo, key=_position) : bisect_right(hits, hi, key=_position)]


_position = itemgetter(0)


def _said_within(positions: list[int] | tuple[int, ...], lo: int, hi: int) -> bool:
    """Whether a word is said from position `lo` to `hi` (its positions are in order)."""
    i = bisect_left(positions, lo)
    return i < len(positions) and positions[i] <= hi


def _sigmoid(x: float) -> float:
    """The logistic function both models turn their evidence into a chance with."""
    if x < -30:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))
