"""The hand-labelled development set stays aligned with the transcript parser and the codebook."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.interchange.transcripts import parse_transcript

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "bench" / "devset"
SEED = ROOT / "sample_sessions" / "transcripts"
GUIDE = ROOT / "prompts" / "koers-en-kansen.toml"

# Tabel 8 of the thesis, spelled as there.
DIMENSIONS = {
    "Sturingsvorm", "Aantal netwerkleden", "Doelconsensus", "Behoefte aan netwerkcompetenties",
    "Vertrouwen", "Inclusiviteit", "Efficiëntie", "Externe legitimiteit", "Interne legitimiteit",
    "Flexibiliteit", "Stabiliteit", "Verschillende percepties", "Informatie-uitwisseling",
    "Type organisatiecultuur", "Verschillende organisatieculturen in een netwerk",
}
CASES = {"Samen starten", "Kortgestraft, langdurig nut", "RIO Dordrecht",
         "Doorontwikkeling nazorgaanpak"}
# Seed README: interview -> Bijlage 4 respondent number(s).
RESPONDENTS = {1: "1", 2: "2,3", 3: "4", 4: "5", 5: "6", 6: "7", 7: "8", 8: "9"}
TOP_KEYS = {"transcript", "respondent", "case", "interviewer", "respondents", "observers", "turn"}

FILES = sorted(DEVSET.glob("interview-*.toml"))


def load(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def test_one_file_per_seed_interview():
    assert [p.name for p in FILES] == [f"interview-{n:02d}.toml" for n in range(1, 9)]


def test_dimension_names_match_the_bundled_guide():
    assert {d["name"] for d in load(GUIDE)["dimension"]} == DIMENSIONS


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_devset_file(path):
    data = load(path)
    assert set(data) <= TOP_KEYS
    number = int(path.stem.removeprefix("interview-"))
    assert data["transcript"] == f"{path.stem}.txt"
    assert data["respondent"] == RESPONDENTS[number]
    assert data["case"] in CASES

    text = (SEED / data["transcript"]).read_text(encoding="utf-8")
    turns = parse_transcript(text, data["transcript"]).turns
    interviewer = set(data["interviewer"])
    respondents = set(data["respondents"])
    observers = set(data.get("observers", []))
    assert {t.speaker for t in turns} == interviewer | respondents | observers
    assert not (interviewer & respondents or observers & (interviewer | respondents))

    labelled = data["turn"]
    indices = [entry["index"] for entry in labelled]
    assert indices == sorted(set(indices)), "turn indices repeat or are out of order"
    for entry in labelled:
        turn = turns[entry["index"]]
        assert entry["speaker"] == turn.speaker, entry
        assert entry["starts"] and turn.text.startswith(entry["starts"]), entry
        if entry["speaker"] in interviewer:
            assert set(entry) <= {"index", "speaker", "starts", "asks", "also"}, entry
            assert 0 <= entry["asks"] <= 24, entry
            also = entry.get("also", [])
            assert entry["asks"] or not also, entry
            assert all(1 <= q <= 24 and q != entry["asks"] for q in also), entry
        else:
            assert entry["speaker"] in respondents, entry
            assert set(entry) == {"index", "speaker", "starts", "dimensions"}, entry
            dims = entry["dimensions"]
            assert dims and len(dims) == len(set(dims)), entry
            assert set(dims) <= DIMENSIONS, entry

    interviewer_turns = {i for i, t in enumerate(turns) if t.speaker in interviewer}
    assert interviewer_turns <= set(indices), "an interviewer turn has no 'asks' label"
    asked = [q for e in labelled if e["speaker"] in interviewer
             for q in [e["asks"], *e.get("also", [])] if q]
    assert len(asked) == len(set(asked)), "a guide question is labelled as asked twice"
