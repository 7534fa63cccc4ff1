"""faster-whisper's batched pipeline, fed as the file is read.

BatchedInferencePipeline.transcribe wants the whole track as one array, pads a copy of it for
the VAD, and computes the features of all its speech before decoding any: a two-hour session
(both tracks loaded, as re-transcription once did) peaked at 2 GB before its first batch was
decoded, where this takes 0.2 GB (bench/bench_audio_memory.py).

What follows is the same pipeline, step by step, reading the file twice instead: once to find
the speech (Silero VAD with faster-whisper's settings and arithmetic), and once to transcribe
it, one batch of 30-second windows of speech at a time, through the pipeline's own `forward`.
The results are those of `transcribe` (tests/test_retranscribe.py compares the VAD's answers
and the segments); faster-whisper is pinned, and a change in what is mirrored here shows there.
"""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import numpy as np

from core.audio.segmenter import VAD_CONTEXT, VAD_WINDOW
from core.audio.sources import SAMPLE_RATE, stream_audio
from core.base.errors import UserError


class Cancelled(UserError):
    """The transcription of a recording was stopped; nothing was written."""


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


def batched_segments(model, track: Path, options: dict, batch_size: int, stop: threading.Event | None):
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
