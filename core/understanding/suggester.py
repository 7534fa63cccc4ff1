"""Code suggestions: which dimensions (with their best indicator) a respondent's passage gives
evidence for.

They run on every respondent segment as it arrives, using only what came before it, so an
import gives the same result as the live session would have.

Suggestions combine the question in effect (the guide's mapping, and what the researcher coded
under it before), what the interviewer just asked, the indicator phrases heard (matched as
`core.understanding.features` reads words), and the passages coded (or rejected) before; a
logistic model (`core.understanding.weights`) turns these into the chance that the researcher
would code the passage with the dimension, so one threshold means the same in every session.
The question in effect's dimensions are always among the suggestions.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from core.store.database import NewSuggestion
from core.study.guide import Guide, Indicator
from core.study.language import load_language
from core.understanding.features import Lexicon, _Passage, _Pattern, _sigmoid
from core.understanding.weights import NAMES_ONLY_WEIGHTS, WEIGHTS

# Suggestions are stored whatever their score; during a session only those from this chance up
# are shown and offered for one-key acceptance (in cross-validation about one in four of the
# suggestions scored 0.2-0.4 was coded, one in ten below).
SHOWN_FROM = 0.2


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


# A passage much like one the dimension was rejected for loses most of its score for it. This
# weight is set, not fitted (`core.understanding.weights` has the fitted ones): the development
# set has no passage said twice, so nothing there shows what a rejection should weigh.
REJECTED_WEIGHT = -4.0


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

    # How many dimensions are suggested for a passage, and the score below which one is not
    # suggested at all (the question in effect's dimensions always are).
    TOP = 3
    MIN_SCORE = 0.01

    def __init__(self, guide: Guide, *, weights: dict | None = None):
        self.guide = guide
        self.language = load_language(guide.language)
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
        chosen = ranked[: self.TOP]
        # The question in effect is always offered: whatever else the passage seems to say,
        # the suggestions never do worse than the guide's own mapping.
        for c in ranked[self.TOP :]:
            if c.features["asked"] and len(chosen) == self.TOP:
                spare = [k for k, x in enumerate(chosen) if not x.features["asked"]]
                if spare:
                    del chosen[spare[-1]]
                    chosen.append(c)
        out = []
        for c in chosen:
            if c.score < self.MIN_SCORE and not c.features["asked"]:
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
