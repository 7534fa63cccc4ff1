"""Live capture of a call: the interviewer's microphone and the system output as two tracks.

The microphone is read through PortAudio (sounddevice); the system output that Teams plays
into through soundcard's loopback (a PulseAudio/PipeWire monitor source on Linux, WASAPI
loopback on Windows). On macOS there is no loopback: route Teams' output through a virtual
device such as BlackHole and pass that device as the system output; it is read as an input.

`LiveSource` puts both devices on one session clock. Device callbacks only stamp each block
with the clock and put it in a queue (never blocking, never dropping); one assembler thread
resamples to 16 kHz mono, places each block on the clock, pads silence where a device
delivered nothing (a loopback is silent while nothing plays; a device may vanish), writes the
audio to the session's recording and hands it on as `AudioChunk`s. Writing happens before the
pipeline sees the audio, so a transcriber that falls behind never puts the recording at risk.
"""

from __future__ import annotations

import math
import queue
import shutil
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from core.base import paths
from core.audio.sources import SAMPLE_RATE, AudioChunk, Clock
from core.base.errors import UserError

TRACKS = ("interviewer", "respondent")
LOOPBACK_RATE = 48_000  # what soundcard is asked for; the sound server converts if it must
BLOCK_SECONDS = 0.02
CHUNK_SECONDS = 0.1  # the pipeline gets audio in pieces of about this length
BYTES_PER_SECOND = SAMPLE_RATE * 2  # one track as 16-bit PCM on disk
DISK_RESERVE = 100 * 2**20  # stop before free space falls below this: the database needs room too
DISK_START_MINUTES = 10  # refuse to start unless this much recording fits above the reserve


class DeviceError(UserError):
    """A capture device that is not there or cannot be opened."""


# ---------------------------------------------------------------------------------------------
# Resampling


class Resampler:
    """Streaming rational resampler: polyphase windowed-sinc (Kaiser), anti-aliased.

    The low-pass sits at 90% of the lower Nyquist frequency with about 80 dB stopband
    attenuation from 95%, so speech keeps everything below 7.2 kHz at 16 kHz and nothing above
    8 kHz folds back into it. The filter's delay is compensated: output sample k is the signal
    at time k / rate_out, so tracks resampled from different rates stay aligned.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE, *, attenuation_db: float = 80.0):
        if rate_in <= 0 or rate_out <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(int(rate_in), int(rate_out))
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self.identity = self.up == self.down
        if self.identity:
            return
        nyquist = min(self.rate_in, self.rate_out) / 2
        cutoff = 0.9 * nyquist  # Hz, the filter's half-amplitude point
        transition = 0.1 * nyquist  # Hz, full width of the transition band
        beta = 0.1102 * (attenuation_db - 8.7)
        # Kaiser's length estimate, in input samples: taps per polyphase branch.
        taps = math.ceil((attenuation_db - 8) / (2.285 * 2 * math.pi * transition / self.rate_in)) + 1
        self.taps = taps + (taps % 2)
        n_total = self.taps * self.up
        # An odd length puts the filter's centre on a whole sample, so its delay is exact.
        n_odd = n_total - 1 + n_total % 2
        fc = cutoff / (self.rate_in * self.up)  # cycles per sample of the upsampled signal
        n = np.arange(n_odd) - (n_odd - 1) / 2
        h = self.up * 2 * fc * np.sinc(2 * fc * n) * np.kaiser(n_odd, beta)
        h = np.concatenate([h, np.zeros(n_total - n_odd)])
        # branch p holds h[p], h[p + up], h[p + 2 up], ... reversed to dot with input windows
        self._branches = h.reshape(self.taps, self.up).T[:, ::-1].astype(np.float64).copy()
        self._delay = (n_odd - 1) // 2
        self._buf = np.zeros(self.taps - 1, dtype=np.float64)
        self._buf_start = -(self.taps - 1)  # global index of _buf[0]
        self._received = 0
        self._next = 0  # next output sample

    def __call__(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.identity:
            return block.copy()
        self._buf = np.concatenate([self._buf, block.astype(np.float64)])
        self._received += len(block)
        # Output k needs input up to index (k * down + delay) // up.
        last = (self._received * self.up - self._delay - 1) // self.down
        if last < self._next:
            return np.zeros(0, dtype=np.float32)
        k = np.arange(self._next, last + 1, dtype=np.int64)
        t = k * self.down + self._delay
        phase, base = t % self.up, t // self.up
        rows = base - self._buf_start - self.taps + 1
        windows = np.lib.stride_tricks.sliding_window_view(self._buf, self.taps)[rows]
        out = np.einsum("ij,ij->i", windows, self._branches[phase])
        self._next = int(last) + 1
        next_base = (self._next * self.down + self._delay) // self.up
        drop = next_base - self.taps + 1 - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Devices


@dataclass(frozen=True)
class Device:
    kind: str  # input (for --mic) | loopback (for --system)
    id: str  # what to pass on the command line
    name: str
    default: bool = False
    backend: str = "portaudio"  # portaudio | pulse | soundcard
    note: str = ""


def _sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise DeviceError(
            f"cannot use the microphone: PortAudio is not installed ({exc}); on Debian or Ubuntu "
            "install the package libportaudio2"
        ) from None
    return sounddevice


def _soundcard():
    """soundcard, which connects to the sound server on import; None when there is none."""
    if "soundcard" in sys.modules:
        return sys.modules["soundcard"]
    if not sys.argv or sys.argv[0] == "-c" and len(sys.argv) < 2:
        sys.argv = ["fieldnote"]  # soundcard names the client after argv and fails without one
    try:
        import soundcard
    except Exception:  # no sound server, or no library for it: the caller explains what is missing
        sys.modules.pop("soundcard", None)
        return None
    return soundcard


def _pulse_sources() -> list[tuple[str, str, bool]] | None:
    """(name, description, is_monitor) of each PulseAudio/PipeWire source; None without one."""
    if not sys.platform.startswith("linux"):
        return None
    sc = _soundcard()
    if sc is None:
        return None
    out = []
    for mic in sc.all_microphones(include_loopback=True):
        out.append((mic.id, mic.name, bool(mic.isloopback)))
    return out


def _pulse_default_source() -> str | None:
    sc = _soundcard()
    try:
        return sc.default_microphone().id if sc is not None else None
    except Exception:  # a server without a default source
        return None


def list_devices() -> list[Device]:
    """Inputs (for the interviewer's microphone) and loopbacks (for the system output)."""
    devices: list[Device] = []
    sd = _sounddevice()
    try:
        default_in = int(sd.default.device[0])
    except (TypeError, ValueError):
        default_in = -1
    pulse = _pulse_sources()
    now = _pulse_default_source() if pulse is not None else None
    if now is None and default_in >= 0:
        now = sd.query_devices(default_in)["name"]
    devices.append(Device("input", "default", "the system's default input", True, "portaudio",
                          f"now {now}" if now else ""))
    for d in sd.query_devices():
        if d["max_input_channels"] > 0:
            api = sd.query_hostapis(d["hostapi"])["name"]
            devices.append(Device("input", str(d["index"]), d["name"], False, "portaudio",
                                  f"{api}, {int(d['default_samplerate'])} Hz"))
    if pulse is not None:
        for name, description, monitor in pulse:
            if not monitor:
                devices.append(Device("input", name, description, False, "pulse", "sound server source"))
    devices.extend(_loopback_devices(pulse))
    return devices


def _loopback_devices(pulse) -> list[Device]:
    sc = _soundcard()
    if sc is None:
        return []
    try:
        default_speaker = sc.default_speaker()
    except Exception:  # a server without any output
        default_speaker = None
    out = []
    if sys.platform == "darwin":
        # CoreAudio has no loopback: a virtual device (BlackHole) that Teams plays into is an input.
        for mic in sc.all_microphones(include_loopback=True):
            out.append(Device("loopback", str(mic.id), mic.name, "blackhole" in mic.name.lower(),
                              "soundcard", "route Teams' output to this device"))
        return out
    loopbacks = [m for m in sc.all_microphones(include_loopback=True) if m.isloopback]
    default_id = _default_loopback_id(loopbacks, default_speaker)
    out.append(Device("loopback", "default", "the monitor of the default output", True, "soundcard",
                      f"now {default_id}" if default_id else ""))
    for mic in loopbacks:
        out.append(Device("loopback", str(mic.id), mic.name, False, "soundcard"))
    return out


def _default_loopback_id(loopbacks, speaker) -> str | None:
    if speaker is None:
        return None
    for mic in loopbacks:
        # PulseAudio names a sink's monitor '<sink>.monitor'; WASAPI gives the loopback the
        # speaker's own id.
        if mic.id in (speaker.id, f"{speaker.id}.monitor"):
            return str(mic.id)
    return None


def _pick(spec: str, items: list[tuple[str, str]], what: str) -> str:
    """The id in (id, name) pairs that `spec` names: an exact id, an exact name, or one name
    containing it. Never a fuzzy guess: recording the wrong device is worse than an error."""
    for ident, _ in items:
        if ident == spec:
            return ident
    for ident, name in items:
        if name == spec:
            return ident
    hits = [ident for ident, name in items if spec.lower() in name.lower()]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise DeviceError(f"{what} {spec!r} matches several devices ({', '.join(hits)}); give its id (see `fieldnote devices`)")
    raise DeviceError(f"no {what} {spec!r}; see `fieldnote devices` for the ids")


# ---------------------------------------------------------------------------------------------
# Device streams: one device, one track. They only stamp and queue what the device delivers.


Deliver = Callable[[np.ndarray], None]
Fail = Callable[[str], None]


class DeviceStream(Protocol):
    track: str
    label: str  # the device, for messages
    rate: int  # sample rate of what it delivers
    continuous: bool  # a device that always delivers (a microphone); silence means trouble

    def start(self, deliver: Deliver, fail: Fail) -> None: ...

    def stop(self) -> None: ...


def _mono(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block, dtype=np.float32)
    if block.ndim == 2:
        block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
    return np.array(block, dtype=np.float32)  # a copy: device buffers are reused


class MicSource:
    """The interviewer's microphone through PortAudio (sounddevice).

    `spec` is `default` (the system's default input; through PulseAudio or PipeWire, the sound
    server's default source) or a PortAudio device number or name from `fieldnote devices`. It is
    resolved again on every start, so a headset plugged in again is found again.
    """

    continuous = True

    def __init__(self, spec: str | None = None, track: str = "interviewer"):
        self.spec = spec or "default"
        self.track = track
        self.label = f"microphone {self.spec!r}"
        self.rate = SAMPLE_RATE
        self._stream = None
        self._opened_before = False
        self._stopping = threading.Event()

    def _resolve(self, sd) -> int | None:
        if self.spec == "default":
            return None
        inputs = [(str(d["index"]), d["name"]) for d in sd.query_devices() if d["max_input_channels"] > 0]
        return int(_pick(self.spec, inputs, "input device"))

    def start(self, deliver: Deliver, fail: Fail) -> None:
        sd = _sounddevice()
        if self._opened_before:
            # PortAudio lists devices once, when it starts; look again for a replugged device.
            # Nothing else in fieldnote has a PortAudio stream open while recording.
            sd._terminate()
            sd._initialize()
        device = self._resolve(sd)
        self._stopping.clear()
        try:
            info = sd.query_devices(device if device is not None else sd.default.device[0])
        except (ValueError, sd.PortAudioError):
            raise DeviceError("no default input device; give --mic (see `fieldnote devices`)") from None
        self.rate = int(info["default_samplerate"]) or SAMPLE_RATE
        self.label = f"microphone {self.spec!r}" + (f" ({info['name']})" if info["name"] != self.spec else "")

        def callback(indata, frames, time_info, status) -> None:
            deliver(_mono(indata))

        def finished() -> None:
            if not self._stopping.is_set():
                fail(f"{self.label} stopped delivering audio")

        last_error = None
        for channels in sorted({1, min(2, int(info["max_input_channels"]))}):
            try:
                stream = sd.InputStream(
                    device=device, channels=channels, samplerate=self.rate, dtype="float32",
                    blocksize=int(self.rate * BLOCK_SECONDS), callback=callback, finished_callback=finished,
                )
                stream.start()
            except sd.PortAudioError as exc:
                last_error = exc
                continue
            self._stream = stream
            self._opened_before = True
            return
        raise DeviceError(f"cannot open {self.label}: {last_error}")

    def stop(self) -> None:
        self._stopping.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # a stream whose device is gone may fail to close; it is gone either way
                pass


def _pinned_recorder(mic, samplerate: int, blocksize: int):
    """soundcard's recorder, kept on its device on PulseAudio/PipeWire.

    Since PulseAudio 14 the server moves a stream whose device vanished to the default source,
    which is usually the microphone: the respondent's track would silently record the
    interviewer. PA_STREAM_DONT_MOVE makes the server end the stream instead, which fieldnote
    sees, records as a gap and recovers from. This reaches into soundcard's PulseAudio backend
    (pinned to soundcard 0.4); any other backend gets the plain recorder.
    """
    backend = sys.modules.get("soundcard.pulseaudio")
    base = getattr(backend, "_Recorder", None)
    if base is None or not isinstance(mic, getattr(backend, "_Microphone", ())):
        return mic.recorder(samplerate=samplerate, blocksize=blocksize)
    pulse, pa, ffi = backend._pulse, backend._pa, backend._ffi

    class PinnedRecorder(base):
        def _connect_stream(self, bufattr):
            pulse._pa_stream_connect_record(
                self.stream, self._id.encode(), bufattr, pa.PA_STREAM_ADJUST_LATENCY | pa.PA_STREAM_DONT_MOVE
            )

            @ffi.callback("pa_stream_request_cb_t")
            def read_callback(stream, nbytes, userdata):
                self._record_event.set()

            self._callback = read_callback
            pulse._pa_stream_set_read_callback(self.stream, read_callback, ffi.NULL)

    return PinnedRecorder(mic._id, samplerate, mic.channels, blocksize)


class _SoundcardSource:
    """A sound-server source read through soundcard on a thread of its own."""

    continuous = False
    kind = "source"

    def __init__(self, spec: str | None, track: str):
        self.spec = spec or "default"
        self.track = track
        self.label = f"{self.kind} {self.spec!r}"
        self.rate = LOOPBACK_RATE
        self._recorder = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _resolve(self, sc):
        raise NotImplementedError

    def start(self, deliver: Deliver, fail: Fail) -> None:
        sc = _soundcard()
        if sc is None:
            raise DeviceError(
                f"cannot open {self.label}: no PulseAudio or PipeWire server answers (on Linux, start your "
                "desktop's sound server, or `pulseaudio --start`)"
            )
        mic = self._resolve(sc)
        self.label = f"{self.kind} {self.spec!r}" + (f" ({mic.name})" if mic.name != self.spec else "")
        self._stopping.clear()
        try:
            recorder = _pinned_recorder(mic, self.rate, int(self.rate * BLOCK_SECONDS))
            recorder.__enter__()
        except Exception as exc:  # soundcard raises RuntimeError, IndexError, and backend errors
            raise DeviceError(f"cannot open {self.label}: {exc}") from None
        self._recorder = recorder

        def read() -> None:
            try:
                while not self._stopping.is_set():
                    data = recorder.record(numframes=None)
                    if data is not None and len(data):
                        deliver(_mono(data))
            except Exception as exc:  # a vanished device fails the stream; soundcard says so in many ways
                if not self._stopping.is_set():
                    fail(f"{self.label} failed: {exc}")

        self._thread = threading.Thread(target=read, name=f"capture-{self.track}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread, recorder = self._thread, self._recorder
        self._thread = self._recorder = None
        if thread is not None:
            thread.join(timeout=2.0)
        # A reader still blocked in the backend keeps the stream: freeing it under the reader
        # would crash the process. It ends with the next block or with the process.
        if recorder is not None and (thread is None or not thread.is_alive()):
            try:
                recorder.__exit__(None, None, None)
            except Exception:
                pass


class LoopbackSource(_SoundcardSource):
    """What the computer plays (the respondent in Teams) through soundcard's loopback.

    `spec` is `default` (the loopback of the default output, looked up again on every start, so
    a switched output is followed after the switch), a loopback id or name from `fieldnote
    devices`, or on macOS the virtual device (BlackHole) Teams plays into, read as an input.
    """

    continuous = False  # WASAPI loopback delivers nothing while nothing plays
    kind = "system output"

    def __init__(self, spec: str | None = None, track: str = "respondent"):
        super().__init__(spec, track)

    def _resolve(self, sc):
        candidates = sc.all_microphones(include_loopback=True)
        loopbacks = candidates if sys.platform == "darwin" else [m for m in candidates if m.isloopback]
        if self.spec == "default":
            try:
                speaker = sc.default_speaker()
            except Exception:  # a server without any output
                speaker = None
            ident = _default_loopback_id(loopbacks, speaker)
            if ident is None:
                raise DeviceError("no loopback of the default output; give --system (see `fieldnote devices`)")
        else:
            ident = _pick(self.spec, [(str(m.id), m.name) for m in loopbacks], "system output")
        return next(m for m in candidates if str(m.id) == ident)


class ServerMicSource(_SoundcardSource):
    """A microphone named by its PulseAudio/PipeWire source (`fieldnote devices` lists them).

    Read through soundcard rather than PortAudio, because only that way the stream stays on the
    named source when it vanishes (see `_pinned_recorder`) instead of recording another one.
    """

    continuous = True
    kind = "microphone"

    def __init__(self, spec: str, track: str = "interviewer"):
        super().__init__(spec, track)

    def _resolve(self, sc):
        candidates = sc.all_microphones(include_loopback=True)
        exact = [m for m in candidates if str(m.id) == self.spec]
        if exact:  # any source by its id, a monitor too (tests stand one in for a microphone)
            return exact[0]
        ident = _pick(self.spec, [(str(m.id), m.name) for m in candidates if not m.isloopback], "input device")
        return next(m for m in candidates if str(m.id) == ident)


def mic_source(spec: str | None, track: str = "interviewer") -> DeviceStream:
    """The stream for a --mic value: PortAudio's devices by number or name, else a sound-server source."""
    spec = spec or "default"
    if spec == "default" or spec.isdigit():
        return MicSource(spec, track)
    sd = _sounddevice()
    names = {d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0}
    if spec in names:
        return MicSource(spec, track)
    sources = _pulse_sources() or []
    if any(spec in (name, description) for name, description, _ in sources):
        return ServerMicSource(spec, track)
    return MicSource(spec, track)  # its start says clearly what is not there


# ---------------------------------------------------------------------------------------------
# Putting both tracks on one clock


@dataclass
class CaptureEvent:
    kind: str  # device-lost | device-back | paused | resumed | muted | unmuted | disk-low | disk-full
    track: str | None
    at: float  # session time
    message: str


@dataclass
class Gap:
    track: str | None  # None: both tracks
    start: float
    end: float | None
    reason: str  # device | paused | muted
    detail: str = ""


class Recording(Protocol):
    """Where captured audio goes first (core.pipeline.recording.SessionAudio)."""

    folder: Path

    def write(self, track: str, samples: np.ndarray) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class TrackPlacer:
    """Places one device's blocks on the session clock, in whole samples at 16 kHz.

    A device that delivers steadily is trusted sample for sample (its clock, not the arrival
    jitter of its blocks, keeps time). After a pause in delivery - the start, a silent
    loopback, a device that was lost - the next block is placed where it belongs: it ends when
    it arrived, and the silence before it is padded.

    Two devices' clocks are never quite the same (a microphone and a sound card differ by some
    tens of parts per million: a third of a second an hour), so a device that delivers steadily
    is also watched against the session clock. Each window of `drift_window` seconds keeps how
    far ahead of its arrival a block ended at most (the block that arrived with the least
    delay, so jitter does not count); when that moves more than `drift_tolerance` seconds from
    where it stood after the last realignment, a few milliseconds of silence are put in (a slow
    device) or of audio left out (a fast one), at most `drift_step` seconds a window.
    """

    def __init__(self, start: float = 0.0, *, idle_after: float = 0.5, pad_lag: float = 0.5,
                 drift_window: float = 10.0, drift_tolerance: float = 0.02, drift_step: float = 0.02):
        self.position = int(round(start * SAMPLE_RATE))  # next sample's index on the session clock
        self.idle_after = idle_after
        self.pad_lag = pad_lag
        self.last_arrival: float | None = None
        self.realign = True
        self.drift_window = drift_window
        self.drift_tolerance = int(round(drift_tolerance * SAMPLE_RATE))
        self.drift_step = int(round(drift_step * SAMPLE_RATE))
        self.corrected = 0  # samples put in (positive) or left out (negative) for drift, in all
        self._reference: int | None = None  # the lead the track had after it was last placed
        self._window_end: float | None = None
        self._window_lead: int | None = None
        self._owed = 0  # a correction still to make: samples to put in (>0) or leave out (<0)

    @property
    def time(self) -> float:
        return self.position / SAMPLE_RATE

    def place(self, n: int, arrival: float) -> int:
        """Samples of silence to put before a block of `n` samples that arrived at `arrival`;
        negative: samples to leave out of the block's start (a device running fast)."""
        pad = 0
        if self.realign or self.last_arrival is None or arrival - self.last_arrival > self.idle_after:
            expected_start = int(round(arrival * SAMPLE_RATE)) - n
            pad = max(0, expected_start - self.position)
            self._reference = self._window_lead = None
            self._window_end = arrival + self.drift_window
            self._owed = 0
        elif self._owed:
            # Half a block at the most, so no block is left out whole.
            pad = max(self._owed, -(n // 2))
            self._owed -= pad
            self.corrected += pad
        self.realign = False
        self.last_arrival = arrival
        self.position += pad + n
        self._watch(arrival)
        return pad

    def _watch(self, arrival: float) -> None:
        lead = self.position - int(round(arrival * SAMPLE_RATE))
        self._window_lead = lead if self._window_lead is None else max(self._window_lead, lead)
        if self._window_end is None or arrival < self._window_end:
            return
        self._window_end = arrival + self.drift_window
        lead, self._window_lead = self._window_lead, None
        if self._reference is None:
            self._reference = lead
            return
        off = lead + self._owed - self._reference  # as it will stand once what is owed is made good
        if abs(off) > self.drift_tolerance:
            self._owed += max(-self.drift_step, min(self.drift_step, -off))

    def fill(self, now: float, *, lost: bool = False) -> int:
        """Samples of silence to keep a track that delivers nothing in step with the clock."""
        quiet = lost or self.last_arrival is None or now - self.last_arrival > self.idle_after
        target = int(round((now - self.pad_lag) * SAMPLE_RATE))
        if not quiet or target <= self.position:
            return 0
        pad = target - self.position
        self.position = target
        self.realign = True
        return pad


class OffsetClock(Clock):
    """The session clock of a resumed session: it goes on from where the recording stopped."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def now(self) -> float:
        return super().now() + self.offset


@dataclass
class _Track:
    stream: DeviceStream
    placer: TrackPlacer
    resampler: Resampler | None = None
    lost: bool = False
    lost_gap: Gap | None = None
    muted_gap: Gap | None = None
    next_retry: float = 0.0
    opened_at: float = 0.0
    audio_until: int = 0  # on-clock index just past the device's last real sample
    emitted: int = 0  # on-clock index just past the last sample handed on
    pending: list[np.ndarray] = field(default_factory=list)
    pending_len: int = 0


class LiveSource:
    """Two (or more) device streams as one time-ordered stream of `AudioChunk`s per track.

    `paused` and `muted` are shared with the pipeline (`core.pipeline.recording` wires them): while paused,
    or while a track is muted, silence is recorded and passed on in its place, so the files and
    the segment times stay on the session clock and nothing said off the record is kept.
    """

    def __init__(
        self,
        streams: list[DeviceStream],
        *,
        clock: Clock | None = None,
        recording: Recording | None = None,
        on_event: Callable[[CaptureEvent], None] | None = None,
        retry_every: float = 2.0,
        stall_after: float = 5.0,
        disk_check_every: float = 5.0,
        disk_reserve: int = DISK_RESERVE,
    ):
        self.clock = clock or Clock()
        start = self.clock.now()
        self._tracks = {s.track: _Track(s, TrackPlacer(start)) for s in streams}
        for t in self._tracks.values():
            t.emitted = t.audio_until = t.placer.position
        self.tracks = tuple(self._tracks)
        self.recording = recording
        self.on_event = on_event
        self.retry_every = retry_every
        self.stall_after = stall_after
        self.disk_check_every = disk_check_every
        self.disk_reserve = disk_reserve
        self.paused = threading.Event()
        self.muted: set[str] = set()
        self.events: list[CaptureEvent] = []
        self.gaps: list[Gap] = []
        self.stop_reason: str | None = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._pause_gap: Gap | None = None
        self._next_flush = 0.0
        self._next_disk_check = 0.0
        self._disk_warned = False

    # lifecycle ---------------------------------------------------------------------------------

    def start(self, *, thread: bool = True) -> None:
        self.open()
        self.run(thread=thread)

    def open(self) -> None:
        """Open every device; one that cannot be opened is the user's to fix, and none stays open.
        Blocks delivered before `run` wait in the queue and are placed by their arrival time."""
        started = []
        try:
            for t in self._tracks.values():
                self._open(t)
                started.append(t)
        except BaseException:
            for t in started:
                t.stream.stop()
            raise

    def run(self, *, thread: bool = True) -> None:
        """Start the assembler. Tests drive `pump` themselves with thread=False."""
        if thread:
            self._thread = threading.Thread(target=self._run, name="capture-assembler", daemon=True)
            self._thread.start()

    def _open(self, t: _Track) -> None:
        track = t.stream.track
        t.stream.start(
            lambda block, track=track: self._inbox.put(("audio", track, self.clock.now(), block)),
            lambda message, track=track: self._inbox.put(("lost", track, self.clock.now(), message)),
        )
        t.opened_at = self.clock.now()
        if t.resampler is None or t.resampler.rate_in != t.stream.rate:
            t.resampler = Resampler(t.stream.rate)

    def stop(self, reason: str | None = None) -> None:
        """Stop capturing. Audio already captured is still recorded and passed on."""
        if reason and self.stop_reason is None:
            self.stop_reason = reason
        self._stopping.set()

    def close(self) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join()
        elif not self._done.is_set():
            while not self.pump(0):
                pass

    def chunks(self) -> Iterator[AudioChunk]:
        while True:
            item = self._out.get()
            if item is None:
                return
            yield item

    # the assembler -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self.pump(0.05):
                pass
        except BaseException as exc:  # the recording must end cleanly even on a bug here
            self.stop_reason = self.stop_reason or f"capture failed: {exc!r}"
            self._finish()
            raise

    def pump(self, timeout: float) -> bool:
        """One round of the assembler; True once everything is written and the stream ended."""
        if self._done.is_set():
            return True
        try:
            item = self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait()
        except queue.Empty:
            item = None
        # Before this round's blocks: the first of them is the first one paused or muted.
        self._follow_controls()
        while item is not None:
            self._handle(item)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                item = None
        now = self.clock.now()
        if self._stopping.is_set():
            self._finish()
            return True
        self._tick(now)
        return False

    def _handle(self, item) -> None:
        kind, track, arrival, payload = item
        t = self._tracks[track]
        if kind == "audio":
            if t.lost:
                return  # a late block of a stream already given up on (its gap is padded)
            samples = t.resampler(payload)
            if len(samples) == 0:
                return
            pad = t.placer.place(len(samples), arrival)
            if pad < 0:
                samples = samples[-pad:]  # the device runs fast: a few milliseconds left out
            else:
                self._emit(t, np.zeros(pad, dtype=np.float32), silence=True)
            self._emit(t, samples)
            t.audio_until = t.placer.position
        elif kind == "lost" and not t.lost:
            self._lose(t, arrival, payload)

    def _lose(self, t: _Track, now: float, message: str) -> None:
        t.lost = True
        t.stream.stop()
        t.next_retry = now + self.retry_every
        gap = Gap(t.stream.track, round(t.audio_until / SAMPLE_RATE, 2), None, "device", message)
        t.lost_gap = gap
        self.gaps.append(gap)
        self._event("device-lost", t.stream.track, gap.start,
                    f"{message}; recording goes on without it and tries to reopen it every {self.retry_every:g} s")

    def _tick(self, now: float) -> None:
        for t in self._tracks.values():
            if t.lost and now >= t.next_retry:
                self._retry(t, now)
            elif not t.lost and t.stream.continuous \
                    and now - max(t.placer.last_arrival or 0.0, t.opened_at) > self.stall_after:
                self._lose(t, now, f"{t.stream.label} delivered nothing for {self.stall_after:g} s")
            pad = t.placer.fill(now, lost=t.lost)
            self._emit(t, np.zeros(pad, dtype=np.float32), silence=True)
            self._release(t, force=t.placer.last_arrival is None or now - t.placer.last_arrival > CHUNK_SECONDS)
        if now >= self._next_flush and self.recording is not None:
            self.recording.flush()
            self._next_flush = now + 0.5
        if now >= self._next_disk_check:
            self._next_disk_check = now + self.disk_check_every
            self._check_disk(now)

    def _retry(self, t: _Track, now: float) -> None:
        t.next_retry = now + self.retry_every
        try:
            self._open(t)
        except UserError:
            return
        t.lost = False
        t.placer.realign = True
        t.audio_until = t.placer.position
        gap, t.lost_gap = t.lost_gap, None
        if gap is not None:
            gap.end = round(max(gap.start, now), 2)
            self._event("device-back", t.stream.track, gap.end,
                        f"{t.stream.label} is back; {gap.end - gap.start:.1f} s of {t.stream.track} audio are missing")

    def _follow_controls(self) -> None:
        # The screen flips `paused` and `muted`; each change is noted as a gap, placed where
        # the audio handed on turns to silence (or back).
        at = min(t.emitted for t in self._tracks.values()) / SAMPLE_RATE
        if self.paused.is_set() and self._pause_gap is None:
            self._pause_gap = Gap(None, round(at, 2), None, "paused")
            self.gaps.append(self._pause_gap)
            self._event("paused", None, at, "recording paused: silence is kept in its place")
        elif not self.paused.is_set() and self._pause_gap is not None:
            self._pause_gap.end = round(at, 2)
            self._pause_gap = None
            self._event("resumed", None, at, "recording resumed")
        for name, t in self._tracks.items():
            at = t.emitted / SAMPLE_RATE
            if name in self.muted and t.muted_gap is None:
                t.muted_gap = Gap(name, round(at, 2), None, "muted")
                self.gaps.append(t.muted_gap)
                self._event("muted", name, at, f"{name} track muted")
            elif name not in self.muted and t.muted_gap is not None:
                t.muted_gap.end = round(at, 2)
                t.muted_gap = None
                self._event("unmuted", name, at, f"{name} track unmuted")

    def _emit(self, t: _Track, samples: np.ndarray, *, silence: bool = False) -> None:
        if len(samples) == 0:
            return
        if not silence and (self.paused.is_set() or t.stream.track in self.muted):
            samples = np.zeros_like(samples)
        if self.recording is not None:
            self.recording.write(t.stream.track, samples)
        t.emitted += len(samples)
        t.pending.append(samples)
        t.pending_len += len(samples)
        if t.pending_len >= int(CHUNK_SECONDS * SAMPLE_RATE):
            self._release(t, force=True)

    def _release(self, t: _Track, *, force: bool) -> None:
        if not t.pending or not force:
            return
        samples = np.concatenate(t.pending) if len(t.pending) > 1 else t.pending[0]
        start = (t.emitted - len(samples)) / SAMPLE_RATE
        t.pending, t.pending_len = [], 0
        step = SAMPLE_RATE  # long silences go on in pieces of a second
        for i in range(0, len(samples), step):
            self._out.put(AudioChunk(t.stream.track, start + i / SAMPLE_RATE, samples[i : i + step]))

    def _check_disk(self, now: float) -> None:
        if self.recording is None:
            return
        free = shutil.disk_usage(self.recording.folder).free
        room = free - self.disk_reserve
        per_second = BYTES_PER_SECOND * len(self._tracks)
        if room <= 0:
            self._event("disk-full", None, now,
                        f"recording stopped: only {free / 2**20:.0f} MB left on the disk of {self.recording.folder}; "
                        "everything up to now is saved. Free some space before recording again")
            self.stop(reason="disk-full")
        elif room < 15 * 60 * per_second and not self._disk_warned:
            self._disk_warned = True
            self._event("disk-low", None, now,
                        f"disk almost full: about {room / per_second / 60:.0f} minutes of recording left "
                        f"on the disk of {self.recording.folder}")

    def _finish(self) -> None:
        if self._done.is_set():
            return
        for t in self._tracks.values():
            t.stream.stop()
        # Late blocks still queued are audio the devices captured: keep them.
        while True:
            try:
                self._handle(self._inbox.get_nowait())
            except queue.Empty:
                break
        # Both tracks end at the same time, so the files line up to the end.
        end = max(t.placer.position for t in self._tracks.values())
        for t in self._tracks.values():
            self._emit(t, np.zeros(end - t.placer.position, dtype=np.float32), silence=True)
            t.placer.position = end
            self._release(t, force=True)
        end_time = round(end / SAMPLE_RATE, 2)
        for gap in self.gaps:
            if gap.end is None:
                gap.end = end_time
        if self.recording is not None:
            self.recording.close()
        self._event("stopped", None, end_time, f"recording stopped at {end_time:.1f} s"
                    + (f" ({self.stop_reason})" if self.stop_reason else ""))
        self._done.set()
        self._out.put(None)

    def _event(self, kind: str, track: str | None, at: float, message: str) -> None:
        event = CaptureEvent(kind, track, round(at, 2), message)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    @property
    def labels(self) -> dict[str, str]:
        """Each track's device, for messages."""
        return {name: t.stream.label for name, t in self._tracks.items()}

    @property
    def duration(self) -> float:
        return max(t.placer.position for t in self._tracks.values()) / SAMPLE_RATE


# ---------------------------------------------------------------------------------------------
# For the setup screen: levels, a short test recording, playback, the remembered choice


def level_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (-100 for digital silence)."""
    if len(samples) == 0:
        return -100.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(-100.0, 20 * math.log10(rms)) if rms > 0 else -100.0


def open_devices(mic: str | None, system: str | None) -> list[DeviceStream]:
    return [mic_source(mic, "interviewer"), LoopbackSource(system, "respondent")]


def play(samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Play audio on the default output and wait until it has played."""
    sd = _sounddevice()
    try:
        sd.play(samples, rate, blocking=True)
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot play on the default output: {exc}") from None


def load_device_choice() -> dict[str, str]:
    """The devices chosen last time, from the [devices] table of the config file."""
    path = paths.config_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    devices = data.get("devices", {})
    return {k: str(v) for k, v in devices.items() if k in ("mic", "system") and isinstance(v, str)}


def save_device_choice(mic: str, system: str) -> None:
    """Remember the devices in the config file's [devices] table; other settings stay as they are."""
    path = paths.config_file()
    paths.ensure_private_dir(path.parent)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    # Drop the old [devices] table, keep everything else line for line (comments included).
    kept, skipping = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped == "[devices]"
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    table = ["[devices]", f"mic = {_toml_string(mic)}", f"system = {_toml_string(system)}"]
    text = "\n".join(kept + ([""] if kept else []) + table) + "\n"
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def capture_for(streams: list[DeviceStream], seconds: float) -> dict[str, np.ndarray]:
    """Record a few seconds from the devices (the setup screen's test), nothing to disk."""
    source = LiveSource(streams)
    source.start()
    timer = threading.Timer(seconds, source.stop)
    timer.start()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in source.tracks}
    try:
        for chunk in source.chunks():
            parts[chunk.track].append(chunk.samples)
    finally:
        timer.cancel()
        source.close()
    return {name: np.concatenate(p) if p else np.zeros(0, dtype=np.float32) for name, p in parts.items()}


def remaining_seconds(folder: Path, tracks: int = 2, reserve: int = DISK_RESERVE) -> float:
    """How long a recording of `tracks` tracks can go on in `folder` before the reserve."""
    free = shutil.disk_usage(folder).free
    return max(0.0, (free - reserve) / (BYTES_PER_SECOND * tracks))
