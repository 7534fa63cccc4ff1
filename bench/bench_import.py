"""Importing a recording made elsewhere: its speed against raw faster-whisper, its memory on a long video.

1. Speed. A two-track recording (the English demo's two tracks looped to --minutes each, as
   AAC in .m4a, as a recorder of one's own would make them) imported with `fieldnote import
   A.m4a B.m4a` (decoding to FLAC tracks, VAD, batched transcription, guide tracking and
   suggestions, storing) against raw faster-whisper on the same files: each file decoded
   with faster_whisper.decode_audio and transcribed by BatchedInferencePipeline.transcribe
   with the same model, threads and decoding options, every segment consumed (its batch of 8
   windows, where the import decodes 4 at a time: core/pipeline/recordings.py says why).
   Each runs as a process of its own, timed from start to exit (both load the model), in
   turns, --rounds times; the table gives each one's real-time factor (seconds taken per
   second of audio, both tracks counted) and the ratio import / raw per round.

2. Memory. A --hours long mp4 (the demo's mixed audio looped, AAC beside a small picture track,
   written in /tmp) decoded into 16 kHz FLAC tracks as `fieldnote import` decodes it
   (core.audio.decoding.decode_to_tracks), with the base model loaded in the same process; the
   peak resident memory of that process against one that only loads the model, and against
   faster-whisper's whole-file decode_audio of the same file (the model loaded too), as the
   reference. Peaks are read from the kernel (os.wait4's rusage of each child).

3. With --import-minutes N, a whole `fieldnote import` of an N-minute mixed mp4 (decoding,
   transcription with --import-model, understanding, storing): its time and peak memory.

    python bench/bench_import.py                      # 10 minutes a track, tiny.en, 3 hours of video
    python bench/bench_import.py --minutes 15 --model base --rounds 2
    python bench/bench_import.py --skip-memory        # the speed table alone
    python bench/bench_import.py --skip-speed --skip-memory --import-minutes 60   # a whole hour, base
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.audio.sources import SAMPLE_RATE, load_audio  # noqa: E402
from core.base.paths import SAMPLE_SESSIONS  # noqa: E402

DEMO = SAMPLE_SESSIONS / "demo-en"
GUIDE = DEMO / "guide.toml"


# --- files made for the benchmark -------------------------------------------------------------


def encode(source: np.ndarray, path: Path) -> Path:
    """`source` (16 kHz mono) encoded as AAC (44.1 kHz) into `path`."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44_100, layout="mono")
        resampler = av.audio.resampler.AudioResampler(format="fltp", layout="mono", rate=44_100, frame_size=1024)
        for at in range(0, len(source), 10 * SAMPLE_RATE):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(source[None, at : at + 10 * SAMPLE_RATE],
                                                                    dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            for p in resampler.resample(frame):
                out.mux(stream.encode(p))
        for p in resampler.resample(None):
            out.mux(stream.encode(p))
        out.mux(stream.encode(None))
    return path


def encode_looped(source: np.ndarray, seconds: float, path: Path, *, video: bool = False) -> Path:
    """`source` (16 kHz mono) as AAC looped to about `seconds` in `path`: encoded once, its packets
    then written again and again with their times moved on (encoding three hours would take
    minutes); with `video`, a 64x48 black picture at 1 frame a second beside it."""
    import av

    unit = encode(source, path.with_name(path.stem + "-unit.m4a"))
    with av.open(str(unit)) as src:
        audio_in = src.streams.audio[0]
        packets = [(bytes(p), p.pts, p.dts, p.duration) for p in src.demux(audio_in) if p.size]
        time_base = audio_in.time_base
        codec = audio_in.codec_context
        with av.open(str(path), "w") as out:
            audio = out.add_stream_from_template(audio_in)
            picture = None
            if video:
                picture = out.add_stream("mpeg4", rate=1)
                picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
                black = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
                black.pts = 0
                (still,) = [bytes(p) for p in picture.encode(black)] or [None]
                still = still or bytes(picture.encode(None)[0])
            span = max(p[2] + (p[3] or 0) for p in packets) - min(p[2] for p in packets)
            loops = max(1, round(seconds / float(span * time_base)))
            shown = 0
            for k in range(loops):
                for data, pts, dts, duration in packets:
                    packet = av.Packet(data)
                    packet.pts, packet.dts, packet.duration = pts + k * span, dts + k * span, duration
                    packet.time_base = time_base
                    packet.stream = audio
                    out.mux(packet)
                    while picture is not None and shown < float((dts + k * span) * time_base):
                        frame = av.Packet(still)
                        frame.pts = frame.dts = shown
                        frame.time_base = picture.time_base
                        frame.stream = picture
                        frame.is_keyframe = True
                        out.mux(frame)
                        shown += 1
    unit.unlink()
    return path


# --- children ---------------------------------------------------------------------------------


def child_raw(files: list[str], model: str, threads: int) -> None:
    """Raw faster-whisper: each file decoded whole and through BatchedInferencePipeline.transcribe."""
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.audio import decode_audio

    from core.speech.models import load_model, resolve_model
    from core.speech.tracks import BATCH_SIZE, transcribe_options

    whisper = load_model(resolve_model(model), "en", threads)
    options = transcribe_options("en", False)
    options.pop("condition_on_previous_text")
    words = 0
    for f in files:
        segments, _ = BatchedInferencePipeline(whisper).transcribe(decode_audio(f, sampling_rate=SAMPLE_RATE),
                                                                   batch_size=BATCH_SIZE, **options)
        words += sum(len(s.words or []) for s in segments)
    print(json.dumps({"words": words}))


def child_decode(path: str, whole: bool) -> None:
    """The base model loaded, then the file decoded (as the import does, or whole)."""
    from core.speech.models import load_model, resolve_model

    load_model(resolve_model("base"), "en", 2)
    if whole is None:
        return
    if whole:
        from faster_whisper.audio import decode_audio

        audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
        print(json.dumps({"seconds": len(audio) / SAMPLE_RATE}))
        return
    from core.audio.decoding import decode_to_tracks

    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        decoded = decode_to_tracks(Path(path), Path(folder), names={"mix": "mixed"}, stereo=False)
    print(json.dumps({"seconds": decoded.seconds}))


def run_measured(args: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Seconds taken, the child's own peak resident memory in MB (os.wait4), and its standard output."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        took = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args[:4])} ... failed:\n{err.read()[-2000:]}")
        return took, usage.ru_maxrss / 1024, out.read()


# --- the benchmark ----------------------------------------------------------------------------


def speed(minutes: float, model: str, threads: int, rounds: int, folder: Path) -> list[str]:
    tracks = {side: load_audio(DEMO / f"{side}.flac") for side in ("interviewer", "respondent")}
    files = [str(encode_looped(tracks[side], minutes * 60, folder / f"{side}.m4a")) for side in tracks]
    audio = 2 * minutes * 60
    lines = [f"speed: two tracks of {minutes:g} min each ({audio / 60:g} min of audio), model {model}, "
             f"{threads} threads, {rounds} round(s)",
             f"{'round':>5}  {'import s':>9}  {'import RTF':>10}  {'raw s':>7}  {'raw RTF':>8}  {'ratio':>6}"]
    ratios = []
    for n in range(rounds):
        home = folder / f"home-{n}"
        env = {**os.environ, "FIELDNOTE_HOME": str(home)}
        imported, _, _ = run_measured([sys.executable, "-m", "tui.cli", "--db", str(home / "bench.db"), "import", *files,
                                       "--guide", str(GUIDE), "--model", model, "--threads", str(threads)], env)
        raw, _, _ = run_measured([sys.executable, __file__, "--child-raw", model, str(threads), *files])
        ratios.append(imported / raw)
        lines.append(f"{n + 1:>5}  {imported:>9.1f}  {imported / audio:>10.3f}  {raw:>7.1f}  {raw / audio:>8.3f}  "
                     f"{imported / raw:>6.2f}")
    lines.append(f"ratio import / raw faster-whisper: median {sorted(ratios)[len(ratios) // 2]:.2f} (target <= 1.10)")
    return lines


def memory(hours: float, folder: Path) -> list[str]:
    mixed = (load_audio(DEMO / "interviewer.flac") + load_audio(DEMO / "respondent.flac")) / 2
    t0 = time.perf_counter()
    video = encode_looped(mixed, hours * 3600, folder / "long-call.mp4", video=True)
    made = time.perf_counter() - t0
    me = [sys.executable, __file__, "--child-decode", str(video)]
    _, floor, _ = run_measured(me + ["model"])
    took, streamed, out = run_measured(me + ["stream"])
    seconds = json.loads(out)["seconds"]
    took_whole, whole, _ = run_measured(me + ["whole"])
    return [
        f"memory: a {seconds / 3600:.2f} h mp4 ({video.stat().st_size / 2**20:.0f} MB, AAC and a picture track, made in "
        f"{made:.0f} s), the base model loaded in each process",
        f"{'process':<44}  {'peak MB':>8}  {'above model':>11}  {'seconds':>7}",
        f"{'the base model loaded, nothing decoded':<44}  {floor:>8.0f}  {0:>11.0f}  {'':>7}",
        f"{'decoded to FLAC tracks as the import does':<44}  {streamed:>8.0f}  {streamed - floor:>11.0f}  {took:>7.0f}",
        f"{'decoded whole (faster_whisper.decode_audio)':<44}  {whole:>8.0f}  {whole - floor:>11.0f}  {took_whole:>7.0f}",
        f"peak decoding as the import does: {streamed:.0f} MB (target < 1024 MB); whole-file decode / import: "
        f"{whole / streamed:.2f}",
    ]


def whole_import(minutes: float, model: str, folder: Path) -> list[str]:
    """`fieldnote import` of a long mixed mp4 (the demo's mix looped), start to end: its peak memory."""
    mixed = (load_audio(DEMO / "interviewer.flac") + load_audio(DEMO / "respondent.flac")) / 2
    video = encode_looped(mixed, minutes * 60, folder / "long-import.mp4", video=True)
    home = folder / "home-long"
    env = {**os.environ, "FIELDNOTE_HOME": str(home)}
    took, peak, _ = run_measured([sys.executable, "-m", "tui.cli", "--db", str(home / "bench.db"), "import", str(video),
                                  "--guide", str(GUIDE), "--model", model, "--threads", "2"], env)
    import av

    with av.open(str(video)) as c:
        seconds = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    return [f"whole import of a {seconds / 60:.0f}-minute mp4 (one mixed track), model {model}: {took:.0f} s "
            f"(real-time factor {took / seconds:.3f}), peak {peak:.0f} MB (target < 1024 MB)"]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-raw":
        child_raw(sys.argv[4:], sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-decode":
        child_decode(sys.argv[2], {"model": None, "stream": False, "whole": True}[sys.argv[3]])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each of the two tracks (default 10)")
    parser.add_argument("--model", default="tiny.en", help="Whisper model for the speed table (default tiny.en)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--hours", type=float, default=3.0, help="length of the mp4 for the memory table (default 3)")
    parser.add_argument("--import-minutes", type=float, default=0,
                        help="also import a mixed mp4 this long, whole, and give its peak memory (default: not)")
    parser.add_argument("--import-model", default="base", help="model for --import-minutes (default base)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-", dir="/tmp") as tmp:
        folder = Path(tmp)
        if not args.skip_speed:
            print("\n".join(speed(args.minutes, args.model, args.threads, args.rounds, folder)), flush=True)
        if not args.skip_memory:
            print("\n".join(memory(args.hours, folder)), flush=True)
        if args.import_minutes:
            print("\n".join(whole_import(args.import_minutes, args.import_model, folder)), flush=True)


if __name__ == "__main__":
    main()
