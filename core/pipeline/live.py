"""The live path: audio chunks -> utterances -> text -> guide tracking and suggestions -> a sink.

`LivePipeline.run` is meant for one worker thread. It never touches the store or a screen: each
finished segment goes to `on_segment`, which the caller makes a store write (and, in the TUI, a
message to the screen). Audio is buffered by the source while an utterance is transcribed, so a
slow transcriber shows as lag, never as lost speech.
"""

from __future__ import annotations

import inspect
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core.audio.segmenter import Utterance, VadSegmenter
from core.audio.sources import AudioChunk, AudioSource, Clock
from core.audio.bleed import BleedFilter
from core.study.guide import Guide
from core.store.database import NewSegment, Store
from core.speech.transcriber import Transcriber, WhisperTranscriber
from core.understanding.suggester import Suggester
from core.understanding.hearing import Hearing
from core.understanding.tracker import GuideTracker

SPEAKER_OF_TRACK = {"interviewer": "interviewer", "respondent": "respondent"}


@dataclass
class PipelineStatus:
    audio_time: float  # how far into the session the audio has been heard
    lag: float  # how far transcription is behind the clock, in seconds
    segments: int
    last_delay: float | None  # end of the last utterance to its segment being ready


@dataclass
class SegmentReady:
    segment: NewSegment
    delay: float  # seconds from the end of the utterance to this moment
    utterance_end: float


@dataclass
class PipelineStats:
    delays: list[float] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (clock time, lag)
    transcribe_seconds: float = 0.0
    audio_seconds: float = 0.0
    heard_ahead: int = 0  # utterances transcribed while their pause was being confirmed
    unused_ahead: int = 0  # of those, the ones whose speech went on (left unheard if not yet begun)


class LivePipeline:
    def __init__(
        self,
        source: AudioSource,
        transcriber: Transcriber,
        guide: Guide,
        *,
        clock: Clock,
        tracker: GuideTracker | None = None,
        suggester: Suggester | None = None,
        segmenter_factory: Callable[[str], VadSegmenter] = VadSegmenter,
        speaker_labels: dict[str, str] | None = None,
        bleed: BleedFilter | None = None,
        hearing: Hearing | None = None,
        join_turns: bool = False,
        ahead: bool = False,
    ):
        self.source = source
        self.transcriber = transcriber
        self.guide = guide
        self.clock = clock
        self.tracker = tracker or GuideTracker(guide)
        self.suggester = suggester or Suggester(guide)
        self.segmenters = {track: segmenter_factory(track) for track in source.tracks}
        self.speaker_labels = speaker_labels or {}
        self.stats = PipelineStats()
        self.muted: set[str] = set()
        self.paused = threading.Event()
        self.bleed = bleed
        # What fieldnote expects to hear, said to Whisper before each utterance (None: nothing).
        # Only a transcriber that takes a prompt is given one (a scripted one in tests does not).
        takes_prompt = "prompt" in inspect.signature(transcriber.transcribe).parameters
        self.hearing = hearing if takes_prompt else None
        # The VAD cuts a turn at its pauses, and a question is often put over two or three
        # utterances ("Dan de volgende vraag." ... "hoe stond het met het vertrouwen?"): the
        # tracker reads each utterance with the rest of its speaker's turn before it.
        self.join_turns = join_turns
        # (speaker, end, its words since it last asked, the words that asked then)
        self._turn: tuple[str, float, str, str | None] | None = None
        # `ahead`: an utterance is transcribed from the moment its pause has lasted a little
        # (VadSegmenter.ending, `foresee`), not only once the pause is confirmed, so its text is
        # ready min_silence - foresee (0.2 s) sooner. When speech comes back within the
        # pause, that transcription is left unused. For a live call on this machine's Whisper; a
        # replay as fast as possible gains nothing by it.
        self.ahead = ahead
        self._ahead: ThreadPoolExecutor | None = None  # while run() runs
        self._heard_ahead: dict[str, tuple[tuple, Future]] = {}  # track -> (utterance key, its text)

    def run(
        self,
        on_segment: Callable[[SegmentReady], None],
        stop: threading.Event,
        on_status: Callable[[PipelineStatus], None] | None = None,
        status_every: float = 0.5,
    ) -> PipelineStats:
        next_status = 0.0
        audio_time = 0.0
        if self.bleed is not None:
            on_segment = self.bleed.attach(on_segment, self.clock)
        self._ahead = ThreadPoolExecutor(1, thread_name_prefix="fieldnote-ahead") if self.ahead else None
        try:
            for chunk in self.source.chunks():
                if stop.is_set():
                    break
                audio_time = max(audio_time, chunk.end)
                if self.paused.is_set() or chunk.track in self.muted:
                    # Silence in its place, not a skip: the segmenter counts samples to keep time.
                    chunk = AudioChunk(chunk.track, chunk.start, np.zeros_like(chunk.samples))
                segmenter = self.segmenters[chunk.track]
                for utt in segmenter.push(chunk):
                    self._process(utt, on_segment)
                if self._ahead is not None:
                    self._hear_ahead(segmenter.ending())
                if self.bleed is not None:
                    self.bleed.heard(chunk)
                now = self.clock.now()
                lag = max(0.0, now - audio_time)
                if on_status is not None and now >= next_status:
                    next_status = now + status_every
                    self.stats.lags.append((now, lag))
                    on_status(
                        PipelineStatus(
                            audio_time, lag, len(self.stats.delays),
                            self.stats.delays[-1] if self.stats.delays else None,
                        )
                    )
            # The end of the stream (or a stop) ends utterances still open: nothing said is dropped.
            pending = [u for seg in self.segmenters.values() for u in seg.flush()]
            for utt in sorted(pending, key=lambda u: u.end):
                self._process(utt, on_segment)
            if self.bleed is not None:
                self.bleed.flush()
        finally:
            if self._ahead is not None:
                for _, heard in self._heard_ahead.values():
                    self._unused(heard)
                self._ahead.shutdown(wait=True, cancel_futures=True)
                self._ahead, self._heard_ahead = None, {}
        self.source.close()
        return self.stats

    @staticmethod
    def _key(utt: Utterance) -> tuple:
        return utt.track, utt.start, utt.end, len(utt.samples)

    def _hear_ahead(self, utt: Utterance | None) -> None:
        if utt is None:
            return
        key, known = self._key(utt), self._heard_ahead.get(utt.track)
        if known is not None:
            if known[0] == key:
                return
            self._unused(known[1])
        self.stats.heard_ahead += 1
        self._heard_ahead[utt.track] = (key, self._ahead.submit(self._transcribe, utt, self._prompt(utt)))

    def _unused(self, heard: Future) -> None:
        heard.cancel()  # not begun yet: never begun
        self.stats.unused_ahead += 1

    def _prompt(self, utt: Utterance) -> str | None:
        return self.hearing.prompt(utt.track, self.tracker) if self.hearing is not None else None

    def _transcribe(self, utt: Utterance, prompt: str | None):
        t = time.perf_counter()
        if prompt:
            result = self.transcriber.transcribe(utt.samples, prompt=prompt)
        else:
            result = self.transcriber.transcribe(utt.samples)
        return result, time.perf_counter() - t

    def _process(self, utt: Utterance, on_segment: Callable[[SegmentReady], None]) -> None:
        known = self._heard_ahead.pop(utt.track, None)
        if known is not None and known[0] == self._key(utt):
            result, seconds = known[1].result()  # heard while the pause was being confirmed
        else:
            if known is not None:
                self._unused(known[1])
            result, seconds = self._transcribe(utt, self._prompt(utt))
        self.stats.transcribe_seconds += seconds
        self.stats.audio_seconds += len(utt.samples) / 16000
        text = result.text.strip()
        if not text:
            return
        if self.hearing is not None:
            self.hearing.heard(utt.track, text)
        speaker = SPEAKER_OF_TRACK.get(utt.track, utt.track)
        seg = NewSegment(
            speaker=speaker,
            text=text,
            start=round(utt.start, 2),
            end=round(utt.end, 2),
            speaker_label=self.speaker_labels.get(speaker),
            model=result.model,
            server=result.server,
        )
        before, asked_with = self._turn_so_far(seg)
        annotate(seg, self.tracker, self.suggester, turn_so_far=before, asked_in_turn=asked_with)
        if seg.asks is not None:
            # The words that asked a question have been read: what the turn says after them is
            # read without them, or they would ask again, now for the best question not yet asked
            # ("voordat we naar de laatste vraag gaan ..." made the last question of the guide
            # asked when the interviewer only said what came after this one). Only the tracker's
            # second thought on a weak detection reads them again (`annotate`).
            self._turn = (seg.speaker, seg.end, "", said_in_turn(before, seg.text))
        delay = max(0.0, self.clock.now() - utt.end)
        self.stats.delays.append(delay)
        on_segment(SegmentReady(seg, delay, utt.end))


    def _turn_so_far(self, seg: NewSegment) -> tuple[str | None, str | None]:
        """The speaker's words before this utterance in the same turn, since the last of them that
        asked a question (None: a new turn, or nothing said since); and the words that asked it,
        with those since (None: nothing in this turn asked)."""
        turn, before, asking = self._turn, None, None
        if turn is not None and turn[0] == seg.speaker and seg.start - turn[1] <= TURN_PAUSE_MAX:
            before, asking = turn[2], turn[3]
        self._turn = (seg.speaker, seg.end, f"{before} {seg.text}" if before else seg.text, asking)
        if not self.join_turns:
            return None, None
        return before or None, f"{asking} {before}" if asking and before else asking


def hears_ahead(transcriber: Transcriber, realtime: bool) -> bool:
    """Whether a pipeline transcribes each utterance while its pause is being confirmed
    (LivePipeline's `ahead`): in real time with this machine's Whisper. Not through a group's
    server, which would be sent the utterances whose speech went on, and not when replaying as
    fast as possible, where it gains nothing."""
    return realtime and isinstance(transcriber, WhisperTranscriber)


# The longest pause inside one speaker's turn: longer, and what follows is a new turn.
TURN_PAUSE_MAX = 4.0
# At most the last words of a turn so far are read with the next utterance: an interviewer's
# long preamble should not outweigh the question she ends it with.
TURN_WORDS_MAX = 60


def decide(store: Store, suggester: Suggester, suggestion: dict, accept: bool) -> None:
    """The interviewer accepts or rejects a suggestion during the session.

    Stored at once, and the running suggester learns from it: later passages of this session
    profit from the decision, not only the sessions after it.
    """
    if accept:
        store.accept_suggestion(suggestion["id"])
    else:
        store.reject_suggestion(suggestion["id"])
    segment = store.segment(suggestion["segment_id"])
    suggester.learn(segment["text"], suggestion["indicator_id"], positive=accept, question=segment["question"])


def said_in_turn(turn_so_far: str | None, text: str) -> str:
    """An utterance read with the words of its turn before it, up to TURN_WORDS_MAX words."""
    return " ".join(f"{turn_so_far} {text}".split()[-TURN_WORDS_MAX:]) if turn_so_far else text


def annotate(seg: NewSegment, tracker: GuideTracker, suggester: Suggester,
             turn_so_far: str | None = None, asked_in_turn: str | None = None) -> NewSegment:
    """Guide tracking for the interviewer's words, suggestions for the respondent's.

    Shared by the live path and by imports, so an import sees what the live session would have.
    `turn_so_far`: the interviewer's words before these in the same turn, read with them (the
    live path hears a turn in pieces; an import has it whole). `asked_in_turn`: the words earlier
    in the turn that asked a question, with those since: when these words ask nothing new, the
    tracker reads them with those, and a weak detection that the rest of the turn contradicts is
    withdrawn (`seg.withdraws`; `GuideTracker.reconsider`).
    """
    if seg.speaker == "interviewer":
        match = tracker.observe(said_in_turn(turn_so_far, seg.text))
        if match is None and asked_in_turn:
            again = tracker.reconsider(said_in_turn(asked_in_turn, seg.text))
            if again is not None:
                match, seg.withdraws = again
        if match is not None:
            seg.asks = match.number
            seg.question_score = round(match.score, 3)
    seg.question = tracker.current
    if seg.speaker == "respondent":
        seg.suggestions = suggester.suggest(seg.text, question=tracker.current, prompt=tracker.prompt)
    return seg
