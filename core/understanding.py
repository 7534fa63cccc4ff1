"""Understanding the conversation: which guide question is asked, which indicators are heard.

Both run on every segment as it arrives, using only what came before it, so an import gives
the same result as the live session would have.

Words are compared as light stems (Dutch plural and inflection endings off, doubled vowels
single: "afspraken" and "afspraak" are one stem), so a cue or phrase matches the forms speech
uses; a stem also matches inside a compound ("vertrouwensband", "netwerksamenwerking") and
through small recognition errors (rapidfuzz, on long words only).

Guide tracking scores interviewer speech against each question's text and cue phrases, words
weighted by how few questions share them; a question the guide has next gets a bonus, one
already asked a large penalty, and speech that does not ask anything (no question mark, no
question words) needs more evidence. Suggestions combine the question in effect (the guide's
mapping, and what the researcher coded under it before), the indicator phrases heard, and the
passages coded (or rejected) before that are most alike; a logistic model turns these into the
chance that the researcher would code the passage with the dimension, so one threshold means
the same in every session.
"""

from __future__ import annotations

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


def normalise(text: str) -> str:
    """Lowercase, accents off, punctuation to spaces: what matching compares."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    return normalise(text).split()


_SUFFIXES = ("ingen", "heden", "en", "es", "e", "s")
_DOUBLE_VOWEL = re.compile(r"([aeou])\1")
_DOUBLE_END = re.compile(r"([bdfgklmnprst])\1$")


def stem(word: str) -> str:
    """A light Dutch stem of a normalised word: inflections and spelling of one word meet.

    "afspraken" and "afspraak" -> "afsprak", "culturen" and "cultuur" -> "cultur",
    "overleggen" -> "overleg". Not linguistics: only so that forms of one word compare equal.
    """
    if len(word) <= 4:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    word = _DOUBLE_END.sub(r"\1", word)
    return _DOUBLE_VOWEL.sub(r"\1", word)


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 2 and not w.isdigit()]


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


class GuideTracker:
    """Follows the guide: the current question, and which questions were asked.

    Thread-safe: the pipeline thread observes interviewer speech while the interviewer may move
    the current question by hand from the screen.
    """

    # Fitted on interviews 1-4 of the reference study (bench/bench_understanding.py --tune).
    NEXT_BONUS = 0.12  # the question the guide has next, after the current one
    SOON_BONUS = 0.05  # the two after that
    ASKED_PENALTY = 0.45  # a question is posed once; speech on it later is a follow-up
    BEHIND_PENALTY = 0.04  # questions before the current one are asked late now and then
    STATEMENT_PENALTY = 0.15  # speech not put as a question
    MIN_WORDS = 5

    def __init__(self, guide: Guide, threshold: float = 0.55):
        self.guide = guide
        self.threshold = threshold
        self._lock = threading.Lock()
        self.current: int | None = None
        self.asked: set[int] = set()
        self._order = [q.number for q in guide.questions]
        patterns: dict[int, list[_Pattern]] = {}
        for q in guide.questions:
            pats = [p for p in (_Pattern.of(t) for t in (q.text, *q.cues)) if p is not None]
            patterns[q.number] = pats
        # A word that many questions share ("samenwerking", "organisaties") tells them apart
        # less than one that only one question has ("vertrouwen", "efficient").
        df: Counter[str] = Counter()
        for pats in patterns.values():
            df.update({s for p in pats for s in p.stems})
        n = len(patterns)
        self._weights = {s: math.log(1 + n / c) for s, c in df.items()}
        self._patterns = patterns
        self._lexicon = Lexicon(df)

    def score(self, text: str) -> list[QuestionMatch]:
        """How well speech matches each question on its own words, best first (0..1)."""
        passage = _Passage.read(text, self._lexicon)
        if len(passage.tokens) < self.MIN_WORDS or not passage.hits:
            return []
        out = []
        for number, pats in self._patterns.items():
            best = 0.0
            for i, pat in enumerate(pats):
                cover = pat.cover(passage, self._weights)
                if cover <= 0:
                    continue
                # The question's full text is long: part of it is enough, if the part is
                # specific. A cue is short: most of it must be heard.
                strength = sum(self._weights.get(s, 0.0) for s in pat.stems)
                if i == 0:
                    heard = cover * strength
                    s = min(1.0, heard / 4.0)
                else:
                    s = cover * min(1.0, strength / 3.0)
                best = max(best, s)
            if best > 0:
                out.append(QuestionMatch(number, best))
        out.sort(key=lambda m: -m.score)
        return out

    def _context(self, number: int, current: int | None, asked: set[int]) -> float:
        bonus = 0.0
        if number in asked:
            return -self.ASKED_PENALTY
        pending = [n for n in self._order if n not in asked]
        after = [n for n in pending if current is None or self._order.index(n) > self._order.index(current)]
        if after and number == after[0]:
            bonus += self.NEXT_BONUS
        elif number in after[1:3]:
            bonus += self.SOON_BONUS
        elif current is not None and self._order.index(number) < self._order.index(current):
            bonus -= self.BEHIND_PENALTY
        return bonus

    def observe(self, text: str) -> QuestionMatch | None:
        """Interviewer speech: if it asks a guide question, that question becomes current."""
        with self._lock:
            current = self.current
            asked = set(self.asked)
        matches = self.score(text)
        if not matches:
            return None
        penalty = 0.0 if asks_something(text) else self.STATEMENT_PENALTY
        best: QuestionMatch | None = None
        for m in matches:
            s = m.score + self._context(m.number, current, asked) - penalty
            if best is None or s > best.score:
                best = QuestionMatch(m.number, s)
        if best is None or best.score < self.threshold:
            return None
        with self._lock:
            self.current = best.number
            self.asked.add(best.number)
        return QuestionMatch(best.number, round(min(1.0, best.score), 3))

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
    neighbours: int = 0
    against: int = 0


@dataclass
class _Example:
    stems: Counter
    dimension_id: str
    indicator_id: str
    positive: bool
    question: int | None


# The logistic model over the features of `Suggester.rank`, fitted on interviews 1-4 of the
# reference study by `python bench/bench_understanding.py --fit` (each interview learning only
# from the ones before it, as in use). Features are study-independent: no weight names a
# dimension or a question.
WEIGHTS = {
    "bias": -4.0,
    "asked": 2.0,
    "learned_question": 2.5,
    "previous": 0.5,
    "phrase": 3.0,
    "phrase_best": 0.5,
    "similar": 3.0,
    "rejected": -1.5,
    "frequency": 1.0,
    "length": 0.4,
}


class Suggester:
    """Ranks the codebook's dimensions (with their best indicator) for a respondent passage.

    Evidence comes from the indicator phrases (fuzzy, so inflections, compounds and small
    recognition errors still match), the dimensions of the question in effect, and passages the
    researcher coded (or rejected) in earlier sessions of the same guide.
    """

    def __init__(self, guide: Guide, *, top: int = 3, min_score: float = 0.05, weights: dict | None = None):
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
            anchor = min(pat.stems, key=lambda s: (df[s], s))
            self._by_anchor[anchor].append(i)
        self._anchor_of = {i: min(pat.stems, key=lambda s: (df[s], s)) for i, (pat, _) in enumerate(self._phrases)}
        self._lexicon = Lexicon(df)
        # Memory of coded passages: an inverted index from stem to examples.
        self._examples: list[_Example] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._df: Counter[str] = Counter()
        self._norms: list[float] | None = None
        self._by_question: dict[int | None, Counter] = defaultdict(Counter)
        self._dim_counts: Counter[str] = Counter()
        self._positives = 0
        self._prev_question: int | None = None
        self._last_question: int | None = None

    # learning ----------------------------------------------------------------------------------

    def learn(self, text: str, indicator_id: str, positive: bool = True, question: int | None = None) -> None:
        """A passage the researcher coded with this indicator (or rejected it for)."""
        try:
            ind = self.guide.indicator(indicator_id)
        except KeyError:
            return  # coded with an indicator this version of the guide no longer has
        stems = Counter(s for s in content_stems(text) if len(s) > 3)
        with self._lock:
            if positive:
                self._by_question[question][ind.dimension_id] += 1
                self._dim_counts[ind.dimension_id] += 1
                self._positives += 1
            if not stems:
                return
            idx = len(self._examples)
            self._examples.append(_Example(stems, ind.dimension_id, ind.id, positive, question))
            for s in stems:
                self._postings[s].append(idx)
                self._df[s] += 1
            self._norms = None

    def learn_from(self, examples: Iterable[dict]) -> int:
        """Teach from `Store.coded_examples` rows; a coded span teaches with its own words."""
        n = 0
        for row in examples:
            text = row["text"]
            if row.get("start_offset") is not None and row.get("end_offset") is not None:
                text = text[row["start_offset"] : row["end_offset"]]
            self.learn(text, row["indicator_id"], bool(row["positive"]), row.get("question"))
            n += 1
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

    # evidence ----------------------------------------------------------------------------------

    def _phrase_hits(self, passage: _Passage) -> dict[str, list[tuple[float, str, str]]]:
        """Per dimension: (score, phrase, indicator id) of each phrase heard."""
        out: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        for anchor in passage.hits:
            for i in self._by_anchor.get(anchor, ()):
                pat, ind = self._phrases[i]
                s = pat.find(passage)
                if s > 0:
                    # A phrase of several words heard together says more than one word.
                    weight = 1.0 if len(pat.stems) + len(pat.function_words) > 1 else 0.7
                    out[ind.dimension_id].append((s * weight, pat.text, ind.id))
        return out

    def _similar(self, stems: Counter) -> tuple[dict[str, float], dict[str, float], dict[str, str], int]:
        """Nearest coded passages: per dimension the similarity of those coded with it, and of
        those where it was rejected; and the indicator most used for it among them."""
        if not self._examples or not stems:
            return {}, {}, {}, 0
        norms = self._example_norms()
        q = {s: c * self._idf(s) for s, c in stems.items() if s in self._postings}
        qnorm = math.sqrt(sum((c * self._idf(s)) ** 2 for s, c in stems.items())) or 1.0
        dots: dict[int, float] = defaultdict(float)
        for s, w in q.items():
            idf = self._idf(s)
            for idx in self._postings[s]:
                dots[idx] += w * self._examples[idx].stems[s] * idf
        sims = sorted(((d / (norms[i] * qnorm), i) for i, d in dots.items()), reverse=True)[:12]
        pos: dict[str, float] = defaultdict(float)
        neg: dict[str, float] = defaultdict(float)
        inds: dict[str, Counter] = defaultdict(Counter)
        total = sum(s for s, _ in sims) or 1.0
        for sim, i in sims:
            ex = self._examples[i]
            if ex.positive:
                pos[ex.dimension_id] += sim
                inds[ex.dimension_id][ex.indicator_id] += sim
            else:
                neg[ex.dimension_id] += sim
        # Share of the neighbours' weight, scaled by how alike the nearest one is: a passage
        # like nothing coded before gets little from its "nearest" neighbours.
        top = sims[0][0] if sims else 0.0
        pos = {d: v / total * min(1.0, top * 2) for d, v in pos.items()}
        neg = {d: v / total * min(1.0, top * 2) for d, v in neg.items()}
        best_ind = {d: c.most_common(1)[0][0] for d, c in inds.items()}
        return pos, neg, best_ind, len(sims)

    def _learned_question(self, question: int | None) -> dict[str, float]:
        """What the researcher coded passages under this question with, before: shares."""
        counts = self._by_question.get(question)
        if not counts:
            return {}
        total = sum(counts.values())
        # Few codings under a question say little yet: shrink towards nothing.
        return {d: c / (total + 3) for d, c in counts.items()}

    def rank(self, text: str, question: int | None = None) -> list[Candidate]:
        """Every dimension with its evidence and calibrated score, best first."""
        passage = _Passage.read(text, self._lexicon)
        stems = Counter(s for s in content_stems(text) if len(s) > 3)
        hits = self._phrase_hits(passage)
        with self._lock:
            similar, rejected, similar_ind, neighbours = self._similar(stems)
            learned_q = self._learned_question(question)
            positives = self._positives
            freq = {d: (self._dim_counts[d] + 1) / (positives + len(self._dims)) for d in self._dims}
            if question != self._last_question:
                self._prev_question, self._last_question = self._last_question, question
            previous = self._prev_question
        asked = self._asked_by.get(question, set()) if question is not None else set()
        before = self._asked_by.get(previous, set()) if previous is not None else set()
        phrase_score = {}
        for d, hs in hits.items():
            miss = 1.0
            for s, _, _ in sorted(hs, reverse=True)[:4]:
                miss *= 1 - 0.6 * s
            phrase_score[d] = 1 - miss
        best_phrase = max(phrase_score.values(), default=0.0)
        length = math.log1p(len(stems))
        out = []
        w = self.weights
        for dim in self.guide.dimensions:
            d = dim.id
            f = {
                "asked": 1.0 if d in asked else 0.0,
                "learned_question": learned_q.get(d, 0.0),
                "previous": 1.0 if d in before and d not in asked else 0.0,
                "phrase": phrase_score.get(d, 0.0),
                "phrase_best": 1.0 if d in phrase_score and phrase_score[d] >= best_phrase else 0.0,
                "similar": similar.get(d, 0.0),
                "rejected": rejected.get(d, 0.0),
                "frequency": math.log(freq[d] * len(self._dims)),
                "length": length,
            }
            z = w["bias"] + sum(w[k] * v for k, v in f.items())
            matched = sorted(hits.get(d, []), reverse=True)
            if matched:
                indicator = matched[0][2]
            elif d in similar_ind:
                indicator = similar_ind[d]
            else:
                indicator = dim.indicators[0].id
            out.append(
                Candidate(
                    d, indicator, f, _sigmoid(z),
                    phrases=[p for _, p, _ in matched[:3]],
                    neighbours=neighbours if similar.get(d) else 0,
                    against=1 if rejected.get(d) else 0,
                )
            )
        out.sort(key=lambda c: -c.score)
        return out

    def suggest(self, text: str, question: int | None = None) -> list[NewSuggestion]:
        if not words(text):
            return []
        out = []
        for c in self.rank(text, question)[: self.top]:
            if c.score < self.min_score:
                break
            reasons = []
            if c.phrases:
                reasons.append("said " + ", ".join(f"'{p}'" for p in c.phrases))
            if c.features["asked"]:
                reasons.append(f"question {question} asks about it")
            elif c.features["previous"]:
                reasons.append("the question before asked about it")
            if c.features["learned_question"] >= 0.2 and not c.features["asked"]:
                reasons.append(f"coded under question {question} before")
            if c.features["similar"] > 0.05:
                reasons.append("like passages coded before")
            if c.features["rejected"] > 0.05:
                reasons.append("though like suggestions rejected before")
            out.append(NewSuggestion(c.dimension_id, c.indicator_id, round(c.score, 3), "; ".join(reasons) or "often coded"))
        return out
