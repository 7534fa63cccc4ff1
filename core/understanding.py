"""Understanding the conversation: which guide question is asked, which indicators are heard.

Both run on every segment as it arrives, using only what came before it, so an import gives
the same result as the live session would have.

Words are compared as light stems (Dutch plural and inflection endings off, doubled vowels
single: "afspraken" and "afspraak" are one stem), so a cue or phrase matches the forms speech
uses; a stem also matches inside a compound ("vertrouwensband", "netwerksamenwerking") and
through small recognition errors (rapidfuzz, on long words only).

Guide tracking scores interviewer speech against each question's text and cue phrases, words
weighted by how few questions share them, together with where the interview is (the question
the guide has next, the ones after it, the ones already passed) and whether the speech is put
as a question; a logistic model turns this into the chance that the speech poses the question,
and the best question becomes current when that chance is at least the threshold. A question
already asked is not detected again: speech on it later is a follow-up. Suggestions combine
the question in effect (the guide's mapping, and what the researcher coded under it before),
what the interviewer just asked, the indicator phrases heard, and the passages coded (or
rejected) before; a second logistic model turns these into the chance that the researcher
would code the passage with the dimension, so one threshold means the same in every session.

Both models' weights are fitted on the tuning interviews of the reference study by
`bench/bench_understanding.py --fit` and hold no word, question or dimension of it.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from rapidfuzz import fuzz, process

from .guide import Guide, Indicator
from .store import NewSuggestion

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words and the fillers of spoken Dutch (and English, for guides in English): they
# carry no topic, so they neither make a cue match nor make two passages alike.
STOPWORDS = frozenset(
    """
    aan al alle alleen als alsof altijd ander andere anders ben bent bij bijvoorbeeld binnen
    daar daarin daarmee daarnet daarom dan dat de deze die dit doe doen doet door dus echt een
    eens eigenlijk en er even eventjes ga gaan gaat geen geweest had hadden hebben heb hebt heeft
    heel hele hem hen het hier hij hoe hoor hun iemand iets ik in is ja je jij jou jouw jullie
    kan kon kunnen kunt kun maar me meer men met mij mijn misschien moet moeten mogelijk na naar
    natuurlijk net niet niets nog nou nu of ok oke om omdat ons onze ook op over per pas precies
    sowieso te tegen toch toe toen tot u uh uhm um hm hmm heh ha uit uw van veel vind vond voor
    vooral waar waren wardoor was wat we wel welke werd werden wie wij wil wilde wordt worden
    zal ze zeg zegt zei zelf zich zij zijn zo zoals zou zouden zullen beetje gewoon inderdaad
    zeker best stukje dingen ding soort iedereen allemaal elkaar heeft tussen dezelfde goed
    the a an and or of to in on at is are was were be been it this that for with as by from
    you your we our they their he she his her i me my do does did have has had not so but if
    what which who how when where there here about into than then also just very really
    """.split()
)

# Words that ask: Dutch and English interrogatives, and the interviewer's "I wonder whether".
_QUESTION_WORDS = frozenset(
    """
    hoe wat welke welk wie waar wanneer waarom waardoor waaraan hoeverre hoezo benieuwd vraag
    kan kun kunt zou zouden vind vond zie zag was waren is zijn heeft hebben werd werden
    how what which who where when why whether would could did does do is are was were
    """.split()
)
# A turn that opens with one of these and holds no question mark is a statement or summary.
_QUESTION_OPENERS = frozenset(
    "hoe wat welke welk wie waar wanneer waarom in kan kun kunt zou zouden vind vond zie "
    "was waren is zijn heeft hebben werd werden staan stonden how what which who where when "
    "why would could did does do is are was were".split()
)


_COMBINING = re.compile(r"[\u0300-\u036f]+")


def normalise(text: str) -> str:
    """Lowercase, accents off, punctuation to spaces: what matching compares."""
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    return normalise(text).split()


_SUFFIXES = ("en", "es", "e", "s")
_DOUBLE_VOWEL = re.compile(r"([aeou])\1")
_DOUBLE_END = re.compile(r"([bdfgklmnprst])\1$")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light Dutch stem of a normalised word: inflections and spellings of one word meet.

    "afspraken" and "afspraak" -> "afsprak", "culturen" and "cultuur" -> "cultur",
    "overleggen" -> "overleg", "mogelijkheden" -> "mogelijkheid". Not linguistics: only so that
    the forms of one word compare equal.
    """
    if len(word) <= 4:
        return word
    if word.endswith("heden"):
        word = word[:-5] + "heid"
    else:
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)]
                break
    word = _DOUBLE_END.sub(r"\1", word)
    return _DOUBLE_VOWEL.sub(r"\1", word)


def content_stems(text: str) -> list[str]:
    return stems_of(words(text))


def stems_of(tokens: list[str]) -> list[str]:
    return [stem(w) for w in tokens if w not in STOPWORDS and len(w) > 2 and not w.isdigit()]


# ---------------------------------------------------------------------------------------------
# Matching words to a vocabulary of stems


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
        self._cache: dict[str, tuple[tuple[str, float], ...]] = {}

    def match(self, word_stem: str) -> tuple[tuple[str, float], ...]:
        hit = self._cache.get(word_stem)
        if hit is not None:
            return hit
        found: dict[str, float] = {}
        n = len(word_stem)
        if word_stem in self._known:
            found[word_stem] = 1.0
        # Longer known stems at the start: an inflected form ("efficiente" -> "efficient") or
        # the first part of a compound ("vertrouwensband").
        for k in range(4, n):
            head = word_stem[:k]
            if head in self._known:
                found[head] = max(found.get(head, 0.0), 0.95 if n - k <= 3 else (0.85 if k >= 6 else 0.0))
        # A known stem inside a compound ("netwerksamenwerking" holds "samenwerk").
        if n >= 7:
            for i in range(1, n - 5):
                for j in range(i + 6, n + 1):
                    part = word_stem[i:j]
                    if part in self._known:
                        found[part] = max(found.get(part, 0.0), 0.85)
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


@dataclass
class _Passage:
    """One text, read once: where each known stem occurs and how well."""

    tokens: list[str]
    hits: dict[str, list[tuple[int, float]]]  # known stem -> (position, match score)
    plain: dict[str, list[int]]  # normalised word -> positions (for function words in phrases)

    @classmethod
    def read(cls, text: str, lexicon: Lexicon) -> "_Passage":
        tokens = words(text)
        hits: dict[str, list[tuple[int, float]]] = defaultdict(list)
        plain: dict[str, list[int]] = defaultdict(list)
        for pos, w in enumerate(tokens):
            plain[w].append(pos)
            if w in STOPWORDS or len(w) <= 2:
                continue
            for known, score in lexicon.match(stem(w)):
                hits[known].append((pos, score))
        return cls(tokens, hits, plain)


@dataclass(frozen=True)
class _Pattern:
    """A cue or phrase: its content stems (each must be heard) and function words."""

    text: str
    stems: tuple[str, ...]
    function_words: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> "_Pattern | None":
        toks = words(text)
        stems = tuple(dict.fromkeys(stem(w) for w in toks if w not in STOPWORDS and len(w) > 2))
        function = tuple(w for w in toks if w in STOPWORDS or len(w) <= 2)
        if not stems:
            return None
        return cls(text, stems, function)

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
                here = [sc for p, sc in hits if lo <= p <= hi]
                if not here:
                    break
                got += max(here)
            else:
                if all(any(lo <= p <= hi for p in passage.plain.get(f, ())) for f in self.function_words):
                    best = max(best, got / len(self.stems))
        return best

    def cover(self, passage: _Passage, weights: dict[str, float]) -> float:
        """The weighted share of this pattern's stems heard within one stretch of speech."""
        heard = [(s, passage.hits[s]) for s in self.stems if s in passage.hits]
        if not heard:
            return 0.0
        total = sum(weights.get(s, 1.0) for s in self.stems)
        span = 2 * (len(self.stems) + len(self.function_words)) + 4
        best = 0.0
        for _, hits in heard:
            for pos, _ in hits:
                lo, hi = pos - span, pos + span
                got = 0.0
                for s, hs in heard:
                    here = [sc for p, sc in hs if lo <= p <= hi]
                    if here:
                        got += weights.get(s, 1.0) * max(here)
                best = max(best, got)
        return best / total if total else 0.0


# ---------------------------------------------------------------------------------------------
# Guide tracking


@dataclass(frozen=True)
class QuestionMatch:
    number: int
    score: float


def _sigmoid(x: float) -> float:
    if x < -30:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def asks_something(text: str) -> bool:
    """Whether speech is put as a question: a question mark, or opening with a question word."""
    if "?" in text:
        return True
    toks = words(text)
    if not toks:
        return False
    return toks[0] in _QUESTION_OPENERS or "benieuwd" in toks or "vraag" in toks


# The logistic model over the features of `GuideTracker.features`, fitted on interviews 1-4 of
# the reference study by `python bench/bench_understanding.py --only 1-4 --fit` (the tracker
# running on its own detections, as in use). No weight names a question or a word.
QUESTION_WEIGHTS = {
    "bias": -6.167,
    "cue": 1.418,
    "whole_cue": 1.924,
    "text": 1.431,
    "evidence": 1.303,
    "best": 0.7,
    "margin": 1.031,
    "next": 2.596,
    "soon": 0.423,
    "behind": -0.147,
    "asks": 1.202,
    "length": -0.238,
}

# The chance from which speech counts as asking the question.
QUESTION_THRESHOLD = 0.5


class GuideTracker:
    """Follows the guide: the current question, and which questions were asked.

    Thread-safe: the pipeline thread observes interviewer speech while the interviewer may move
    the current question by hand from the screen.
    """

    MIN_WORDS = 4

    def __init__(self, guide: Guide, threshold: float | None = None, weights: dict | None = None):
        self.guide = guide
        self.threshold = QUESTION_THRESHOLD if threshold is None else threshold
        self.weights = dict(QUESTION_WEIGHTS if weights is None else weights)
        self._lock = threading.Lock()
        self.current: int | None = None
        self.asked: set[int] = set()
        # The interviewer's last words of substance (a question or a follow-up): what the
        # respondent is answering. "Hm hm" and "oké" leave it as it was.
        self.prompt: str | None = None
        self._order = [q.number for q in guide.questions]
        self._position = {n: i for i, n in enumerate(self._order)}
        self._text: dict[int, _Pattern | None] = {}
        self._cues: dict[int, list[_Pattern]] = {}
        self._vocabulary: dict[int, set[str]] = {}
        for q in guide.questions:
            self._text[q.number] = _Pattern.of(q.text)
            self._cues[q.number] = [p for p in (_Pattern.of(c) for c in q.cues) if p is not None]
            pats = [x for x in (self._text[q.number], *self._cues[q.number]) if x is not None]
            self._vocabulary[q.number] = {s for pat in pats for s in pat.stems}
        # A word that many questions share ("samenwerking", "organisaties") tells them apart
        # less than one that only one question has ("vertrouwen", "efficient").
        df: Counter[str] = Counter(s for v in self._vocabulary.values() for s in v)
        n = len(self._order)
        self._weights = {s: max(0.1, math.log(n / c)) for s, c in df.items()}
        self._lexicon = Lexicon(df)

    def _strength(self, pat: _Pattern) -> float:
        return min(1.0, sum(self._weights.get(s, 0.0) for s in pat.stems) / 5.0)

    def _content(self, passage: _Passage, asked: set[int] | frozenset = frozenset()) -> dict[int, dict[str, float]]:
        """Per question not yet asked, how much of its text and cues the speech holds."""
        content: dict[int, dict[str, float]] = {}
        for number in self._order:
            if number in asked:
                continue
            covers = [(c.cover(passage, self._weights), self._strength(c)) for c in self._cues[number]]
            cue = max((c * st for c, st in covers), default=0.0)
            # A cue heard whole, and specific enough to tell its question apart.
            whole_cue = 1.0 if any(c >= 0.99 and st >= 0.6 for c, st in covers) else 0.0
            pat = self._text[number]
            whole = pat.cover(passage, self._weights) if pat is not None else 0.0
            heard = sum(self._weights[s] for s in self._vocabulary[number] if s in passage.hits)
            if cue or whole:
                content[number] = {"cue": cue, "whole_cue": whole_cue, "text": whole,
                                   "evidence": min(1.0, heard / 8.0)}
        return content

    def content(self, text: str) -> dict[int, float]:
        """How much the speech sounds like each guide question, whatever was asked before
        (0 to 3: cue, question text and the question's words, each 0 to 1)."""
        passage = _Passage.read(text, self._lexicon)
        if not passage.hits:
            return {}
        return {n: f["cue"] + f["text"] + f["evidence"] for n, f in self._content(passage).items()}

    def features(self, text: str, current: int | None = None, asked: set[int] | frozenset = frozenset()
                 ) -> dict[int, dict[str, float]]:
        """Per question, the evidence that this speech asks it, given where the interview is."""
        passage = _Passage.read(text, self._lexicon)
        if len(passage.tokens) < self.MIN_WORDS or not passage.hits:
            return {}
        # Asked once; speech on it later is a follow-up, not the question again.
        content = self._content(passage, asked)
        if not content:
            return {}
        raw = {n: f["cue"] + f["text"] + f["evidence"] for n, f in content.items()}
        ranked = sorted(raw.values(), reverse=True)
        top = ranked[0]
        second = ranked[1] if len(ranked) > 1 else 0.0
        pending = [n for n in self._order if n not in asked]
        here = self._position.get(current, -1) if current is not None else -1
        after = [n for n in pending if self._position[n] > here]
        asks = 1.0 if asks_something(text) else 0.0
        length = math.log1p(len(passage.tokens))
        out = {}
        for number, f in content.items():
            f = dict(f)
            f["best"] = 1.0 if raw[number] >= top else 0.0
            f["margin"] = raw[number] - (second if raw[number] >= top else top)
            f["next"] = 1.0 if after and number == after[0] else 0.0
            f["soon"] = 1.0 if number in after[1:3] else 0.0
            f["behind"] = 1.0 if self._position[number] < here else 0.0
            f["asks"] = asks
            f["length"] = length
            out[number] = f
        return out

    def score(self, text: str, current: int | None = None, asked: set[int] | frozenset = frozenset()
              ) -> list[QuestionMatch]:
        """The chance that this speech asks each question (0..1), best first."""
        w = self.weights
        out = [
            QuestionMatch(n, _sigmoid(w["bias"] + sum(w[k] * v for k, v in f.items())))
            for n, f in self.features(text, current, asked).items()
        ]
        out.sort(key=lambda m: -m.score)
        return out

    def observe(self, text: str) -> QuestionMatch | None:
        """Interviewer speech: if it asks a guide question, that question becomes current."""
        with self._lock:
            current = self.current
            asked = set(self.asked)
            if len(words(text)) >= self.MIN_WORDS:
                self.prompt = text
        matches = self.score(text, current, asked)
        if not matches or matches[0].score < self.threshold:
            return None
        best = matches[0]
        with self._lock:
            self.current = best.number
            self.asked.add(best.number)
        return QuestionMatch(best.number, round(best.score, 3))

    def set_current(self, number: int | None) -> None:
        with self._lock:
            if number is not None and self.guide.question(number) is None:
                raise ValueError(f"no question {number} in guide {self.guide.id}")
            self.current = number
            if number is not None:
                self.asked.add(number)

    def step(self, delta: int) -> int | None:
        numbers = self._order
        with self._lock:
            if self.current is None:
                target = numbers[0] if delta > 0 else None
            else:
                i = numbers.index(self.current) + delta
                target = numbers[max(0, min(len(numbers) - 1, i))]
        self.set_current(target)
        return target


# ---------------------------------------------------------------------------------------------
# Suggestions


@dataclass
class Candidate:
    """One dimension's case for a passage: the evidence, and the calibrated score."""

    dimension_id: str
    indicator_id: str
    features: dict[str, float]
    score: float = 0.0
    phrases: list[str] = field(default_factory=list)


@dataclass
class _Example:
    stems: Counter
    dimension_id: str
    indicator_id: str
    positive: bool


@dataclass
class _Coded:
    """A passage coded before, once however many indicators it was coded with."""

    stems: Counter
    dimensions: set[str]
    phrases: frozenset[int]  # the codebook phrases heard in it


WEIGHTS = {
    "bias": -6.116,
    "asked": 3.05,
    "previous": 0.0,
    "learned_question": 0.295,
    "prompt": 2.245,
    "prompt_question": 0.0,
    "phrase": 2.742,
    "phrase_reliable": 0.0,
    "phrase_best": 1.623,
    "words": 0.599,
    "similar": 1.418,
    "bayes": 0.0,
    "frequency": 0.46,
    "length": 0.479,
}
REJECTED_WEIGHT = -4.0
# A phrase's reliability before it was heard in any coded passage, and how many coded
# passages that guess is worth.
PHRASE_PRIOR = 0.5
PHRASE_PRIOR_WEIGHT = 2.0


class Suggester:
    """Ranks the codebook's dimensions (with their best indicator) for a respondent passage.

    Evidence comes from the indicator phrases (fuzzy, so inflections, compounds and small
    recognition errors still match), the dimensions of the question in effect and what the
    interviewer just asked, and passages the researcher coded (or rejected suggestions for) in
    earlier sessions of the same guide: the words that went with each dimension there, and the
    most alike passage coded with it.
    """

    def __init__(self, guide: Guide, *, top: int = 3, min_score: float = 0.01, weights: dict | None = None):
        self.guide = guide
        self.top = top
        self.min_score = min_score
        self.weights = dict(WEIGHTS if weights is None else weights)
        self._lock = threading.Lock()
        self._dims = [d.id for d in guide.dimensions]
        self._asked_by = {q.number: set(q.dimension_ids) for q in guide.questions}
        self._phrases: list[tuple[_Pattern, Indicator]] = []
        for ind in guide.indicators:
            for p in ind.phrases:
                pat = _Pattern.of(p)
                if pat is not None:
                    self._phrases.append((pat, ind))
        # Phrases are looked up through their rarest stem: only phrases whose stems were
        # heard are checked at all, so a codebook of hundreds of indicators stays fast.
        df: Counter[str] = Counter(s for pat, _ in self._phrases for s in pat.stems)
        self._by_anchor: dict[str, list[int]] = defaultdict(list)
        for i, (pat, _) in enumerate(self._phrases):
            self._by_anchor[min(pat.stems, key=lambda s: (df[s], s))].append(i)
        self._lexicon = Lexicon(df)
        # The interviewer's words are also read as the guide's questions: a follow-up that
        # sounds like question 8 points at question 8's dimensions.
        self._questions = GuideTracker(guide)
        # What was coded before: examples with an inverted index (for the most alike passage),
        # and per dimension how many coded passages held each stem (for the words model).
        self._examples: list[_Example] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._df: Counter[str] = Counter()
        self._norms: list[float] | None = None
        self._coded: dict[tuple[int, int], _Coded] = {}
        self._centroids: dict[str, dict[str, float]] | None = None
        self._bayes_model: tuple[dict[str, Counter], dict[str, int], Counter, int] | None = None
        self._reliability: list[float] | None = None
        self._by_question: dict[int | None, Counter] = defaultdict(Counter)
        self._dim_counts: Counter[str] = Counter()
        self._positives = 0
        # The session so far: the question in effect and the one before it, the interviewer's
        # words that asked it, and how many passages answered the words heard last.
        self._question: int | None = None
        self._previous: int | None = None
        self._asking: str | None = None
        self._last_prompt: str | None = None
        self._answers = 0
        # The interviewer's last words, read once for all the passages that answer them.
        self._prompt_text: str | None = None
        self._prompt_score: tuple[dict[str, float], dict[str, float]] = ({}, {})

    # learning ----------------------------------------------------------------------------------

    def learn(self, text: str, indicator_id: str, positive: bool = True, question: int | None = None) -> None:
        """A passage the researcher coded with this indicator, or rejected it for.

        `question` is the guide question that was in effect: what the researcher codes under
        each question becomes evidence too.
        """
        try:
            ind = self.guide.indicator(indicator_id)
        except KeyError:
            return  # coded with an indicator this version of the guide no longer has
        stems = Counter(s for s in content_stems(text) if len(s) > 3)
        key = (hash(text), len(text))
        heard = None
        if positive and key not in self._coded:
            heard = frozenset(i for i, _ in self._phrase_hits(_Passage.read(text, self._lexicon)))
        with self._lock:
            if positive:
                coded = self._coded.get(key)
                if coded is None:
                    coded = self._coded[key] = _Coded(stems, set(), heard or frozenset())
                if ind.dimension_id in coded.dimensions:
                    return  # two indicators of one dimension on one passage are one piece of evidence
                coded.dimensions.add(ind.dimension_id)
                self._by_question[question][ind.dimension_id] += 1
                self._dim_counts[ind.dimension_id] += 1
                self._positives += 1
            self._reliability = None
            self._bayes_model = None
            if not stems:
                return
            idx = len(self._examples)
            self._examples.append(_Example(stems, ind.dimension_id, ind.id, positive))
            for s in stems:
                self._postings[s].append(idx)
                self._df[s] += 1
            self._norms = None
            self._centroids = None

    def learn_from(self, examples: Iterable[dict]) -> int:
        """Teach from `Store.coded_examples` rows; a coded span teaches with its own words."""
        n = 0
        for row in examples:
            text = row["text"]
            if row.get("start_offset") is not None and row.get("end_offset") is not None:
                text = text[row["start_offset"] : row["end_offset"]]
            self.learn(text, row["indicator_id"], bool(row["positive"]), row.get("question"))
            n += 1
        # Index what was learned now, not on the first passage of the session.
        with self._lock:
            self._example_norms()
            self._word_evidence(Counter({"_": 1}))
            self._bayes(Counter({"_": 1}))
            self._phrase_reliability()
        return n

    def _idf(self, s: str) -> float:
        return math.log(1 + len(self._examples) / (1 + self._df.get(s, 0)))

    def _example_norms(self) -> list[float]:
        if self._norms is None:
            self._norms = [
                math.sqrt(sum((c * self._idf(s)) ** 2 for s, c in ex.stems.items())) or 1.0
                for ex in self._examples
            ]
        return self._norms

    def _vector(self, stems: Counter) -> dict[str, float]:
        v = {s: (1 + math.log(c)) * self._idf(s) for s, c in stems.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {s: x / norm for s, x in v.items()}

    def _word_evidence(self, stems: Counter) -> dict[str, float]:
        """The words model: how alike (cosine, 0..1) the passage is to the passages coded with
        each dimension before, taken together (each dimension's centroid of tf-idf vectors)."""
        if not self._positives or not stems:
            return {}
        if self._centroids is None:
            sums: dict[str, Counter] = defaultdict(Counter)
            for ex in self._examples:
                if ex.positive:
                    for s, x in self._vector(ex.stems).items():
                        sums[ex.dimension_id][s] += x
            self._centroids = {}
            for d, c in sums.items():
                norm = math.sqrt(sum(x * x for x in c.values())) or 1.0
                self._centroids[d] = {s: x / norm for s, x in c.items()}
        v = self._vector(stems)
        return {d: sum(x * c.get(s, 0.0) for s, x in v.items()) for d, c in self._centroids.items()}

    def _bayes(self, stems: Counter) -> dict[str, float]:
        """Per dimension, how much likelier the passage's words are among the passages coded with
        it than among all coded passages (mean log ratio per word, smoothed towards 0)."""
        if not self._coded or not stems:
            return {}
        if self._bayes_model is None:
            by_dim: dict[str, Counter] = defaultdict(Counter)
            sizes: Counter = Counter()
            every: Counter = Counter()
            for coded in self._coded.values():
                every.update(coded.stems)
                for d in coded.dimensions:
                    by_dim[d].update(coded.stems)
                    sizes[d] += sum(coded.stems.values())
            self._bayes_model = (dict(by_dim), dict(sizes), every, sum(every.values()))
        by_dim, sizes, every, total = self._bayes_model
        mu = 200.0
        out = {}
        n = sum(stems.values())
        for d, counts in by_dim.items():
            z = 0.0
            for s, c in stems.items():
                bg = (every.get(s, 0) + 0.5) / (total + 0.5 * len(every) + 1)
                z += c * math.log((counts.get(s, 0) + mu * bg) / (sizes[d] + mu) / bg)
            out[d] = z / n
        return out

    def _similar(self, stems: Counter) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
        """Per dimension, the likeness (cosine, 0..1) of the most alike passage coded with it and
        of the most alike passage where it was rejected; and that passage's indicator."""
        if not self._examples or not stems:
            return {}, {}, {}
        norms = self._example_norms()
        qnorm = math.sqrt(sum((c * self._idf(s)) ** 2 for s, c in stems.items())) or 1.0
        dots: dict[int, float] = defaultdict(float)
        for s, c in stems.items():
            postings = self._postings.get(s)
            if not postings:
                continue
            idf2 = self._idf(s) ** 2
            for idx in postings:
                dots[idx] += c * self._examples[idx].stems[s] * idf2
        pos: dict[str, float] = {}
        neg: dict[str, float] = {}
        indicator: dict[str, str] = {}
        for idx, dot in dots.items():
            ex = self._examples[idx]
            sim = dot / (norms[idx] * qnorm)
            into = pos if ex.positive else neg
            if sim > into.get(ex.dimension_id, 0.0):
                into[ex.dimension_id] = sim
                if ex.positive:
                    indicator[ex.dimension_id] = ex.indicator_id
        return pos, neg, indicator

    def _learned_question(self, question: int | None) -> dict[str, float]:
        """What the researcher coded passages under this question with, before: shares."""
        counts = self._by_question.get(question)
        if not counts:
            return {}
        total = sum(counts.values())
        # Few codings under a question say little yet: shrink towards nothing.
        return {d: c / (total + 3) for d, c in counts.items()}

    def _phrase_reliability(self) -> tuple[list[float], list[dict[str, float]]]:
        """Per phrase, from the coded passages it was heard in: the share coded with its own
        dimension, shrunk towards a prior guess (a phrase heard everywhere earns little); and the
        shares coded with each dimension (a phrase can go with another dimension than its own)."""
        if self._reliability is None:
            heard: Counter[int] = Counter()
            coded_with: dict[int, Counter] = defaultdict(Counter)
            for coded in self._coded.values():
                for i in coded.phrases:
                    heard[i] += 1
                    coded_with[i].update(coded.dimensions)
            own = []
            shares = []
            for i, (_, ind) in enumerate(self._phrases):
                n = heard[i] + PHRASE_PRIOR_WEIGHT
                own.append((coded_with[i][ind.dimension_id] + PHRASE_PRIOR * PHRASE_PRIOR_WEIGHT) / n)
                shares.append({d: c / n for d, c in coded_with[i].items()})
            self._reliability = (own, shares)
        return self._reliability

    # evidence ----------------------------------------------------------------------------------

    def _phrase_hits(self, passage: _Passage) -> list[tuple[int, float]]:
        """(phrase index, how well it was heard) of each phrase heard."""
        out = []
        for anchor in passage.hits:
            for i in self._by_anchor.get(anchor, ()):
                pat = self._phrases[i][0]
                s = pat.find(passage)
                if s > 0:
                    # A phrase of several words heard together says more than one word.
                    weight = 1.0 if len(pat.stems) + len(pat.function_words) > 1 else 0.7
                    out.append((i, s * weight))
        return out

    def _phrase_evidence(self, passage: _Passage, reliability: tuple | None = None
                         ) -> tuple[dict[str, float], dict[str, float], dict[str, list[tuple[float, str, str]]], dict[str, float]]:
        """Per dimension: the phrases heard taken together (noisy-or of the best four), the same
        with each phrase weighed by its reliability, (score, phrase, indicator) of each, and the
        dimensions the passages were coded with where the phrases were heard before."""
        hits: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        reliable: dict[str, list[float]] = defaultdict(list)
        associated: dict[str, list[float]] = defaultdict(list)
        for i, s in self._phrase_hits(passage):
            pat, ind = self._phrases[i]
            hits[ind.dimension_id].append((s, pat.text, ind.id))
            if reliability is not None:
                reliable[ind.dimension_id].append(s * reliability[0][i])
                for d, share in reliability[1][i].items():
                    associated[d].append(s * share)

        def noisy_or(scores: list[float]) -> float:
            miss = 1.0
            for s in sorted(scores, reverse=True)[:4]:
                miss *= 1 - 0.6 * s
            return 1 - miss

        plain = {d: noisy_or([s for s, _, _ in hs]) for d, hs in hits.items()}
        weighed = {d: noisy_or(ss) for d, ss in reliable.items()}
        return plain, weighed, hits, {d: noisy_or(ss) for d, ss in associated.items()}

    def _prompt_evidence(self, prompt: str | None) -> tuple[dict[str, float], dict[str, float]]:
        """What the interviewer's last words point at: per dimension, the phrases heard in them,
        and how much they sound like a guide question about it."""
        if not prompt:
            return {}, {}
        with self._lock:
            if prompt == self._prompt_text:
                return self._prompt_score
        phrases, _, _, _ = self._phrase_evidence(_Passage.read(prompt, self._lexicon))
        like: dict[str, float] = {}
        for number, raw in self._questions.content(prompt).items():
            for d in self._asked_by.get(number, ()):
                like[d] = max(like.get(d, 0.0), min(1.0, raw / 2.0))
        with self._lock:
            self._prompt_text, self._prompt_score = prompt, (phrases, like)
        return phrases, like

    def rank(self, text: str, question: int | None = None, prompt: str | None = None) -> list[Candidate]:
        """Every dimension with its evidence and calibrated score, best first.

        `question` is the guide question in effect; `prompt` what the interviewer said last
        (the question, or a follow-up on the answer), which the passage most likely answers.
        """
        passage = _Passage.read(text, self._lexicon)
        stems = Counter(s for s in stems_of(passage.tokens) if len(s) > 3)
        prompted, prompt_like = self._prompt_evidence(prompt)
        with self._lock:
            if question is not None and question != self._question:
                self._previous, self._question = self._question, question
                self._asking = prompt
            previous = self._previous if question == self._question else None
            # After a follow-up the answer is about the follow-up, which is often not the
            # question in effect.
            probe = 1.0 if prompt and self._asking and prompt != self._asking else 0.0
            if prompt != self._last_prompt:
                self._last_prompt, self._answers = prompt, 0
            self._answers += 1
            later = 1.0 if self._answers > 1 else 0.0
            reliability = self._phrase_reliability() if self._coded else None
            similar, rejected, similar_ind = self._similar(stems)
            by_words = self._word_evidence(stems)
            bayes = self._bayes(stems)
            learned_q = self._learned_question(question)
            positives = self._positives
            freq = {d: (self._dim_counts[d] + 1) / (positives + len(self._dims)) for d in self._dims}
        phrase_score, phrase_reliable, hits, associated = self._phrase_evidence(passage, reliability)
        if reliability is None:
            phrase_reliable = {d: v * PHRASE_PRIOR for d, v in phrase_score.items()}
        asked = self._asked_by.get(question, set()) if question is not None else set()
        before = self._asked_by.get(previous, set()) if previous is not None else set()
        best_phrase = max(phrase_score.values(), default=0.0)
        length = math.log1p(len(stems))
        out = []
        w = self.weights
        for dim in self.guide.dimensions:
            d = dim.id
            f = {
                "asked": 1.0 if d in asked else 0.0,
                "asked_probe": probe if d in asked else 0.0,
                "asked_later": later if d in asked else 0.0,
                "probe_prompt": probe * prompted.get(d, 0.0),
                "probe_prompt_question": probe * prompt_like.get(d, 0.0),
                "previous": 1.0 if d in before and d not in asked else 0.0,
                "learned_question": learned_q.get(d, 0.0),
                "prompt": prompted.get(d, 0.0),
                "prompt_question": prompt_like.get(d, 0.0),
                "phrase": phrase_score.get(d, 0.0),
                "phrase_reliable": phrase_reliable.get(d, 0.0),
                "phrase_best": 1.0 if d in phrase_score and phrase_score[d] >= best_phrase else 0.0,
                "words": by_words.get(d, 0.0),
                "similar": similar.get(d, 0.0),
                "bayes": bayes.get(d, 0.0),
                "phrase_learned": associated.get(d, 0.0),
                "frequency": math.log(freq[d] * len(self._dims)),
                "length": length,
            }
            # A passage much like one where this dimension was rejected: the researcher said no.
            against = max(0.0, rejected.get(d, 0.0) - 0.3) / 0.7
            z = w.get("bias", 0.0) + sum(w.get(k, 0.0) * v for k, v in f.items()) + REJECTED_WEIGHT * against
            f["rejected"] = against
            matched = sorted(hits.get(d, []), reverse=True)
            if matched:
                indicator = matched[0][2]
            elif d in similar_ind:
                indicator = similar_ind[d]
            else:
                indicator = dim.indicators[0].id
            out.append(Candidate(d, indicator, f, _sigmoid(z), phrases=[p for _, p, _ in matched[:3]]))
        out.sort(key=lambda c: -c.score)
        return out

    def suggest(self, text: str, question: int | None = None, prompt: str | None = None) -> list[NewSuggestion]:
        if not text.strip():
            return []
        out = []
        for c in self.rank(text, question, prompt)[: self.top]:
            if c.score < self.min_score:
                break
            reasons = []
            if c.phrases:
                reasons.append("said " + ", ".join(f"'{p}'" for p in c.phrases))
            if c.features["asked"]:
                reasons.append(f"question {question} asks about it")
            elif c.features["prompt"] > 0.3 or c.features["prompt_question"] > 0.5:
                reasons.append("the interviewer asked about it")
            if c.features["learned_question"] >= 0.2 and not c.features["asked"]:
                reasons.append(f"coded under question {question} before")
            if c.features["similar"] >= 0.3 or c.features["words"] >= 0.3:
                reasons.append("like passages coded with it before")
            if c.features["rejected"] > 0:
                reasons.append("though much like a passage where it was rejected")
            out.append(NewSuggestion(c.dimension_id, c.indicator_id, round(c.score, 3), "; ".join(reasons) or "little evidence: only how often it is coded"))
        return out
