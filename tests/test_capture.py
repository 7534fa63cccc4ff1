"""Capture, recording to disk, recovery, device faults and bleed.

The first part runs the capture code with fake devices on a manual clock. The second part runs
`fieldnote record --no-ui` as a subprocess through the real capture code against a private
PulseAudio server (tests/pulse.py): null sinks stand for Teams' output and for a microphone,
espeak-ng speech is played into them with paplay, and the bundled tiny.en model transcribes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from textual.widgets import Select

from core.audio import trackfiles
from core.audio.sources import SAMPLE_RATE, AudioChunk, ManualClock
from core.audio.bleed import BleedFilter, _Heard, is_bleed
from core.audio.alignment import Resampler, TrackPlacer
from core.audio.capture import LiveSource
from core.audio.devices import DeviceError, level_db, load_device_choice, save_device_choice
from core.base.errors import UserError
from core.study.guide import load_guide
from core.pipeline.live import SegmentReady
from core.audio.trackfiles import (
    DISK_RESERVE,
    DISK_START_MINUTES,
    DiskRoom,
    SessionAudio,
    SessionLock,
    TrackFile,
    check_free_space,
    repair_wav,
)
from core.pipeline.recording import close_interrupted, recover_interrupted, start_recording
from core.store.database import NewSegment, Store
from scripted import ScriptedTranscriber

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Fakes


class FakeStream:
    """A device: the test decides when it delivers, fails, or refuses to open."""

    def __init__(self, track: str, *, rate: int = SAMPLE_RATE, continuous: bool = True):
        self.track = track
        self.rate = rate
        self.continuous = continuous
        self.label = f"fake {track}"
        self.refuse_opens = 0
        self.opens = 0
        self.running = False
        self._deliver = self._fail = None

    def start(self, deliver, fail) -> None:
        if self.refuse_opens:
            self.refuse_opens -= 1
            raise DeviceError(f"{self.label} is not there")
        self.opens += 1
        self.running = True
        self._deliver, self._fail = deliver, fail

    def stop(self) -> None:
        self.running = False

    def send(self, seconds: float, value: float = 0.25) -> None:
        assert self.running
        self._deliver(np.full(int(round(self.rate * seconds)), value, dtype=np.float32))

    def fail(self, message: str) -> None:
        self.running = False
        self._fail(message)


class FakeRecording:
    def __init__(self, folder: Path):
        self.folder = folder
        self.written: dict[str, list[np.ndarray]] = {}
        self.flushes = 0
        self.closed = False

    def write(self, track, samples):
        self.written.setdefault(track, []).append(samples.copy())

    def flush(self):
        self.flushes += 1

    def close(self):
        self.closed = True

    def track(self, name) -> np.ndarray:
        return np.concatenate(self.written[name])


def run_until_done(source: LiveSource) -> list:
    source.stop()
    while not source.pump(0):
        pass
    return list(source.chunks())


def joined(chunks, track: str) -> tuple[float, np.ndarray]:
    """A track's chunks as one array, checking they follow each other without holes."""
    mine = [c for c in chunks if c.track == track]
    for a, b in zip(mine, mine[1:]):
        assert b.start == pytest.approx(a.end, abs=1e-6)
    return mine[0].start, np.concatenate([c.samples for c in mine])


def steps(clock: ManualClock, source: LiveSource, seconds: float, *streams: FakeStream, block: float = 0.1, value=0.25):
    for _ in range(int(round(seconds / block))):
        clock.advance(block)
        for s in streams:
            s.send(block, value)
        source.pump(0)


# ---------------------------------------------------------------------------------------------
# Resampling


@pytest.mark.parametrize("rate", [8000, 22050, 32000, 44100, 48000, 96000])
def test_resampler_keeps_speech_band_tones_exact_and_in_time(rate):
    t = np.arange(rate * 2) / rate
    for freq in (200.0, 1000.0, 3500.0):
        if freq > 0.85 * min(rate, SAMPLE_RATE) / 2:  # the passband ends at 85% of Nyquist
            continue
        out = Resampler(rate)((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        want = 0.5 * np.sin(2 * np.pi * freq * np.arange(len(out)) / SAMPLE_RATE)
        # Away from the edges (the filter's start-up), the tone is the same, in the same place.
        assert np.max(np.abs(out - want)[1600:-1600]) < 1e-3
        assert abs(len(out) - 2 * SAMPLE_RATE) < 200


@pytest.mark.parametrize("rate", [44100, 48000])
def test_resampler_does_not_fold_what_lies_above_8khz_into_speech(rate):
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 9500 * t)).astype(np.float32)
    out = Resampler(rate)(tone)[800:]
    assert level_db(out) < level_db(tone) - 60


def test_resampler_gives_the_same_samples_whatever_the_block_sizes():
    rng = np.random.default_rng(7)
    audio = rng.standard_normal(44100 * 2).astype(np.float32) * 0.1
    whole = Resampler(44100)(audio)
    streamed, r, i = [], Resampler(44100), 0
    while i < len(audio):
        n = int(rng.integers(1, 5000))
        streamed.append(r(audio[i : i + n]))
        i += n
    assert np.allclose(np.concatenate(streamed), whole, atol=1e-6)


def test_resampler_at_16khz_is_the_identity():
    audio = np.linspace(-1, 1, 999, dtype=np.float32)
    assert np.array_equal(Resampler(16000)(audio), audio)


# ---------------------------------------------------------------------------------------------
# One clock for both tracks


def test_a_silent_loopback_is_padded_and_its_sound_lands_where_it_was_played():
    clock = ManualClock()
    mic = FakeStream("interviewer")
    loop = FakeStream("respondent", rate=48000, continuous=False)
    rec = FakeRecording(Path("."))
    source = LiveSource([mic, loop], clock=clock, recording=rec)
    source.start(thread=False)
    steps(clock, source, 3.0, mic)  # nothing plays: the loopback delivers nothing at all
    clock.advance(0.5)
    mic.send(0.5)
    loop.send(0.5, value=0.5)  # then half a second of sound arrives, ending now (3.5 s)
    source.pump(0)
    chunks = run_until_done(source)

    start, resp = joined(chunks, "respondent")
    _, mic_audio = joined(chunks, "interviewer")
    assert start == 0.0
    assert len(resp) == len(mic_audio) == pytest.approx(3.5 * SAMPLE_RATE, abs=2)
    loud = np.nonzero(resp > 0.1)[0]
    assert loud[0] / SAMPLE_RATE == pytest.approx(3.0, abs=0.01)
    assert loud[-1] / SAMPLE_RATE == pytest.approx(3.5, abs=0.01)
    assert np.all(resp[: int(2.99 * SAMPLE_RATE)] == 0)
    # What went to disk is what went on to the pipeline.
    assert np.array_equal(rec.track("respondent"), resp)
    assert np.array_equal(rec.track("interviewer"), mic_audio)


def test_a_steady_device_is_trusted_sample_for_sample_despite_jittery_arrivals():
    clock = ManualClock()
    mic = FakeStream("interviewer")
    source = LiveSource([mic], clock=clock)
    source.start(thread=False)
    rng = np.random.default_rng(1)
    sent = 0
    clock.advance(0.1)
    for _ in range(50):
        mic.send(0.1)
        sent += 1600
        source.pump(0)
        # Blocks come late or early by up to 0.2 s (a busy machine), never idle for long.
        clock.advance(0.1 + float(rng.uniform(-0.08, 0.2)))
    chunks = run_until_done(source)
    _, audio = joined(chunks, "interviewer")
    assert np.count_nonzero(audio == 0.25) == sent
    # The only silence is the trailing padding up to the clock at the stop, never in between.
    assert np.all(audio[:sent] == 0.25)


def _drifting(placer: TrackPlacer, ppm: float, seconds: float, *, block: int = 320, seed: int = 1):
    """A device whose clock runs `ppm` parts per million fast (or slow), its blocks arriving
    10-25 ms after their last sample was heard: the placed track's error at the end, in
    seconds, and what each block was padded (or cut) by."""
    rng = np.random.default_rng(seed)
    rate = SAMPLE_RATE * (1 + ppm * 1e-6)
    captured, pads = 0, []
    while captured / rate < seconds:
        captured += block
        heard = captured / rate  # on the session clock
        pads.append(placer.place(block, heard + 0.01 + float(rng.uniform(0, 0.015))))
    return (placer.position - heard * SAMPLE_RATE) / SAMPLE_RATE, pads


@pytest.mark.parametrize("ppm", [100, -100, 300, -300])
def test_a_device_whose_clock_drifts_is_kept_on_the_session_clock(ppm):
    error, pads = _drifting(TrackPlacer(), ppm, 1200)
    uncorrected, _ = _drifting(TrackPlacer(drift_tolerance=1e9), ppm, 1200)
    assert abs(uncorrected) > 0.1 * abs(ppm) / 100  # 20 minutes at 100 ppm: 0.12 s
    assert abs(error) < 0.045
    # Made good a little at a time: never more than 20 ms of silence, never half a block cut.
    assert max(pads[1:]) <= 320 and min(pads[1:]) >= -160


def test_a_device_in_step_with_the_clock_is_never_corrected_for_jitter():
    placer = TrackPlacer()
    error, pads = _drifting(placer, 0, 1200, seed=7)
    assert placer.corrected == 0 and all(p == 0 for p in pads[1:])


def test_a_fast_device_loses_a_few_milliseconds_of_audio_not_its_place():
    clock = ManualClock()
    mic = FakeStream("interviewer")
    rec = FakeRecording(Path("."))
    source = LiveSource([mic], clock=clock, recording=rec)
    source.start(thread=False)
    sent = 0
    for _ in range(1800):  # three minutes of 0.1-s blocks from a device 0.1 % fast
        clock.advance(0.1 * 0.999)
        mic.send(0.1)
        sent += 1600
        source.pump(0)
    chunks = run_until_done(source)
    _, audio = joined(chunks, "interviewer")
    kept = np.count_nonzero(audio == 0.25)
    # Uncorrected the track would run 0.18 s ahead of the clock; made good it stays within 45 ms.
    assert abs(len(audio) / SAMPLE_RATE - clock.now()) < 0.045
    assert 0 < sent - kept < 0.2 * SAMPLE_RATE
    assert np.array_equal(rec.track("interviewer"), audio)


def test_a_lost_device_leaves_a_recorded_gap_while_the_other_track_goes_on():
    clock = ManualClock()
    events = []
    mic = FakeStream("interviewer")
    loop = FakeStream("respondent", continuous=False)
    source = LiveSource([mic, loop], clock=clock, on_event=events.append, retry_every=2.0)
    source.start(thread=False)
    steps(clock, source, 2.0, mic, loop)
    loop.fail("headset unplugged")
    loop.refuse_opens = 1  # the first attempt to reopen finds nothing
    source.pump(0)
    steps(clock, source, 4.5, mic)
    assert loop.opens == 2  # reopened on the second try, at 6.0 s
    for _ in range(15):
        clock.advance(0.1)
        mic.send(0.1)
        loop.send(0.1, value=0.5)
        source.pump(0)
    chunks = run_until_done(source)

    _, mic_audio = joined(chunks, "interviewer")
    _, resp = joined(chunks, "respondent")
    assert np.all(mic_audio[: int(7.9 * SAMPLE_RATE)] == 0.25)  # the microphone never stopped
    assert len(resp) == len(mic_audio)
    # Silence from the loss until the reopened device delivers (from 6.5 s), then its audio.
    assert np.all(resp[int(2.01 * SAMPLE_RATE) : int(6.49 * SAMPLE_RATE)] == 0)
    assert np.all(resp[int(6.51 * SAMPLE_RATE) : int(7.99 * SAMPLE_RATE)] == 0.5)
    (gap,) = [g for g in source.gaps if g.reason == "device"]
    assert gap.track == "respondent" and gap.start == pytest.approx(2.0)
    assert gap.end == pytest.approx(6.0, abs=0.11) and "headset unplugged" in gap.detail
    kinds = [e.kind for e in events]
    assert kinds.index("device-lost") < kinds.index("device-back")
    assert "headset unplugged" in events[kinds.index("device-lost")].message


def test_a_microphone_that_goes_quiet_is_treated_as_lost_and_reopened():
    clock = ManualClock()
    mic = FakeStream("interviewer")
    source = LiveSource([mic], clock=clock, stall_after=3.0, retry_every=1.0)
    source.start(thread=False)
    steps(clock, source, 1.0, mic)
    for _ in range(60):  # the device hangs: no error, no audio
        clock.advance(0.1)
        source.pump(0)
    assert mic.opens == 2
    run_until_done(source)
    (gap,) = source.gaps
    assert gap.track == "interviewer" and gap.start == pytest.approx(1.0) and "nothing" in gap.detail


def test_pause_and_mute_keep_silence_in_place_of_the_audio_and_note_it():
    clock = ManualClock()
    mic, loop = FakeStream("interviewer"), FakeStream("respondent")
    rec = FakeRecording(Path("."))
    source = LiveSource([mic, loop], clock=clock, recording=rec)
    source.start(thread=False)
    steps(clock, source, 1.0, mic, loop)
    source.paused.set()
    steps(clock, source, 1.0, mic, loop)
    source.paused.clear()
    source.muted.add("respondent")
    steps(clock, source, 1.0, mic, loop)
    source.muted.discard("respondent")
    steps(clock, source, 1.0, mic, loop)
    chunks = run_until_done(source)
    _, mic_audio = joined(chunks, "interviewer")
    _, resp = joined(chunks, "respondent")
    sec = SAMPLE_RATE
    assert np.all(mic_audio[sec : 2 * sec] == 0) and np.all(mic_audio[2 * sec : 4 * sec] == 0.25)
    assert np.all(resp[sec : 3 * sec] == 0) and np.all(resp[3 * sec : 4 * sec] == 0.25)
    assert np.array_equal(rec.track("respondent"), resp)  # nothing said off the record is kept
    spans = sorted((g.reason, g.track, g.start, g.end) for g in source.gaps)
    assert spans == [("muted", "respondent", 2.0, 3.0), ("paused", None, 1.0, 2.0)]


def test_recording_stops_cleanly_before_the_disk_is_full(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    free = [DISK_RESERVE + 20 * 2**20]
    monkeypatch.setattr(trackfiles.shutil, "disk_usage", lambda path: usage(10**12, 0, free[0]))
    clock = ManualClock()
    events = []
    mic = FakeStream("interviewer")
    rec = FakeRecording(tmp_path)
    source = LiveSource([mic], clock=clock, recording=rec, on_event=events.append, disk_check_every=1.0)
    source.start(thread=False)
    steps(clock, source, 2.0, mic)
    assert [e.kind for e in events] == ["disk-low"]  # 20 MB is about 11 minutes of one track
    free[0] = DISK_RESERVE - 1
    clock.advance(1.0)
    mic.send(1.0)
    assert source.pump(0) is False
    assert source.stop_reason == "disk-full"
    assert source.pump(0) is True  # the next round finishes: everything written, files closed
    assert rec.closed
    full = [e for e in events if e.kind == "disk-full"][0]
    assert "recording stopped" in full.message and str(tmp_path) in full.message
    _, audio = joined(list(source.chunks()), "interviewer")
    assert len(audio) == 3 * SAMPLE_RATE


def test_a_recording_does_not_start_without_room_on_the_disk(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(trackfiles.shutil, "disk_usage", lambda path: usage(10**12, 0, DISK_RESERVE + 2**20))
    with pytest.raises(UserError, match="not enough free disk space"):
        check_free_space(tmp_path)


def test_the_doctor_and_the_recorder_agree_on_the_room_a_recording_needs(tmp_path, monkeypatch):
    from core import doctor

    usage = namedtuple("usage", "total used free")
    enough = int(DiskRoom(0).needed(DISK_START_MINUTES * 60))
    for free in (enough, enough - 1):
        monkeypatch.setattr(trackfiles.shutil, "disk_usage", lambda path, free=free: usage(10**12, 0, free))
        (check,) = doctor.check_disk(tmp_path)
        try:
            check_free_space(tmp_path)
            starts = True
        except UserError:
            starts = False
        assert starts == (free == enough)
        assert (check.status != "fail") == starts, check.summary


def test_a_device_that_cannot_be_opened_leaves_none_open():
    mic, loop = FakeStream("interviewer"), FakeStream("respondent")
    loop.refuse_opens = 1
    source = LiveSource([mic, loop], clock=ManualClock())
    with pytest.raises(DeviceError, match="fake respondent is not there"):
        source.start(thread=False)
    assert not mic.running


# ---------------------------------------------------------------------------------------------
# Files that survive a crash


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_a_track_file_is_private_and_plays_after_every_flush(tmp_path):
    f = TrackFile(tmp_path / "t.wav")
    assert (tmp_path / "t.wav").stat().st_mode & 0o777 == 0o600
    f.write(_tone(1.0))
    f.flush()
    info = sf.info(tmp_path / "t.wav")
    assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, SAMPLE_RATE)
    f.close()


def test_repair_makes_a_file_cut_off_mid_write_play_with_all_its_audio(tmp_path):
    path = tmp_path / "t.wav"
    f = TrackFile(path)
    f.write(_tone(1.0))
    f.flush()
    f.write(_tone(0.5))
    f._fh.flush()  # on disk, but the header still says one second: as after kill -9
    with open(path, "ab") as fh:
        fh.write(b"\x01")  # and half a sample
    assert repair_wav(path) == pytest.approx(1.5)
    audio, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE and len(audio) == int(1.5 * SAMPLE_RATE)
    assert np.allclose(audio[SAMPLE_RATE:], _tone(0.5), atol=1e-4)


def test_repair_gives_a_file_that_died_in_its_header_an_empty_one(tmp_path):
    path = tmp_path / "t.wav"
    path.write_bytes(b"RIFF\x00\x00")
    assert repair_wav(path) == 0.0
    assert sf.info(path).frames == 0


def test_repair_leaves_a_foreign_file_alone(tmp_path):
    path = tmp_path / "t.wav"
    path.write_bytes(b"not a wav file at all " * 10)
    with pytest.raises(UserError, match="not a WAV file"):
        repair_wav(path)
    assert path.read_bytes() == b"not a wav file at all " * 10


def test_the_tracks_of_a_closed_recording_end_together(tmp_path):
    # The capture stops with one track's last block not yet handed over: the files still end at
    # the same moment, the shorter padded with silence, so the session's length is each track's.
    audio = SessionAudio(tmp_path / "s")
    audio.write("interviewer", _tone(1.0))
    audio.write("respondent", _tone(0.85))
    audio.close()
    for track in ("interviewer", "respondent"):
        assert sf.info(tmp_path / "s" / f"{track}.wav").frames == SAMPLE_RATE
    tail, _ = sf.read(tmp_path / "s" / "respondent.wav", dtype="float32", start=int(0.86 * SAMPLE_RATE))
    assert not tail.any()


def test_a_resumed_track_goes_on_at_the_end_of_the_longer_one(tmp_path):
    audio = SessionAudio(tmp_path / "s")
    audio.write("interviewer", _tone(1.0))
    audio.write("respondent", _tone(0.5))
    audio.close()
    again = SessionAudio(tmp_path / "s", append=True)
    assert again.seconds == pytest.approx(1.0)
    again.write("respondent", _tone(0.25))
    again.close()
    assert sf.info(tmp_path / "s" / "respondent.wav").frames == int(1.25 * SAMPLE_RATE)
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "s" / "recording.lock").exists()


# ---------------------------------------------------------------------------------------------
# Recovery


def _crashed_session(tmp_path: Path) -> tuple[Store, int, Path]:
    """A session as a killed recorder leaves it: status recording, audio cut off, no owner."""
    store = Store(tmp_path / "study.db")
    guide = load_guide("remote-work-en")
    sid = store.create_session(guide, origin="live", consent_at="2026-01-01T10:00:00+00:00")
    folder = tmp_path / "sessions" / str(sid)
    audio = SessionAudio(folder)
    store.set_session_audio_dir(sid, folder)
    store.add_segment(sid, NewSegment("interviewer", "How do you work from home?", 0.5, 2.0))
    store.add_gap(sid, "respondent", 1.0, None, "device", "unplugged")
    for track in ("interviewer", "respondent"):
        audio.files[track].write(_tone(2.0))
        audio.files[track].flush()
        audio.files[track].write(_tone(0.5))
        audio.files[track]._fh.flush()
    # The process dies: its lock goes with it, its files stay as they were.
    os.close(audio.lock._fd)
    audio.lock._fd = None
    return store, sid, folder


def test_recovery_repairs_keeps_segments_and_marks_the_session_interrupted(tmp_path):
    store, sid, folder = _crashed_session(tmp_path)
    (found,) = recover_interrupted(store)
    assert found.session_id == sid and found.recovered_now and found.segments == 1
    row = store.session(sid)
    assert row["status"] == "interrupted" and row["duration"] == pytest.approx(2.5)
    for track in ("interviewer", "respondent"):
        assert sf.info(folder / f"{track}.wav").frames == int(2.5 * SAMPLE_RATE)
    assert [s["text"] for s in store.segments(sid)] == ["How do you work from home?"]
    (gap,) = store.gaps(sid)
    assert gap["end"] == pytest.approx(2.5)
    # Found again on the next start, but not recovered twice.
    (again,) = recover_interrupted(store)
    assert not again.recovered_now
    close_interrupted(store, sid)
    assert store.session(sid)["status"] == "completed"
    assert recover_interrupted(store) == []


def test_recovery_leaves_a_session_whose_recorder_still_runs(tmp_path):
    store, sid, folder = _crashed_session(tmp_path)
    lock = SessionLock(folder)
    lock.acquire()  # another process (here: this one) is recording it
    try:
        assert recover_interrupted(store) == []
        assert store.session(sid)["status"] == "recording"
    finally:
        lock.release()


def test_a_session_starts_only_with_consent(tmp_path):
    store = Store(tmp_path / "study.db")
    guide = load_guide("remote-work-en")
    with pytest.raises(UserError, match="consent"):
        start_recording(store, guide, ScriptedTranscriber([]), streams=[FakeStream("interviewer")])
    assert store.sessions() == []


def test_start_recording_stores_consent_and_writes_private_files_under_a_lock(tmp_path):
    store = Store(tmp_path / "study.db")
    guide = load_guide("remote-work-en")
    streams = [FakeStream("interviewer"), FakeStream("respondent", continuous=False)]
    rec = start_recording(store, guide, ScriptedTranscriber([]), consent=True, respondent="7",
                          streams=streams, clock=ManualClock())
    try:
        row = store.session(rec.session_id)
        assert row["status"] == "recording" and row["origin"] == "live" and row["consent_at"]
        assert row["respondent"] == "7" and Path(row["audio_dir"]) == tmp_path / "sessions" / str(rec.session_id)
        assert (rec.folder / "recording.lock").exists()
        assert rec.pipeline.paused is rec.source.paused and rec.pipeline.muted is rec.source.muted
        assert rec.pipeline.bleed is not None
    finally:
        rec.source.close()
    assert rec.folder.stat().st_mode & 0o777 == 0o700
    for track in ("interviewer", "respondent"):
        assert (rec.folder / f"{track}.wav").stat().st_mode & 0o777 == 0o600
    assert not (rec.folder / "recording.lock").exists()


def test_a_missing_device_stops_everything_before_a_session_exists(tmp_path):
    store = Store(tmp_path / "study.db")
    loop = FakeStream("respondent")
    loop.refuse_opens = 1
    with pytest.raises(DeviceError):
        start_recording(store, load_guide("remote-work-en"), ScriptedTranscriber([]), consent=True,
                        streams=[FakeStream("interviewer"), loop])
    assert store.sessions() == []


# ---------------------------------------------------------------------------------------------
# Bleed


def heard(start, end, text):
    from core.study.language import normalise

    return _Heard(start, end, normalise(text))


def test_the_same_words_at_the_same_time_are_bleed():
    said = [heard(10.0, 14.0, "We moved the weekly meeting to Tuesday mornings.")]
    assert is_bleed("we moved the weekly meeting to tuesday mornings", 10.1, 14.2, said)
    # cut differently by the microphone's VAD: part of the respondent's segment
    assert is_bleed("the weekly meeting to Tuesday", 11.0, 13.5, said)


def test_other_words_or_another_time_are_not_bleed():
    said = [heard(10.0, 14.0, "We moved the weekly meeting to Tuesday mornings.")]
    assert not is_bleed("How did the team take that change?", 10.5, 13.0, said)
    assert not is_bleed("We moved the weekly meeting to Tuesday mornings.", 20.0, 24.0, said)
    # a short answer on the other track is not an echo unless it is the same words at once
    assert not is_bleed("Yes.", 10.0, 10.4, [heard(9.0, 12.0, "Yes, I think that is right.")])
    assert is_bleed("Yes.", 10.0, 10.4, [heard(10.0, 10.5, "yes")])


def _ready(speaker, start, end, text):
    return SegmentReady(NewSegment(speaker, text, start, end), delay=0.0, utterance_end=end)


def test_the_bleed_filter_keeps_the_words_once_on_the_respondent_track():
    out = []
    f = BleedFilter()
    sink = f.attach(out.append, ManualClock())
    # The microphone's copy is ready first; it waits for the respondent track.
    sink(_ready("interviewer", 3.1, 6.2, "I mostly work from the kitchen table."))
    assert out == []
    sink(_ready("respondent", 3.0, 6.0, "I mostly work from the kitchen table."))
    heard_until(f, 0.0, 9.0)
    assert [(r.segment.speaker, r.segment.text) for r in out] == [("respondent", "I mostly work from the kitchen table.")]
    assert len(f.dropped) == 1


def heard_until(f: BleedFilter, start: float, end: float, level: float = 0.0) -> None:
    """The respondent track heard from `start` to `end`, silent or sounding at `level`."""
    for i in range(int(round((end - start) * 10))):
        f.heard(AudioChunk("respondent", start + i / 10, np.full(1600, level, dtype=np.float32)))


def test_the_bleed_filter_lets_the_interviewer_through_once_the_respondent_track_is_heard():
    out = []
    f = BleedFilter(window=2.0)
    sink = f.attach(out.append, ManualClock())
    sink(_ready("interviewer", 1.0, 3.0, "Where do you usually work?"))
    heard_until(f, 0.0, 4.9)
    assert out == []
    heard_until(f, 4.9, 5.0)
    assert [r.segment.text for r in out] == ["Where do you usually work?"]
    sink(_ready("interviewer", 8.0, 9.0, "And then?"))
    f.flush()  # the end of the session lets everything still held through
    assert [r.segment.text for r in out][-1] == "And then?"


def test_a_piece_of_echo_waits_while_the_respondent_is_still_talking():
    out = []
    f = BleedFilter(window=2.0)
    sink = f.attach(out.append, ManualClock())
    # The microphone cut its copy at a short pause; the respondent's track has one long utterance.
    sink(_ready("interviewer", 1.0, 3.0, "After the reorganisation we hardly saw each other"))
    heard_until(f, 0.0, 1.0)
    heard_until(f, 1.0, 9.0, level=0.1)  # the respondent talks from 1 s on until 9 s
    assert out == []
    heard_until(f, 9.0, 9.6)
    sink(_ready("respondent", 1.0, 9.0, "After the reorganisation we hardly saw each other, and the new "
                "people never met the old team at all."))
    heard_until(f, 9.6, 12.0)
    assert [r.segment.speaker for r in out] == ["respondent"] and len(f.dropped) == 1


def test_an_answer_right_after_a_question_does_not_hold_the_question_back():
    out = []
    f = BleedFilter(window=2.0)
    sink = f.attach(out.append, ManualClock())
    sink(_ready("interviewer", 2.0, 7.5, "Could you tell me about your work?"))
    heard_until(f, 0.0, 8.5)
    heard_until(f, 8.5, 9.5, level=0.1)  # the answer begins a second after the question
    assert [r.segment.text for r in out] == ["Could you tell me about your work?"]


def test_a_noisy_line_does_not_count_as_the_respondent_talking():
    out = []
    f = BleedFilter(window=2.0)
    sink = f.attach(out.append, ManualClock())
    rng = np.random.default_rng(3)
    sink(_ready("interviewer", 1.0, 3.0, "And how was that for you?"))
    for i in range(50):  # steady background noise at about -35 dBFS on the respondent track
        f.heard(AudioChunk("respondent", i / 10, (rng.standard_normal(1600) * 0.018).astype(np.float32)))
    assert [r.segment.text for r in out] == ["And how was that for you?"]


def test_the_respondent_talking_on_does_not_hold_the_interviewer_for_ever():
    out = []
    f = BleedFilter(window=2.0, max_hold=20.0)
    sink = f.attach(out.append, ManualClock())
    sink(_ready("interviewer", 1.0, 2.0, "Please go on."))
    heard_until(f, 0.0, 1.0)
    heard_until(f, 1.0, 20.9, level=0.1)
    assert out == []
    heard_until(f, 20.9, 22.0, level=0.1)
    assert [r.segment.text for r in out] == ["Please go on."]


def test_a_pause_feeds_the_segmenter_silence_so_its_clock_stays_with_the_session():
    from core.pipeline.live import LivePipeline

    class Segmenter:
        def __init__(self, track):
            self.pushed = []

        def push(self, chunk):
            self.pushed.append(chunk)
            return []

        def flush(self):
            return []

    chunks = [AudioChunk("interviewer", i * 0.1, np.full(1600, 0.5, dtype=np.float32)) for i in range(10)]

    class Source:
        tracks = ("interviewer",)

        def chunks(self):
            for i, chunk in enumerate(chunks):
                if i == 3:
                    pipeline.paused.set()
                if i == 6:
                    pipeline.paused.clear()
                yield chunk

        def close(self):
            pass

    pipeline = LivePipeline(Source(), ScriptedTranscriber([]), load_guide("remote-work-en"), clock=ManualClock(),
                            segmenter_factory=Segmenter)
    pipeline.run(lambda ready: None, threading.Event())
    pushed = pipeline.segmenters["interviewer"].pushed
    assert [c.start for c in pushed] == [c.start for c in chunks]
    assert [float(c.samples.max()) for c in pushed] == [0.5] * 3 + [0.0] * 3 + [0.5] * 4


# ---------------------------------------------------------------------------------------------
# Small parts


def test_level_db():
    assert level_db(np.zeros(1600, dtype=np.float32)) == -100.0
    assert level_db(_tone(1.0) / 0.3) == pytest.approx(-3.0, abs=0.1)


def test_the_device_choice_is_remembered_beside_other_settings(fieldnote_home):
    from core.base import paths

    paths.config_file().write_text('# my settings\n[ui]\ntheme = "dark"\n\n[devices]\nmic = "old"\n')
    save_device_choice("alsa_input.usb-Jabra", 'Monitor of "Speakers"')
    assert load_device_choice() == {"mic": "alsa_input.usb-Jabra", "system": 'Monitor of "Speakers"'}
    text = paths.config_file().read_text()
    assert text.startswith('# my settings\n[ui]\ntheme = "dark"\n') and "old" not in text
    assert paths.config_file().stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------------------------------------
# On a real sound server


pytestmark_pulse = pytest.mark.skipif(
    not shutil.which("pulseaudio") or not shutil.which("espeak-ng"),
    reason="needs the Debian packages pulseaudio, pulseaudio-utils and espeak-ng",
)

INTERVIEWER_TEXT = "Could you tell me about your work, and what changed when the team started working from home?"
RESPONDENT_TEXT = ("I work as a software engineer in a small team. Working from home made our meetings shorter, "
                   "but we talk less about the design.")
BLEED_TEXT = "On quiet days I walk the dog at lunch and feel much better in the afternoon."


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    from pulse import private_server

    with private_server(tmp_path_factory.mktemp("pulse"), needs=("espeak-ng",),
                        default_sink="teams", default_source="mic.monitor") as server:
        yield server


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    out = {}
    for name, text in (("interviewer", INTERVIEWER_TEXT), ("respondent", RESPONDENT_TEXT), ("bleed", BLEED_TEXT)):
        out[name] = folder / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(out[name]), text], check=True)
    return out


class Recorder:
    """`fieldnote record --no-ui` in a subprocess, on the test's PulseAudio server."""

    def __init__(self, pulse, home: Path, *args: str):
        self.home = home
        self.db = home / "study.db"
        env = pulse.env
        env["FIELDNOTE_HOME"] = str(home)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--db", str(self.db), "record", "--no-ui", "--guide", "remote-work-en",
             "--model", "tiny.en", "--consent", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def folder(self) -> Path:
        return self.home / "sessions" / "1"

    def wait_recording(self, timeout: float = 60) -> float:
        """Wait until the files exist (the recording runs); the monotonic time they appeared."""
        wav = self.folder() / "respondent.wav"
        deadline = time.monotonic() + timeout
        while not wav.exists():
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "the recording did not start"
            time.sleep(0.02)
        return time.monotonic()

    def wait_segments(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < n:
            assert time.monotonic() < deadline, f"only {len(self.lines)} segments"
            time.sleep(0.05)

    def finish(self, timeout: float = 180) -> str:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.proc.stderr.read()


def wer(reference: str, said: str) -> float:
    import jiwer

    def norm(text):
        return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())

    return jiwer.wer(norm(reference), norm(said))


def text_of(lines, speaker):
    return " ".join(s["text"] for s in lines if s["speaker"] == speaker)


@pytestmark_pulse
def test_devices_lists_inputs_and_loopbacks_with_defaults(pulse, tmp_path):
    env = pulse.env
    env["FIELDNOTE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "tui.cli", "devices"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    mic_part, system_part = out.split("System output")
    assert re.search(r"^\s+\* default .*now mic\.monitor", mic_part, re.M)
    assert re.search(r"^\s+\* default .*now teams\.monitor", system_part, re.M)
    assert re.search(r"^\s+teams\.monitor\s", system_part, re.M) and re.search(r"^\s+mic\.monitor\s", system_part, re.M)


SETUP_TEST = """
import json, sys, threading, time
from core.audio.capture import capture_for
from core.audio.devices import LoopbackSource, level_db, open_devices, play
# The setup screen's test: both devices for a few seconds, then the microphone played back.
audio = capture_for(open_devices("mic.monitor", "teams.monitor"), float(sys.argv[1]))
heard = {}
listen = threading.Thread(target=lambda: heard.update(capture_for([LoopbackSource("teams.monitor")], float(sys.argv[1]) + 3)))
listen.start()
time.sleep(1.5)
play(audio["interviewer"])  # to the default output, which is the 'teams' sink here
listen.join()
print(json.dumps({"mic": level_db(audio["interviewer"]), "system": level_db(audio["respondent"]),
                  "lengths": [len(audio["interviewer"]), len(audio["respondent"])],
                  "played": level_db(heard["respondent"])}))
"""


@pytestmark_pulse
def test_the_setup_test_records_both_devices_and_plays_them_back(pulse, speech, tmp_path):
    env = pulse.env
    env["FIELDNOTE_HOME"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", SETUP_TEST, "8"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    assert pulse.play("mic", speech["bleed"]).wait(30) == 0
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    levels = json.loads(out.strip().splitlines()[-1])
    assert levels["mic"] > -45 and levels["system"] == -100.0
    assert levels["lengths"][0] == levels["lengths"][1]
    assert levels["played"] > -45


@pytestmark_pulse
def test_an_unknown_device_is_one_clear_error_and_no_session(pulse, tmp_path):
    env = pulse.env
    env["FIELDNOTE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "tui.cli", "record", "--no-ui", "--guide", "remote-work-en",
                          "--model", "tiny.en", "--consent", "--system", "speakers-that-are-not-there"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert "no system output 'speakers-that-are-not-there'" in out.stderr and "Traceback" not in out.stderr
    assert Store(tmp_path / "fieldnote.db").sessions() == []


@pytestmark_pulse
def test_a_call_is_recorded_on_two_tracks_with_the_right_speakers(pulse, speech, tmp_path):
    # The microphone through PortAudio (the sound server's default source), Teams' output
    # through the loopback of the 'teams' sink.
    rec = Recorder(pulse, tmp_path, "--mic", "default", "--system", "teams.monitor", "--duration", "30")
    rec.wait_recording()
    time.sleep(2.0)  # a null sink takes a moment to start delivering
    assert pulse.play("mic", speech["interviewer"]).wait(30) == 0
    time.sleep(0.5)
    assert pulse.play("teams", speech["respondent"]).wait(30) == 0
    time.sleep(0.5)
    # No headphones: the respondent is heard in the microphone too, a little quieter.
    pulse.pactl("set-sink-volume", "mic", "70%")
    both = [pulse.play("teams", speech["bleed"]), pulse.play("mic", speech["bleed"])]
    assert [p.wait(30) for p in both] == [0, 0]
    stderr = rec.finish()
    assert rec.proc.returncode == 0, stderr

    said = [(s["speaker"], s["start"], s["end"], s["text"]) for s in rec.lines]
    assert wer(INTERVIEWER_TEXT, text_of(rec.lines, "interviewer")) <= 0.3, said
    assert wer(RESPONDENT_TEXT + " " + BLEED_TEXT, text_of(rec.lines, "respondent")) <= 0.3, said
    # The words heard on both tracks are kept once, on the respondent's.
    assert wer(BLEED_TEXT, text_of(rec.lines, "interviewer")) > 0.8, said
    first = {s["speaker"]: s["start"] for s in reversed(rec.lines)}
    assert first["interviewer"] < first["respondent"], said

    store = Store(rec.db)
    (session,) = store.sessions()
    assert session["status"] == "completed" and session["consent_at"] and session["model"] == "tiny.en"
    assert stderr.strip().endswith(f"session {session['id']}")
    assert len(store.segments(session["id"])) == len(rec.lines)
    tracks = {t: sf.read(rec.folder() / f"{t}.wav", dtype="float32")[0] for t in ("interviewer", "respondent")}
    assert len(tracks["interviewer"]) == len(tracks["respondent"])
    assert len(tracks["interviewer"]) / SAMPLE_RATE == pytest.approx(session["duration"], abs=0.1)
    # Each voice is on its own track, where the transcript says it was.
    for speaker in ("interviewer", "respondent"):
        s = next(s for s in rec.lines if s["speaker"] == speaker)
        span = slice(int(s["start"] * SAMPLE_RATE), int(s["end"] * SAMPLE_RATE))
        other = "respondent" if s["speaker"] == "interviewer" else "interviewer"
        assert level_db(tracks[s["speaker"]][span]) > -40 > level_db(tracks[other][span]), said


@pytestmark_pulse
def test_after_kill_9_the_next_start_recovers_the_session_and_can_resume_it(pulse, speech, tmp_path):
    rec = Recorder(pulse, tmp_path, "--mic", "default", "--system", "teams.monitor", "--duration", "120")
    started = rec.wait_recording()
    time.sleep(2.0)
    assert pulse.play("mic", speech["interviewer"]).wait(30) == 0
    rec.wait_segments(1)
    time.sleep(1.0)
    rec.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    rec.finish()
    store = Store(rec.db)
    assert store.session(1)["status"] == "recording"  # as the killed process left it

    env = pulse.env
    env["FIELDNOTE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "tui.cli", "--db", str(rec.db), "recover"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert "session 1" in out.stderr and "fieldnote record --resume 1" in out.stderr
    row = store.session(1)
    assert row["status"] == "interrupted"
    for track in ("interviewer", "respondent"):
        audio, rate = sf.read(rec.folder() / f"{track}.wav", dtype="float32")
        assert rate == SAMPLE_RATE
        assert len(audio) / rate == pytest.approx(killed - started, abs=1.0)
    assert len(store.segments(1)) == len(rec.lines) >= 1
    assert wer(INTERVIEWER_TEXT, text_of(rec.lines, "interviewer")) <= 0.3

    # Resumed, the session goes on in the same files, on the same clock.
    before = row["duration"]
    again = subprocess.run([sys.executable, "-m", "tui.cli", "--db", str(rec.db), "record", "--no-ui",
                            "--resume", "1", "--model", "tiny.en", "--duration", "4"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    row = store.session(1)
    assert row["status"] == "completed" and row["duration"] >= before + 3.5
    assert sf.info(rec.folder() / "interviewer.wav").duration == pytest.approx(row["duration"], abs=0.1)
    assert [g["reason"] for g in store.gaps(1)] == ["interrupted"]


@pytestmark_pulse
def test_a_device_removed_mid_recording_leaves_a_gap_and_the_session_goes_on(pulse, speech, tmp_path):
    # The microphone named by its sound-server source this time.
    rec = Recorder(pulse, tmp_path, "--mic", "mic.monitor", "--system", "teams.monitor", "--duration", "30")
    started = rec.wait_recording()
    time.sleep(2.0)
    pulse.remove_sink("teams")  # Teams' output device disappears
    removed = time.monotonic() - started
    try:
        assert pulse.play("mic", speech["interviewer"]).wait(30) == 0
    finally:
        pulse.add_sink("teams")
    time.sleep(3.0)  # fieldnote tries to reopen every 2 s
    assert pulse.play("teams", speech["respondent"]).wait(30) == 0
    stderr = rec.finish()
    assert rec.proc.returncode == 0, stderr
    assert "warning: system output 'teams.monitor'" in stderr and "is back" in stderr

    assert wer(INTERVIEWER_TEXT, text_of(rec.lines, "interviewer")) <= 0.3
    assert wer(RESPONDENT_TEXT, text_of(rec.lines, "respondent")) <= 0.3
    store = Store(rec.db)
    (gap,) = store.gaps(1)
    assert gap["track"] == "respondent" and gap["reason"] == "device"
    assert gap["start"] == pytest.approx(removed, abs=1.5) and gap["end"] > gap["start"] + 3
    respondent_audio, _ = sf.read(rec.folder() / "respondent.wav", dtype="float32")
    assert level_db(respondent_audio[int(gap["start"] * SAMPLE_RATE) + 1600 : int(gap["end"] * SAMPLE_RATE)]) == -100.0
    (interviewer_first,) = [s for s in rec.lines if s["speaker"] == "interviewer"][:1]
    assert gap["start"] < interviewer_first["start"] < gap["end"]  # spoken while the other device was gone


# ---------------------------------------------------------------------------------------------
# The setup screen and the recording screen (fake devices, scripted transcriber)


async def test_setup_asks_for_consent_then_records_mutes_and_remembers_the_devices(tmp_path):
    from core.audio.devices import Device
    from tui.screens.setup import ConsentDialog, RecordingPlan, RecordingScreen, SetupScreen, make_record_app

    store = Store(tmp_path / "study.db")
    devices = [
        Device("input", "default", "the system's default input", True),
        Device("input", "3", "USB headset"),
        Device("loopback", "default", "the monitor of the default output", True),
        Device("loopback", "teams.monitor", "Monitor of Teams"),
    ]
    opened = []

    def streams(mic, system):
        opened.append((mic, system))
        return [FakeStream("interviewer"), FakeStream("respondent", continuous=False)]

    app = make_record_app(store, RecordingPlan(guide="remote-work-en", respondent="4"), mic="3",
                          system="default", devices=devices, streams=streams,
                          transcriber_factory=lambda guide: ScriptedTranscriber([]))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        app.screen.query_one("#system", Select).value = "teams.monitor"
        await pilot.pause()
        await pilot.press("s")
        assert isinstance(app.screen, ConsentDialog)
        await pilot.press("n")
        assert isinstance(app.screen, SetupScreen) and store.sessions() == []
        assert "consent" in str(app.screen.query_one("#setup-message").render())
        await pilot.press("s", "y")
        for _ in range(100):
            if isinstance(app.screen, RecordingScreen):
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, RecordingScreen)
        (row,) = store.sessions()
        assert row["status"] == "recording" and row["consent_at"] and row["respondent"] == "4"
        assert opened[-1] == ("3", "teams.monitor")
        await pilot.press("2")
        assert screen.pipeline.muted == {"respondent"} and "MUTED: respondent" in screen.sub_title
        await pilot.press("q")
        for _ in range(100):
            if app.return_value is not None:
                break
            await pilot.pause(0.05)
    assert app.return_value == row["id"]
    assert store.session(row["id"])["status"] == "completed"
    assert [g["reason"] for g in store.gaps(row["id"])] == ["muted"]
    assert load_device_choice() == {"mic": "3", "system": "teams.monitor"}
