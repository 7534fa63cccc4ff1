"""What fieldnote expects to hear next, said to Whisper before each utterance.

A plain transcriber hears a call without knowing what it is about. fieldnote knows the guide and
where the interview is in it, and the codebook: the interviewer is about to ask one of the next
questions (or a probe of the one just asked), and the respondent talks in the words of the
codebook and the names of the case. Whisper takes such text as its prompt (the words "said
before" the utterance) and leans its spelling and word choice towards it.

The prompt is context, never content: `core.speech.transcriber` drops text copied from the
prompt that the audio does not carry (see `prompted_copy` there), so a question asked in other
words comes out in those words, and silence stays empty.

faster-whisper's `hotwords` option is not a further way in: it puts its words in the same "said
before" place, ahead of the prompt (`WhisperModel.get_prompt`, faster-whisper 1.2), so hotwords
and a prompt are one prompt in two parts. The words that matter go in the prompt here.

Modes (bench/bench_ears.py measures each against Whisper alone):

- `guided`: interviewer's track, the probes of the question in effect and the next questions of
  the guide; respondent's track, the phrases of the indicators of the question in effect, then
  the dimensions' names, and the case's and respondent's names;
- `previous`: the speaker's own last utterance (Whisper's "condition on previous text", per track);
- `guided+previous`: both, the guide first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.study.guide import Guide
from core.understanding.tracker import GuideTracker

MODES = ("plain", "guided", "previous", "guided+previous")
# What the live path uses (record, demo), chosen on bench/bench_ears.py: see the README's figures.
LIVE_MODE = "guided"
LIVE_JOIN_TURNS = True
# Whisper's prompt holds up to 223 tokens; a Dutch word is about two. Short prompts steer as much
# and cost less time per utterance (the prompt's tokens are decoded with every utterance).
MAX_PROMPT_WORDS = 60
NEXT_QUESTIONS = 2


def _clip(parts: list[str], limit: int) -> str:
    out, count = [], 0
    for part in parts:
        n = len(part.split())
        if not n:
            continue
        if count + n > limit:
            room = limit - count
            if room >= 5:  # the opening of a long question still says what is coming
                out.append(" ".join(part.split()[:room]))
            break
        out.append(part)
        count += n
    return " ".join(out)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text[-1:] in ".?!" else text + "."


@dataclass
class Hearing:
    guide: Guide
    mode: str = "guided"
    names: tuple[str, ...] = ()  # the case, the respondent's organisation: names said in the call
    previous: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown hearing {self.mode!r} (one of {', '.join(MODES)})")

    @classmethod
    def for_guide(cls, guide: Guide, mode: str = "guided", names: tuple[str, ...] | list[str] = ()) -> "Hearing":
        return cls(guide, mode, tuple(n for n in names if n and n.strip()))

    @classmethod
    def live(cls, guide: Guide, names: tuple[str | None, ...] | list[str | None] = (),
             mode: str | None = None) -> "Hearing | None":
        """The hearing of a live session (None: Whisper alone)."""
        mode = mode or LIVE_MODE
        if mode == "plain":
            return None
        return cls.for_guide(guide, mode, [n for n in names if n])

    def prompt(self, track: str, tracker: GuideTracker) -> str | None:
        """The prompt for the next utterance on this track, or None for none."""
        parts = []
        if self.mode in ("guided", "guided+previous"):
            parts += self.interviewer_context(tracker) if track == "interviewer" else self.respondent_context(tracker)
        if self.mode in ("previous", "guided+previous") and self.previous.get(track):
            parts.append(_sentence(self.previous[track]))
        if self.mode == "guided+previous" and len(parts) > 1:
            # The speaker's own last words are the nearest context: they go last, where Whisper
            # weighs the prompt most, and are kept whole if anything has to give.
            last = parts.pop()
            head = _clip(parts, max(0, MAX_PROMPT_WORDS - len(last.split())))
            return " ".join(p for p in (head, last) if p) or None
        return _clip(parts, MAX_PROMPT_WORDS) or None

    def heard(self, track: str, text: str) -> None:
        """What was heard on a track: the next utterance's `previous` context."""
        if text.strip():
            self.previous[track] = text.strip()

    def interviewer_context(self, tracker: GuideTracker) -> list[str]:
        guide = self.guide
        current = guide.question(tracker.current)
        parts = [_sentence(p) for p in (current.probes[:1] if current else ())]
        upcoming = [guide.question(n) for n in tracker.ahead(tracker.current, tracker.asked)]
        parts += [_sentence(q.text) for q in upcoming[:NEXT_QUESTIONS]]
        return parts

    def respondent_context(self, tracker: GuideTracker) -> list[str]:
        guide = self.guide
        current = guide.question(tracker.current)
        linked = [guide.dimension(d) for d in (current.dimension_ids if current else ())]
        linked = [d for d in linked if d is not None]
        words: list[str] = list(self.names)
        seen = {w.lower() for w in words}

        def add(word: str) -> None:
            if word.lower() not in seen:
                seen.add(word.lower())
                words.append(word)

        for dim in linked:
            add(dim.name)
            for ind in dim.indicators:
                for phrase in ind.phrases:
                    add(phrase)
        for dim in guide.dimensions:
            add(dim.name)
        text = _clip([w + "," for w in words], MAX_PROMPT_WORDS).rstrip(",")
        return [text + "."] if text else []
