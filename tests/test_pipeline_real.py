"""The sample interview through the real pipeline and a bundled Whisper model.

Replayed as fast as possible: the same source, VAD segmenter, transcriber, guide tracking and
suggestions as the live demo, with the stored transcript checked against the script.
"""

from __future__ import annotations

import io
import json
import re

import jiwer
import pytest
import soundfile as sf

from core.audio.sources import SAMPLE_RATE, FileReplaySource
from core.interchange.export import segment_records
from core.pipeline.live import LivePipeline
from core.pipeline.demo import load_demo, run_headless


def _norm(text: str) -> str:
    text = text.lower().replace("-", " ")
    # American and British spellings are the same words: organized / organised.
    text = re.sub(r"(?<=\w)iz(e|ed|es|ing|ation|ations)\b", r"is\1", text)
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text)).strip()


def _speaker_texts(turns) -> dict[str, str]:
    out: dict[str, list[str]] = {"interviewer": [], "respondent": []}
    for t in sorted(turns, key=lambda t: t["start"]):
        out[t["speaker"]].append(t["text"])
    return {k: _norm(" ".join(v)) for k, v in out.items()}


@pytest.mark.parametrize(
    "language, model, max_wer, cut",
    [
        # The English path (English guide, English-only model) is this row's, the multilingual
        # base model the Dutch row's. A row of English with base (bound 0.12) went through the
        # same code as these two and cost the suite a minute.
        ("en", "tiny.en", 0.2, None),
        # espeak-ng's Dutch is mis-heard three words in four (sample_sessions/README.md): this
        # checks the Dutch path end to end (multilingual model, Dutch guide), not its accuracy,
        # on the demo's first 82.5 s (cut between two turns: six questions and six answers).
        ("nl", "base", 0.9, 82.5),
    ],
)
def test_demo_replay_matches_the_script(memory_store, base_transcriber_factory, tmp_path, language, model, max_wer, cut):
    demo = load_demo(language)
    expected = json.loads((demo.folder / "expected.json").read_text())
    tracks = demo.tracks
    if cut is not None:
        # The demo's tracks up to the cut, and the script's turns that end before it.
        tracks = {}
        for speaker, path in demo.tracks.items():
            audio, rate = sf.read(path, dtype="float32", frames=int(cut * SAMPLE_RATE))
            tracks[speaker] = tmp_path / f"{speaker}.flac"
            sf.write(tracks[speaker], audio, rate)
        assert all(t["end"] <= cut or t["start"] >= cut for t in expected), "the cut falls inside a turn"
        expected = [t for t in expected if t["end"] <= cut]
    source = FileReplaySource(tracks, realtime=False)
    pipeline = LivePipeline(source, base_transcriber_factory(model, demo.guide.language), demo.guide, clock=source.clock)
    session_id = memory_store.create_session(demo.guide, origin="demo")
    out = io.StringIO()
    run_headless(memory_store, session_id, pipeline, out=out)

    records = list(segment_records(memory_store, session_id))
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert printed == records  # what was printed live is what was stored

    # Each stored segment lies within a scripted turn of the same speaker.
    for r in records:
        overlapping = [t for t in expected if t["start"] - 0.5 <= r["start"] and r["end"] <= t["end"] + 0.5]
        assert overlapping, f"segment at {r['start']}s lies in no scripted turn"
        assert {t["speaker"] for t in overlapping} == {r["speaker"]}

    heard = _speaker_texts(records)
    said = _speaker_texts(expected)
    for speaker in ("interviewer", "respondent"):
        error = jiwer.wer(said[speaker], heard[speaker])
        assert error <= max_wer, f"{speaker} WER {error:.3f} > {max_wer}"
    overall = jiwer.wer(" ".join(said.values()), " ".join(heard.values()))
    assert overall <= max_wer, f"overall WER {overall:.3f}"

    session = memory_store.session(session_id)
    assert session["status"] == "completed"
    assert session["duration"] == pytest.approx(source.duration, abs=1.0)
    # Suggestions arrive on respondent segments, named by the guide's dimension names.
    names = {d.name for d in demo.guide.dimensions}
    suggested = [s for r in records for s in r["suggestions"]]
    assert suggested and {s["dimension"] for s in suggested} <= names
    assert all(r["speaker"] == "respondent" for r in records if r["suggestions"])
