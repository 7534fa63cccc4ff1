"""Transcribing a recorded track whole, after the interview: every word with its time.

Each track is transcribed with word timestamps and faster-whisper's own VAD, with a beam of 5
(there is time after the interview), through faster-whisper's batched pipeline for recordings
long enough to fill its batches, where it is faster than going chunk by chunk on the CPU. The
batched pipeline is fed as the file is read (`core.speech.batched`), so it holds a few megabytes
of audio however long the recording is. The same guards as live drop what Whisper invents on
silence and its repetition loops. Laying the words onto a session is core.pipeline.retranscribe's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.audio.sources import SAMPLE_RATE, audio_length, load_audio
from core.speech.batched import Cancelled, batched_segments
from core.speech.transcriber import loop_free, made_up

# Verbatim transcripts keep hesitations: a prompt written that way makes Whisper write them.
VERBATIM_PROMPTS = {
    "nl": "Uhm, eh, nou ja... hm hm. Ja, uh, dat is, uhm, lastig.",
    "en": "Um, uh, so, like... hmm. Yeah, I mean, uh, it's, um, hard.",
}
VERBATIM_PROMPT_OTHER = "Um, uh... hmm."
# The batched pipeline packs speech into 30-second windows; below a few windows it only adds work.
BATCHED_MIN_SECONDS = 90.0
BATCH_SIZE = 8


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str  # as Whisper gives it, with its leading space

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class Progress:
    stage: str
    done: float  # seconds of audio transcribed
    total: float
    elapsed: float  # seconds since transcription started

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the pace so far; None until there is a pace."""
        if self.done <= 0 or self.elapsed <= 0:
            return None
        return max(0.0, self.elapsed * (self.total - self.done) / self.done)


def transcribe_options(language: str | None, verbatim: bool) -> dict:
    """The decoding options, shared with the benchmark's raw faster-whisper reference."""
    prompt = None
    if verbatim:
        prompt = VERBATIM_PROMPTS.get(language or "", VERBATIM_PROMPT_OTHER)
    return dict(
        language=language,
        beam_size=5,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
        initial_prompt=prompt,
    )


def use_batched(seconds: float, batched: bool | None) -> bool:
    return seconds >= BATCHED_MIN_SECONDS if batched is None else batched


def transcribe_track(
    model,
    track: Path,
    *,
    language: str | None,
    verbatim: bool,
    batched: bool,
    on_segment: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
    batch_size: int = BATCH_SIZE,
) -> list[Word]:
    """All words of one track with their times, dropping Whisper's inventions on silence."""
    options = transcribe_options(language, verbatim)
    if batched and language is not None:
        segments = batched_segments(model, track, options, batch_size, stop)
    else:
        # Whisper's sequential pass floors its features relative to the loudest moment of all the
        # track's speech, and a language left to detect is heard in the speech as a whole: both
        # want the track in memory. The sequential pass is the default only below BATCHED_MIN_SECONDS,
        # and re-transcription always names the language (the guide's).
        audio = load_audio(track)
        if batched:
            from faster_whisper import BatchedInferencePipeline

            options.pop("condition_on_previous_text")
            segments, _ = BatchedInferencePipeline(model).transcribe(audio, batch_size=batch_size, **options)
        else:
            segments, _ = model.transcribe(audio, **options)
    words: list[Word] = []
    for seg in segments:
        if stop is not None and stop.is_set():
            raise Cancelled("re-transcription stopped; the session is as it was")
        if on_segment is not None:
            on_segment(seg.end)
        if made_up(seg.text.strip(), seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio):
            continue
        heard = [w for w in (seg.words or []) if w.word.strip()]
        for k in loop_free([w.word for w in heard]):  # a repetition loop's copies dropped
            words.append(Word(float(heard[k].start), float(heard[k].end), heard[k].word))
    return words


def transcribe_session_audio(
    tracks: dict[str, Path],
    model,
    *,
    language: str | None,
    verbatim: bool = False,
    batched: bool | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[dict[str, list[Word]], float, float, bool]:
    """Words per speaker, the audio's length, the seconds transcription took, and whether the
    batched pipeline was used."""
    # Reading each track through first refuses an unreadable one before any work is done.
    lengths = {speaker: audio_length(path) / SAMPLE_RATE for speaker, path in tracks.items()}
    total = sum(lengths.values())
    mode = use_batched(max(lengths.values()), batched)
    t0 = time.perf_counter()
    done_before = 0.0
    out: dict[str, list[Word]] = {}
    for speaker, path in tracks.items():
        stage = f"transcribing the {speaker}'s track"

        def report(at: float, stage=stage, before=done_before, length=lengths[speaker]) -> None:
            if on_progress is not None:
                on_progress(Progress(stage, before + min(at, length), total, time.perf_counter() - t0))

        report(0.0)
        out[speaker] = transcribe_track(
            model, path, language=language, verbatim=verbatim, batched=mode, on_segment=report, stop=stop
        )
        done_before += lengths[speaker]
        report(lengths[speaker])
    return out, total, time.perf_counter() - t0, mode
