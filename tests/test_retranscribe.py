"""Re-transcription with the bundled tiny.en model on English espeak-ng speech: edits and codings
survive, missed speech becomes new segments, and the whole pass can be undone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.store import review
from core.base.errors import UserError
from core.study.guide import load_guide
from core.pipeline.retranscribe import _assign, retranscribe
from core.speech.batched import Cancelled
from core.speech.tracks import Progress, Word
from core.store.database import NewSegment, Store

from review_data import DEMO

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="needs espeak-ng and sox"
)

RATE = 16_000
QUESTION = "How did the collaboration between the partners start?"
ANSWER_A = "The quick brown fox jumps over the lazy dog."
ANSWER_B = "The prison and the municipality shared their information every week."


def _speak(folder: Path, name: str, text: str) -> np.ndarray:
    raw, out = folder / f"{name}-raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", str(out)], check=True)
    audio, rate = sf.read(out, dtype="float32")
    assert rate == RATE
    loud = np.flatnonzero(np.abs(audio) > 0.01)  # espeak-ng pads with silence: keep the speech
    return audio[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def call(tmp_path_factory) -> tuple[Path, dict[str, tuple[float, float]]]:
    """Two tracks of one short call: the interviewer's question, then the respondent's two
    answers with a pause between them. Returns the folder and each utterance's time."""
    folder = tmp_path_factory.mktemp("call")
    parts = [("interviewer", "q", QUESTION), ("respondent", "a", ANSWER_A), ("respondent", "b", ANSWER_B)]
    gap = int(1.0 * RATE)
    at = int(0.5 * RATE)
    placed = []
    for track, key, text in parts:
        audio = _speak(folder, key, text)
        placed.append((track, key, at, audio))
        at += len(audio) + gap
    tracks = {name: np.zeros(at, dtype=np.float32) for name in ("interviewer", "respondent")}
    times = {}
    for track, key, start, audio in placed:
        tracks[track][start : start + len(audio)] = audio
        times[key] = (round(start / RATE, 2), round((start + len(audio)) / RATE, 2))
    for name, audio in tracks.items():
        sf.write(folder / f"{name}.wav", audio, RATE)
    return folder, times


@pytest.fixture(scope="module")
def tiny():
    from core.speech.models import load_model, resolve_model

    return load_model(resolve_model("tiny.en"), "en", threads=2)


def _session(store: Store, folder: Path, times: dict, keys=("q", "a", "b")) -> dict[str, int]:
    """The call as a weaker live model heard it."""
    guide = load_guide(DEMO / "guide.toml")
    sid = store.create_session(guide, origin="live", respondent="1", case_name="Samen starten", model="tiny.en")
    store.set_session_audio_dir(sid, folder)
    heard = {
        "q": ("interviewer", "how did collaboration between partners start"),
        "a": ("respondent", "the quick brown fox jumped over a lazy dog"),
        "b": ("respondent", "the prison and municipality shared information every week"),
    }
    ids = {"session": sid}
    for key in keys:
        speaker, text = heard[key]
        ids[key] = store.add_segment(sid, NewSegment(speaker=speaker, text=text, start=times[key][0], end=times[key][1]))
    return ids


def _row(store: Store, segment_id: int) -> dict:
    return store.db["segments"].get(segment_id)


def test_edited_segments_and_codings_survive_a_retranscription(memory_store, call, tiny):
    folder, times = call
    store = memory_store
    ids = _session(store, folder, times)
    sid = ids["session"]
    review.edit_text(store, ids["a"], "The quick brown fox jumps over the lazy dog (checked by hand).")
    whole_a = review.add_coding(store, ids["a"], "betrokkenheid")
    b_text = _row(store, ids["b"])["text"]
    start = b_text.index("shared information")
    span_b = review.add_coding(store, ids["b"], "bereidheid-informatie", start, start + len("shared information"))
    memo = review.add_memo(store, sid, "coding", span_b, "Weekly, not monthly.")
    before = {t: list(store.db.query(f"select * from {t} order by id")) for t in ("segments", "codings", "memos")}
    progress: list[Progress] = []

    result = retranscribe(store, sid, "tiny.en", loaded_model=tiny, batched=False, on_progress=progress.append)

    a, b, q = _row(store, ids["a"]), _row(store, ids["b"]), _row(store, ids["q"])
    assert a["text"] == "The quick brown fox jumps over the lazy dog (checked by hand)."
    assert a["edited"] == 1
    assert "fox" in a["asr_text"].lower() and a["asr_text"] != a["text"]
    assert store.db["codings"].get(whole_a)["segment_id"] == ids["a"]
    assert "municipality" in b["text"].lower() and b["text"] != b_text  # the better recognition replaced it
    coding = store.db["codings"].get(span_b)
    # The coded words, now as the larger model heard them.
    assert b["text"][coding["start_offset"] : coding["end_offset"]].lower() == "shared their information"
    assert store.db["memos"].get(memo)["target_id"] == str(span_b)
    assert "collaboration" in q["text"].lower()
    assert [s["id"] for s in store.segments(sid)] == [ids["q"], ids["a"], ids["b"]]
    assert (b["start"], b["end"]) == times["b"]
    assert result.kept_edited == 1 and result.updated >= 1 and result.inserted == 0
    assert store.session(sid)["model"] == "tiny.en"
    assert progress[0].fraction == 0.0 and progress[-1].fraction == 1.0
    assert all(p.total == pytest.approx(2 * len(sf.read(folder / "respondent.wav")[0]) / RATE) for p in progress[1:])

    assert review.undo(store, sid).label == "re-transcribe with tiny.en"
    assert {t: list(store.db.query(f"select * from {t} order by id")) for t in before} == before


def test_overwrite_edited_replaces_hand_edits_but_keeps_their_codings(memory_store, call, tiny):
    folder, times = call
    store = memory_store
    ids = _session(store, folder, times)
    review.edit_text(store, ids["a"], "Something else entirely.")
    whole_a = review.add_coding(store, ids["a"], "betrokkenheid")
    result = retranscribe(store, ids["session"], "tiny.en", loaded_model=tiny, overwrite_edited=True, batched=False)
    a = _row(store, ids["a"])
    assert "fox" in a["text"].lower() and a["text"] == a["asr_text"] and a["edited"] == 0
    assert store.db["codings"].get(whole_a)["segment_id"] == ids["a"]
    assert result.overwritten_edited == 1


def test_speech_the_live_segmenter_missed_becomes_a_new_segment(memory_store, call, tiny):
    folder, times = call
    store = memory_store
    ids = _session(store, folder, times, keys=("q", "a"))
    result = retranscribe(store, ids["session"], "tiny.en", loaded_model=tiny, batched=False)
    assert result.inserted == 1
    new = store.segments(ids["session"])[-1]
    assert new["speaker"] == "respondent" and "municipality" in new["text"].lower()
    # Whisper's word times are good to a few tenths of a second.
    assert times["b"][0] - 1.0 < new["start"] < times["b"][0] + 0.5 and abs(new["end"] - times["b"][1]) < 1.0
    assert new["edited"] == 0 and new["asr_text"] == new["text"]


def test_the_batched_pipeline_gives_the_same_words(memory_store, call, tiny):
    folder, times = call
    ids = _session(memory_store, folder, times)
    result = retranscribe(memory_store, ids["session"], "tiny.en", loaded_model=tiny, batched=True)
    assert result.batched
    assert "fox" in _row(memory_store, ids["a"])["text"].lower()
    assert "municipality" in _row(memory_store, ids["b"])["text"].lower()


@pytest.mark.parametrize("batched", [False, True])
def test_a_stopped_retranscription_writes_nothing(memory_store, call, tiny, batched):
    import threading

    folder, times = call
    ids = _session(memory_store, folder, times)
    before = memory_store.segments(ids["session"])
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        retranscribe(memory_store, ids["session"], "tiny.en", loaded_model=tiny, batched=batched, stop=stop)
    assert memory_store.segments(ids["session"]) == before
    assert review.history(memory_store, ids["session"]) == []


def test_a_session_without_audio_or_times_is_refused_with_a_reason(memory_store, tmp_path):
    guide = load_guide(DEMO / "guide.toml")
    sid = memory_store.create_session(guide, origin="import")
    with pytest.raises(UserError, match="no recorded audio"):
        retranscribe(memory_store, sid, "tiny.en")
    memory_store.set_session_audio_dir(sid, tmp_path)
    with pytest.raises(UserError, match="no interviewer or respondent track"):
        retranscribe(memory_store, sid, "tiny.en")
    sf.write(tmp_path / "respondent.wav", np.zeros(RATE, dtype=np.float32), RATE)
    memory_store.add_segment(sid, NewSegment(speaker="respondent", text="typed", start=None, end=None, origin="import"))
    with pytest.raises(UserError, match="without times"):
        retranscribe(memory_store, sid, "tiny.en")


def test_words_go_to_the_segment_whose_time_they_fall_in():
    segments = [{"id": 1, "start": 0.0, "end": 2.0}, {"id": 2, "start": 3.0, "end": 5.0}]
    words = [Word(0.1, 0.5, " one"), Word(2.1, 2.3, " edge"), Word(2.55, 2.65, " gap"), Word(4.0, 4.5, " two"),
             Word(9.0, 9.5, " later"), Word(7.0, 7.2, " mine")]
    by_segment, loose = _assign(words, segments, protected=[(6.5, 7.5)])
    assert [w.text for w in by_segment[1]] == [" one", " edge"]
    assert [w.text for w in by_segment[2]] == [" two"]
    assert [w.text for w in loose] == [" gap", " later"]  # " mine" is in an edited segment's time


# --- the batched pipeline fed as the file is read ---------------------------------------------


@pytest.fixture(scope="module")
def long_track(tmp_path_factory) -> Path:
    """Both sides of the English demo one after the other: 7.5 minutes, past the 320 seconds
    (10,000 windows) after which faster-whisper's VAD carries its state into a second call."""
    from core.audio.sources import load_audio

    audio = np.concatenate([load_audio(DEMO / f"{side}.flac") for side in ("interviewer", "respondent")])
    path = tmp_path_factory.mktemp("long") / "respondent.wav"
    sf.write(path, audio, RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize("windows", [1500, 2100])
@pytest.mark.parametrize("extra", [0, 100, 500])
def test_silero_answers_as_for_the_whole_track(tmp_path, windows, extra):
    """Across several calls (the state passed on), to a last window that ends in sound (which
    faster-whisper silences), on a track that ends on a whole window (padded by one more)."""
    from faster_whisper.vad import get_vad_model

    from core.audio.segmenter import VAD_WINDOW
    from core.audio.sources import load_audio
    from core.speech.batched import VAD_BATCH, speech_probabilities

    assert windows > VAD_BATCH
    n = windows * VAD_WINDOW + extra
    t = np.arange(n) / RATE
    rng = np.random.default_rng(windows + extra)
    audio = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.3 * t) > 0) + 0.05 * rng.standard_normal(n)
    path = tmp_path / "track.wav"
    sf.write(path, audio.astype(np.float32), RATE, subtype="PCM_16")
    whole = load_audio(path)
    assert np.abs(whole[-64:]).max() > 0.01
    probs, length = speech_probabilities(path)
    assert length == n
    np.testing.assert_array_equal(probs, get_vad_model()(np.pad(whole, (0, VAD_WINDOW - n % VAD_WINDOW))))


def test_the_streamed_speech_detection_is_faster_whispers(long_track):
    from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

    from core.audio.segmenter import VAD_WINDOW
    from core.audio.sources import load_audio
    from core.speech.batched import speech_probabilities, speech_timestamps

    options = VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)
    audio = load_audio(long_track)
    probs, length = speech_probabilities(long_track)
    assert length == len(audio) > 320 * RATE
    # Silero's answers themselves, which depend on the state carried from call to call.
    np.testing.assert_array_equal(probs, get_vad_model()(np.pad(audio, (0, VAD_WINDOW - len(audio) % VAD_WINDOW))))
    expected = get_speech_timestamps(audio, options)
    assert len(expected) > 20
    assert speech_timestamps(probs, length, options) == expected


# Three: the track's eight windows of speech are batches of three, three and two, so the reading
# goes on from batch to batch and ends in a short one. (It ran with two, four full batches, and
# with the default eight, all in one batch, which re-transcription with the default takes in
# test_the_batched_pipeline_gives_the_same_words; the two cost a minute and a half.)
@pytest.mark.parametrize("batch_size", [3])
def test_streamed_batches_give_what_the_whole_track_pipeline_gives(long_track, tiny, batch_size):
    """The track read as it goes through the batched pipeline gives segment for segment, word
    for word and time for time what faster-whisper's BatchedInferencePipeline gives for the
    track held whole."""
    from faster_whisper import BatchedInferencePipeline

    from core.audio.sources import load_audio
    from core.speech.batched import batched_segments
    from core.speech.tracks import transcribe_options

    def facts(segments):
        return [(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob,
                 [(w.start, w.end, w.word, w.probability) for w in s.words]) for s in segments]

    options = transcribe_options("en", verbatim=True)
    got = facts(batched_segments(tiny, long_track, dict(options), batch_size, None))
    options.pop("condition_on_previous_text")
    whole, _ = BatchedInferencePipeline(tiny).transcribe(load_audio(long_track), batch_size=batch_size, **options)
    expected = facts(whole)
    # Eight 30-second windows of speech.
    assert len(expected) >= 8 and sum(len(s[-1]) for s in expected) > 200
    assert got == expected
