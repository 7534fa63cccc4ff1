"""Transcribing a session again after the interview, from its recorded tracks, with a larger
model, without losing the corrections and codes made since.

Each track is transcribed whole with word timestamps (faster-whisper's batched pipeline for
recordings long enough to fill its batches, where it is faster than going chunk by chunk on the
CPU). The batched pipeline is fed as the file is read, one batch of speech at a time, so it
holds a few megabytes of audio however long the recording is. The words are then laid onto
the session's existing segments by time, per speaker:

- a segment keeps its id, times, codings, suggestions decided on, and memos; its text becomes
  the words heard within its time, and its span codings are moved through the text change like
  a hand edit, so each coding stays on the same audio time and the same words;
- a segment the user edited (edited = 1) keeps its text unless `overwrite_edited` is given; the
  new recognition is still stored in its asr_text, for comparison;
- words outside every segment (speech the live segmenter missed) become new segments, with the
  suggestions the live pipeline would have made;
- a segment in which the new model hears nothing keeps its text: nothing is deleted.

The whole change is one edit in the undo log (core/store/review.py), so a re-transcription can be
undone. Transcription runs before the transaction opens; stopping it midway writes nothing.
"""

from __future__ import annotations

import bisect
import inspect
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.audio.sources import SAMPLE_RATE, VAD_CONTEXT, VAD_WINDOW, audio_length, load_audio, stream_audio
from core.base.errors import UserError
from core.pipeline.live import annotate
from core.speech.models import ModelRef, resolve_model
from core.store.review import guide_of_session, recorded, remap_codings
from core.audio.playback import session_tracks
from core.store.database import NewSegment, Store, now_iso
from core.speech.transcriber import LOGPROB_MIN, NO_SPEECH_MAX, invented, loop_free, seed_sampling
from core.understanding.suggester import Suggester
from core.understanding.tracker import GuideTracker

# Verbatim transcripts keep hesitations: a prompt written that way makes Whisper write them.
VERBATIM_PROMPTS = {
    "nl": "Uhm, eh, nou ja... hm hm. Ja, uh, dat is, uhm, lastig.",
    "en": "Um, uh, so, like... hmm. Yeah, I mean, uh, it's, um, hard.",
}
VERBATIM_PROMPT_OTHER = "Um, uh... hmm."
# The batched pipeline packs speech into 30-second windows; below a few windows it only adds work.
BATCHED_MIN_SECONDS = 90.0
BATCH_SIZE = 8
# A word belongs to a segment whose time it falls within, give or take this much.
TOLERANCE = 0.4
# Words outside every segment are grouped into new segments at pauses this long, or this size.
NEW_SEGMENT_PAUSE = 0.8
NEW_SEGMENT_MAX = 15.0


class Cancelled(UserError):
    """The re-transcription was stopped; nothing was written."""


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


@dataclass
class Result:
    session_id: int
    model: str
    batched: bool
    audio_seconds: float
    transcribe_seconds: float
    updated: int = 0  # segments whose text changed
    unchanged: int = 0
    kept_edited: int = 0  # edited segments left as the user wrote them
    overwritten_edited: int = 0
    inserted: int = 0
    silent: int = 0  # segments where the new model heard nothing (kept as they were)
    edit_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        return self.transcribe_seconds / self.audio_seconds if self.audio_seconds else 0.0


# --- transcription ----------------------------------------------------------------------------


def load_model(ref: ModelRef, language: str | None, threads: int | None = None):
    from faster_whisper import WhisperModel

    seed_sampling()
    if language and language != "en" and not ref.multilingual:
        raise UserError(
            f"model {ref.name} ({ref.path}) understands English only, and this session is in "
            f"{language!r}; use a multilingual model such as --model base"
        )
    try:
        return WhisperModel(str(ref.path), device="cpu", compute_type="int8", cpu_threads=threads or os.cpu_count() or 2)
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(f"model {ref.name} ({ref.path}) cannot be loaded: {exc}") from None


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
        segments = _batched_segments(model, track, options, batch_size, stop)
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
        if seg.no_speech_prob > NO_SPEECH_MAX and seg.avg_logprob < LOGPROB_MIN:
            continue
        if invented(seg.text.strip()):
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


# --- the batched pipeline, fed as the file is read ----------------------------------------------
#
# BatchedInferencePipeline.transcribe wants the whole track as one array, pads a copy of it for
# the VAD, and computes the features of all its speech before decoding any: a two-hour session
# (both tracks loaded, as this did) peaked at 2 GB before its first batch was decoded, where
# this takes 0.2 GB (bench/bench_audio_memory.py).
# What follows is the same pipeline, step by step, reading the file twice instead: once to find
# the speech (Silero VAD with faster-whisper's settings and arithmetic), and once to transcribe
# it, one batch of 30-second windows of speech at a time, through the pipeline's own `forward`.
# The results are those of `transcribe` (tests/test_retranscribe.py compares the VAD's answers
# and the segments); faster-whisper is pinned, and a change in what is mirrored here shows there.

# Windows per Silero call. faster-whisper makes calls of 10,000 windows, but Silero's state runs
# from window to window and is passed from one call to the next, so the size of the calls does
# not change its answers (not a bit: the tests compare them), only the memory: a call of 10,000
# windows peaks some 200 MB above one of 1,024 (33 seconds).
VAD_BATCH = 1_024


def speech_probabilities(track: Path, stop: threading.Event | None = None) -> tuple[np.ndarray, int]:
    """Silero's speech probability for each 32 ms window of the track, as faster_whisper.vad
    computes them for the whole array, and the track's length in samples."""
    from faster_whisper.vad import get_vad_model

    session = get_vad_model().session
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    context = np.zeros(VAD_CONTEXT, dtype=np.float32)
    probs: list[np.ndarray] = []
    length = 0
    blocks = stream_audio(track, VAD_WINDOW * VAD_BATCH)
    block = next(blocks, np.zeros(0, dtype=np.float32))
    while block is not None:
        following = next(blocks, None)
        length += len(block)
        if following is None:
            # The end of the track is padded to a whole window (a whole window of zeros when
            # it ends on one), and the last window's own last samples are silenced, as
            # faster-whisper does it.
            block = np.pad(block, (0, VAD_WINDOW - len(block) % VAD_WINDOW))
            block[-VAD_CONTEXT:] = 0.0
        windows = block.reshape(-1, VAD_WINDOW)
        contexts = np.concatenate([context[None, :], windows[:-1, -VAD_CONTEXT:]], axis=0)
        context = windows[-1, -VAD_CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        for at in range(0, len(batch), VAD_BATCH):
            out, h, c = session.run(None, {"input": batch[at : at + VAD_BATCH], "h": h, "c": c})
            probs.append(out)
        if stop is not None and stop.is_set():
            raise Cancelled("re-transcription stopped; the session is as it was")
        block = following
    return np.concatenate(probs, axis=0), length


def speech_timestamps(probs: np.ndarray, length: int, vad_options) -> list[dict]:
    """The speech chunks, in samples, that faster_whisper.vad.get_speech_timestamps finds from
    these probabilities (its decisions, line for line)."""
    threshold = vad_options.threshold
    neg_threshold = vad_options.neg_threshold
    window_size_samples = VAD_WINDOW
    min_speech_samples = SAMPLE_RATE * vad_options.min_speech_duration_ms / 1000
    speech_pad_samples = SAMPLE_RATE * vad_options.speech_pad_ms / 1000
    max_speech_samples = SAMPLE_RATE * vad_options.max_speech_duration_s - window_size_samples - 2 * speech_pad_samples
    min_silence_samples = SAMPLE_RATE * vad_options.min_silence_duration_ms / 1000
    min_silence_samples_at_max_speech = SAMPLE_RATE * 98 / 1000
    audio_length_samples = length

    triggered = False
    speeches: list[dict] = []
    current_speech: dict = {}
    if neg_threshold is None:
        neg_threshold = max(threshold - 0.15, 0.01)
    temp_end = 0
    prev_end = next_start = 0

    for i, speech_prob in enumerate(probs):
        if (speech_prob >= threshold) and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = window_size_samples * i
        if (speech_prob >= threshold) and not triggered:
            triggered = True
            current_speech["start"] = window_size_samples * i
            continue
        if triggered and (window_size_samples * i) - current_speech["start"] > max_speech_samples:
            if prev_end:
                current_speech["end"] = prev_end
                speeches.append(current_speech)
                current_speech = {}
                if next_start < prev_end:
                    triggered = False
                else:
                    current_speech["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current_speech["end"] = window_size_samples * i
                speeches.append(current_speech)
                current_speech = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue
        if (speech_prob < neg_threshold) and triggered:
            if not temp_end:
                temp_end = window_size_samples * i
            if (window_size_samples * i) - temp_end > min_silence_samples_at_max_speech:
                prev_end = temp_end
            if (window_size_samples * i) - temp_end < min_silence_samples:
                continue
            current_speech["end"] = temp_end
            if (current_speech["end"] - current_speech["start"]) > min_speech_samples:
                speeches.append(current_speech)
            current_speech = {}
            prev_end = next_start = temp_end = 0
            triggered = False
            continue

    if current_speech and (audio_length_samples - current_speech["start"]) > min_speech_samples:
        current_speech["end"] = audio_length_samples
        speeches.append(current_speech)

    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - speech_pad_samples))
        if i != len(speeches) - 1:
            silence_duration = speeches[i + 1]["start"] - speech["end"]
            if silence_duration < 2 * speech_pad_samples:
                speech["end"] += int(silence_duration // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - silence_duration // 2))
            else:
                speech["end"] = int(min(audio_length_samples, speech["end"] + speech_pad_samples))
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - speech_pad_samples))
        else:
            speech["end"] = int(min(audio_length_samples, speech["end"] + speech_pad_samples))
    return speeches


def speech_windows(speeches: list[dict], max_duration: float) -> list[tuple[list[tuple[int, int]], dict]]:
    """The speech packed into windows of at most `max_duration` seconds, as
    faster_whisper.vad.collect_chunks packs it: each window's stretches of the track (in
    samples) and its metadata, without the audio."""
    windows: list[tuple[list[tuple[int, int]], dict]] = []
    spans: list[tuple[int, int]] = []
    segments: list[dict] = []
    duration = total = 0

    def close() -> None:
        windows.append((spans, {"offset": total / SAMPLE_RATE, "duration": duration / SAMPLE_RATE, "segments": segments}))

    for chunk in speeches:
        if duration + chunk["end"] - chunk["start"] > max_duration * SAMPLE_RATE:
            close()
            total += duration
            # collect_chunks leaves a window's first chunk out of its "segments"; nothing reads them.
            segments = []
            spans = [(chunk["start"], chunk["end"])]
            duration = chunk["end"] - chunk["start"]
        else:
            segments.append(chunk)
            spans.append((chunk["start"], chunk["end"]))
            duration += chunk["end"] - chunk["start"]
    close()
    return windows


class _Stretches:
    """Stretches of a track handed out front to back, the file read once, only what is ahead kept."""

    def __init__(self, blocks):
        self._blocks = blocks
        self._buf = np.zeros(0, dtype=np.float32)
        self._start = 0  # the track's sample at _buf[0]

    def _forget_before(self, sample: int) -> None:
        cut = min(max(0, sample - self._start), len(self._buf))
        self._buf = self._buf[cut:]
        self._start += cut

    def read(self, start: int, end: int) -> np.ndarray:
        self._forget_before(start)
        while self._start + len(self._buf) < end:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buf = np.concatenate([self._buf, block])
            self._forget_before(start)
        return self._buf[start - self._start : end - self._start]

    def close(self) -> None:
        self._blocks.close()


def _pipeline_options(model, options: dict, tokenizer):
    """The TranscriptionOptions that BatchedInferencePipeline.transcribe makes of these arguments."""
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    defaults = {
        name: p.default
        for name, p in inspect.signature(BatchedInferencePipeline.transcribe).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    a = {**defaults, **options}
    temperature = a["temperature"]
    return TranscriptionOptions(
        beam_size=a["beam_size"],
        best_of=a["best_of"],
        patience=a["patience"],
        length_penalty=a["length_penalty"],
        repetition_penalty=a["repetition_penalty"],
        no_repeat_ngram_size=a["no_repeat_ngram_size"],
        log_prob_threshold=a["log_prob_threshold"],
        no_speech_threshold=a["no_speech_threshold"],
        compression_ratio_threshold=a["compression_ratio_threshold"],
        temperatures=temperature[:1] if isinstance(temperature, (list, tuple)) else [temperature],
        initial_prompt=a["initial_prompt"],
        prefix=a["prefix"],
        suppress_blank=a["suppress_blank"],
        suppress_tokens=(
            get_suppressed_tokens(tokenizer, a["suppress_tokens"]) if a["suppress_tokens"] else a["suppress_tokens"]
        ),
        prepend_punctuations=a["prepend_punctuations"],
        append_punctuations=a["append_punctuations"],
        max_new_tokens=a["max_new_tokens"],
        hotwords=a["hotwords"],
        word_timestamps=a["word_timestamps"],
        hallucination_silence_threshold=None,
        condition_on_previous_text=False,
        clip_timestamps=a["clip_timestamps"],
        prompt_reset_on_temperature=0.5,
        multilingual=a["multilingual"] and model.model.is_multilingual,
        without_timestamps=a["without_timestamps"],
        max_initial_timestamp=0.0,
    )


def find_speech(track: Path, chunk_length: int, stop: threading.Event | None = None) -> list[dict]:
    """The speech chunks of the track, in samples, as BatchedInferencePipeline.transcribe finds
    them with its VAD settings for windows of `chunk_length` seconds."""
    from faster_whisper.vad import VadOptions

    probs, length = speech_probabilities(track, stop)
    return speech_timestamps(probs, length, VadOptions(max_speech_duration_s=chunk_length, min_silence_duration_ms=160))


def speech_batches(track: Path, speeches: list[dict], feature_extractor, batch_size: int):
    """The features of each batch of speech windows and the windows' metadata, the track read
    once more, front to back: what the batched pipeline decodes, one batch in memory at a time."""
    from faster_whisper.audio import pad_or_trim

    windows = speech_windows(speeches, feature_extractor.chunk_length)
    stretches = _Stretches(stream_audio(track))
    try:
        for at in range(0, len(windows), batch_size):
            batch = windows[at : at + batch_size]
            audio = [np.concatenate([np.zeros(0, dtype=np.float32)] + [stretches.read(a, b) for a, b in spans])
                     for spans, _ in batch]
            features = np.stack([pad_or_trim(feature_extractor(a)[..., :-1]) for a in audio])
            yield features, [meta for _, meta in batch]
    finally:
        stretches.close()


def _batched_segments(model, track: Path, options: dict, batch_size: int, stop: threading.Event | None):
    """faster-whisper's batched transcription of the track with these options, read as it goes."""
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import Segment, restore_speech_timestamps
    from faster_whisper.transcribe import Word as WhisperWord

    options = {k: v for k, v in options.items() if k not in ("condition_on_previous_text", "vad_filter")}
    speeches = find_speech(track, model.feature_extractor.chunk_length, stop)
    if not speeches:
        return
    language = options["language"] if model.model.is_multilingual else "en"
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    pipeline_options = _pipeline_options(model, {**options, "clip_timestamps": speeches}, tokenizer)
    pipeline = BatchedInferencePipeline(model)

    def generated():
        # As BatchedInferencePipeline numbers and rounds them.
        number = 0
        for features, metadata in speech_batches(track, speeches, model.feature_extractor, batch_size):
            for result in pipeline.forward(features, tokenizer, metadata, pipeline_options):
                for segment in result:
                    number += 1
                    yield Segment(
                        seek=segment["seek"],
                        id=number,
                        text=segment["text"],
                        start=round(segment["start"], 3),
                        end=round(segment["end"], 3),
                        words=(
                            [WhisperWord(**w) for w in segment["words"]] if pipeline_options.word_timestamps else None
                        ),
                        tokens=segment["tokens"],
                        avg_logprob=segment["avg_logprob"],
                        no_speech_prob=segment["no_speech_prob"],
                        compression_ratio=segment["compression_ratio"],
                        temperature=pipeline_options.temperatures[0],
                    )

    yield from restore_speech_timestamps(generated(), speeches, SAMPLE_RATE)


# --- laying the words onto the session --------------------------------------------------------


def _join(words: list[Word]) -> str:
    return " ".join("".join(w.text for w in words).split())


def _assign(words: list[Word], segments: list[dict], protected: list[tuple[float, float]]):
    """Split one speaker's words into those of each segment and those outside all of them."""
    starts = [s["start"] for s in segments]
    by_segment: dict[int, list[Word]] = {s["id"]: [] for s in segments}
    loose: list[Word] = []
    for w in words:
        mid = w.middle
        i = bisect.bisect_right(starts, mid)
        best, gap = None, TOLERANCE
        for s in segments[max(0, i - 2) : i + 1]:
            d = 0.0 if s["start"] <= mid <= s["end"] else min(abs(mid - s["start"]), abs(mid - s["end"]))
            if d <= gap:
                best, gap = s, d
        if best is not None:
            by_segment[best["id"]].append(w)
        elif not any(a <= mid <= b for a, b in protected):
            loose.append(w)
    return by_segment, loose


def _groups(words: list[Word]) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for w in words:
        if groups and w.start - groups[-1][-1].end < NEW_SEGMENT_PAUSE and w.end - groups[-1][0].start < NEW_SEGMENT_MAX:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups


def apply_words(
    store: Store,
    session_id: int,
    words: dict[str, list[Word]],
    *,
    model_name: str,
    overwrite_edited: bool = False,
    result: Result,
) -> Result:
    guide = guide_of_session(store, session_id)
    _require_times(store, session_id)
    segments = store.segments(session_id)
    # Speech in an edited segment is the user's, whichever track it came through.
    protected = [(s["start"] - TOLERANCE, s["end"] + TOLERANCE) for s in segments if s["edited"] and not overwrite_edited]
    suggester = Suggester(guide)
    suggester.learn_from(store.coded_examples(guide.id, exclude_session=session_id))
    label = f"re-transcribe with {model_name}"
    with recorded(store, session_id, label) as ch:
        new_segments: list[NewSegment] = []
        for speaker, heard in words.items():
            mine = sorted((s for s in segments if s["speaker"] == speaker), key=lambda s: (s["start"], s["id"]))
            by_segment, loose = _assign(heard, mine, protected)
            for seg in mine:
                got = by_segment[seg["id"]]
                if not got:
                    result.silent += 1
                    continue
                text = _join(got)
                if seg["edited"] and not overwrite_edited:
                    ch.update("segments", seg["id"], {"asr_text": text})
                    result.kept_edited += 1
                    continue
                if text == seg["text"]:
                    ch.update("segments", seg["id"], {"asr_text": text})
                    result.unchanged += 1
                    continue
                ch.update("segments", seg["id"], {"text": text, "asr_text": text, "edited": 0})
                remap_codings(ch, store, seg["id"], seg["text"], text)
                result.overwritten_edited += bool(seg["edited"])
                result.updated += 1
                if speaker == "respondent":
                    _refresh_suggestions(ch, store, suggester, seg["id"], text, seg["question"])
            for group in _groups(loose):
                new_segments.append(
                    NewSegment(speaker=speaker, text=_join(group), start=round(group[0].start, 2), end=round(group[-1].end, 2))
                )
        if new_segments:
            _insert_new(ch, store, session_id, guide, suggester, new_segments)
            result.inserted = len(new_segments)
        ch.update("sessions", session_id, {"model": model_name})
    result.edit_id = ch.edit_id
    return result


def _require_times(store: Store, session_id: int) -> None:
    untimed = store.db.execute(
        'select count(*) from segments where session_id = ? and (start is null or "end" is null)', [session_id]
    ).fetchone()[0]
    if untimed:
        raise UserError(
            f"session {session_id} has {untimed} segments without times (typed or imported text): their "
            "words cannot be matched to the audio, so it is not re-transcribed"
        )


def _refresh_suggestions(ch, store: Store, suggester: Suggester, segment_id: int, text: str, question: int | None) -> None:
    """Pending suggestions were made for the old text; decided ones stay as the user left them."""
    decided = set()
    for row in store.db.query("select id, indicator_id, state from suggestions where segment_id = ?", [segment_id]):
        if row["state"] == "pending":
            ch.delete("suggestions", row["id"])
        else:
            decided.add(row["indicator_id"])
    rank = store.db.execute("select coalesce(max(rank), -1) + 1 from suggestions where segment_id = ?", [segment_id]).fetchone()[0]
    for s in suggester.suggest(text, question=question):
        if s.indicator_id in decided:
            continue
        ch.insert("suggestions", {"segment_id": segment_id, "rank": rank, "dimension_id": s.dimension_id,
                                  "indicator_id": s.indicator_id, "score": round(float(s.score), 4),
                                  "reason": s.reason, "state": "pending"})
        rank += 1


def _insert_new(ch, store: Store, session_id: int, guide, suggester: Suggester, new: list[NewSegment]) -> None:
    existing = [(s["start"] or 0.0, s["question"]) for s in store.segments(session_id)]
    existing.sort(key=lambda x: x[0])
    starts = [t for t, _ in existing]
    tracker = GuideTracker(guide)
    for seg in sorted(new, key=lambda s: s.start):
        i = bisect.bisect_right(starts, seg.start)
        tracker.set_current(existing[i - 1][1] if i else None)
        annotate(seg, tracker, suggester)
        seg_id = ch.insert(
            "segments",
            {"session_id": session_id, "speaker": seg.speaker, "speaker_label": None, "start": seg.start,
             "end": seg.end, "text": seg.text, "asr_text": seg.text, "origin": "asr", "edited": 0,
             "asks": seg.asks, "question": seg.question, "created_at": now_iso()},
        )
        for rank, s in enumerate(seg.suggestions):
            ch.insert("suggestions", {"segment_id": seg_id, "rank": rank, "dimension_id": s.dimension_id,
                                      "indicator_id": s.indicator_id, "score": round(float(s.score), 4),
                                      "reason": s.reason, "state": "pending"})
        if seg.asks is not None:
            ch.insert("question_events", {"session_id": session_id, "question": seg.asks, "at": seg.start,
                                          "kind": "detected", "segment_id": seg_id, "score": seg.question_score})


def retranscribe(
    store: Store,
    session_id: int,
    model: str | None = None,
    *,
    verbatim: bool = False,
    overwrite_edited: bool = False,
    batched: bool | None = None,
    threads: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    loaded_model=None,
) -> Result:
    """Transcribe the session's tracks again with `model` and lay the words onto it."""
    session = store.session(session_id)
    tracks = session_tracks(session)
    _require_times(store, session_id)
    ref = resolve_model(model)
    language = session["language"] or guide_of_session(store, session_id).language
    if on_progress is not None:
        on_progress(Progress(f"loading the model {ref.name}", 0.0, 0.0, 0.0))
    whisper = loaded_model if loaded_model is not None else load_model(ref, language, threads)
    words, seconds, took, mode = transcribe_session_audio(
        tracks, whisper, language=language, verbatim=verbatim, batched=batched, on_progress=on_progress, stop=stop
    )
    if stop is not None and stop.is_set():
        raise Cancelled("re-transcription stopped; the session is as it was")
    result = Result(session_id, ref.name, mode, seconds, took)
    return apply_words(store, session_id, words, model_name=ref.name, overwrite_edited=overwrite_edited, result=result)
