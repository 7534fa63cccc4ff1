"""Bad input never crashes: malformed guides, damaged audio files and random command lines.

Property-based (hypothesis). Each property says what the user sees: a GuideError or UserError
naming the problem, exit status 2 on the command line, never a traceback, and a study database
left exactly as it was. The example counts are set so the file runs in about a minute;
FIELDNOTE_LONG=1 draws ten times as many (tests/suite.py).

Every command runs its own code on the fuzzed arguments, `record`, `demo`, `transcribe`,
`doctor` and the screens included: only the sound devices and Whisper are faked, at the
library (tests/fakes.py), the demo interview is cut to two seconds, and a command that opens a
screen makes its app, whose run returns at once.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import itertools
import json
import math
import shutil
import sqlite3
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.base import paths
from core.base.errors import GuideError, UserError
from core.study.guide import Guide, load_guide, parse_guide
from core.store.database import Store
from tui import cli

from fakes import fake_the_edges
from review_data import add_demo_session
from suite import examples

GUIDE_FILE = paths.BUNDLED_GUIDES / "remote-work-en.toml"
GUIDE = tomllib.loads(GUIDE_FILE.read_text(encoding="utf-8"))
FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the source tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def dump(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    """A small study (two sessions from the sample interview), checkpointed into one file."""
    db = tmp_path_factory.mktemp("fuzz-template") / "study.db"
    store = Store(db)
    add_demo_session(store, respondent="1", turns=8)
    add_demo_session(store, respondent="2", turns=8, started_at="2021-06-09T10:00:00+00:00")
    store.db.execute("pragma wal_checkpoint(truncate)")
    store.close()
    return db


_cases = itertools.count()


def fresh_copy(template: Path, parent: Path) -> Path:
    """The template study in a folder of its own: each example starts from the same database."""
    folder = parent / f"case-{next(_cases)}"
    folder.mkdir(parents=True)
    db = folder / "study.db"
    shutil.copyfile(template, db)
    return db


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`fieldnote ARGV` in this process: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return code, out.getvalue(), err.getvalue()


# --- guides -----------------------------------------------------------------------------------


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string (lone surrogates are not: an error)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def toml_table(path: list[str], table: dict, out: list[str]) -> None:
    nested = {k: v for k, v in table.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
    for k, v in table.items():
        if k not in nested:
            out.append(f"{json.dumps(k)} = {toml_value(v)}")
    for k, items in nested.items():
        for item in items:
            out.append(f"\n[[{'.'.join(json.dumps(p) for p in [*path, k])}]]")
            toml_table([*path, k], item, out)


def to_toml(doc: dict) -> str:
    out: list[str] = []
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    toml_table([], scalars, out)
    for k, v in doc.items():
        if isinstance(v, dict):
            out.append(f"\n[{json.dumps(k)}]")
            toml_table([k], v, out)
    return "\n".join(out) + "\n"


def test_the_toml_writer_round_trips_the_guide():
    assert tomllib.loads(to_toml(GUIDE)) == GUIDE
    assert parse_guide(to_toml(GUIDE)).questions == load_guide(GUIDE_FILE).questions


def containers(node, path=()):
    """Every (path, container) in the document: tables and arrays."""
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        if isinstance(v, (dict, list)):
            yield from containers(v, (*path, k))


def at(doc, path):
    for k in path:
        doc = doc[k]
    return doc


wrong_values = st.one_of(
    st.integers(-5, 10**20), st.floats(allow_nan=True), st.booleans(), st.text(max_size=20),
    st.just(""), st.just([]), st.just({}), st.lists(st.integers(-3, 40), max_size=4),
    st.dictionaries(st.sampled_from(["id", "text", "x"]), st.integers(), max_size=2),
    st.lists(st.text(max_size=5), max_size=3), st.just("#zzzzzz"), st.just("bad id!"),
)


@st.composite
def mutated_guides(draw) -> bytes:
    doc = copy.deepcopy(GUIDE)
    for _ in range(draw(st.integers(1, 3))):
        places = list(containers(doc))
        path, node = draw(st.sampled_from(places))
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        op = draw(st.sampled_from(["delete", "retype", "duplicate", "unknown", "empty"]))
        if op == "unknown" and isinstance(node, dict):
            node[draw(st.sampled_from(["colour2", "Number", "id ", "extra", "questions_"]))] = draw(wrong_values)
        elif not keys:
            continue
        elif op == "delete":
            del node[draw(st.sampled_from(keys))]
        elif op == "retype":
            node[draw(st.sampled_from(keys))] = draw(wrong_values)
        elif op == "duplicate" and isinstance(node, list):
            node.append(copy.deepcopy(node[draw(st.sampled_from(keys))]))  # same id or number twice
        elif op == "empty":
            key = draw(st.sampled_from(keys))
            node[key] = type(node[key])() if isinstance(node[key], (dict, list, str)) else node[key]
    data = to_toml(doc).encode("utf-8", "surrogatepass")
    garbage = draw(st.sampled_from(["none", "none", "insert", "truncate", "replace"]))
    if garbage != "none":
        at_byte = draw(st.integers(0, len(data)))
        junk = draw(st.binary(min_size=1, max_size=40))
        if garbage == "insert":
            data = data[:at_byte] + junk + data[at_byte:]
        elif garbage == "truncate":
            data = data[:at_byte]
        else:
            data = data[:at_byte] + junk + data[at_byte + len(junk):]
    return data


@settings(FUZZ, max_examples=examples(150))
@given(data=mutated_guides())
def test_a_malformed_guide_is_a_guide_error_and_stores_nothing(data, template_db, tmp_path):
    db = fresh_copy(template_db, tmp_path)
    folder = db.parent
    guide_file = folder / "mutated.toml"
    guide_file.write_bytes(data)
    before = dump(db)
    try:
        guide = load_guide(guide_file)
    except GuideError as exc:
        guide = None
        assert str(guide_file) in str(exc)  # the message names the file
    assert guide is None or isinstance(guide, Guide)
    event("bad guide" if guide is None else "still a valid guide")

    # The same file on the command line: a bad guide is exit status 2 with a message.
    code, _, err = run_cli(["--db", str(db), "codebook", "export", "--guide", str(guide_file),
                            "-o", str(folder / "codebook.qdc")])
    assert "Traceback" not in err
    assert code in (0, 2) and (code == 0 or err.startswith("fieldnote: error:")), err
    if guide is None:
        assert code == 2
    if "import" in subcommands():
        transcript = folder / "t.txt"
        transcript.write_text("Interviewer: How is working from home?\nRespondent: Quiet, and lonely at times.\n")
        code, _, err = run_cli(["--db", str(db), "import", str(transcript), "--guide", str(guide_file)])
        assert "Traceback" not in err
        if guide is None:
            assert code == 2, err
    if guide is None:
        assert dump(db) == before


# --- audio files ------------------------------------------------------------------------------

SR = 16_000


def _signal(kind: str, seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    n = int(seconds * rate)
    rng = np.random.default_rng(seed)
    if kind == "silence":
        x = np.zeros((n, channels))
    elif kind == "noise":
        x = rng.uniform(-1, 1, (n, channels))
    elif kind == "loud":
        x = np.sign(rng.standard_normal((n, channels)))  # full-scale square-ish noise, clipping
    else:
        t = np.arange(n)[:, None] / rate
        x = 0.3 * np.sin(2 * np.pi * 440 * t) * np.ones((1, channels))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def speech_excerpt(tmp_path_factory) -> dict[str, bytes]:
    """Three seconds of the sample interview as FLAC and as WAV, for truncating."""
    from core.audio.sources import load_audio

    audio = load_audio(paths.SAMPLE_SESSIONS / "demo-en" / "interviewer.flac")[SR : 4 * SR]
    folder = tmp_path_factory.mktemp("excerpt")
    out = {}
    for fmt in ("flac", "wav"):
        sf.write(folder / f"x.{fmt}", audio, SR)
        out[fmt] = (folder / f"x.{fmt}").read_bytes()
    return out


@st.composite
def audio_files(draw, excerpt: dict[str, bytes]) -> tuple[str, bytes | None, dict]:
    """(file name, its bytes or None for a folder, how it was made)."""
    kind = draw(st.sampled_from(["truncated", "generated", "empty", "random", "header+junk", "folder"]))
    ext = draw(st.sampled_from(["wav", "flac", "mp3", "ogg", "m4a", "bin"]))
    if kind == "truncated":
        fmt = draw(st.sampled_from(["flac", "wav"]))
        data = excerpt[fmt]
        cut = draw(st.integers(0, len(data)))
        return f"cut.{fmt}", data[:cut], {"kind": kind, "cut": cut}
    if kind == "generated":
        rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000]))
        channels = draw(st.integers(1, 3))
        content = draw(st.sampled_from(["silence", "noise", "loud", "tone"]))
        seconds = draw(st.sampled_from([0.0, 0.01, 0.5, 2.0]))
        fmt, subtype = draw(st.sampled_from([("WAV", "PCM_16"), ("WAV", "FLOAT"), ("WAV", "PCM_24"),
                                             ("FLAC", "PCM_16"), ("OGG", "VORBIS")]))
        buf = io.BytesIO()
        signal = _signal(content, seconds, rate, channels, draw(st.integers(0, 99)))
        if fmt == "OGG" and len(signal) == 0:
            signal = _signal(content, 0.1, rate, channels, 0)
        sf.write(buf, signal, rate, format=fmt, subtype=subtype)
        return f"gen.{fmt.lower()}", buf.getvalue(), {"kind": kind, "rate": rate, "channels": channels,
                                                      "content": content, "seconds": seconds, "format": fmt}
    if kind == "empty":
        return f"empty.{ext}", b"", {"kind": kind}
    if kind == "random":
        return f"random.{ext}", draw(st.binary(min_size=1, max_size=3000)), {"kind": kind}
    if kind == "header+junk":
        header = draw(st.sampled_from([b"RIFF\xff\xff\xff\xffWAVEfmt ", b"fLaC\x00\x00\x00\x22", b"OggS\x00\x02",
                                       b"ID3\x04\x00\x00\x00\x00\x00\x00", excerpt["wav"][:44]]))
        return f"junk.{ext}", header + draw(st.binary(max_size=2000)), {"kind": kind}
    return "a-folder.wav", None, {"kind": kind}


@settings(FUZZ, max_examples=examples(100))
@given(data=st.data())
def test_any_audio_file_is_valid_audio_or_a_user_error(data, speech_excerpt, tmp_path):
    from core.audio.segmenter import VadSegmenter
    from core.audio.sources import SAMPLE_RATE, FileReplaySource, ManualClock, load_audio

    name, content, how = data.draw(audio_files(speech_excerpt))
    folder = tmp_path / f"case-{next(_cases)}"
    folder.mkdir()
    path = folder / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    try:
        audio = load_audio(path)
    except UserError as exc:
        event(f"{how['kind']}: user error")
        assert str(path) in str(exc), how
        with pytest.raises(UserError):
            FileReplaySource({"interviewer": path}, realtime=False)
        return
    event(f"{how['kind']}: audio")
    assert how["kind"] not in ("empty", "folder"), how  # an empty file is no recording
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 1, how
    assert np.isfinite(audio).all() and (np.abs(audio) <= 1.0 + 1e-6).all(), how
    if how["kind"] == "generated" and how["seconds"] >= 0.5:
        assert abs(len(audio) / SAMPLE_RATE - how["seconds"]) < 0.1, how  # resampled, not stretched

    # Replayed as a track next to a good one: every sample arrives, in order, and the
    # segmenter takes whatever it is given.
    good = folder / "good.wav"
    sf.write(good, np.zeros(SR // 2, dtype=np.float32), SR)
    source = FileReplaySource({"interviewer": path, "respondent": good}, clock=ManualClock(), realtime=False)
    segmenters = {t: VadSegmenter(t) for t in source.tracks}
    got = {t: 0 for t in source.tracks}
    last = {t: -1.0 for t in source.tracks}
    for chunk in source.chunks():
        assert chunk.start > last[chunk.track]
        last[chunk.track] = chunk.start
        got[chunk.track] += len(chunk.samples)
        for utt in segmenters[chunk.track].push(chunk):
            assert utt.end >= utt.start and np.isfinite(utt.samples).all()
    for seg in segmenters.values():
        seg.flush()
    assert got["interviewer"] == len(audio) and got["respondent"] == SR // 2


# --- command lines ----------------------------------------------------------------------------

# Commands whose job is to change the study; the others must leave it exactly as it was.
CHANGES_THE_STUDY = {"delete", "names", "respondents", "recover", "import", "import-samples", "demo", "record",
                     "transcribe"}
# How long the sample interview's tracks are for the fuzzed `demo` and `record`: a demo
# replayed in real time takes as long as its audio, and the real one is four minutes.
SHORT_DEMO_SECONDS = 2.0


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _words(parser: argparse.ArgumentParser) -> list[str]:
    """What a user might type after a (sub)command: its options, choices and nested commands."""
    words = []
    for a in parser._actions:
        words += list(a.option_strings)
        if a.choices:
            words += [str(c) for c in a.choices]
    return sorted(set(words))


JUNK = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\~\x00"), max_size=12)


@st.composite
def command_lines(draw) -> list[str]:
    commands = subcommands()
    # Three in four name a command: a typo is tried, but the commands' own code is what is fuzzed.
    command = draw(st.sampled_from(sorted(commands)) if draw(st.integers(0, 3)) else JUNK)
    vocab = _words(commands[command]) if command in commands else []
    for nested in [a for a in (commands[command]._actions if command in commands else [])
                   if isinstance(a, argparse._SubParsersAction)]:
        for sub in nested.choices.values():
            vocab += _words(sub)
    token = st.one_of(
        st.sampled_from(vocab or ["--help"]),
        st.sampled_from(["1", "2", "0", "-1", "999", "all", "1.5", "--all", "md", "jsonl", "csv", "x.md",
                         "out", "--yes", "--", "-", "study.db", "study.db-wal", "sessions/1/x.md"]),
        # values that get a command past its arguments: a model, a guide, a language, the fake devices
        st.sampled_from(["tiny.en", "base", "remote-work-en", "en", "nl", "0.5", "default", "0", "fake-mic",
                         "fake-output.monitor"]),
        JUNK,
    )
    return [command, *draw(st.lists(token, max_size=6))]


@pytest.fixture(scope="module")
def short_samples(tmp_path_factory) -> Path:
    """The sample folder with the demo interviews cut to SHORT_DEMO_SECONDS, the rest as it is."""
    folder = tmp_path_factory.mktemp("samples")
    for item in paths.SAMPLE_SESSIONS.iterdir():
        if not item.name.startswith("demo-"):
            (folder / item.name).symlink_to(item)
            continue
        demo = folder / item.name
        shutil.copytree(item, demo)
        for track in demo.glob("*.flac"):
            audio, rate = sf.read(track, dtype="float32")
            sf.write(track, audio[: int(SHORT_DEMO_SECONDS * rate)], rate)
    return folder


@pytest.fixture
def the_machine_faked(monkeypatch, short_samples):
    """Every command runs its own code: sound devices and Whisper are faked at the library
    (tests/fakes.py), the demo is short, and App.run, the last step of a command that opens a
    screen (after its arguments, the store and the session are dealt with), returns at once."""
    from textual.app import App

    fake_the_edges(monkeypatch)
    # `models get NAME` is fieldnote's one network use: here it is told the machine is offline.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(paths, "SAMPLE_SESSIONS", short_samples)
    monkeypatch.setattr(App, "run", lambda self, *args, **kwargs: None)


@settings(FUZZ, max_examples=examples(300))
@given(argv=command_lines())
def test_any_command_line_ends_in_a_message_never_a_traceback(argv, the_machine_faked, template_db, tmp_path,
                                                               monkeypatch):
    db = fresh_copy(template_db, tmp_path)
    folder = db.parent
    monkeypatch.chdir(folder)  # files a command writes land here
    before = dump(db)
    try:
        code, out, err = run_cli(["--db", str(db), *argv])
    except Exception as exc:  # noqa: BLE001 - the property: nothing escapes main()
        pytest.fail(f"fieldnote {' '.join(argv)!s} raised {type(exc).__name__}: {exc}")
    assert code in (0, 1, 2), (argv, code, err)
    event(f"{argv[0] if argv[0] in subcommands() else 'an unknown command'}: exit {code}")
    assert "Traceback" not in err and "Traceback" not in out, argv
    if code == 2:
        assert "error" in err, (argv, err)
    if code != 0 or argv[0] not in CHANGES_THE_STUDY:
        assert dump(db) == before, argv
