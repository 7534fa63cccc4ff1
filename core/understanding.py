"""Understanding the conversation: which guide question is asked, which indicators are heard.

Both run on every segment as it arrives, using only what came before it, so an import gives
the same result as the live session would have.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

from .guide import Guide, Indicator
from .store import NewSuggestion

_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """Lowercase, accents off, punctuation to spaces: what matching compares."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    return normalise(text).split()


# ---------------------------------------------------------------------------------------------
# Guide tracking


@dataclass(frozen=True)
class QuestionMatch:
    number: int
    score: float


class GuideTracker:
    """Follows the guide: the current question, and which questions were asked.

    Thread-safe: the pipeline thread observes interviewer speech while the interviewer may move
    the current question by hand from the screen.
    """

    def __init__(self, guide: Guide, threshold: float = 0.72):
        self.guide = guide
        self.threshold = threshold
        self._lock = threading.Lock()
        self.current: int | None = None
        self.asked: set[int] = set()
        self._candidates = {
            q.number: [normalise(q.text)] + [normalise(c) for c in q.cues] for q in guide.questions
        }

    def score(self, text: str) -> list[QuestionMatch]:
        said = normalise(text)
        if len(said.split()) < 3:
            return []
        out = []
        for number, candidates in self._candidates.items():
            best = 0.0
            for cand in candidates:
                if len(cand.split()) <= len(said.split()):
                    s = fuzz.partial_token_set_ratio(cand, said) if len(cand.split()) <= 3 else fuzz.token_set_ratio(cand, said)
                    s = max(s, fuzz.partial_ratio(cand, said))
                else:
                    s = fuzz.token_set_ratio(cand, said)
                best = max(best, s / 100)
            out.append(QuestionMatch(number, best))
        out.sort(key=lambda m: -m.score)
        return out

    def observe(self, text: str) -> QuestionMatch | None:
        """Interviewer speech: if it asks a guide question, that question becomes current."""
        with self._lock:
            current = self.current
            asked = set(self.asked)
        best: QuestionMatch | None = None
        for m in self.score(text):
            s = m.score
            if current is not None:
                ahead = m.number - current
                if 1 <= ahead <= 2:
                    s += 0.06  # guides are mostly followed in order
                elif m.number == current:
                    s -= 0.08  # a follow-up on the current question is not a new question
            if m.number in asked:
                s -= 0.05
            if best is None or s > best.score:
                best = QuestionMatch(m.number, s)
        if best is None or best.score < self.threshold:
            return None
        with self._lock:
            self.current = best.number
            self.asked.add(best.number)
        return QuestionMatch(best.number, min(1.0, best.score))

    def set_current(self, number: int | None) -> None:
        with self._lock:
            if number is not None and self.guide.question(number) is None:
                raise ValueError(f"no question {number} in guide {self.guide.id}")
            self.current = number
            if number is not None:
                self.asked.add(number)

    def step(self, delta: int) -> int | None:
        numbers = [q.number for q in self.guide.questions]
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


@dataclass(frozen=True)
class _Phrase:
    text: str
    tokens: tuple[str, ...]
    indicator: Indicator


class Suggester:
    """Ranks the codebook's indicators for a respondent segment.

    Evidence comes from the indicator phrases (fuzzy, so inflections, compounds and small
    recognition errors still match), the dimensions of the question in effect, and passages the
    researcher coded (or rejected) in earlier sessions of the same guide.
    """

    def __init__(self, guide: Guide, *, top: int = 3, min_score: float = 0.3):
        self.guide = guide
        self.top = top
        self.min_score = min_score
        self._phrases = [
            _Phrase(normalise(p), tuple(normalise(p).split()), ind)
            for ind in guide.indicators
            for p in ind.phrases
            if normalise(p)
        ]
        self._examples: list[tuple[frozenset[str], Indicator, bool]] = []

    def learn(self, text: str, indicator_id: str, positive: bool = True) -> None:
        try:
            ind = self.guide.indicator(indicator_id)
        except KeyError:
            return  # coded with an indicator this version of the guide no longer has
        tokens = frozenset(w for w in words(text) if len(w) > 3)
        if tokens:
            self._examples.append((tokens, ind, positive))

    @staticmethod
    def _token_match(phrase: str, token: str) -> float:
        if token == phrase:
            return 1.0
        if len(phrase) >= 4 and (token.startswith(phrase) or (len(phrase) >= 6 and phrase in token)):
            return 0.95  # inflection or compound: vertrouwen -> vertrouwensband
        if len(phrase) >= 5 and abs(len(token) - len(phrase)) <= 2:
            r = fuzz.ratio(phrase, token) / 100
            if r >= 0.86:
                return r
        return 0.0

    def _phrase_score(self, phrase: _Phrase, tokens: list[str], text: str) -> float:
        if len(phrase.tokens) == 1:
            p = phrase.tokens[0]
            return max((self._token_match(p, t) for t in tokens), default=0.0)
        r = fuzz.partial_ratio(phrase.text, text) / 100
        return r if r >= 0.85 else 0.0

    def suggest(self, text: str, question: int | None = None) -> list[NewSuggestion]:
        norm = normalise(text)
        tokens = norm.split()
        if not tokens:
            return []
        hits: dict[str, list[tuple[float, str]]] = {}
        for phrase in self._phrases:
            s = self._phrase_score(phrase, tokens, norm)
            if s > 0:
                hits.setdefault(phrase.indicator.id, []).append((s, phrase.text))

        q = self.guide.question(question)
        asked_dims = set(q.dimension_ids) if q else set()
        token_set = frozenset(t for t in tokens if len(t) > 3)
        similar: dict[str, float] = {}
        for ex_tokens, ind, positive in self._examples:
            overlap = len(ex_tokens & token_set) / max(1, min(len(ex_tokens), len(token_set)))
            if overlap >= 0.3:
                similar[ind.id] = similar.get(ind.id, 0.0) + (overlap if positive else -overlap)

        scored = []
        for ind in self.guide.indicators:
            matched = sorted(hits.get(ind.id, []), reverse=True)
            evidence = 1.0
            for s, _ in matched[:4]:
                evidence *= 1 - 0.55 * s
            evidence = 1 - evidence
            prior = 0.22 if ind.dimension_id in asked_dims else 0.0
            learned = max(-0.4, min(0.4, 0.25 * similar.get(ind.id, 0.0)))
            score = max(0.0, min(1.0, evidence + prior * (1 if matched else 0.5) + learned))
            if score < self.min_score:
                continue
            reasons = []
            if matched:
                reasons.append("said " + ", ".join(f"'{p}'" for _, p in matched[:3]))
            if prior:
                reasons.append(f"question {question} asks about it")
            if learned > 0:
                reasons.append("like passages coded before")
            elif learned < 0:
                reasons.append("like suggestions rejected before")
            scored.append(NewSuggestion(ind.dimension_id, ind.id, round(score, 3), "; ".join(reasons)))
        scored.sort(key=lambda s: -s.score)
        return scored[: self.top]
