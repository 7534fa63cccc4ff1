"""Who is the interviewer: the speaker who asks the guide's questions, and, on one mixed track,
which segments are the interviewer's.

Both read only what the study gives: the guide's questions (matched as guide tracking matches
them, `core.understanding.tracker`) and the study's language file (a question mark, or a clause
that opens with a question word, `Language.asks_something`). Nothing here knows a particular
study.

- `find_interviewer` takes named turns (a Teams transcript, "Name: text") and follows the guide
  once per speaker, as if each were the interviewer: the one whose speech poses the guide's
  questions, and clearly more of them than anyone else, is taken.
- `propose_roles` takes the segments of one mixed track in order, with their times when known.
  Each segment gets evidence of being the interviewer's (it poses a guide question; it is put
  as a question; it is short) from a logistic model, and the sequence is read as two speakers
  taking turns (a forward-backward pass over interviewer/respondent): the turn after a question
  is likely the other speaker's, a long pause more likely a change of speaker than a short one,
  and typed turns (no times) alternate almost always. Each segment's sureness is the chance of
  the role proposed given the whole sequence.
- `score_roles` measures proposals against the truth: the share of segments, and of words,
  assigned right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from core.study.guide import Guide
from core.study.language import Language, load_language, words
from core.understanding.tracker import GuideTracker

INTERVIEWER, RESPONDENT = "interviewer", "respondent"


@dataclass(frozen=True)
class InterviewerGuess:
    speaker: str
    sureness: float  # 0..1
    reason: str  # a sentence a user can read: "asks 14 of the 24 questions; the others ask 0"


@dataclass(frozen=True)
class RoleProposal:
    interviewer: bool
    sureness: float  # the chance, 0.5..1, that the role proposed is right


@dataclass(frozen=True)
class RoleScore:
    segments: int
    right: int
    words: int
    right_words: int

    @property
    def share(self) -> float:
        return self.right / self.segments if self.segments else 0.0

    @property
    def word_share(self) -> float:
        return self.right_words / self.words if self.words else 0.0


# A speaker is taken as the interviewer only from this sureness up; below it the import asks for
# --interviewer as before.
CLEAR = 0.6

# At least this many guide questions posed before anyone counts as asking the guide's questions.
MIN_QUESTIONS = 2


def _language(guide: Guide, language: Language | None) -> Language:
    return load_language(guide.language) if language is None else language


def questions_posed(texts: Sequence[str], guide: Guide, language: Language | None = None) -> set[int]:
    """The guide questions these texts pose, followed in order as one interviewer's speech."""
    tracker = GuideTracker(guide, language=_language(guide, language))
    for text in texts:
        tracker.observe(text)
    return set(tracker.asked)


def find_interviewer(turns: Sequence[tuple[str, str]], guide: Guide,
                     language: Language | None = None) -> InterviewerGuess | None:
    """The speaker who clearly asks the guide's questions, or None when no one clearly does."""
    lang = _language(guide, language)
    by_speaker: dict[str, list[str]] = {}
    for speaker, text in turns:
        by_speaker.setdefault(speaker, []).append(text)
    if len(by_speaker) < 2:
        return None
    posed = {s: len(questions_posed(texts, guide, lang)) for s, texts in by_speaker.items()}
    asking = {s: sum(1 for t in texts if lang.asks_something(t)) for s, texts in by_speaker.items()}
    ranked = sorted(posed, key=lambda s: (-posed[s], -asking[s]))
    best, others = ranked[0], ranked[1:]
    top, second = posed[best], max(posed[s] for s in others)
    total = len(guide.questions)
    # How far the best speaker stands out: a share of the questions the two best pose between
    # them, held back while few questions are posed at all.
    sureness = (top - second) / (top + second) * min(1.0, top / (2 * MIN_QUESTIONS)) if top else 0.0
    if top < MIN_QUESTIONS or sureness < CLEAR:
        return None
    rest = "the other asks" if len(others) == 1 else "the others ask"
    rest += f" {second}" if len(others) == 1 or all(posed[s] == second for s in others) else f" at most {second}"
    return InterviewerGuess(best, round(sureness, 2), f"asks {top} of the {total} questions; {rest}")


# The logistic model of a segment being the interviewer's, from its own evidence: whether it
# poses a guide question (the tracker's chance), whether it is put as a question, and its length
# (words, on a log scale). Fitted on the tuning interviews 1-4 by `bench/bench_speakers.py --fit`.
ROLE_WEIGHTS = {"bias": 1.0, "poses": 3.0, "asks": 2.0, "length": -1.0}

# The chance that the next segment is another speaker's: typed turns (no times) change speaker
# almost always; segments of a recording often go on with the same speaker.
SWITCH_TURNS = 0.9
SWITCH_SEGMENTS = 0.35
# ... and after a segment put as a question, or after a pause this long (seconds).
SWITCH_AFTER_QUESTION = 0.8
LONG_PAUSE = 1.0
SWITCH_AFTER_PAUSE = 0.6


def segment_evidence(texts: Sequence[str], guide: Guide, language: Language | None = None) -> list[dict[str, float]]:
    """Per segment, what `ROLE_WEIGHTS` weighs."""
    lang = _language(guide, language)
    tracker = GuideTracker(guide, language=lang)
    out = []
    for text in texts:
        matches = tracker.score(text, tracker.current, tracker.asked)
        poses = matches[0].score if matches else 0.0
        if matches and poses >= tracker.threshold:
            tracker.set_current(matches[0].number)
        n = len(words(text))
        out.append({"poses": poses, "asks": 1.0 if lang.asks_something(text) else 0.0,
                    "length": math.log1p(n)})
    return out


def _logit(evidence: dict[str, float], weights: dict[str, float]) -> float:
    return weights.get("bias", 0.0) + sum(weights.get(k, 0.0) * v for k, v in evidence.items())


def _switch_chances(texts: Sequence[str], asks: list[float], starts, ends) -> list[float]:
    """The chance that segment i+1 is another speaker's than segment i."""
    timed = starts is not None and ends is not None
    out = []
    for i in range(len(texts) - 1):
        p = SWITCH_SEGMENTS if timed else SWITCH_TURNS
        if asks[i]:
            p = max(p, SWITCH_AFTER_QUESTION)
        if timed and starts[i + 1] is not None and ends[i] is not None and starts[i + 1] - ends[i] >= LONG_PAUSE:
            p = max(p, SWITCH_AFTER_PAUSE)
        out.append(p)
    return out


def propose_roles(texts: Sequence[str], guide: Guide, language: Language | None = None,
                  starts: Sequence[float | None] | None = None, ends: Sequence[float | None] | None = None,
                  weights: dict[str, float] | None = None) -> list[RoleProposal]:
    """For one mixed track's segments in order, whether each is the interviewer's."""
    if not texts:
        return []
    evidence = segment_evidence(texts, guide, language)
    w = ROLE_WEIGHTS if weights is None else weights
    # Each segment's own evidence as the chance it is the interviewer's, kept from 0 and 1 so
    # that the sequence can overrule it.
    own = [min(0.98, max(0.02, 1 / (1 + math.exp(-_logit(e, w))))) for e in evidence]
    switch = _switch_chances(texts, [e["asks"] for e in evidence], starts, ends)
    posterior = _forward_backward(own, switch)
    return [RoleProposal(p >= 0.5, round(max(p, 1 - p), 3)) for p in posterior]


def _forward_backward(own: list[float], switch: list[float]) -> list[float]:
    """The chance each segment is the interviewer's, given every segment's own evidence and the
    chances of a change of speaker between them (two states; scaled to stay in range)."""
    n = len(own)
    fwd = [[0.0, 0.0] for _ in range(n)]
    a = [own[0], 1 - own[0]]
    total = sum(a)
    fwd[0] = [a[0] / total, a[1] / total]
    for i in range(1, n):
        s = switch[i - 1]
        prev = fwd[i - 1]
        a = [(prev[0] * (1 - s) + prev[1] * s) * own[i], (prev[1] * (1 - s) + prev[0] * s) * (1 - own[i])]
        total = sum(a)
        fwd[i] = [a[0] / total, a[1] / total]
    bwd = [1.0, 1.0]
    out = [0.0] * n
    for i in range(n - 1, -1, -1):
        joint = [fwd[i][0] * bwd[0], fwd[i][1] * bwd[1]]
        out[i] = joint[0] / sum(joint)
        if i:
            s = switch[i - 1]
            e = [bwd[0] * own[i], bwd[1] * (1 - own[i])]
            b = [e[0] * (1 - s) + e[1] * s, e[1] * (1 - s) + e[0] * s]
            total = sum(b)
            bwd = [b[0] / total, b[1] / total]
    return out


def score_roles(proposals: Sequence[RoleProposal | bool], truth: Sequence[bool],
                texts: Sequence[str] | None = None) -> RoleScore:
    """How many proposals (or plain booleans, True for the interviewer) match the truth, and
    how many of the segments' words (when their texts are given)."""
    if len(proposals) != len(truth):
        raise ValueError(f"{len(proposals)} proposals for {len(truth)} segments")
    said = [p.interviewer if isinstance(p, RoleProposal) else bool(p) for p in proposals]
    hits = [s == t for s, t in zip(said, truth)]
    counts = [len(words(t)) for t in texts] if texts is not None else [0] * len(truth)
    return RoleScore(len(truth), sum(hits), sum(counts), sum(c for c, h in zip(counts, hits) if h))
