"""The streaming VAD segmenter's rules, with a stand-in VAD that hears loud windows as speech."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio.segmenter import VadSegmenter
from core.audio.sources import SAMPLE_RATE, AudioChunk, FileReplaySource, ManualClock


class LoudnessVad:
    """Silero's interface: one probability per 512-sample window (after 64 samples of context)."""

    class _Session:
        def run(self, _outputs, feeds):
            windows = feeds["input"][:, 64:]
            probs = (np.abs(windows).mean(axis=1) > 0.1).astype(np.float32)
            return probs.reshape(-1, 1), None, None

    session = _Session()


def timeline(*parts: tuple[str, float]) -> np.ndarray:
    """('speech'|'silence', seconds) pieces joined into one signal."""
    out = []
    for kind, seconds in parts:
        n = int(seconds * SAMPLE_RATE)
        out.append(np.full(n, 0.5 if kind == "speech" else 0.0, dtype=np.float32))
    return np.concatenate(out)


def run(signal: np.ndarray, chunk: float = 0.1, start: float = 0.0, **kwargs):
    seg = VadSegmenter("respondent", vad=LoudnessVad(), **kwargs)
    n = int(chunk * SAMPLE_RATE)
    out = []
    for i in range(0, len(signal), n):
        out += seg.push(AudioChunk("respondent", start + i / SAMPLE_RATE, signal[i : i + n]))
    return out, seg.flush()


def test_utterances_end_after_a_pause_with_their_times():
    signal = timeline(("silence", 1), ("speech", 2), ("silence", 1), ("speech", 1.5), ("silence", 1))
    utts, rest = run(signal, start=10.0)
    assert rest == []
    assert [(round(u.start, 1), round(u.end, 1)) for u in utts] == [(11.0, 13.0), (14.0, 15.5)]
    assert all(not u.cut for u in utts)
    # Padded on both sides, so word edges are not clipped.
    assert len(utts[0].samples) == pytest.approx((2 + 2 * 0.3) * SAMPLE_RATE, abs=600)


def test_a_short_pause_does_not_split_an_utterance():
    signal = timeline(("speech", 1), ("silence", 0.3), ("speech", 1), ("silence", 1))
    utts, _ = run(signal)
    assert len(utts) == 1 and round(utts[0].end - utts[0].start, 1) == 2.3


def test_a_click_is_not_an_utterance():
    signal = timeline(("silence", 1), ("speech", 0.1), ("silence", 1))
    utts, rest = run(signal)
    assert utts == [] and rest == []


def test_a_monologue_is_cut_so_text_shows_while_it_goes_on():
    signal = timeline(("speech", 30), ("silence", 1))
    utts, rest = run(signal, max_utterance=12.0)
    pieces = utts + rest
    assert len(pieces) == 3
    assert [u.cut for u in pieces] == [True, True, False]
    assert all(u.end - u.start <= 12.0 + 1e-6 for u in pieces)
    # Nothing lost and nothing doubled: the pieces tile the speech.
    assert pieces[0].start == 0.0 and pytest.approx(pieces[-1].end, abs=0.04) == 30.0
    for a, b in zip(pieces, pieces[1:]):
        assert a.end == pytest.approx(b.start, abs=1e-6)


def test_a_long_utterance_prefers_to_cut_at_a_short_pause():
    signal = timeline(("speech", 8), ("silence", 0.3), ("speech", 8), ("silence", 1))
    utts, _ = run(signal, max_utterance=12.0)
    assert utts[0].cut and 8.0 <= utts[0].end <= 8.3  # inside the pause
    assert utts[1].start == utts[0].end


def test_the_end_of_the_stream_ends_an_open_utterance():
    signal = timeline(("silence", 0.5), ("speech", 2))
    utts, rest = run(signal)
    assert utts == [] and len(rest) == 1 and rest[0].end == pytest.approx(2.5, abs=0.05)


def test_chunk_size_does_not_change_the_result():
    signal = timeline(("silence", 1), ("speech", 2), ("silence", 1), ("speech", 1), ("silence", 1))
    a, _ = run(signal, chunk=0.1)
    b, _ = run(signal, chunk=0.037)
    assert [(u.start, u.end) for u in a] == [(u.start, u.end) for u in b]


def test_file_replay_interleaves_tracks_by_time(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    sf.write(tmp_path / "b.wav", np.zeros(SAMPLE_RATE // 2), SAMPLE_RATE)
    clock = ManualClock()
    src = FileReplaySource({"interviewer": tmp_path / "a.wav", "respondent": tmp_path / "b.wav"}, clock=clock, realtime=False)
    chunks = list(src.chunks())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert sum(len(c.samples) for c in chunks if c.track == "interviewer") == SAMPLE_RATE
    assert sum(len(c.samples) for c in chunks if c.track == "respondent") == SAMPLE_RATE // 2
    assert clock.now() == pytest.approx(1.0)  # the clock followed the audio


def test_a_file_that_is_not_audio_is_a_user_error(tmp_path):
    from core.base.errors import UserError

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(UserError, match="not a readable audio file"):
        FileReplaySource({"interviewer": bad})


def _endings(signal: np.ndarray, chunk: float = 0.1, **kwargs):
    """Each utterance the segmenter gives, and the ending it foresaw before (None: none)."""
    seg = VadSegmenter("respondent", vad=LoudnessVad(), **kwargs)
    n = int(chunk * SAMPLE_RATE)
    foreseen, out = [], []
    for i in range(0, len(signal), n):
        for utt in seg.push(AudioChunk("respondent", i / SAMPLE_RATE, signal[i : i + n])):
            out.append((utt, foreseen[-1][1] if foreseen else None))
            foreseen.clear()
        ending = seg.ending()
        if ending is not None:
            foreseen.append(((i + n) / SAMPLE_RATE, ending))
            foreseen[:] = foreseen[-1:]
    return out, foreseen


def test_the_ending_of_a_pause_is_foreseen_with_the_utterance_it_gives():
    signal = timeline(("silence", 1), ("speech", 2), ("silence", 1), ("speech", 1.5), ("silence", 1))
    out, _ = _endings(signal)
    assert len(out) == 2
    for utt, foreseen in out:
        assert foreseen is not None
        assert (foreseen.start, foreseen.end, foreseen.cut) == (utt.start, utt.end, utt.cut)
        np.testing.assert_array_equal(foreseen.samples, utt.samples)


def test_an_ending_is_foreseen_once_the_padding_is_in_and_before_the_pause_is_confirmed():
    signal = timeline(("speech", 2), ("silence", 1))
    seg = VadSegmenter("respondent", vad=LoudnessVad(), min_silence=0.5, pad=0.3)
    first_seen = given = None
    for i in range(0, len(signal), 1600):
        at = (i + 1600) / SAMPLE_RATE
        if seg.push(AudioChunk("respondent", i / SAMPLE_RATE, signal[i : i + 1600])) and given is None:
            given = at
        if seg.ending() is not None and first_seen is None:
            first_seen = at
    assert first_seen == pytest.approx(2.3, abs=0.11) and given == pytest.approx(2.5, abs=0.11)
    assert first_seen < given


def test_a_pause_that_speech_breaks_off_foresees_an_ending_that_never_comes():
    # 0.4 s of pause: longer than the padding, shorter than min_silence.
    signal = timeline(("speech", 1), ("silence", 0.4), ("speech", 1), ("silence", 1))
    seg = VadSegmenter("respondent", vad=LoudnessVad(), min_silence=0.5, pad=0.3)
    endings, given = set(), []
    for i in range(0, len(signal), 1600):
        given += seg.push(AudioChunk("respondent", i / SAMPLE_RATE, signal[i : i + 1600]))
        if (ending := seg.ending()) is not None:
            endings.add((round(ending.start, 1), round(ending.end, 1)))
    assert [(round(u.start, 1), round(u.end, 1)) for u in given] == [(0.0, 2.4)]
    assert endings == {(0.0, 1.0), (0.0, 2.4)}  # the first was foreseen, and speech went on


@pytest.mark.parametrize(("foresee", "seen_at"), [(0.1, 3.1), (0.25, 3.25)])
def test_the_padding_after_speech_can_be_shorter_than_before_and_the_ending_is_foreseen_when_asked(foresee, seen_at):
    signal = timeline(("silence", 1), ("speech", 2), ("silence", 1))
    seg = VadSegmenter("respondent", vad=LoudnessVad(), min_silence=0.5, pad=0.3, tail=0.1, foresee=foresee)
    first_seen, given = None, []
    for i in range(0, len(signal), 800):
        at = (i + 800) / SAMPLE_RATE
        given += seg.push(AudioChunk("respondent", i / SAMPLE_RATE, signal[i : i + 800]))
        if (ending := seg.ending()) is not None and first_seen is None:
            first_seen = at
            foreseen = ending
    assert len(given) == 1
    utt = given[0]
    assert (round(utt.start, 1), round(utt.end, 1)) == (1.0, 3.0)
    # 0.3 s before the speech, 0.1 s after it, however long the pause before it is foreseen.
    assert len(utt.samples) == pytest.approx((0.3 + 2 + 0.1) * SAMPLE_RATE, abs=600)
    assert first_seen == pytest.approx(seen_at, abs=0.06)
    np.testing.assert_array_equal(foreseen.samples, utt.samples)
