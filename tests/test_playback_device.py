"""Review playback through a real sound device: the player's output is heard and checked.

A session whose two tracks hold tones at known times is played by `Player` in a subprocess
(PortAudio's default output, which the ALSA PulseAudio plugin sends to the test's private
PulseAudio server, tests/pulse.py) into a null sink whose monitor parec records meanwhile.
What the recording contains is checked, never how long anything took: which tones were heard,
in which order, at which pitch and level, how long each lasted and how far apart they began.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.sources import SAMPLE_RATE
from core.study.guide import load_guide
from core.store.database import NewSegment, Store

ROOT = Path(__file__).resolve().parent.parent
NEEDS = "needs the Debian packages pulseaudio and pulseaudio-utils (pulseaudio, pactl, paplay, parec)"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "paplay", "parec")), reason=NEEDS
)


@dataclass(frozen=True)
class Tone:
    speaker: str
    start: float
    end: float
    hz: float


# The session: each tone is a segment. The last two sound at once, one on each track.
TONES = [
    Tone("interviewer", 0.3, 0.9, 300.0),
    Tone("respondent", 1.2, 1.8, 1000.0),
    Tone("respondent", 2.2, 4.2, 450.0),  # 450 Hz: half a cycle off at every plain overlap-add hop
    Tone("interviewer", 4.6, 5.2, 700.0),
    Tone("respondent", 4.6, 5.2, 1300.0),
]
LENGTH = 5.6
AMPLITUDE = 0.3
TONE_DB = 20 * np.log10(AMPLITUDE / np.sqrt(2))  # a sine's RMS level: -13.5 dBFS
SILENT_DB = -45.0
WINDOW = SAMPLE_RATE // 100  # 10 ms


def tone(hz: float, seconds: float, rate: int) -> np.ndarray:
    """A sine with 10 ms raised-cosine edges, so the source itself has no clicks."""
    t = np.arange(int(round(seconds * rate))) / rate
    out = AMPLITUDE * np.sin(2 * np.pi * hz * t)
    edge = int(0.01 * rate)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(edge) / edge)
    out[:edge] *= ramp
    out[-edge:] *= ramp[::-1]
    return out


def write_tracks(folder: Path, rate: int, ext: str, channels: int, subtype: str) -> None:
    folder.mkdir(parents=True)
    for speaker in ("interviewer", "respondent"):
        track = np.zeros(int(LENGTH * rate))
        for t in TONES:
            if t.speaker == speaker:
                at = int(round(t.start * rate))
                piece = tone(t.hz, t.end - t.start, rate)
                track[at : at + len(piece)] += piece
        data = np.repeat(track[:, None], channels, axis=1) if channels > 1 else track
        sf.write(folder / f"{speaker}{ext}", data, rate, subtype=subtype)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A study with the session twice: as fieldnote records it (16 kHz mono 16-bit WAV, read as
    it plays) and as a 44.1 kHz stereo FLAC (decoded whole and resampled)."""
    root = tmp_path_factory.mktemp("playback")
    store = Store(root / "study.db")
    guide = load_guide("remote-work-en")
    ids = {}
    for kind, (rate, ext, channels, subtype) in {
        "wav16k": (SAMPLE_RATE, ".wav", 1, "PCM_16"),
        "flac44k": (44_100, ".flac", 2, "PCM_16"),
    }.items():
        folder = root / kind
        write_tracks(folder, rate, ext, channels, subtype)
        sid = store.create_session(guide, origin="live", consent_at="2026-01-01T10:00:00+00:00")
        store.set_session_audio_dir(sid, folder)
        for t in TONES:
            store.add_segment(sid, NewSegment(t.speaker, f"{t.hz:g} Hz", t.start, t.end))
        store.end_session(sid, "completed", duration=LENGTH)
        ids[kind] = sid
    store.close()
    return root / "study.db", ids


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    from pulse import private_server

    with private_server(tmp_path_factory.mktemp("pulse"), ("speakers",), default_sink="speakers") as server:
        yield server


# The review screen's part, in a process of its own: PortAudio finds the sound server when it
# starts, from the environment the test gives it.
PLAYER = """
import json, sys, time
from core.audio.playback import Player
from core.store.database import Store

store = Store(sys.argv[1])
session = store.session(int(sys.argv[2]))
starts = [s["start"] for s in store.segments(session["id"])]
player = Player.for_session(session)
report = {}
for what, *args in json.loads(sys.argv[3]):
    if what == "play":  # from the start of segment args[0] (0-based), at speed args[1], to args[2]
        player.play(starts[args[0]], speed=args[1], end=args[2])
    elif what == "until_end":
        while player.playing:
            time.sleep(0.01)
        report["ended"] = [player.playing, player.position]
    elif what == "until_position":
        while player.playing and (player.position or 0.0) < args[0]:
            time.sleep(0.01)
    elif what == "stop":
        report["stopped_at"] = player.position
        player.stop()
        report["after_stop"] = [player.playing, player.position]
    elif what == "sleep":
        time.sleep(args[0])
    elif what == "streams":  # the streams this client has open on the sound server
        import subprocess
        out = subprocess.run(["pactl", "list", "short", "sink-inputs"], capture_output=True, text=True, check=True)
        report.setdefault("streams", []).append(len(out.stdout.splitlines()))
time.sleep(0.5)  # what the sound server still holds reaches the sink before the client goes
print(json.dumps(report))
"""


def play(pulse, sessions, kind: str, steps: list) -> tuple[np.ndarray, dict]:
    """Run the player's steps on session `kind` while recording the sink; the recording, the report."""
    db, ids = sessions
    recording = pulse.record("speakers.monitor", SAMPLE_RATE)
    try:
        deadline = time.monotonic() + 20
        while recording.frames() < SAMPLE_RATE // 10:  # the monitor delivers: nothing is missed
            assert recording.proc.poll() is None, recording.proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "parec recorded nothing"
            time.sleep(0.02)
        try:
            done = subprocess.run([sys.executable, "-c", PLAYER, str(db), str(ids[kind]), json.dumps(steps)],
                                  cwd=ROOT, env=pulse.env, capture_output=True, text=True, timeout=90)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the player did not finish (a hang in play, stop or at the end?): {exc.stderr!r}")
        assert done.returncode == 0, done.stderr
        time.sleep(0.3)
    finally:
        audio = recording.stop()
    return audio, json.loads(done.stdout.strip().splitlines()[-1])


# What the recording holds --------------------------------------------------------------------


def levels_db(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // WINDOW * WINDOW].reshape(-1, WINDOW)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


@dataclass
class Heard:
    start: float  # seconds into the recording
    end: float
    samples: np.ndarray
    high: np.ndarray  # the same stretch above 3 kHz

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def body(self) -> np.ndarray:
        """The sound without its first and last 30 ms, where it fades in and out (a blip, whole)."""
        edge = int(0.03 * SAMPLE_RATE)
        return self.samples[edge:-edge] if len(self.samples) > 4 * edge else self.samples

    def pitches(self) -> list[float]:
        """The frequencies of the spectrum's peaks within 10 dB of the strongest."""
        x = self.body * np.hanning(len(self.body))
        spectrum = np.abs(np.fft.rfft(x, 8 * len(x)))
        hz = np.fft.rfftfreq(8 * len(x), 1 / SAMPLE_RATE)
        peaks = (spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] >= spectrum[2:]) & (spectrum[1:-1] > 0.3 * spectrum.max())
        return [float(f) for f in hz[1:-1][peaks]]

    def level_db(self) -> float:
        return float(20 * np.log10(np.sqrt(np.mean(self.body.astype(np.float64) ** 2))))

    def level_range_db(self) -> tuple[float, float]:
        """The quietest and loudest 10 ms of the body, against the body's median."""
        levels = levels_db(self.body)
        return float(levels.min() - np.median(levels)), float(levels.max() - np.median(levels))

    def clicks_db(self) -> float:
        """The loudest 10 ms above 3 kHz (no tone here reaches it) in the body, against the sound:
        a jump in the waveform spreads over the whole spectrum and shows there."""
        edge = int(0.03 * SAMPLE_RATE)
        high = self.high[edge:-edge] if len(self.high) > 4 * edge else self.high
        return float(levels_db(high).max() - self.level_db())


def heard(audio: np.ndarray) -> list[Heard]:
    """The stretches of sound in a recording, found 10 ms at a time. A gap of 20 ms or less does
    not split one: time stretching may echo the last few milliseconds of a sound's fade."""
    loud = levels_db(audio) > SILENT_DB
    spectrum = np.fft.rfft(audio)  # the recording begins and ends in silence: no jump where it wraps
    spectrum[np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE) < 3000] = 0
    high = np.fft.irfft(spectrum, len(audio))
    spans: list[list[int]] = []
    for i in np.flatnonzero(loud):
        if spans and i - spans[-1][1] <= 2:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return [Heard(i * WINDOW / SAMPLE_RATE, j * WINDOW / SAMPLE_RATE, audio[i * WINDOW : j * WINDOW],
                  high[i * WINDOW : j * WINDOW]) for i, j in spans]


def expected_from(segment: int) -> list[list[Tone]]:
    """The tones a playback from `segment` plays, grouped by the time they start."""
    start = TONES[segment].start
    groups: dict[float, list[Tone]] = {}
    for t in TONES:
        if t.start >= start:
            groups.setdefault(t.start, []).append(t)
    return list(groups.values())


def describe(sounds: list[Heard]) -> str:
    return "; ".join(f"{s.start:.2f}-{s.end:.2f}s {[round(p) for p in s.pitches()]} Hz {s.level_db():.1f} dB"
                     for s in sounds)


def assert_heard(audio: np.ndarray, expected: list[list[Tone]], speed: float = 1.0, *, one_run: bool = True) -> list[Heard]:
    """The recording holds the expected tones and nothing else, each at its pitch and level,
    lasting as the session has them at `speed`, without dropouts or clicks; played in one run,
    they are also spaced as in the session."""
    sounds = heard(audio)
    what = describe(sounds)
    assert len(sounds) == len(expected), what
    first = expected[0][0].start
    for sound, tones in zip(sounds, expected):
        pitches = sound.pitches()
        assert len(pitches) == len(tones), what
        for got, t in zip(pitches, sorted(tones, key=lambda t: t.hz)):
            assert got == pytest.approx(t.hz, rel=0.01), what  # the pitch stays whatever the speed
        # Tones heard together are mixed at their own levels: sines' powers add.
        assert sound.level_db() == pytest.approx(TONE_DB + 10 * np.log10(len(tones)), abs=2.0), what
        assert sound.duration == pytest.approx((tones[0].end - tones[0].start) / speed, abs=0.06), what
        if one_run:
            assert sound.start - sounds[0].start == pytest.approx((tones[0].start - first) / speed, abs=0.06), what
        low, high = sound.level_range_db()
        assert low > -3.0 and high < 3.0, f"the level wavers by {low:.1f}/{high:.1f} dB in {what}"
        assert sound.clicks_db() < -35.0, f"clicks at {sound.clicks_db():.1f} dB in {what}"
    return sounds


# The tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wav16k", "flac44k"])
def test_a_session_plays_from_a_segment_to_its_end_with_both_tracks(pulse, sessions, kind):
    audio, report = play(pulse, sessions, kind, [["play", 0, 1.0, None], ["until_end"]])
    assert report["ended"] == [False, None]  # the player noticed the end and let the device go
    assert_heard(audio, expected_from(0))


def test_playing_from_a_later_segment_skips_what_came_before(pulse, sessions):
    audio, _ = play(pulse, sessions, "wav16k", [["play", 2, 1.0, None], ["until_end"]])
    sounds = assert_heard(audio, expected_from(2))
    assert round(sounds[0].pitches()[0]) == 450  # neither the question nor the first answer


@pytest.mark.parametrize("speed", [0.75, 1.5])
def test_another_speed_changes_how_long_things_last_not_their_pitch(pulse, sessions, speed):
    # Played faster, the player works harder for each block: on a loaded 2-core machine (the
    # suite's other worker) the null sink once heard a dropout in one of four runs. A dropout is
    # not what this test is about, so a playback that had one is played once more; two in a row
    # fail it.
    for attempt in (1, 2):
        audio, _ = play(pulse, sessions, "wav16k", [["play", 1, speed, None], ["until_end"]])
        try:
            assert_heard(audio, expected_from(1), speed)
            return
        except AssertionError as exc:
            if attempt == 2 or "wavers" not in str(exc):
                raise


def test_stop_silences_the_device_at_once_and_playing_again_works(pulse, sessions):
    steps = [["play", 2, 1.0, None], ["until_position", 3.0], ["stop"], ["sleep", 1.5],
             ["play", 1, 1.0, TONES[1].end + 0.1], ["until_end"]]
    audio, report = play(pulse, sessions, "wav16k", steps)
    assert report["stopped_at"] >= 3.0 and report["after_stop"] == [False, None]
    sounds = heard(audio)
    what = describe(sounds)
    assert [round(s.pitches()[0]) for s in sounds] == [450, 1000], what
    cut, again = sounds
    # The 2 s tone was stopped about 0.8 s in: nothing was heard past what the player had given
    # the device by then (what the device still held may be cut short), and never the rest.
    assert 0.5 < cut.duration < report["stopped_at"] - TONES[2].start + 0.1, what
    assert again.start - cut.end > 1.0, what  # silence while stopped (the script waited 1.5 s)
    assert again.duration == pytest.approx(TONES[1].end - TONES[1].start, abs=0.06), what


def test_a_playback_that_ran_out_leaves_the_device_ready_for_the_next(pulse, sessions):
    # A segment played to its end, twice, then the last one to the end of the session: each is
    # heard whole. (A stream that ran out and was left open made the next one a burst of noise.)
    to = TONES[1].end + 0.1
    steps = [["play", 1, 1.0, to], ["until_end"], ["sleep", 0.3], ["play", 1, 1.0, to], ["until_end"],
             ["sleep", 0.3], ["play", 3, 1.0, None], ["until_end"], ["streams"], ["stop"], ["streams"]]
    audio, report = play(pulse, sessions, "wav16k", steps)
    assert_heard(audio, [[TONES[1]], [TONES[1]], [TONES[3], TONES[4]]], one_run=False)
    # At most the stream that ran out last is open on the sound server until the player stops.
    assert report["streams"][0] <= 1 and report["streams"][1] == 0
