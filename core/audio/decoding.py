"""Recordings made elsewhere, decoded: audio and video files to 16 kHz tracks, read as they go.

A recording is any file PyAV (FFmpeg's libraries, which faster-whisper brings) reads with a
sound stream: wav, flac, mp3, m4a/aac, ogg/opus, mp4, mkv/webm and more. `recognise` tells a
recording from a transcript by its extension and its first bytes. `decode_to_tracks` decodes
it in blocks of a few seconds, resampled to 16 kHz float32 per channel, and writes each track
as 16 kHz FLAC while it reads (a three-hour video is never held whole), gathering on the way
what the import decides by: the length, each channel's loudest sample, and how much the two
channels of a stereo file share (`ChannelShare`: one speaker per channel, as call recorders
keep "me" and "them", or one mix).

Every way a file can be wrong is a UserError naming the file and what is wrong: missing,
empty, not a recording or damaged, encrypted (DRM), a codec FFmpeg lacks, a video without
sound, cut short (the sound stops well before the length the file declares), silent.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.audio.sources import SAMPLE_RATE
from core.base.errors import UserError

# Extensions taken as recordings without looking further; others are looked at (their first bytes).
AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .mp3 .m4a .aac .ogg .oga .opus .mp4 .m4v .mov .mkv .webm .wma .aif .aiff .amr .3gp".split()
)
# First bytes of the containers a recording comes in (RIFF/WAVE, FLAC, MP3 with and without
# its tag, Ogg, ISO media (mp4, m4a, mov), Matroska/WebM, ASF, AIFF).
_MAGIC = (b"RIFF", b"fLaC", b"ID3", b"OggS", b"\x1aE\xdf\xa3", b"0&\xb2u", b"FORM")
BLOCK_SECONDS = 10
FIFO_SAMPLES = 200_000  # decoded samples resampled at a time (4.5 s at 44.1 kHz)
SILENCE_PEAK = 10 ** (-70 / 20)  # -70 dBFS: nothing a microphone picks up in a room is below it
# The sound may stop this much short of what the container declares before the file counts as cut off.
TRUNCATION_SLACK = 0.05
WINDOW = SAMPLE_RATE // 2  # half a second: the unit the channels are compared in
VOICED_DB = -45.0  # a window this loud in either channel has someone speaking
DOMINANT_DB = 10.0  # one channel this much louder than the other: that speaker's window
ENCRYPTED_TAGS = {"enca", "encv", "drms", "drmi", "encs"}
MIXED = "mixed"  # the track of a recording with both speakers in one channel


@dataclass
class ChannelShare:
    """How two channels compare over the voiced windows of a recording."""

    voiced: int = 0  # windows with speech in either channel
    left: int = 0  # windows where channel 0 is DOMINANT_DB louder
    right: int = 0

    @property
    def apart(self) -> float:
        """The share of voiced windows that one channel holds alone."""
        return (self.left + self.right) / self.voiced if self.voiced else 0.0

    @property
    def one_speaker_each(self) -> bool:
        """Each channel holds its own speaker: most speech is in one channel only, and each
        channel has its turns (a mono recording stored as stereo with one side empty has not)."""
        if self.voiced < 4:
            return False
        least = min(self.left, self.right) / self.voiced
        return self.apart >= 0.6 and least >= 0.08

    def add(self, block: np.ndarray) -> None:
        whole = len(block) - len(block) % WINDOW
        if whole == 0:
            return
        windows = block[:whole].reshape(-1, WINDOW, 2).astype(np.float64)
        power = np.mean(windows**2, axis=1) + 1e-12  # (n, 2)
        db = 10 * np.log10(power)
        voiced = np.max(db, axis=1) > VOICED_DB
        diff = db[:, 0] - db[:, 1]
        self.voiced += int(np.sum(voiced))
        self.left += int(np.sum(voiced & (diff >= DOMINANT_DB)))
        self.right += int(np.sum(voiced & (diff <= -DOMINANT_DB)))


@dataclass
class Decoded:
    """A recording decoded to tracks: the files written and what was learned reading it."""

    source: Path
    channels: int  # of the sound as decoded: 2 for stereo, else 1 (more channels are mixed down)
    samples: int  # per channel, at 16 kHz
    peaks: list[float]
    tracks: dict[str, Path]
    share: ChannelShare | None = None  # stereo only
    has_video: bool = False

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def looks_like_recording(path: Path) -> bool:
    """Whether the file is a recording rather than a transcript: by its extension, or else by
    its first bytes (an MP3 frame, or the start of a container a recording comes in)."""
    path = Path(path)
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        return True
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    if head.startswith(_MAGIC) or head[4:8] == b"ftyp":
        return True
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0  # an MPEG audio frame


class _Opened:
    """The container and its sound stream, every way of failing named."""

    def __init__(self, path: Path):
        import av

        if not path.is_file():
            raise UserError(f"{path}: no such recording")
        if path.stat().st_size == 0:
            raise UserError(f"{path}: the file is empty (0 bytes), not a recording")
        with open(path, "rb") as fh:
            self.head = fh.read(64)
        try:
            self.container = av.open(str(path), mode="r", metadata_errors="ignore")
        except Exception as exc:  # PyAV raises many kinds for a damaged or foreign file
            if self.head[4:8] == b"ftyp":
                raise UserError(f"{path}: damaged or cut off: an MP4/M4A file without its index (as an interrupted "
                                f"copy or download leaves it) ({_reason(exc)})") from None
            raise UserError(f"{path}: not a recording fieldnote can read: damaged, or not audio or video "
                            f"({_reason(exc)})") from None
        try:
            audio = list(self.container.streams.audio)
            self.has_video = bool(self.container.streams.video)
            if not audio:
                if self.has_video:
                    raise UserError(f"{path}: a video without sound: it has no audio track to transcribe")
                raise UserError(f"{path}: holds no sound stream: not a recording, or damaged")
            self.stream = audio[0]
            tag = (self.stream.codec_context.codec_tag or "").strip().lower() if self.stream.codec_context else ""
            if tag in ENCRYPTED_TAGS or _encrypted(self.container):
                raise UserError(f"{path}: the sound is encrypted (DRM-protected, as bought or rented media is); "
                                "fieldnote cannot decode it")
            if self.stream.codec_context is None or not self.stream.codec_context.codec:
                raise UserError(f"{path}: the sound is in a codec fieldnote cannot decode")
            self.declared = _declared_seconds(self.container, self.stream)
            self.wav_missing = _wav_missing_bytes(path, self.head)
            self.channels = 2 if self.stream.codec_context.channels == 2 else 1
        except BaseException:
            self.container.close()
            raise


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # PyAV puts the path into its messages; the message names the file already.
    return text.split(": '")[0] if ": '" in text else text


def _encrypted(container) -> bool:
    meta = {k.lower(): str(v).lower() for k, v in (container.metadata or {}).items()}
    return any("encrypt" in k or "drm" in k for k in meta)


def _wav_missing_bytes(path: Path, head: bytes) -> int:
    """How many bytes of sound a WAV file's header declares beyond what the file holds (FFmpeg
    reads a cut-off WAV to where it stops without a word)."""
    import struct

    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 12
        while True:
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return 0
            kind, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"data":
                # 0 and 0xFFFFFFFF: a header written before the length was known (streamed WAV).
                return 0 if length in (0, 0xFFFFFFFF) else max(0, pos + 8 + length - size)
            pos += 8 + length + (length & 1)


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        import av

        return container.duration / av.time_base
    return None


def _frames(opened: _Opened, path: Path, layout: str):
    """16 kHz float32 blocks (samples, channels) of the sound, as decoded."""
    import av

    resampler = av.audio.resampler.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    # Codec frames are a few milliseconds each; they are resampled a few seconds at a time, as
    # faster-whisper's decode_audio groups them (a call per frame costs more than the decoding).
    fifo = av.AudioFifo()
    damaged = 0
    decoded_any = False

    def resampled(frame):
        for out in resampler.resample(frame):
            yield out.to_ndarray().T
    packets = opened.container.demux(opened.stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.EOFError:
            break
        except Exception as exc:
            if decoded_any:
                break  # what follows a damaged end is not read; the length check says what was lost
            raise UserError(f"{path}: damaged: the sound cannot be read ({_reason(exc)})") from None
        try:
            frames = packet.decode()
        except Exception as exc:
            damaged += 1
            if damaged > 50 and not decoded_any:
                raise UserError(f"{path}: damaged or not decodable: no sound could be decoded ({_reason(exc)})") from None
            continue
        for frame in frames:
            frame.pts = None
            try:
                fifo.write(frame)
            except ValueError:  # the stream changed its format midway: what came before goes first
                if fifo.samples:
                    yield from resampled(fifo.read())
                fifo = av.AudioFifo()
                fifo.write(frame)
            decoded_any = True
            if fifo.samples >= FIFO_SAMPLES:
                yield from resampled(fifo.read())
    if fifo.samples:
        yield from resampled(fifo.read())
    yield from resampled(None)


def decode_to_tracks(
    path: Path,
    folder: Path,
    *,
    names: dict[str, str],
    stereo: bool | None = None,
    on_progress: Callable[[float, float | None], None] | None = None,
) -> Decoded:
    """Decode `path` into 16 kHz mono FLAC tracks in `folder`, which must exist.

    `names` maps what to write to file stems: "mix" (all channels mixed, always written when
    asked), "0" and "1" (the left and right channel of a stereo file). With `stereo=False` a
    stereo file is read as mixed; with True a file that is not stereo is refused. The channels
    of a stereo file are compared as they go by (`Decoded.share`). `on_progress(seconds
    decoded, seconds declared)` is called every block."""
    import soundfile as sf

    path = Path(path)
    opened = _Opened(path)
    try:
        channels = opened.channels
        if stereo is True and channels != 2:
            raise UserError(f"{path}: --channels split needs a stereo recording; this one has "
                            f"{opened.stream.codec_context.channels} channel(s)")
        if stereo is False:
            channels = 1
        layout = "stereo" if channels == 2 else "mono"
        wanted = {k: v for k, v in names.items() if k == "mix" or channels == 2}
        writers = {}
        tracks = {}
        try:
            for key, stem in wanted.items():
                target = folder / f"{stem}.flac"
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.close(fd)
                writers[key] = sf.SoundFile(target, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16",
                                            format="FLAC")
                tracks[key] = target
            share = ChannelShare() if channels == 2 else None
            peaks = [0.0] * channels
            samples = 0
            pieces: list[np.ndarray] = []
            held = 0
            block = BLOCK_SECONDS * SAMPLE_RATE

            def write(piece: np.ndarray) -> None:
                for c in range(channels):
                    peaks[c] = max(peaks[c], float(np.max(np.abs(piece[:, c]))) if len(piece) else 0.0)
                if share is not None:
                    share.add(piece)
                for key, out in writers.items():
                    if key == "mix":
                        mono = piece.mean(axis=1) if channels > 1 else piece[:, 0]
                        out.write(np.clip(mono, -1.0, 1.0))
                    else:
                        out.write(np.clip(piece[:, int(key)], -1.0, 1.0))

            # Frames are a few milliseconds each: gathered into blocks of whole windows before they are written.
            for piece in _frames(opened, path, layout):
                pieces.append(piece)
                held += len(piece)
                if held >= block:
                    pending = np.concatenate(pieces)
                    whole = len(pending) - len(pending) % WINDOW
                    write(pending[:whole])
                    samples += whole
                    pieces, held = [pending[whole:]], len(pending) - whole
                    if on_progress is not None:
                        on_progress(samples / SAMPLE_RATE, opened.declared)
            if held:
                pending = np.concatenate(pieces)
                write(pending)
                samples += len(pending)
        finally:
            for out in writers.values():
                out.close()
    finally:
        opened.container.close()
    seconds = samples / SAMPLE_RATE
    if samples == 0:
        raise UserError(f"{path}: no sound could be decoded from it (empty, or damaged from the start)")
    declared = opened.declared
    if opened.wav_missing > 0:
        raise UserError(f"{path}: cut off: its header declares {opened.wav_missing} bytes more sound than the file "
                        f"holds; its sound stops at {_clock(seconds)} (an incomplete copy?)")
    if declared and seconds < declared * (1 - TRUNCATION_SLACK) - 1.0:
        raise UserError(f"{path}: cut off: the file says it lasts {_clock(declared)}, but its sound stops at "
                        f"{_clock(seconds)} (an incomplete copy or download?)")
    if max(peaks) < SILENCE_PEAK:
        raise UserError(f"{path}: silent: {_clock(seconds)} without any sound above "
                        f"{20 * math.log10(SILENCE_PEAK):.0f} dBFS (a muted microphone, or the wrong file?)")
    return Decoded(path, channels, samples, peaks, tracks, share, opened.has_video)


def check_lengths(first: Decoded, second: Decoded) -> None:
    """Two files of one interview (one per speaker) last about as long."""
    longer, shorter = sorted((first, second), key=lambda d: -d.seconds)
    if longer.seconds - shorter.seconds > max(3.0, 0.1 * longer.seconds):
        raise UserError(
            f"{shorter.source}: lasts {_clock(shorter.seconds)}, but {longer.source} lasts "
            f"{_clock(longer.seconds)}: two tracks of one interview last about as long. If they are two "
            "interviews, import them with --each"
        )


@dataclass
class Probe:
    has_sound: bool
    channels: int
    declared: float | None
    extra: dict = field(default_factory=dict)


def probe(path: Path) -> Probe:
    """The sound's channels and declared length, without decoding: a bad file is named here."""
    opened = _Opened(Path(path))
    try:
        return Probe(True, opened.channels, opened.declared)
    finally:
        opened.container.close()
