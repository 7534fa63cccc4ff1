"""Importing transcripts: the sample interviews, speakers, errors, and understanding in time order."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from core.base.errors import ImportFormatError, UserError
from core.interchange.export import segment_records
from core.study.guide import load_guide
from core.pipeline.importing import import_transcript, read_transcript, speaker_roles
from core.interchange.transcripts import ParsedTranscript, parse_transcript
from tui.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_sessions" / "transcripts"
INDEX = tomllib.loads((SAMPLES / "index.toml").read_text(encoding="utf-8"))
ENTRIES = INDEX["transcript"]


@pytest.fixture(scope="module")
def guide():
    return load_guide("koers-en-kansen")


def _import(store, guide, entry, parsed=None):
    parsed = parsed or read_transcript(SAMPLES / entry["file"])
    return import_transcript(
        store, parsed, guide, interviewer=entry["interviewer"], respondents=entry["respondents"],
        respondent=entry["respondent"], case=entry["case"], title=parsed.title,
    )


def test_the_index_lists_the_eight_samples_as_the_seed_readme_maps_them():
    assert [e["file"] for e in ENTRIES] == [f"interview-{n:02d}.txt" for n in range(1, 9)]
    assert [e["respondent"] for e in ENTRIES] == ["1", "2,3", "4", "5", "6", "7", "8", "9"]
    assert {p.name for p in SAMPLES.glob("*.txt")} == {e["file"] for e in ENTRIES}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_each_sample_transcript_imports(memory_store, guide, entry):
    parsed = read_transcript(SAMPLES / entry["file"])
    sid = _import(memory_store, guide, entry, parsed)
    session = memory_store.session(sid)
    assert (session["origin"], session["status"]) == ("import", "imported")
    assert (session["respondent"], session["case_name"]) == (entry["respondent"], entry["case"])
    assert session["title"] == parsed.title and session["title"].startswith("Interview")
    records = list(segment_records(memory_store, sid))
    assert [r["text"] for r in records] == [t.text for t in parsed.turns]
    assert [r["speaker_label"] for r in records] == [t.speaker for t in parsed.turns]
    assert {r["speaker"] for r in records} == {"interviewer", "respondent"}
    assert all(r["start"] is None and r["end"] is None for r in records)
    # The guide was followed and the respondent's passages got suggestions in the guide's names.
    asked = [r["asks"] for r in records if r["asks"] is not None]
    assert len(asked) >= 15 and len(set(asked)) == len(asked)
    assert all(records[i]["speaker"] == "interviewer" for i, r in enumerate(records) if r["asks"])
    names = {d.name for d in guide.dimensions}
    for r in records:
        if r["speaker"] == "respondent":
            assert {s["dimension"] for s in r["suggestions"]} <= names
        else:
            assert r["suggestions"] == []
    # Passages that say something get suggestions; "Ja." and remarks on nothing in the
    # codebook get none rather than noise.
    long = [r for r in records if r["speaker"] == "respondent" and len(r["text"].split()) >= 30]
    assert sum(1 for r in long if r["suggestions"]) >= 0.85 * len(long)
    json.dumps(records)  # the export contract stays JSON


def test_speakers_default_to_the_headers_interviewer_and_everyone_else():
    parsed = read_transcript(SAMPLES / "interview-02.txt")
    roles = speaker_roles(parsed)
    assert roles.roles == {"X": "interviewer", "Y1": "respondent", "Y2": "respondent", "Q": "respondent"}


def test_an_observer_is_kept_but_neither_tracked_nor_coded(memory_store, guide):
    parsed = read_transcript(SAMPLES / "interview-02.txt")
    sid = import_transcript(memory_store, parsed, guide, respondents=["Y1", "Y2"])
    records = list(segment_records(memory_store, sid))
    observer = [r for r in records if r["speaker_label"] == "Q"]
    assert observer and all(r["speaker"] == "interviewer" for r in observer)
    assert all(r["asks"] is None and r["suggestions"] == [] for r in observer)
    assert any(r["suggestions"] for r in records if r["speaker_label"] == "Y1")
    assert any(r["suggestions"] for r in records if r["speaker_label"] == "Y2")


def test_speaker_options_override_the_header(memory_store, guide):
    parsed = read_transcript(SAMPLES / "interview-02.txt")
    sid = import_transcript(memory_store, parsed, guide, interviewer=["X", "Q"], respondents=["Y1"])
    records = list(segment_records(memory_store, sid))
    by_label = {r["speaker_label"]: r["speaker"] for r in records}
    assert by_label == {"X": "interviewer", "Q": "interviewer", "Y1": "respondent", "Y2": "interviewer"}
    with pytest.raises(UserError, match="'Z' does not occur"):
        speaker_roles(parsed, interviewer=["Z"])
    with pytest.raises(UserError, match="both interviewer and respondent"):
        speaker_roles(parsed, interviewer=["X"], respondents=["X"])


def test_a_named_transcript_needs_to_be_told_who_interviews(memory_store, guide):
    text = ("Anna: Hoe stond het met het vertrouwen tussen de partners?\n"
            "Bert: Goed, we kenden elkaar al jaren.\n"
            "Anna: En was dat vertrouwen breed gedeeld?\n"
            "Bert: Ja, over het hele netwerk.\n")
    parsed = parse_transcript(text, "named.txt")
    with pytest.raises(UserError, match="--interviewer"):
        import_transcript(memory_store, parsed, guide)
    assert memory_store.sessions() == []
    sid = import_transcript(memory_store, parsed, guide, interviewer=["Anna"])
    records = list(segment_records(memory_store, sid))
    assert [r["speaker"] for r in records] == ["interviewer", "respondent"] * 2
    assert records[0]["asks"] == 6
    assert records[1]["suggestions"][0]["dimension"] == "Vertrouwen"


def test_subtitle_times_are_kept(memory_store, guide, tmp_path):
    path = tmp_path / "call.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Interviewer>Hoe stond het met het vertrouwen tussen de "
        "partners?</v>\n\n00:00:05.000 --> 00:00:09.500\n<v Bert>Goed, we kenden elkaar al jaren.</v>\n",
        encoding="utf-8",
    )
    sid = import_transcript(memory_store, read_transcript(path), guide)
    records = list(segment_records(memory_store, sid))
    assert [(r["start"], r["end"]) for r in records] == [(1.0, 4.0), (5.0, 9.5)]


def _broken_sample(tmp_path) -> tuple[Path, int]:
    lines = (SAMPLES / "interview-01.txt").read_text(encoding="utf-8").splitlines()
    at = 300
    lines.insert(at, "Z: dit is een spreker die niet in de kop staat")
    path = tmp_path / "broken.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, at + 1


def test_malformed_input_names_the_line_and_stores_nothing(memory_store, tmp_path, guide):
    path, line = _broken_sample(tmp_path)
    with pytest.raises(ImportFormatError, match=f"line {line}:"):
        read_transcript(path)
    assert memory_store.sessions() == []


def test_the_command_imports_and_prints_the_session_id(tmp_path, capsys):
    db = tmp_path / "study.db"
    code = main(["--db", str(db), "import", str(SAMPLES / "interview-04.txt"), "--guide", "koers-en-kansen",
                 "--respondent", "5", "--case", "RIO Dordrecht"])
    assert code == 0
    out, err = capsys.readouterr()
    assert out.strip() == "1"
    assert "93 turns" in err
    from core.store.database import Store

    store = Store(db)
    assert store.session(1)["case_name"] == "RIO Dordrecht"
    assert len(store.segments(1)) == 93
    store.close()


def test_the_command_reports_malformed_input_with_exit_2(tmp_path, capsys):
    path, line = _broken_sample(tmp_path)
    db = tmp_path / "study.db"
    code = main(["--db", str(db), "import", str(path), "--guide", "koers-en-kansen"])
    assert code == 2
    out, err = capsys.readouterr()
    assert out == "" and f"line {line}:" in err and "Traceback" not in err
    code = main(["--db", str(db), "import", str(SAMPLES / "interview-01.txt"), "--guide", "koers-en-kansen",
                 "--interviewer", "W"])
    assert code == 2 and "'W' does not occur" in capsys.readouterr().err
    from core.store.database import Store

    store = Store(db)
    assert store.sessions() == []
    store.close()


def test_import_samples_imports_all_eight_in_order(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import-samples"]) == 0
    assert capsys.readouterr().out.split() == [str(n) for n in range(1, 9)]
    from core.store.database import Store

    store = Store(db)
    assert [s["respondent"] for s in store.sessions()] == [e["respondent"] for e in ENTRIES]
    store.close()


def _samples(db) -> list[tuple[int, str, str]]:
    from core.store.database import Store

    store = Store(db)
    try:
        return [(s["id"], s["guide_id"], s["title"]) for s in store.sessions()]
    finally:
        store.close()


TITLES = [read_transcript(SAMPLES / e["file"]).title for e in ENTRIES]


def test_import_samples_again_skips_the_samples_there_and_imports_the_missing(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import-samples"]) == 0
    first = capsys.readouterr()
    assert "imported 8, skipped 0" in first.err and "skipped interview" not in first.err
    assert main(["--db", str(db), "import-samples"]) == 0
    out, err = capsys.readouterr()
    assert out == ""  # no new session
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("skipped ")] == [
        f"skipped {e['file']}" for e in ENTRIES]
    assert "skipped interview-03.txt: imported with guide koers-en-kansen before, as session 3" in err
    assert "imported 0, skipped 8" in err
    assert _samples(db) == [(n, "koers-en-kansen", t) for n, t in enumerate(TITLES, start=1)]

    # A sample deleted (or never stored: a kill between two) comes back; the others stay single.
    assert main(["--db", str(db), "delete", "3", "--yes"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "import-samples"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["9"]
    assert "imported interview-03.txt as session 9" in err and "imported 1, skipped 7" in err
    sessions = _samples(db)
    assert sorted(t for _, _, t in sessions) == sorted(TITLES)
    assert [i for i, _, t in sessions if t == TITLES[2]] == [9]
    from core.store.database import Store

    store = Store(db)
    try:
        assert len(store.segments(9)) == len(read_transcript(SAMPLES / ENTRIES[2]["file"]).turns)
        assert (store.session(9)["respondent"], store.session(9)["case_name"]) == ("4", "Samen starten")
    finally:
        store.close()


def test_import_samples_with_another_guide_or_again_imports_a_second_copy(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import-samples"]) == 0
    assert main(["--db", str(db), "import-samples", "--guide", "remote-work-en"]) == 0
    assert "imported 8, skipped 0" in capsys.readouterr().err
    assert main(["--db", str(db), "import-samples", "--again"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [str(n) for n in range(17, 25)] and "imported 8, skipped 0" in err
    sessions = _samples(db)
    assert len(sessions) == 24
    assert [g for _, g, _ in sessions].count("remote-work-en") == 8
    assert [t for _, g, t in sessions if g == "koers-en-kansen"] == TITLES + TITLES


def test_a_transcript_imported_by_hand_counts_as_the_sample(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import", str(SAMPLES / "interview-05.txt"), "--guide", "koers-en-kansen"]) == 0
    assert main(["--db", str(db), "import-samples"]) == 0
    err = capsys.readouterr().err
    assert "skipped interview-05.txt: imported with guide koers-en-kansen before, as session 1" in err
    assert "imported 7, skipped 1" in err
    assert sorted(t for _, _, t in _samples(db)) == sorted(TITLES)


def test_once_looks_under_the_write_lock_and_stores_nothing_for_a_sample_there(memory_store, guide):
    from core.pipeline.importing import AlreadyImported

    first = _import(memory_store, guide, ENTRIES[0])
    parsed = read_transcript(SAMPLES / ENTRIES[0]["file"])
    before = memory_store.db["segments"].count
    # A second run that looked before the first one stored its session finds it in the transaction.
    with pytest.raises(AlreadyImported) as exc:
        import_transcript(memory_store, parsed, guide, title=parsed.title, once=True)
    assert exc.value.session_id == first
    assert [s["id"] for s in memory_store.sessions()] == [first]
    assert memory_store.db["segments"].count == before
    # Another transcript, or the same one with another guide, is imported.
    other = read_transcript(SAMPLES / ENTRIES[1]["file"])
    assert import_transcript(memory_store, other, guide, interviewer=["X"], once=True) == first + 1
    assert import_transcript(memory_store, parsed, load_guide("remote-work-en"), once=True) == first + 2


def test_an_import_is_all_or_nothing(memory_store, guide, monkeypatch):
    calls = {"n": 0}
    real = memory_store.add_segment

    def failing(session_id, seg):
        calls["n"] += 1
        if calls["n"] == 50:
            raise RuntimeError("disk full")
        return real(session_id, seg)

    monkeypatch.setattr(memory_store, "add_segment", failing)
    with pytest.raises(RuntimeError):
        _import(memory_store, guide, ENTRIES[0])
    assert memory_store.sessions() == []
    assert memory_store.db["segments"].count == 0
    assert memory_store.db["suggestions"].count == 0


def _understood(store, parsed, sid):
    return [(r["asks"], r["question"], [(s["dimension"], s["indicator"], s["score"]) for s in r["suggestions"]])
            for r in segment_records(store, sid)]


def test_each_turn_is_understood_from_what_came_before_only(guide):
    from core.store.database import Store

    parsed = read_transcript(SAMPLES / "interview-03.txt")
    k = 60
    cut = ParsedTranscript(speakers=dict(parsed.speakers), turns=list(parsed.turns[: k + 1]), title=parsed.title)
    whole_store, cut_store = Store(memory_name="import-whole"), Store(memory_name="import-cut")
    try:
        whole = _understood(whole_store, parsed, import_transcript(whole_store, parsed, guide))
        part = _understood(cut_store, cut, import_transcript(cut_store, cut, guide))
    finally:
        whole_store.close()
        cut_store.close()
    # Later speech changes nothing of what was understood before, but for withdrawing a detection:
    # a question taken as asked too early is detected again where it is asked (here the guide's
    # last question, first taken from "... nou ik ben benieuwd wat zij erover gaan zeggen").
    changed = [i for i, (p, w) in enumerate(zip(part, whole[: k + 1])) if p != w]
    for i in changed:
        asked = part[i][0]
        assert asked is not None and whole[i] == (None, *part[i][1:])
        assert [w[0] for w in whole[k + 1:]].count(asked) == 1
    assert len(changed) <= 1


def test_an_import_learns_from_the_sessions_coded_before(memory_store, guide):
    from core.store.database import Store

    fresh = Store(memory_name="import-fresh")
    try:
        baseline = _understood(fresh, None, _import(fresh, guide, ENTRIES[2]))
    finally:
        fresh.close()
    first = _import(memory_store, guide, ENTRIES[0])
    # The researcher codes interview 1: every respondent passage with its top suggestion.
    for seg in memory_store.segments(first):
        rows = memory_store.suggestions_for([seg["id"]])[seg["id"]]
        if seg["speaker"] == "respondent" and rows:
            memory_store.accept_suggestion(rows[0]["id"])
            for other in rows[1:]:
                memory_store.reject_suggestion(other["id"])
    assert len(list(memory_store.coded_examples(guide.id))) > 50
    later = _import(memory_store, guide, ENTRIES[2])
    learned = _understood(memory_store, None, later)
    assert [a for a, _, _ in learned] == [a for a, _, _ in baseline]  # tracking does not learn
    assert learned != baseline
    reasons = [s["reason"] for r in segment_records(memory_store, later) for s in r["suggestions"]]
    assert any("coded with it before" in r or "coded under question" in r for r in reasons)
