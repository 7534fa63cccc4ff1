"""Understanding the conversation: which guide question is asked, which indicators are heard.

Both run on every segment as it arrives, using only what came before it, so an import gives
the same result as the live session would have.

Words are compared as light stems (in Dutch: plural and inflection endings off, doubled vowels
single: "afspraken" and "afspraak" are one stem), so a cue or phrase matches the forms speech
uses; a stem also matches inside a compound ("vertrouwensband", "netwerksamenwerking") and
through small recognition errors (rapidfuzz, on long words only). What each language needs
(function words, fillers, how a question opens, its stemming) is read from its data file by
`core.study.language`, chosen by the guide's language.

Guide tracking considers only speech put as a question (a question mark, a clause opening with
a question word or verb once its fillers are off, "ik ben benieuwd"), so announcements,
summaries and small talk never move the guide. It scores that speech against each question's
text and cue phrases, words weighted by how few questions share them, and how far the best
question stands out, together with whether it is the question the guide has next; a logistic
model turns this into the chance that the speech poses the question, and the best question
becomes current when that chance is at least the threshold. A question already asked is not
detected again: speech on it later is a follow-up.

Suggestions combine the question in effect (the guide's mapping, and what the researcher coded
under it before), what the interviewer just asked, the indicator phrases heard, and the
passages coded (or rejected) before; a second logistic model turns these into the chance that
the researcher would code the passage with the dimension, so one threshold means the same in
every session. The question in effect's dimensions are always among the suggestions.

Both models have few weights, hold no word, question or dimension of the study, and are
fitted by `bench/bench_understanding.py --fit` on the tuning interviews of the reference study,
each read as an interview the cues and phrases were not written from (see that script); the
features and the threshold were chosen by leave-one-interview-out cross-validation there.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from rapidfuzz import fuzz, process

from core.study.guide import Guide, Indicator
from core.study.language import Language, load_language, words
from core.store.database import NewSuggestion

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
    def read(cls, text: str, lexicon: Lexicon, language: Language) -> "_Passage":
        tokens = words(text)
        hits: dict[str, list[tuple[int, float]]] = defaultdict(list)
        plain: dict[str, list[int]] = defaultdict(list)
        for pos, w in enumerate(tokens):
            plain[w].append(pos)
            if w in language.stopwords or len(w) <= 2:
                continue
            for known, score in lexicon.match(language.stem(w)):
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
            reach = {p for p in at if any(0 < p - q <= max_gap + 1 for q in reach)}
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


# The logistic model over the features of `GuideTracker.features`: the chance that the speech
# poses the question. Fitted by `python bench/bench_understanding.py --fit` on interviews 1-4 of
# the reference study, each with the cues heard only in it taken out of the guide (so it is read
# as an interview the cues were not written from) and the tracker running on its own
# detections, as in use; the features were chosen by leave-one-interview-out cross-validation
# (`--cv`). No weight names a question or a word.
QUESTION_WEIGHTS = {
    "bias": -4.233,
    "cue": 1.37,
    "whole_cue": 2.606,
    "text": 1.192,
    "margin": 1.779,
    "next": 2.423,
}

# The same model for a question that has no cues of its own and is followed by the clauses of its
# text (a guide just written from the question list): fitted the same way on interviews 1-4 with
# every cue taken out of the guide. It weighs a clause heard, and the likeness to the whole
# question, more than a heard cue is weighed above: a clause is the question's own wording.
CLAUSE_QUESTION_WEIGHTS = {
    "bias": -3.541,
    "cue": 2.125,
    "whole_cue": 0.434,
    "text": 2.126,
    "margin": 1.794,
    "next": 2.254,
}

# Suggestions are stored whatever their score; during a session only those from this chance up
# are shown and offered for one-key acceptance (in cross-validation about one in four of the
# suggestions scored 0.2-0.4 was coded, one in ten below).
SHOWN_FROM = 0.2

# The chance from which speech counts as asking the question. In cross-validation 0.5 and 0.55
# detect the same; below, follow-up probes start to count as questions, above, questions are
# missed.
QUESTION_THRESHOLD = 0.5

# A cue of at least this many words said word for word, in its order, counts as heard whole even
# when its words are common to several questions ("how were you involved in the pilot"): the
# wording tells the question apart. In cross-validation 4 to 7 detect the same.
VERBATIM_WORDS = 5


class GuideTracker:
    """Follows the guide: the current question, and which questions were asked.

    Thread-safe: the pipeline thread observes interviewer speech while the interviewer may move
    the current question by hand from the screen.
    """

    MIN_WORDS = 4

    def __init__(self, guide: Guide, threshold: float | None = None, weights: dict | None = None,
                 language: Language | None = None, clause_weights: dict | None = None):
        self.guide = guide
        self.language = load_language(guide.language) if language is None else language
        self.threshold = QUESTION_THRESHOLD if threshold is None else threshold
        self.weights = dict(QUESTION_WEIGHTS if weights is None else weights)
        # Questions followed by their own clauses (no cues) are weighed by their own model.
        self.clause_weights = dict(CLAUSE_QUESTION_WEIGHTS if clause_weights is None else clause_weights)
        self._by_clauses = {q.number for q in guide.questions if not q.cues}
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
            self._text[q.number] = _Pattern.of(q.text, self.language)
            # A question without cues of its own (a guide just written) is followed by the parts
            # of its own text, each of which an interviewer may say on its own.
            cues = q.cues or self.language.clauses(q.text)
            self._cues[q.number] = [p for p in (_Pattern.of(c, self.language) for c in cues) if p is not None]
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

    def features(self, text: str, current: int | None = None, asked: set[int] | frozenset = frozenset()
                 ) -> dict[int, dict[str, float]]:
        """Per question, the evidence that this speech asks it, given where the interview is."""
        passage = _Passage.read(text, self._lexicon, self.language)
        # Only speech put as a question poses one: an announcement ("we are at the last
        # questions"), a summary without a question mark or small talk does not.
        if len(passage.tokens) < self.MIN_WORDS or not passage.hits or not self.language.asks_something(text):
            return {}
        here = self._position.get(current, -1) if current is not None else -1
        after = [n for n in self._order if n not in asked and self._position[n] > here]
        upcoming = after[0] if after else None
        content: dict[int, dict[str, float]] = {}
        raw: dict[int, float] = {}
        for number in self._order:
            if number in asked:
                # Asked once; speech on it later is a follow-up, not the question again.
                continue
            covers = [(c.cover(passage, self._weights), self._strength(c)) for c in self._cues[number]]
            cue = max((c * st for c, st in covers), default=0.0)
            # A cue heard whole, and specific enough to tell its question apart (or heard word
            # for word, function words too, when it is long enough to be a wording of its own).
            whole_cue = 1.0 if any(c >= 0.99 and st >= 0.6 for c, st in covers) else 0.0
            if not whole_cue and any(len(c.sequence) >= VERBATIM_WORDS and c.said_in_order(passage)
                                     for c in self._cues[number]):
                whole_cue = 1.0
            pat = self._text[number]
            whole = pat.cover(passage, self._weights) if pat is not None else 0.0
            if cue or whole:
                heard = sum(self._weights[s] for s in self._vocabulary[number] if s in passage.hits)
                content[number] = {"cue": cue, "whole_cue": whole_cue, "text": whole}
                raw[number] = cue + whole + min(1.0, heard / 8.0)
        if not content:
            return {}
        ranked = sorted(raw.values(), reverse=True)
        top = ranked[0]
        second = ranked[1] if len(ranked) > 1 else 0.0
        for number, f in content.items():
            # How far this question stands out from the best other one.
            f["margin"] = raw[number] - (second if raw[number] >= top else top)
            f["next"] = 1.0 if number == upcoming else 0.0
        return content

    def score(self, text: str, current: int | None = None, asked: set[int] | frozenset = frozenset()
              ) -> list[QuestionMatch]:
        """The chance that this speech asks each question (0..1), best first."""
        out = []
        for n, f in self.features(text, current, asked).items():
            w = self.clause_weights if n in self._by_clauses else self.weights
            out.append(QuestionMatch(n, _sigmoid(w.get("bias", 0.0) + sum(w.get(k, 0.0) * v for k, v in f.items()))))
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
    like: str | None = None  # the opening words of the most alike passage coded with it


def _quote(text: str, words_: int = 8) -> str:
    """The opening words of a passage, quoted, to name it in a reason."""
    said = text.split()
    if not said:
        return ""
    head = " ".join(said[:words_]).rstrip(",;:")
    return f"“{head}…”" if len(said) > words_ else f"“{head}”"


@dataclass
class _Example:
    stems: Counter
    dimension_id: str
    indicator_id: str
    positive: bool
    quote: str = ""


# The logistic model over the features of `Suggester.rank`: the chance that the researcher
# codes the passage with the dimension. Fitted by `python bench/bench_understanding.py --fit` on
# interviews 1-4 of the reference study, each seen as an interview the codebook was not written
# from (its own phrases out) and learning from the codings of the other three; the features were
# chosen by leave-one-interview-out cross-validation (`--cv`). No weight names a dimension, a
# question or a word, so the model carries over to other guides. "rejected" is set, not
# fitted: the development set has no passage said twice, so nothing there shows what a
# rejection should weigh; this weight takes most of a dimension's score away from a passage
# nearly the same as one it was rejected for.
WEIGHTS = {
    "bias": -5.927,
    "asked": 2.553,
    "learned_question": 1.136,
    "prompt": 2.057,
    "phrase": 2.471,
    "phrase_best": 0.952,
    "similar": 1.196,
    "length": 0.518,
}
REJECTED_WEIGHT = -4.0

# The same model for a codebook whose indicators listen for nothing but their names (one just
# brought in from QDA software): fitted the same way on interviews 1-4 with the reference study
# started as such a study would be (`bench_understanding.py`, third table), and on each of them
# alone too, as a new study's first interview has nothing coded before it. Names are seldom said,
# so phrases weigh nothing here and the question in effect, what was coded under it and the most
# alike coded passage weigh more; with the main model's weights such a study's scores were far
# too low (a mean score of 0.26 where two in three were coded). Once the researcher writes
# phrases of their own, the main model applies.
NAMES_ONLY_WEIGHTS = {
    "bias": -5.718,
    "asked": 3.157,
    "learned_question": 1.824,
    "prompt": 0.964,
    "phrase": 0.0,
    "phrase_best": 0.0,
    "similar": 1.801,
    "length": 0.722,
}


def names_only(guide: Guide) -> bool:
    """Whether every indicator of the codebook listens for its name alone."""
    return bool(guide.indicators) and all(i.phrases == (i.name,) for i in guide.indicators)


class Suggester:
    """Ranks the codebook's dimensions (with their best indicator) for a respondent passage.

    Evidence comes from the indicator phrases (fuzzy, so inflections, compounds and small
    recognition errors still match), the dimensions of the question in effect and what the
    interviewer just asked, and passages the researcher coded (or rejected suggestions for) in
    earlier sessions of the same guide: what was coded under the same question, and the most
    alike passage coded with each dimension.
    """

    def __init__(self, guide: Guide, *, top: int = 3, min_score: float = 0.01, weights: dict | None = None,
                 language: Language | None = None):
        self.guide = guide
        self.language = load_language(guide.language) if language is None else language
        self.top = top
        self.min_score = min_score
        if weights is None:
            weights = NAMES_ONLY_WEIGHTS if names_only(guide) else WEIGHTS
        self.weights = dict(weights)
        self._lock = threading.Lock()
        self._asked_by = {q.number: set(q.dimension_ids) for q in guide.questions}
        # Links fieldnote drafted from shared words (a new study's codebook import), not checked
        # by the researcher: each counts until passages coded under its question say otherwise.
        self._drafted_by = {q.number: set(q.drafted_dimension_ids) for q in guide.questions if q.drafted_dimension_ids}
        self._phrases: list[tuple[_Pattern, Indicator]] = []
        for ind in guide.indicators:
            for p in ind.phrases:
                pat = _Pattern.of(p, self.language)
                if pat is not None:
                    self._phrases.append((pat, ind))
        # Phrases are looked up through their rarest stem: only phrases whose stems were
        # heard are checked at all, so a codebook of hundreds of indicators stays fast.
        df: Counter[str] = Counter(s for pat, _ in self._phrases for s in pat.stems)
        self._by_anchor: dict[str, list[int]] = defaultdict(list)
        for i, (pat, _) in enumerate(self._phrases):
            self._by_anchor[min(pat.stems, key=lambda s: (df[s], s))].append(i)
        self._lexicon = Lexicon(df)
        # What was coded before: examples with an inverted index (for the most alike passage),
        # and per question what it was coded with.
        self._examples: list[_Example] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._df: Counter[str] = Counter()
        self._norms: list[float] | None = None
        self._seen: set[tuple[int, str]] = set()
        self._by_question: dict[int | None, Counter] = defaultdict(Counter)
        # The interviewer's last words, read once for all the passages that answer them.
        self._prompt_text: str | None = None
        self._prompt_score: dict[str, float] = {}

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
        stems = Counter(s for s in self.language.content_stems(text) if len(s) > 3)
        key = (hash(text), ind.dimension_id)
        with self._lock:
            if positive and key not in self._seen:
                # Two indicators of one dimension on one passage are one piece of evidence.
                self._seen.add(key)
                self._by_question[question][ind.dimension_id] += 1
            elif positive:
                return
            if not stems:
                return
            idx = len(self._examples)
            self._examples.append(_Example(stems, ind.dimension_id, ind.id, positive, _quote(text)))
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
        # Index what was learned now, not on the first passage of the session.
        with self._lock:
            self._example_norms()
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

    def _similar(self, stems: Counter) -> tuple[dict[str, float], dict[str, float], dict[str, _Example]]:
        """Per dimension, the likeness (cosine, 0..1) of the most alike passage coded with it and
        of the most alike passage where it was rejected; and that coded passage."""
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
        best: dict[str, _Example] = {}
        for idx, dot in dots.items():
            ex = self._examples[idx]
            sim = dot / (norms[idx] * qnorm)
            into = pos if ex.positive else neg
            if sim > into.get(ex.dimension_id, 0.0):
                into[ex.dimension_id] = sim
                if ex.positive:
                    best[ex.dimension_id] = ex
        return pos, neg, best

    def _asked(self, question: int | None) -> set[str]:
        """The dimensions the question in effect asks about: as the guide links them, and as
        drafted, while the codings under the question do not contradict the draft (nothing
        coded under it yet, or this dimension among what was)."""
        if question is None:
            return set()
        asked = self._asked_by.get(question, set())
        drafted = self._drafted_by.get(question)
        if drafted:
            coded = self._by_question.get(question)
            asked = asked | {d for d in drafted if not coded or coded.get(d, 0) > 0}
        return asked

    def _learned_question(self, question: int | None) -> dict[str, float]:
        """What the researcher coded passages under this question with, before: shares."""
        counts = self._by_question.get(question)
        if not counts:
            return {}
        total = sum(counts.values())
        # Few codings under a question say little yet: shrink towards nothing.
        return {d: c / (total + 3) for d, c in counts.items()}

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

    def _phrase_evidence(self, passage: _Passage) -> tuple[dict[str, float], dict[str, list[tuple[float, str, str]]]]:
        hits = self._phrase_hits(passage)
        score = {}
        for d, hs in hits.items():
            miss = 1.0
            for s, _, _ in sorted(hs, reverse=True)[:4]:
                miss *= 1 - 0.6 * s
            score[d] = 1 - miss
        return score, hits

    def _prompt_evidence(self, prompt: str | None) -> dict[str, float]:
        if not prompt:
            return {}
        with self._lock:
            if prompt == self._prompt_text:
                return self._prompt_score
        score, _ = self._phrase_evidence(_Passage.read(prompt, self._lexicon, self.language))
        with self._lock:
            self._prompt_text, self._prompt_score = prompt, score
        return score

    def rank(self, text: str, question: int | None = None, prompt: str | None = None) -> list[Candidate]:
        """Every dimension with its evidence and calibrated score, best first.

        `question` is the guide question in effect; `prompt` what the interviewer said last
        (the question, or a follow-up on the answer), which the passage most likely answers.
        """
        passage = _Passage.read(text, self._lexicon, self.language)
        stems = Counter(s for s in self.language.stems_of(passage.tokens) if len(s) > 3)
        phrase_score, hits = self._phrase_evidence(passage)
        prompted = self._prompt_evidence(prompt)
        with self._lock:
            similar, rejected, similar_ind = self._similar(stems)
            learned_q = self._learned_question(question)
            asked = self._asked(question)
        best_phrase = max(phrase_score.values(), default=0.0)
        length = math.log1p(len(stems))
        out = []
        w = self.weights
        for dim in self.guide.dimensions:
            d = dim.id
            f = {
                "asked": 1.0 if d in asked else 0.0,
                "learned_question": learned_q.get(d, 0.0),
                "prompt": prompted.get(d, 0.0),
                "phrase": phrase_score.get(d, 0.0),
                "phrase_best": 1.0 if d in phrase_score and phrase_score[d] >= best_phrase else 0.0,
                "similar": similar.get(d, 0.0),
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
                indicator = similar_ind[d].indicator_id
            else:
                indicator = dim.indicators[0].id
            like = similar_ind[d].quote if d in similar_ind else None
            out.append(Candidate(d, indicator, f, _sigmoid(z), phrases=[p for _, p, _ in matched[:3]], like=like))
        out.sort(key=lambda c: -c.score)
        return out

    def suggest(self, text: str, question: int | None = None, prompt: str | None = None) -> list[NewSuggestion]:
        if not text.strip():
            return []
        ranked = self.rank(text, question, prompt)
        chosen = ranked[: self.top]
        # The question in effect is always offered: whatever else the passage seems to say,
        # the suggestions never do worse than the guide's own mapping.
        for c in ranked[self.top :]:
            if c.features["asked"] and len(chosen) == self.top:
                spare = [k for k, x in enumerate(chosen) if not x.features["asked"]]
                if spare:
                    del chosen[spare[-1]]
                    chosen.append(c)
        out = []
        for c in chosen:
            if c.score < self.min_score and not c.features["asked"]:
                continue
            reasons = []
            if c.phrases:
                reasons.append("said " + ", ".join(f"'{p}'" for p in c.phrases))
            if c.features["asked"]:
                if c.dimension_id in self._asked_by.get(question, ()):
                    reasons.append(f"question {question} asks about it")
                else:
                    reasons.append(f"question {question} may ask about it (a drafted link)")
            elif c.features["prompt"] > 0.3:
                reasons.append("the interviewer asked about it")
            if c.features["learned_question"] >= 0.2 and not c.features["asked"]:
                reasons.append(f"coded under question {question} before")
            if c.features["similar"] >= 0.3:
                reasons.append(f"like {c.like} coded with it before" if c.like else "like a passage coded with it before")
            if c.features["rejected"] > 0:
                reasons.append("though much like a passage where it was rejected")
            out.append(NewSuggestion(c.dimension_id, c.indicator_id, round(c.score, 3),
                                     "; ".join(reasons) or "little evidence: nothing said or asked points at it"))
        return out
