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
- `reassign_roles` is the review's correction of a proposal (or of any speaker): the segments
  get the speaker, a segment that became the respondent's gets suggestions as an import would
  have made them, one that became the interviewer's loses its open ones and is followed against
  the guide, all as one undoable edit (`core.store.review.set_roles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from core.base.errors import UserError
from core.store import review
from core.store.database import Store
from core.study.guide import Guide
from core.study.language import Language, load_language, words
from core.understanding.suggester import Suggester
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
    def word_share(self) -> float | None:
        """None when the segments' texts were not given (or hold no words)."""
        return self.right_words / self.words if self.words else None


# A speaker is taken as the interviewer only from this sureness up; below it the import asks for
# --interviewer as before.
CLEAR = 0.5

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
    # How far the best speaker stands out from the next: a respondent's answers touch the
    # questions' words too, and now and then read as posing one; the interviewer poses several
    # times as many. Held back while few questions are posed at all. From CLEAR (0.5) up the
    # best poses at least twice as many as the next, plus one.
    sureness = (1 - (second + 1) / (top + 1)) * min(1.0, top / (2 * MIN_QUESTIONS))
    if top < MIN_QUESTIONS or sureness < CLEAR:
        return None
    rest = "the other asks" if len(others) == 1 else "the others ask"
    rest += f" {second}" if len(others) == 1 or all(posed[s] == second for s in others) else f" at most {second}"
    return InterviewerGuess(best, round(sureness, 2), f"asks {top} of the {total} questions; {rest}")


# The logistic models of a segment being the interviewer's, from its own evidence: whether it
# poses a guide question (the tracker's chance), whether it is put as a question (a clause that
# opens as one, or a question mark at its end), and its length (words, on a log scale); one for
# whole turns, one for pieces of turns (a recording's segments). `prior` is the logit of the
# interviewer's share of the segments they were fitted on: the sequence brings its own prior.
# Fitted on the tuning interviews 1-4 by `bench/bench_speakers.py --fit`.
TURN_WEIGHTS = {"bias": 1.933, "poses": 2.57, "asks": -0.087, "mark": 2.105, "length": -0.944, "prior": -0.203}
SEGMENT_WEIGHTS = {"bias": 0.327, "poses": 2.905, "asks": 0.246, "mark": 1.988, "length": -0.736, "prior": -0.943}

# The chance that the next segment is another speaker's, from the interviewer's segment and
# from the respondent's: typed turns (no times) change speaker almost always; a recording's
# segments go on with the same speaker more often. Chosen on interviews 1-4 by `--fit`'s grid.
SWITCH_TURNS = 0.9
LEAVE_INTERVIEWER = 0.2
LEAVE_RESPONDENT = 0.2
# ... after the interviewer's segment put as a question; and after a pause this long (seconds),
# which is not fitted: the typed interviews have no times (the voiced ones are to say).
SWITCH_AFTER_QUESTION = 0.7
LONG_PAUSE = 1.0
SWITCH_AFTER_PAUSE = 0.6
# The chance that the first segment is the interviewer's (who opens the interview).
START_INTERVIEWER = 0.7
# How far a segment's own evidence counts against the sequence (its logit is multiplied by
# this): neighbouring segments' evidence is not independent. Chosen with the chances above.
EVIDENCE_TURNS = 0.5
EVIDENCE_SEGMENTS = 1.0


def segment_evidence(texts: Sequence[str], guide: Guide, language: Language | None = None) -> list[dict[str, float]]:
    """Per segment, what `TURN_WEIGHTS` and `SEGMENT_WEIGHTS` weigh."""
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
                    "mark": 1.0 if text.rstrip().endswith("?") else 0.0, "length": math.log1p(n)})
    return out


def _logit(evidence: dict[str, float], weights: dict[str, float]) -> float:
    return weights.get("bias", 0.0) + sum(weights.get(k, 0.0) * v for k, v in evidence.items() if k != "prior")


def _switch_chances(asks: list[float], starts, ends, turns: bool) -> list[tuple[float, float]]:
    """The chances that segment i+1 is another speaker's than segment i, when segment i is the
    interviewer's and when it is the respondent's."""
    timed = starts is not None and ends is not None
    out = []
    for i in range(len(asks) - 1):
        leave_i, leave_r = (SWITCH_TURNS, SWITCH_TURNS) if turns else (LEAVE_INTERVIEWER, LEAVE_RESPONDENT)
        if asks[i]:
            leave_i = max(leave_i, SWITCH_AFTER_QUESTION)
        if timed and starts[i + 1] is not None and ends[i] is not None and starts[i + 1] - ends[i] >= LONG_PAUSE:
            leave_i, leave_r = max(leave_i, SWITCH_AFTER_PAUSE), max(leave_r, SWITCH_AFTER_PAUSE)
        out.append((leave_i, leave_r))
    return out


def propose_roles(texts: Sequence[str], guide: Guide, language: Language | None = None,
                  starts: Sequence[float | None] | None = None, ends: Sequence[float | None] | None = None,
                  *, turns: bool | None = None, weights: dict[str, float] | None = None) -> list[RoleProposal]:
    """For one mixed track's segments in order, whether each is the interviewer's.

    `turns` says whether each segment is a whole turn (a typed transcript's turns with the
    speakers left out) rather than a piece of one (a recording's segments); by default, it is
    when no times are given."""
    if not texts:
        return []
    if turns is None:
        turns = starts is None or ends is None
    return roles_from(segment_evidence(texts, guide, language), starts, ends, turns, weights)


def roles_from(evidence: list[dict[str, float]], starts, ends, turns: bool,
               weights: dict[str, float] | None = None) -> list[RoleProposal]:
    """`propose_roles` once each segment's evidence is read."""
    if weights is None:
        weights = TURN_WEIGHTS if turns else SEGMENT_WEIGHTS
    strength = EVIDENCE_TURNS if turns else EVIDENCE_SEGMENTS
    # Each segment's own evidence, its prior taken out, as a chance (the sequence's chances of
    # a change of speaker bring the prior back); kept from 0 and 1 so that the sequence can
    # overrule it.
    prior = weights.get("prior", 0.0)
    own = [min(0.98, max(0.02, 1 / (1 + math.exp(-strength * (_logit(e, weights) - prior))))) for e in evidence]
    switch = _switch_chances([e["asks"] for e in evidence], starts, ends, turns)
    posterior = _forward_backward(own, switch)
    return [RoleProposal(p >= 0.5, round(max(p, 1 - p), 3)) for p in posterior]


def _forward_backward(own: list[float], switch: list[tuple[float, float]]) -> list[float]:
    """The chance each segment is the interviewer's, given every segment's own evidence and the
    chances of a change of speaker between them (two states; scaled to stay in range)."""
    n = len(own)
    first = (START_INTERVIEWER * own[0], (1 - START_INTERVIEWER) * (1 - own[0]))
    fwd = [(first[0] / sum(first), first[1] / sum(first))]
    for i in range(1, n):
        leave_i, leave_r = switch[i - 1]
        prev_i, prev_r = fwd[-1]
        a = ((prev_i * (1 - leave_i) + prev_r * leave_r) * own[i],
             (prev_r * (1 - leave_r) + prev_i * leave_i) * (1 - own[i]))
        fwd.append((a[0] / (a[0] + a[1]), a[1] / (a[0] + a[1])))
    out = [0.0] * n
    back_i, back_r = 1.0, 1.0
    for i in range(n - 1, -1, -1):
        joint_i, joint_r = fwd[i][0] * back_i, fwd[i][1] * back_r
        out[i] = joint_i / (joint_i + joint_r)
        if i:
            leave_i, leave_r = switch[i - 1]
            e_i, e_r = back_i * own[i], back_r * (1 - own[i])
            b_i, b_r = e_i * (1 - leave_i) + e_r * leave_i, e_r * (1 - leave_r) + e_i * leave_r
            back_i, back_r = b_i / (b_i + b_r), b_r / (b_i + b_r)
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


def up_to_next_question(segments: Sequence[dict], segment_id: int) -> list[int]:
    """The ids of the segments from this one up to the next that poses a guide question (that
    one not included), in the order given; to the end when no question follows."""
    ids = [r["id"] for r in segments]
    i = ids.index(segment_id)
    out = [segment_id]
    for r in segments[i + 1:]:
        if r["asks"] is not None:
            break
        out.append(r["id"])
    return out


def reassign_roles(store: Store, session_id: int, segment_ids: Sequence[int], speaker: str) -> int:
    """Give the segments `speaker` ("interviewer" or "respondent") as one undoable edit,
    understood as an import would have understood them; returns how many changed."""
    targets = set(segment_ids)
    rows = store.segments(session_id)
    if not targets <= {r["id"] for r in rows}:
        raise UserError(f"these segments are not all of session {session_id}")
    guide = review.guide_of_session(store, session_id)
    suggestions: dict[int, list] = {}
    asks: dict[int, tuple[int, float | None]] = {}
    if speaker == RESPONDENT:
        # As at import: learned from what was coded in the guide's other sessions, each passage
        # read with the interviewer's last words before it.
        suggester = Suggester(guide)
        suggester.learn_from(store.coded_examples(guide.id, exclude_session=session_id))
        prompt = None
        for r in rows:
            if r["id"] in targets:
                if r["speaker"] != RESPONDENT:
                    suggestions[r["id"]] = suggester.suggest(r["text"], question=r["question"], prompt=prompt)
            elif r["speaker"] == INTERVIEWER and len(words(r["text"])) >= GuideTracker.MIN_WORDS:
                prompt = r["text"]
    elif speaker == INTERVIEWER:
        tracker = GuideTracker(guide)
        asked = {r["asks"] for r in rows if r["asks"] is not None and r["id"] not in targets}
        for r in rows:
            if r["id"] in targets and r["speaker"] != INTERVIEWER:
                matches = tracker.score(r["text"], r["question"], asked)
                if matches and matches[0].score >= tracker.threshold:
                    asks[r["id"]] = (matches[0].number, round(matches[0].score, 3))
                    asked.add(matches[0].number)
    return review.set_roles(store, [r["id"] for r in rows if r["id"] in targets], speaker, suggestions, asks)

