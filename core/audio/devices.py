"""Capture devices: the interviewer's microphone and the system output, one track each.

The microphone is read through PortAudio (sounddevice), or through the sound server when it is
named by its PulseAudio/PipeWire source; the system output that Teams plays into through
soundcard's loopback (a PulseAudio/PipeWire monitor source on Linux, WASAPI loopback on Windows).
On macOS there is no loopback: route Teams' output through a virtual device such as BlackHole
and pass that device as the system output; it is read as an input.

A device stream only stamps and queues what its device delivers; `core.audio.capture` puts
the streams on one session clock. Also here, for the setup screen: listing the devices, their
levels, playing a test back, and the choice remembered in the config file. Listing and opening
stay in one module (about 500 lines) because they share the lookups: the sound server's sources
and the default output's loopback are found by the same code whether a device is listed or opened.
"""

from __future__ import annotations

import math
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from core.base import paths
from core.base.settings import write_table
from core.audio.sources import SAMPLE_RATE
from core.base.errors import UserError

LOOPBACK_RATE = 48_000  # what soundcard is asked for; the sound server converts if it must
BLOCK_SECONDS = 0.02


class DeviceError(UserError):
    """A capture device that is not there or cannot be opened."""


# ---------------------------------------------------------------------------------------------
# Devices


@dataclass(frozen=True)
class Device:
    kind: str  # input (for --mic) | loopback (for --system)
    id: str  # what to pass on the command line
    name: str
    default: bool = False
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
    devices.append(Device("input", "default", "the system's default input", True, f"now {now}" if now else ""))
    for d in sd.query_devices():
        if d["max_input_channels"] > 0:
            api = sd.query_hostapis(d["hostapi"])["name"]
            devices.append(Device("input", str(d["index"]), d["name"], False,
                                  f"{api}, {int(d['default_samplerate'])} Hz"))
    if pulse is not None:
        for name, description, monitor in pulse:
            if not monitor:
                devices.append(Device("input", name, description, False, "sound server source"))
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
                              "route Teams' output to this device"))
        return out
    loopbacks = [m for m in sc.all_microphones(include_loopback=True) if m.isloopback]
    default_id = _default_loopback_id(loopbacks, default_speaker)
    out.append(Device("loopback", "default", "the monitor of the default output", True,
                      f"now {default_id}" if default_id else ""))
    for mic in loopbacks:
        out.append(Device("loopback", str(mic.id), mic.name, False))
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
# For the setup screen: levels, playback, the remembered choice


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


def save_device_choice(mic: str, system: str) -> str | None:
    """Remember the devices in the config file's [devices] table; other settings stay as they are.

    A config file that cannot be written (a read-only home) must not stop a recording that has
    started: the reason is returned for the caller to show, and the devices are not remembered."""
    path = paths.config_file()
    try:
        write_table(path, "devices", {"mic": mic, "system": system})
    except OSError as exc:
        return f"{path}: the devices could not be remembered for next time ({exc.strerror or exc})"
    return None


