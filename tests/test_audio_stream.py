"""Reading a recording as it goes: the same samples as the whole-file decode, in blocks, for
fieldnote's own WAV tracks, a 48 kHz stereo file (resampled and mixed down), a FLAC, and a WAV
cut off the way a crash or a full disk leaves one; the replay and the player built on it; and
the same user errors as before."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.sources import SAMPLE_RATE, FileReplaySource, ManualClock, audio_length, load_audio, stream_audio
from core.base.errors import UserError
from core.audio.playback import Player, TrackMix, mix_tracks, open_mix

SR = SAMPLE_RATE


def _signal(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A tone that comes and goes over noise: every sample differs from its neighbours."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    return (tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def _streamed(path: Path, block: int) -> np.ndarray:
    blocks = list(stream_audio(path, block))
    assert all(len(b) == block for b in blocks[:-1]) and 0 < len(blocks[-1]) <= block
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    return np.concatenate(blocks)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    out = {
        "wav16k": folder / "interviewer.wav",  # what the recorder writes: 16 kHz mono 16-bit
        "wav48k": folder / "respondent-48k.wav",
        "flac": folder / "respondent.flac",
    }
    sf.write(out["wav16k"], _signal(SR, 70.3), SR, subtype="PCM_16")
    left = _signal(48_000, 41.7, seed=1)
    sf.write(out["wav48k"], np.stack([left, 0.5 * left[::-1]], axis=1), 48_000, subtype="PCM_16")
    sf.write(out["flac"], _signal(44_100, 33.3, seed=2), 44_100, subtype="PCM_24")
    return out


@pytest.mark.parametrize("kind", ["wav16k", "wav48k", "flac"])
@pytest.mark.parametrize("block", [1600, 30 * SR])
def test_streamed_blocks_are_the_whole_file_decode(files, kind, block):
    whole = load_audio(files[kind])
    streamed = _streamed(files[kind], block)
    # The same decoder and resampler, a group of frames at a time: the same samples exactly.
    np.testing.assert_array_equal(streamed, whole)
    assert audio_length(files[kind]) == len(whole)


def test_the_48k_stereo_file_is_resampled_and_mixed_down_not_stretched(files):
    streamed = _streamed(files["wav48k"], SR)
    assert abs(len(streamed) / SR - 41.7) < 0.01
    assert np.abs(streamed).max() > 0.1  # the signal is there, not silence


def test_a_16k_recording_reads_as_its_16_bit_samples(files):
    pcm, rate = sf.read(files["wav16k"], dtype="int16")
    assert rate == SR
    np.testing.assert_array_equal(_streamed(files["wav16k"], 4000), pcm.astype(np.float32) / 32768.0)


def _wav_bytes(samples: np.ndarray, claimed: int | None = None) -> bytes:
    """A 16 kHz mono 16-bit WAV as the recorder writes it, its header claiming `claimed` frames."""
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()
    data = len(pcm) if claimed is None else 2 * claimed
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SR, 2 * SR, 2, 16)
            + b"data" + struct.pack("<I", data) + pcm)


def test_a_wav_cut_off_midway_reads_what_is_there(tmp_path):
    audio = _signal(SR, 10.0)
    whole = _wav_bytes(audio)
    cut = tmp_path / "cut.wav"
    # The header says ten seconds; the file ends after four and a half, in the middle of a frame.
    cut.write_bytes(whole[: 44 + 2 * int(4.5 * SR) + 1])
    streamed = _streamed(cut, 1600)
    assert len(streamed) == int(4.5 * SR)
    np.testing.assert_array_equal(streamed, load_audio(cut))
    expected = np.clip(np.rint(audio[: len(streamed)] * 32767.0), -32768, 32767) / 32768.0
    np.testing.assert_allclose(streamed, expected, atol=1e-6)


def test_a_wav_whose_header_lags_its_data_reads_as_far_as_the_header_says(tmp_path):
    # A crash between two of the recorder's flushes: the header holds the length at the last one.
    path = tmp_path / "between-flushes.wav"
    path.write_bytes(_wav_bytes(_signal(SR, 3.0), claimed=2 * SR))
    assert len(_streamed(path, 1600)) == 2 * SR == len(load_audio(path))


def test_a_wav_whose_header_has_no_length_yet_reads_to_the_end(tmp_path):
    # A crash before the recorder's first flush with audio: the header still says 0 bytes.
    path = tmp_path / "before-first-flush.wav"
    path.write_bytes(_wav_bytes(_signal(SR, 1.5), claimed=0))
    assert len(_streamed(path, 1600)) == int(1.5 * SR) == len(load_audio(path))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such audio file"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_text("not audio"), "not a readable audio file"),
        (lambda p: p.mkdir(), "no such audio file"),
    ],
    ids=["missing", "empty", "not-audio", "a-folder"],
)
def test_a_file_that_is_no_audio_is_the_same_user_error_everywhere(tmp_path, make, message):
    path = tmp_path / "track.wav"
    make(path)
    with pytest.raises(UserError, match=message) as whole:
        load_audio(path)
    with pytest.raises(UserError, match=message) as streamed:
        list(stream_audio(path))
    assert str(streamed.value) == str(whole.value)
    assert str(path) in str(streamed.value)
    with pytest.raises(UserError, match=message):
        FileReplaySource({"interviewer": path}, realtime=False)


def test_replay_gives_the_chunks_the_whole_track_gave(files):
    tracks = {"interviewer": files["wav16k"], "respondent": files["wav48k"]}
    source = FileReplaySource(tracks, clock=ManualClock(), realtime=False)
    whole = {name: load_audio(path) for name, path in tracks.items()}
    assert source.duration == max(len(a) for a in whole.values()) / SR
    seen = {name: [] for name in tracks}
    starts = []
    for chunk in source.chunks():
        starts.append(chunk.start)
        at = round(chunk.start * SR)
        np.testing.assert_array_equal(chunk.samples, whole[chunk.track][at : at + source.chunk])
        seen[chunk.track].append(chunk.samples)
    assert starts == sorted(starts)
    for name, audio in whole.items():
        np.testing.assert_array_equal(np.concatenate(seen[name]), audio)


def test_a_replay_closed_midway_stops_reading(files):
    source = FileReplaySource({"interviewer": files["wav16k"]}, clock=ManualClock(), realtime=False)
    got = 0
    for chunk in source.chunks():
        got += 1
        if got == 5:
            source.close()
    assert got == 5


def test_the_player_reads_the_mix_the_whole_decode_gave(files, tmp_path):
    other = tmp_path / "respondent.wav"
    sf.write(other, _signal(SR, 50.0, seed=3), SR, subtype="PCM_16")
    tracks = {"interviewer": files["wav16k"], "respondent": other}
    mix = open_mix(tracks)
    assert isinstance(mix, TrackMix)  # fieldnote's own tracks are read as they play
    whole = mix_tracks(tracks)
    assert len(mix) == len(whole)
    np.testing.assert_array_equal(mix[0 : len(mix)], whole)
    np.testing.assert_array_equal(mix[55 * SR : 55 * SR + 8000], whole[55 * SR : 55 * SR + 8000])
    assert len(mix[len(mix) - 10 : len(mix) + 100]) == 10

    blocks: list[np.ndarray] = []

    class Stream:
        def __init__(self, fill, finished):
            self.fill = fill

        def start(self):
            while True:
                out = np.zeros(4000, dtype=np.float32)
                more = self.fill(out)
                blocks.append(out)
                if not more:
                    return

        def stop(self):
            pass

        def close(self):
            pass

    Player(mix, stream_factory=Stream).play(60.0, end=62.0)
    played = np.concatenate(blocks)[: 2 * SR]
    np.testing.assert_array_equal(played, whole[60 * SR : 62 * SR])


def test_a_resampled_track_is_played_from_the_whole_decode(files):
    tracks = {"interviewer": files["wav16k"], "respondent": files["wav48k"]}
    mix = open_mix(tracks)
    assert isinstance(mix, np.ndarray)
    np.testing.assert_array_equal(mix, mix_tracks(tracks))


def test_a_player_whose_track_vanishes_stops_instead_of_spinning(files, tmp_path):
    path = tmp_path / "interviewer.wav"
    path.write_bytes(files["wav16k"].read_bytes())
    mix = open_mix({"interviewer": path})
    fills = []

    class Stream:
        def __init__(self, fill, finished):
            self.fill = fill

        def start(self):
            path.unlink()
            fills.append(self.fill(np.zeros(4000, dtype=np.float32)))

        def stop(self):
            pass

        def close(self):
            pass

    Player(mix, stream_factory=Stream).play(1.0)
    assert fills == [False]
