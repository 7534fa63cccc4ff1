"""`fieldnote import` of recordings made elsewhere: every layout, the bad inputs, the queue, kills.

The recordings are made here from the sample interviews' audio, encoded by PyAV as other
programs make them (AAC in m4a and in an mp4 with a picture track, MP3, Opus in ogg and webm,
WAV). Whisper is faked (tests/fakes.py) where what it hears does not matter; two short tests
run tiny.en on the English demo where it does (which channel asks the guide's questions, and
a transcript's names laid on the words), and the kill test runs it in a subprocess.
"""

from __future__ import annotations

import json
import os
import random
import stat
from collections import Counter
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.sources import SAMPLE_RATE, load_audio
from core.base import paths
from core.store.database import Store
from fakes import fake_the_edges
from media import encode
from suite import kills
from test_kill_more import checked_store, fieldnote, run, run_and_kill, timed, writing
from tui.cli import main

ROOT = Path(__file__).resolve().parent.parent
NL = ROOT / "sample_sessions" / "demo-nl"
EN = ROOT / "sample_sessions" / "demo-en"
EN_GUIDE = str(EN / "guide.toml")
SECONDS = 60  # the first minute: the interviewer has asked three of the guide's questions by then


def _clip(folder: Path, seconds: int = SECONDS) -> dict[str, np.ndarray]:
    return {side: load_audio(folder / f"{side}.flac")[: seconds * SAMPLE_RATE] for side in ("interviewer", "respondent")}


def _vtt(folder: Path, seconds: float, names: dict[str, str], path: Path) -> Path:
    """A Teams-style transcript of the sample interview's turns that end within `seconds`."""
    def stamp(t: float) -> str:
        return f"{int(t // 3600):02d}:{int(t // 60 % 60):02d}:{t % 60:06.3f}"

    lines = ["WEBVTT", ""]
    for n, turn in enumerate(t for t in json.loads((folder / "expected.json").read_text()) if t["end"] <= seconds):
        lines += [f"{n}", f"{stamp(turn['start'])} --> {stamp(turn['end'])}",
                  f"<v {names[turn['speaker']]}>{turn['text']}</v>", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("recordings")
    nl = _clip(NL)
    i, r = nl["interviewer"], nl["respondent"]
    mix = (i + r) / 2
    out = {
        "interviewer": encode(i, SAMPLE_RATE, folder / "interviewer.m4a", "aac", out_rate=44_100),
        "respondent": encode(r, SAMPLE_RATE, folder / "respondent.mp3", "libmp3lame", out_rate=22_050),
        "stereo": encode(np.stack([i, r], axis=1), SAMPLE_RATE, folder / "call.mp4", "aac", out_rate=48_000, video=True),
        # A stereo mix: both voices in both channels, the respondent a little to the right.
        "mixed-stereo": encode(np.stack([0.5 * i + 0.4 * r, 0.4 * i + 0.5 * r], axis=1), SAMPLE_RATE,
                               folder / "room.ogg", "libopus", out_rate=48_000),
        "mixed": encode(mix, SAMPLE_RATE, folder / "dictaphone.webm", "libopus", out_rate=48_000),
        "short": encode(r[: 10 * SAMPLE_RATE], SAMPLE_RATE, folder / "short.mp3", "libmp3lame"),
    }
    sf.write(folder / "mixed.wav", mix, SAMPLE_RATE)
    out["mixed-wav"] = folder / "mixed.wav"
    out["vtt"] = _vtt(NL, SECONDS, {"interviewer": "Anna de Vries", "respondent": "Jan Jansen"}, folder / "teams.vtt")
    out["long-vtt"] = _vtt(NL, 10_000, {"interviewer": "Anna de Vries", "respondent": "Jan Jansen"}, folder / "all.vtt")
    return out


@pytest.fixture
def fakes(monkeypatch):
    fake_the_edges(monkeypatch)


def _import(db: Path, *args: str, guide: str | None = "koers-en-kansen") -> int:
    # The Dutch guide wants the multilingual model (which the fakes do not load); the English one tiny.en.
    model = "tiny.en" if guide == EN_GUIDE else "base"
    return main(["--db", str(db), "import", *args, *(["--guide", guide] if guide else []), "--model", model])


def _like(kept: Path, original: np.ndarray) -> float:
    """How alike a kept track and the audio it was made from are: the correlation of their
    loudness over tenths of a second (lossy codecs shift and reshape the samples themselves)."""
    def loudness(x: np.ndarray) -> np.ndarray:
        x = x[: len(x) - len(x) % 1600]
        return np.sqrt(np.mean(x.reshape(-1, 1600) ** 2, axis=1))

    a, b = loudness(load_audio(kept)), loudness(original)
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def _nothing_stored(db: Path) -> None:
    if db.exists():
        with closing(Store(db)) as store:
            assert store.sessions() == []
    folder = paths.sessions_dir(db)
    assert not folder.exists() or list(folder.iterdir()) == []


# --- the layouts ------------------------------------------------------------------------------


def test_two_files_are_the_two_speakers_tracks_kept_in_the_sessions_folder(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(made["interviewer"]), str(made["respondent"]), "--respondent", "1", "--case", "Samen starten") == 0
    out, err = capsys.readouterr()
    (sid,) = [int(x) for x in out.split()]
    assert "two files" in err
    with closing(Store(db)) as store:
        session = store.session(sid)
        assert (session["origin"], session["respondent"], session["case_name"]) == ("import", "1", "Samen starten")
        segments = store.segments(sid)
        assert {s["speaker"] for s in segments} == {"interviewer", "respondent"}
        assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)  # understood in time order
        sources = {r["role"]: r for r in store.db["recording_sources"].rows_where("session_id = ?", [sid])}
    assert sources["interviewer"]["path"] == str(made["interviewer"].resolve())
    assert sources["respondent"]["size"] == made["respondent"].stat().st_size
    folder = Path(session["audio_dir"])
    assert folder == paths.sessions_dir(db) / str(sid)
    clips = _clip(NL)
    for side in ("interviewer", "respondent"):
        kept = folder / f"{side}.flac"
        assert sf.info(kept).samplerate == SAMPLE_RATE and sf.info(kept).channels == 1
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert _like(kept, clips[side]) > 0.9
    other = {"interviewer": "respondent", "respondent": "interviewer"}
    assert all(_like(folder / f"{side}.flac", clips[other[side]]) < 0.3 for side in other)
    # Only the tracks are kept; no staging folder is left beside them.
    assert sorted(p.name for p in folder.iterdir()) == ["interviewer.flac", "respondent.flac"]
    assert [p.name for p in paths.sessions_dir(db).iterdir()] == [str(sid)]


def test_the_interviewers_file_can_be_named_whatever_the_order(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(made["respondent"]), str(made["interviewer"]), "--interviewer-track",
                   str(made["interviewer"])) == 0
    (sid,) = [int(x) for x in capsys.readouterr().out.split()]
    with closing(Store(db)) as store:
        folder = Path(store.session(sid)["audio_dir"])
    assert _like(folder / "interviewer.flac", _clip(NL)["interviewer"]) > 0.9


def test_a_stereo_file_with_a_speaker_per_channel_is_found_and_split(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(made["stereo"])) == 0
    out, err = capsys.readouterr()
    assert "one speaker per channel" in err and "--channels mix" in err
    (sid,) = [int(x) for x in out.split()]
    with closing(Store(db)) as store:
        folder = Path(store.session(sid)["audio_dir"])
        assert {s["speaker"] for s in store.segments(sid)} == {"interviewer", "respondent"}
    assert sorted(p.name for p in folder.iterdir()) == ["interviewer.flac", "respondent.flac"]
    clips = _clip(NL)
    assert _like(folder / "interviewer.flac", clips["interviewer"]) > 0.9
    assert _like(folder / "respondent.flac", clips["respondent"]) > 0.9


def test_a_stereo_mix_is_read_as_one_track_and_either_can_be_forced(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    # A mono recording kept as stereo, one side empty, is one track too.
    mix = _clip(NL)["interviewer"] + _clip(NL)["respondent"]
    one_sided = encode(np.stack([mix / 2, np.zeros_like(mix)], axis=1), SAMPLE_RATE, tmp_path / "left.m4a", "aac")
    assert _import(db, str(one_sided)) == 0
    assert "the right channel empty; read as one track" in capsys.readouterr().err
    assert _import(db, str(made["mixed-stereo"])) == 0
    out, err = capsys.readouterr()
    assert "both channels hold the same speech" in err and "--channels split" in err
    (sid,) = [int(x) for x in out.split()]
    with closing(Store(db)) as store:
        assert [p.name for p in Path(store.session(sid)["audio_dir"]).iterdir()] == ["mixed.flac"]
    # Told otherwise, each way round (--again: the same files once more).
    assert _import(db, str(made["mixed-stereo"]), "--channels", "split", "--again") == 0
    assert _import(db, str(made["stereo"]), "--channels", "mix") == 0
    out, err = capsys.readouterr()
    split, mixed = [int(x) for x in out.split()]
    assert "per channel" not in err and "same speech" not in err  # nothing found when told
    with closing(Store(db)) as store:
        assert sorted(p.name for p in Path(store.session(split)["audio_dir"]).iterdir()) == [
            "interviewer.flac", "respondent.flac"]
        assert [p.name for p in Path(store.session(mixed)["audio_dir"]).iterdir()] == ["mixed.flac"]


def test_a_mixed_file_with_its_transcript_takes_the_speakers_from_its_turns(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(made["mixed"]), "--transcript", str(made["vtt"])) == 0
    out, err = capsys.readouterr()
    (sid,) = [int(x) for x in out.split()]
    # Nobody is called Interviewer: the one who asks the guide's questions is taken, and said.
    assert "interviewer: Anna de Vries" in err
    turns = [t for t in json.loads((NL / "expected.json").read_text()) if t["end"] <= SECONDS]
    with closing(Store(db)) as store:
        segments = store.segments(sid)
        roles = {r["role"] for r in store.db["recording_sources"].rows_where("session_id = ?", [sid])}
    assert roles == {"mixed", "transcript"}
    assert {s["speaker_label"] for s in segments} == {"Anna de Vries", "Jan Jansen"}
    for s in segments:
        assert s["speaker"] == ("interviewer" if s["speaker_label"] == "Anna de Vries" else "respondent")
        # Each segment lies in (or next to) a turn of the speaker it was given.
        middle = (s["start"] + s["end"]) / 2
        nearest = min(turns, key=lambda t: 0 if t["start"] <= middle <= t["end"] else
                      min(abs(middle - t["start"]), abs(middle - t["end"])))
        assert nearest["speaker"] == s["speaker"], s


def test_a_mixed_file_alone_gets_proposed_speakers_and_says_where_to_fix_them(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(made["mixed"])) == 0
    out, err = capsys.readouterr()
    (sid,) = [int(x) for x in out.split()]
    assert "proposed" in err and "fieldnote review" in err
    with closing(Store(db)) as store:
        session = store.session(sid)
        assert store.segments(sid)
    assert [p.name for p in Path(session["audio_dir"]).iterdir()] == ["mixed.flac"]


@pytest.mark.parametrize("layout", ["two files", "mixed"])
def test_the_kept_audio_plays_and_transcribes_again(made, fakes, tmp_path, capsys, layout):
    from core.audio.playback import session_tracks

    db = tmp_path / "study.db"
    files = [str(made["interviewer"]), str(made["respondent"])] if layout == "two files" else [str(made["mixed"])]
    assert _import(db, *files) == 0
    (sid,) = [int(x) for x in capsys.readouterr().out.split()]
    with closing(Store(db)) as store:
        before = {s["id"]: s["speaker"] for s in store.segments(sid)}
        tracks = session_tracks(store.session(sid))
    assert set(tracks) == ({"interviewer", "respondent"} if layout == "two files" else {"mixed"})
    assert main(["--db", str(db), "transcribe", str(sid), "--model", "base"]) == 0
    with closing(Store(db)) as store:
        after = {s["id"]: s for s in store.segments(sid)}
        assert store.session(sid)["model"] == "base"
    # Every segment stays, with its speaker; words heard outside them go to one of the two
    # speakers (on a mixed track, the nearest segment's), never to a "mixed" one.
    assert all(after[i]["speaker"] == speaker for i, speaker in before.items())
    assert {s["speaker"] for s in after.values()} <= {"interviewer", "respondent"}


# --- Whisper for real, briefly ----------------------------------------------------------------


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("english")
    en = _clip(EN, 40)
    swapped = encode(np.stack([en["respondent"], en["interviewer"]], axis=1), SAMPLE_RATE, folder / "call.m4a", "aac",
                     out_rate=44_100)
    mixed = encode((en["interviewer"] + en["respondent"]) / 2, SAMPLE_RATE, folder / "call.mp3", "libmp3lame")
    vtt = _vtt(EN, 40, {"interviewer": "Anna de Vries", "respondent": "Jan Jansen"}, folder / "call.vtt")
    return {"swapped": swapped, "mixed": mixed, "vtt": vtt}


def test_real_the_channel_that_asks_the_guides_questions_is_the_interviewers(english, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(english["swapped"]), guide=EN_GUIDE) == 0
    out, err = capsys.readouterr()
    (sid,) = [int(x) for x in out.split()]
    assert "interviewer: the right channel" in err
    with closing(Store(db)) as store:
        folder = Path(store.session(sid)["audio_dir"])
        segments = store.segments(sid)
    assert _like(folder / "interviewer.flac", _clip(EN, 40)["interviewer"]) > 0.9
    asked = [s for s in segments if s["asks"] is not None]
    assert asked and all(s["speaker"] == "interviewer" for s in asked)
    respondent = " ".join(s["text"] for s in segments if s["speaker"] == "respondent").lower()
    assert "probation" in respondent


def test_real_a_transcripts_names_are_laid_on_the_words_heard(english, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(english["mixed"]), "--transcript", str(english["vtt"]), guide=EN_GUIDE) == 0
    (sid,) = [int(x) for x in capsys.readouterr().out.split()]
    with closing(Store(db)) as store:
        segments = store.segments(sid)
    said = {name: " ".join(s["text"] for s in segments if s["speaker_label"] == name).lower()
            for name in ("Anna de Vries", "Jan Jansen")}
    assert "interview" in said["Anna de Vries"] and "probation" not in said["Anna de Vries"]
    assert "probation" in said["Jan Jansen"] and "your role" not in said["Jan Jansen"]
    assert {s["speaker"] for s in segments if s["speaker_label"] == "Jan Jansen"} == {"respondent"}


# --- bad input --------------------------------------------------------------------------------


def _bad(made: dict[str, Path], kind: str, folder: Path) -> tuple[list[str], Path, str]:
    """The command line for one kind of bad input, the file the message must name, and what it says."""
    m4a = made["interviewer"].read_bytes()
    if kind == "corrupt":
        data = bytearray(m4a)
        rng = random.Random(3)
        for at in range(200, len(data), 40):
            data[at] = rng.randrange(256)
        path = folder / "corrupt.m4a"
        path.write_bytes(bytes(data))
        return [str(path)], path, "damaged"
    if kind == "truncated m4a":
        path = folder / "cut.m4a"
        path.write_bytes(m4a[: len(m4a) // 3])
        return [str(path)], path, "cut off"
    if kind == "truncated wav":
        path = folder / "cut.wav"
        path.write_bytes(made["mixed-wav"].read_bytes()[:200_000])
        return [str(path)], path, "cut off"
    if kind == "empty":
        path = folder / "empty.mp3"
        path.write_bytes(b"")
        return [str(path)], path, "empty"
    if kind == "silent":
        path = folder / "silent.wav"
        sf.write(path, np.zeros(5 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
        return [str(path)], path, "silent"
    if kind == "no speech":
        path = folder / "tone.wav"
        t = np.arange(8 * SAMPLE_RATE) / SAMPLE_RATE
        sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE)
        return [str(path)], path, "no speech was heard"
    if kind == "drm":
        data = bytearray(m4a)
        at = data.find(b"mp4a")
        data[at : at + 4] = b"enca"  # the sample entry of encrypted AAC
        path = folder / "bought.m4a"
        path.write_bytes(bytes(data))
        return [str(path)], path, "DRM"
    if kind == "unsupported codec":
        data = bytearray(made["mixed-wav"].read_bytes())
        data[20:22] = (0x1234).to_bytes(2, "little")  # a WAV format tag no decoder knows
        path = folder / "odd.wav"
        path.write_bytes(bytes(data))
        return [str(path)], path, "codec"
    if kind == "not audio":
        path = folder / "notes.mp3"
        path.write_bytes(os.urandom(50_000))
        return [str(path)], path, "not a recording"
    if kind == "video without sound":
        import av

        path = folder / "screen.mp4"
        with av.open(str(path), "w") as out:
            video = out.add_stream("mpeg4", rate=5)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            for n in range(10):
                frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
                frame.pts = n
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        return [str(path)], path, "video without sound"
    if kind == "different lengths":
        return [str(made["interviewer"]), str(made["short"])], made["short"], "--each"
    if kind == "transcript past the audio":
        return [str(made["mixed"]), "--transcript", str(made["long-vtt"])], made["long-vtt"], "run to"
    raise AssertionError(kind)


BAD = ["corrupt", "truncated m4a", "truncated wav", "empty", "silent", "no speech", "drm", "unsupported codec", "not audio",
       "video without sound", "different lengths", "transcript past the audio"]


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_recording_is_named_with_what_is_wrong_and_nothing_is_stored(made, fakes, tmp_path, capsys, kind):
    args, named, what = _bad(made, kind, tmp_path)
    db = tmp_path / "study.db"
    assert _import(db, *args) == 2
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("fieldnote: error: ")]
    if kind != "no speech":  # which only Whisper's voice detection can tell
        assert "loading the model" not in err  # refused before a model loads
    assert "Traceback" not in err
    assert str(named) in error and what in error, err
    _nothing_stored(db)


# --- a queue ----------------------------------------------------------------------------------


def test_a_folder_is_a_queue_all_or_nothing_per_file_and_resumes_where_it_stopped(made, fakes, tmp_path, capsys,
                                                                                  monkeypatch):
    import core.pipeline.recordings as recordings

    folder = tmp_path / "interviews"
    folder.mkdir()
    for name in ("stereo", "mixed", "mixed-stereo"):
        (folder / made[name].name).write_bytes(made[name].read_bytes())
    sf.write(folder / "muted.wav", np.zeros(3 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    (folder / "notes.txt").write_text("not a recording")
    db = tmp_path / "study.db"

    # Stopped (Ctrl-C) while the third file is imported: the first two are stored, whole.
    real = recordings.import_recording
    calls = []

    def stopping(store, job, *args, **kwargs):
        calls.append(job.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(store, job, *args, **kwargs)

    monkeypatch.setattr(recordings, "import_recording", stopping)
    assert _import(db, str(folder)) == 130
    monkeypatch.setattr(recordings, "import_recording", real)
    capsys.readouterr()
    with closing(Store(db)) as store:
        first = {s["title"] for s in store.sessions()}
    assert first == {"call", "dictaphone"}  # by name: call.mp4, dictaphone.webm, muted.wav, room.ogg
    assert [p.name for p in paths.sessions_dir(db).iterdir() if p.name.startswith(".")] == []

    # Run again: the two are skipped, the rest imported, the silent one named; exit 2 for it.
    assert _import(db, str(folder), guide=None) == 2  # the guide used last
    out, err = capsys.readouterr()
    assert len(out.split()) == 1
    assert "skipped call.mp4" in err and "skipped dictaphone.webm" in err
    assert "[1/2] muted.wav" in err and "queue" in err
    assert "queue done: 1 imported, 2 skipped (imported before), 1 failed" in err
    assert "muted.wav: silent" in err
    with closing(Store(db)) as store:
        assert sorted(s["title"] for s in store.sessions()) == ["call", "dictaphone", "room"]
        # Each its own session: the stereo call split, the others one mixed track.
        layouts = {s["title"]: sorted(p.name for p in Path(s["audio_dir"]).iterdir()) for s in
                   (store.session(x["id"]) for x in store.sessions())}
    assert layouts == {"call": ["interviewer.flac", "respondent.flac"], "dictaphone": ["mixed.flac"],
                       "room": ["mixed.flac"]}


def test_two_files_are_two_interviews_only_when_asked(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert _import(db, str(made["mixed"]), str(made["stereo"]), "--each") == 0
    assert len(capsys.readouterr().out.split()) == 2
    (tmp_path / "other").mkdir()  # a database of its own, with its own sessions folder
    assert _import(tmp_path / "other" / "study.db", str(made["mixed"]), str(made["stereo"])) == 0
    assert len(capsys.readouterr().out.split()) == 1


# --- remembered guide -------------------------------------------------------------------------


def test_the_guide_used_last_is_remembered_by_import(made, fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    transcript = tmp_path / "t.txt"
    transcript.write_text("Interviewer: How is working from home?\nRespondent: Quiet, and lonely at times.\n")
    assert main(["--db", str(db), "import", str(transcript)]) == 2
    assert "--guide" in capsys.readouterr().err
    assert _import(db, str(made["mixed"]), guide=EN_GUIDE) == 0
    assert main(["--db", str(db), "import", str(transcript)]) == 0  # a text import takes it too
    assert main(["--db", str(db), "import", str(transcript), "--guide", "remote-work-en"]) == 0
    assert main(["--db", str(db), "import", str(transcript)]) == 0
    with closing(Store(db)) as store:
        guides = [store.session(s["id"])["guide_id"] for s in store.sessions()]
    assert guides[1] == guides[0] != guides[2] == guides[3]


# --- kill -9 ----------------------------------------------------------------------------------


def test_leftovers_of_a_stop_after_storing_are_moved_into_place_by_the_next_import(made, fakes, tmp_path, capsys,
                                                                                    monkeypatch):
    import core.pipeline.recordings as recordings

    db = tmp_path / "study.db"

    def cut(src, dst):
        raise KeyboardInterrupt  # as a kill between the commit and the rename leaves it

    monkeypatch.setattr(recordings.os, "replace", cut)
    assert _import(db, str(made["mixed"])) == 130
    monkeypatch.undo()
    fake_the_edges(monkeypatch)
    (staged,) = paths.sessions_dir(db).iterdir()
    assert staged.name.startswith(".import-")
    assert _import(db, str(made["stereo"])) == 0
    assert "moved into place" in capsys.readouterr().err
    with closing(Store(db)) as store:
        first = min(s["id"] for s in store.sessions())
        assert [p.name for p in Path(store.session(first)["audio_dir"]).iterdir()] == ["mixed.flac"]
    assert not [p for p in paths.sessions_dir(db).iterdir() if p.name.startswith(".")]


KILLS = kills(3)


def test_kill_9_during_an_import_leaves_no_half_session_and_no_stray_audio(tmp_path):
    """tiny.en in a subprocess on a minute of two-track audio, killed at random moments and in
    its transaction; then run again, which completes."""
    en = _clip(EN, 60)
    files = [str(encode(en[side], SAMPLE_RATE, tmp_path / f"{side}.m4a", "aac")) for side in ("interviewer", "respondent")]
    env = {**os.environ, "FIELDNOTE_HOME": str(tmp_path / "home")}
    args = ["import", *files, "--guide", EN_GUIDE, "--model", "tiny.en"]
    took = timed(fieldnote("--db", str(tmp_path / "reference.db"), *args), env)
    with closing(Store(tmp_path / "reference.db")) as store:
        whole = len(store.segments(store.sessions()[0]["id"]))
    rng = random.Random(15_001)
    counts: Counter = Counter()
    for kill in range(KILLS):
        db = tmp_path / f"kill-{kill}" / "study.db"  # each its own database and sessions folder
        db.parent.mkdir()
        in_write = kill % 2 == 1
        killed = run_and_kill(fieldnote("--db", str(db), *args), env, after=rng.uniform(0, took),
                              when=(lambda: db.exists() and writing(db)) if in_write else None)
        stored = []
        if db.exists():
            with closing(checked_store(db, f"kill {kill}")) as store:
                stored = store.sessions()
                assert len(stored) <= 1 and all(s["segment_count"] == whole for s in stored), f"kill {kill}"
        counts[("killed " + ("in its transaction" if in_write else "at a random moment") +
                (", stored whole" if stored else ", nothing stored")) if killed else "finished first"] += 1
        # Run again: it completes (or skips what was stored whole), leaving one session and its audio alone.
        out = run(fieldnote("--db", str(db), *args), env)
        with closing(checked_store(db, f"after kill {kill}")) as store:
            (session,) = store.sessions()
            assert session["segment_count"] == whole
            folder = Path(store.session(session["id"])["audio_dir"])
        assert sorted(p.name for p in folder.iterdir()) == ["interviewer.flac", "respondent.flac"]
        # No staging folder, no half copy: only the session's own folder.
        assert [p.name for p in paths.sessions_dir(db).iterdir()] == [folder.name], out.stderr
    if KILLS >= 2:
        assert counts["killed in its transaction, nothing stored"] >= 1, counts
    print(f"\nimport of a minute of two-track audio: {KILLS} kills; " + "; ".join(f"{k}: {n}" for k, n in sorted(counts.items())))


def test_record_takes_the_guide_used_last_and_remembers_the_one_it_is_given(fakes, tmp_path, capsys):
    db = tmp_path / "study.db"
    transcript = tmp_path / "t.txt"
    transcript.write_text("Interviewer: How is working from home?\nRespondent: Quiet, and lonely at times.\n")
    record = ["--db", str(db), "record", "--no-ui", "--consent", "--model", "tiny.en", "--duration", "1"]
    assert main(record) == 2
    assert "--guide" in capsys.readouterr().err
    assert main(["--db", str(db), "import", str(transcript), "--guide", "remote-work-en"]) == 0
    assert main(record) == 0  # the guide the import used
    assert main([*record, "--guide", EN_GUIDE]) == 0
    assert main(["--db", str(db), "import", str(transcript)]) == 0  # the guide the recording used
    with closing(Store(db)) as store:
        guides = [store.session(s["id"])["guide_id"] for s in sorted(store.sessions(), key=lambda s: s["id"])]
    assert guides[0] == guides[1] != guides[2] == guides[3]


def test_link_keeps_the_recording_where_it_is_and_plays_and_transcribes_it_there(made, fakes, tmp_path, capsys):
    from core.audio.playback import open_mix, session_tracks

    db = tmp_path / "study.db"
    assert _import(db, str(made["interviewer"]), str(made["respondent"]), "--link") == 0
    (sid,) = [int(x) for x in capsys.readouterr().out.split()]
    with closing(Store(db)) as store:
        session = store.session(sid)
        linked = {r["role"]: r["linked"] for r in store.db["recording_sources"].rows_where("session_id = ?", [sid])}
    assert linked == {"interviewer": 1, "respondent": 1}
    folder = Path(session["audio_dir"])
    kept = sorted(folder.iterdir())
    # No copy of the audio: links to the originals, in their own formats.
    assert [p.name for p in kept] == ["interviewer.m4a", "respondent.mp3"]
    assert all(p.is_symlink() for p in kept)
    assert {p.resolve() for p in kept} == {made["interviewer"].resolve(), made["respondent"].resolve()}
    tracks = session_tracks(session)
    assert tracks["interviewer"].resolve() == made["interviewer"].resolve()
    assert len(open_mix(tracks)) >= (SECONDS - 1) * SAMPLE_RATE  # review plays them from where they are
    assert main(["--db", str(db), "transcribe", str(sid), "--model", "base"]) == 0
    # Deleting the session removes the links, never the recordings.
    assert main(["--db", str(db), "delete", str(sid), "--yes"]) == 0
    assert made["interviewer"].is_file() and made["respondent"].is_file() and not folder.exists()
    # A stereo file split into its channels cannot stay as it is.
    assert _import(db, str(made["stereo"]), "--link") == 2
    assert "--link" in capsys.readouterr().err
    with closing(Store(db)) as store:
        assert store.sessions() == []


@pytest.mark.parametrize("mistake", [
    ["{mixed}", "{stereo}", "--transcript", "{vtt}"],
    ["{mixed}", "--transcript", "{vtt}", "--channels", "split"],
    ["{interviewer}", "{respondent}", "--interviewer-track", "{stereo}"],
    ["{interviewer}", "{respondent}", "--channels", "mix"],
    ["{interviewer}", "{interviewer}"],
    ["{mixed}", "{stereo}", "{interviewer}", "--title", "One title"],
    ["{mixed}", "--respondent-speakers", "Y"],
    ["{mixed}", "missing.m4a"],
])
def test_a_command_line_that_does_not_fit_the_files_is_refused_before_anything_is_read(made, fakes, tmp_path, capsys,
                                                                                       mistake):
    db = tmp_path / "study.db"
    args = [part.format(**{k: str(v) for k, v in made.items()}) for part in mistake]
    assert _import(db, *args) == 2
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("fieldnote: error: ")]
    assert "Traceback" not in err and "decoding" not in err and "loading the model" not in err
    _nothing_stored(db)
