"""Turning an utterance's audio into text with faster-whisper (CTranslate2, int8 on the CPU)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.speech.models import SAMPLING_SEED, ModelRef, load_model

SAMPLE_RATE = 16_000

# Whisper invents text on silence and noise. Its two signs of doubt: the chance it gives that a
# segment holds no speech, and how likely it found its own words. With both, a segment is dropped
# whatever it says.
NO_SPEECH_MAX = 0.6
LOGPROB_MIN = -1.0
# Sign-offs of broadcasts and videos from its training data, written on silence and music (in any
# language it is asked for): nobody says them in an interview, so they go however sure it is.
_BROADCAST = {
    "thanks for watching!", "thank you for watching.", "tv gelderland", "bedankt voor het kijken.",
    "ondertiteling door de amara.org gemeenschap", "ondertiteld door de amara.org gemeenschap",
}
# What it writes on silence that people also say, a closing "Thank you." above all: dropped only
# when Whisper doubts there was speech (either sign). On a minute of digital silence base writes
# "you" with a no-speech chance of 0.94; a spoken "Thank you." or "Tot de volgende keer." gets
# 0.04-0.42 (tests/test_hallucination.py holds both sides).
_SAID_ON_SILENCE = {"thank you.", "you", "bye.", "tot de volgende keer."}


# What Whisper writes for sound that is not speech, in brackets or not ("MUZIEK." on Dutch silence).
_SOUND_TAGS = {
    "muziek", "music", "applaus", "applause", "gelach", "laughter", "lacht", "stilte", "silence",
    "geluid", "noise", "blank_audio", "upbeat music", "muziek speelt", "music playing",
}


def _bare(text: str) -> str:
    """Lower case, letters only: 'TV GELDERLAND 2020.' and 'tv gelderland' are the same invention."""
    kept = "".join(ch if ch.isalpha() or ch == "_" else " " for ch in text.lower())
    return " ".join(kept.split())


_BROADCAST_BARE = {_bare(h) for h in _BROADCAST}
_SAID_ON_SILENCE_BARE = {_bare(h) for h in _SAID_ON_SILENCE}


# "[MUZIEK]", "(applaus)", "*zucht*", "♪ la la ♪": the whole text one description of a sound.
# "(lacht) Ja, zeker (lacht)" holds words someone said, and is kept.
_SOUND_DESCRIPTION = re.compile(r"\[[^\[\]]*\]|\([^()]*\)|\*[^*]*\*|♪[^♪]*♪?")


def invented(text: str) -> bool:
    """Text Whisper is known to make up from silence or noise, never words someone said."""
    if _SOUND_DESCRIPTION.fullmatch(text.strip().rstrip(".!")):
        return True  # a description of a sound, never words someone said
    bare = _bare(text)
    if "amara org" in bare or bare.startswith(("ondertiteling", "ondertiteld", "subtitles by")):
        return True  # subtitle credits from its training data
    if not any(ch.isalnum() for ch in text):
        return True  # '...' or '♪': no words at all ('2020.' is an answer, and stays)
    return bare in _BROADCAST_BARE or bare in _SOUND_TAGS


# A decode whose text compresses more than this (gzip) is one Whisper itself counts as failed:
# a loop ("Deze deel, deel, deel, ..."). It retries hotter and keeps the last try whatever it is;
# a loop it is sure of, written where it doubts there was speech at all, is made up (seen on
# five seconds of faint hum under a respondent's prompt: no-speech chance 0.90, log-probability
# -0.13, compression 20).
COMPRESSION_MAX = 2.4


def made_up(text: str, no_speech_prob: float, avg_logprob: float, compression_ratio: float | None = None) -> bool:
    """Whether a segment Whisper gave, with its signs of doubt, is dropped as made up."""
    doubts = (no_speech_prob > NO_SPEECH_MAX, avg_logprob < LOGPROB_MIN)
    if all(doubts) or invented(text):
        return True
    if doubts[0] and compression_ratio is not None and compression_ratio > COMPRESSION_MAX:
        return True
    return any(doubts) and _bare(text) in _SAID_ON_SILENCE_BARE


# Whisper sometimes loops on a word or phrase until its token limit ("m'n m'n m'n m'n ..."): a
# phrase of up to LOOP_PHRASE_MAX words said LOOP_MIN times or more in a row is such a loop, never
# speech (people repeat themselves, but a few times: "nee nee nee", "ja, ja, ja, ja, ja"), and is
# kept once.
LOOP_MIN = 6
LOOP_PHRASE_MAX = 8


def _loop_at(bare: list[str], i: int) -> tuple[int, int]:
    """(phrase length, copies) of the shortest loop starting at word i, or (1, 1) for none."""
    for n in range(1, LOOP_PHRASE_MAX + 1):
        phrase = bare[i : i + n]
        if len(phrase) < n:
            break
        copies = 1
        while bare[i + copies * n : i + (copies + 1) * n] == phrase:
            copies += 1
        if copies >= LOOP_MIN:
            return n, copies
    return 1, 1


def loop_free(words: list[str]) -> list[int]:
    """The indices of the words to keep: every copy after the first of a phrase Whisper looped on
    is dropped. Words are compared by their letters alone ("m'n," and "M'n" are the same)."""
    bare = [_bare(w) or w for w in words]
    keep: list[int] = []
    i = 0
    while i < len(words):
        n, copies = _loop_at(bare, i)
        keep.extend(range(i, i + n))
        i += n * copies
    return keep


def without_loops(text: str) -> str:
    """The text with Whisper's repetition loops kept once."""
    words = text.split()
    kept = loop_free(words)
    if len(kept) == len(words):
        return text
    return " ".join(words[k] for k in kept)


# A prompt (core.understanding.hearing) is what fieldnote expects to hear; on silence, noise or
# speech it cannot make out, Whisper may write the prompt out instead. Speech carries at most
# about five words a second (fast Dutch or English, 3-4 is usual): text with more words than
# the utterance could hold was not heard. And a run of PROMPT_COPY_WORDS or more of the prompt's
# own words, in its order, is only kept when Whisper is sure there was speech and sure of its
# words: an interviewer who reads a question from the guide is heard so, one who asks it in
# other words is heard in those words (tests/test_hearing.py holds both sides).
WORDS_PER_SECOND_MAX = 5.0
PROMPT_COPY_WORDS = 5
PROMPT_COPY_NO_SPEECH_MAX = 0.3
PROMPT_COPY_LOGPROB_MIN = -1.0
# Under a prompt Whisper sometimes stops after a word or two of a long utterance ("E," for ten
# seconds of an answer, given a list of the codebook's words): fewer words than this a second,
# over an utterance of SPARSE_MIN_SECONDS or more, and the utterance is heard again without the
# prompt. So is one whose text was dropped as a copy of the prompt: a prompt never loses speech.
SPARSE_WORDS_PER_SECOND = 0.5
SPARSE_MIN_SECONDS = 3.0

# Whisper may loop on a phrase until its token limit (448 with the prompt): on two cores that is
# seconds of decoding for a second of speech, and each of the hotter retries may loop again. An
# utterance gets at most this many tokens a second of its audio (speech gives 6-8 in Dutch with
# base's tokens; the fastest speech about 12), plus a few for punctuation: a loop stops there.
TOKENS_PER_SECOND_MAX = 15.0
TOKENS_EXTRA = 10
# Whisper's 448 tokens hold the prompt too: up to 223 of it and 5 that open the text.
TOKENS_MOST = 448 - 223 - 5 - 4


def token_budget(seconds: float) -> int:
    """The most tokens Whisper may write for an utterance this long."""
    return max(1, min(TOKENS_MOST, int(TOKENS_PER_SECOND_MAX * seconds) + TOKENS_EXTRA))


# A decode Whisper itself counts as failed (text too repetitive, or too unlikely) is tried again
# hotter, each try five samples. One retry instead of two: on voiced interviews 1 and 5, WER
# 0.274 / 0.375 (interviewer / respondent) against 0.271 / 0.380, and the 11 of 227 utterances
# that fell back cost 1.71 s of decoding each on two cores instead of 2.22 s (bench/bench_decoding.py).
TEMPERATURES = (0.0, 0.6)


def _longest_shared_run(words: list[str], prompt: list[str]) -> int:
    """The length of the longest run of words said in the prompt's order, word for word."""
    best = 0
    previous = [0] * (len(prompt) + 1)
    for w in words:
        row = [0] * (len(prompt) + 1)
        for j, p in enumerate(prompt, 1):
            if w == p:
                row[j] = previous[j - 1] + 1
                best = max(best, row[j])
        previous = row
    return best


def prompted_copy(text: str, prompt: str | None, seconds: float, no_speech_prob: float,
                  avg_logprob: float) -> bool:
    """Whether text Whisper gave under a prompt is the prompt (or more words than the audio
    held) rather than what was said."""
    if not prompt:
        return False
    words = _bare(text).split()
    if len(words) > WORDS_PER_SECOND_MAX * seconds + 2:
        return True
    if _longest_shared_run(words, _bare(prompt).split()) < PROMPT_COPY_WORDS:
        return False
    return no_speech_prob > PROMPT_COPY_NO_SPEECH_MAX or avg_logprob < PROMPT_COPY_LOGPROB_MIN


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    # Set when a group's server heard it (core.speech.remote.ServerTranscriber): its model and label.
    model: str | None = None
    server: str | None = None


class Transcriber(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray) -> Transcript: ...


class PromptedTranscriber(Transcriber, Protocol):
    """A transcriber that takes what fieldnote expects to hear (core.understanding.hearing)."""

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Transcript: ...


class WhisperTranscriber:
    """One loaded Whisper model. Calls are serialised: CTranslate2 uses the threads it was given."""

    def __init__(
        self,
        model: ModelRef,
        *,
        language: str | None,
        threads: int = 2,
        beam_size: int = 1,
        seed: int = SAMPLING_SEED,
    ):
        self._model = load_model(model, language, threads, seed=seed)
        self.name = model.name
        self.language = language if model.multilingual else "en"
        self.beam_size = beam_size
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Transcript:
        heard, copied = self._transcribe(audio, prompt)
        if prompt:
            seconds = len(audio) / SAMPLE_RATE
            sparse = seconds >= SPARSE_MIN_SECONDS and len(heard.text.split()) < SPARSE_WORDS_PER_SECOND * seconds
            if copied or sparse:
                plain, _ = self._transcribe(audio, None)
                if len(plain.text.split()) > len(heard.text.split()):
                    return plain
        return heard

    def _transcribe(self, audio: np.ndarray, prompt: str | None) -> tuple[Transcript, bool]:
        """What Whisper heard, and whether text was dropped as a copy of the prompt."""
        seconds = len(audio) / SAMPLE_RATE
        copied = False
        with self._lock:
            segments, info = self._model.transcribe(
                audio.astype(np.float32, copy=False),
                language=self.language,
                beam_size=self.beam_size,
                vad_filter=False,  # utterances arrive already cut by the segmenter's VAD
                condition_on_previous_text=False,
                without_timestamps=True,
                temperature=TEMPERATURES,
                initial_prompt=prompt or None,
                max_new_tokens=token_budget(seconds),
            )
            kept = []
            logprobs, no_speech = [], []
            for s in segments:
                text = without_loops(s.text.strip())
                if not text or made_up(text, s.no_speech_prob, s.avg_logprob, s.compression_ratio):
                    continue
                if prompted_copy(text, prompt, seconds, s.no_speech_prob, s.avg_logprob):
                    copied = True
                    continue
                kept.append(text)
                logprobs.append(s.avg_logprob)
                no_speech.append(s.no_speech_prob)
        return Transcript(
            text=" ".join(kept).strip(),
            language=info.language,
            avg_logprob=float(np.mean(logprobs)) if logprobs else None,
            no_speech_prob=float(np.max(no_speech)) if no_speech else None,
        ), copied
