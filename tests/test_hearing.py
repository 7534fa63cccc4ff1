"""Hearing with the guide in mind: the prompts fieldnote gives Whisper, and that a prompt never
comes out as text nobody said.

The prompt for the interviewer's track holds the probe of the question in effect and the next
questions not yet asked; the respondent's holds the case's names and the codebook's words, those
of the question in effect first. Both come from the guide file alone (a Dutch and an English
study here). With the real models: silence and noise under a prompt stay empty; talk that is not
in the guide, and a guide question asked in other words, come out as said, not as the prompt.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.sources import FileReplaySource
from core.pipeline.live import LivePipeline
from core.speech.models import resolve_model
from core.speech.transcriber import WhisperTranscriber, _longest_shared_run, prompted_copy
from core.study.guide import load_guide
from core.understanding.hearing import MAX_PROMPT_WORDS, Hearing
from core.understanding.tracker import GuideTracker
from tests.scripted import ScriptedTranscriber

SR = 16_000


def words(text: str) -> list[str]:
    return text.lower().replace("?", " ").replace(".", " ").replace(",", " ").split()


# the prompts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("guide_name", ["koers-en-kansen", "remote-work-en"])
def test_the_interviewers_prompt_is_the_probe_in_effect_and_the_next_questions_not_asked(guide_name):
    guide = load_guide(guide_name)
    tracker = GuideTracker(guide)
    hearing = Hearing.for_guide(guide)
    first, second, third, fourth = guide.questions[:4]
    assert hearing.prompt("interviewer", tracker) == f"{first.text} {second.text}".replace("..", ".")
    tracker.set_current(first.number)
    tracker.asked.add(second.number)  # answered before it was asked: no use expecting it
    prompt = hearing.prompt("interviewer", tracker)
    assert second.text not in prompt
    assert third.text in prompt
    assert " ".join(fourth.text.split()[:5]) in prompt  # a long question at least begins
    if first.probes:
        assert prompt.startswith(first.probes[0].rstrip(".?!"))
    assert len(prompt.split()) <= MAX_PROMPT_WORDS


def test_the_respondents_prompt_holds_the_case_and_the_words_of_the_question_in_effect_first():
    guide = load_guide("koers-en-kansen")
    tracker = GuideTracker(guide)
    hearing = Hearing.for_guide(guide, names=["Samen starten", " "])
    asked = next(q for q in guide.questions if q.dimension_ids)
    tracker.set_current(asked.number)
    prompt = hearing.prompt("respondent", tracker)
    assert prompt.startswith("Samen starten, ")
    linked = guide.dimension(asked.dimension_ids[0])
    assert linked.name in prompt
    assert linked.indicators[0].phrases[0] in prompt
    other = next(d for d in guide.dimensions if d.id not in asked.dimension_ids)
    assert prompt.index(linked.name) < prompt.index(other.name)
    assert len(prompt.split()) <= MAX_PROMPT_WORDS
    # Without a question in effect the codebook's dimensions are what is expected.
    assert guide.dimensions[0].name in Hearing.for_guide(guide).prompt("respondent", GuideTracker(guide))


def test_previous_is_the_speakers_own_last_words_and_goes_last_with_the_guide():
    guide = load_guide("remote-work-en")
    tracker = GuideTracker(guide)
    plain = Hearing.for_guide(guide, mode="plain")
    assert plain.prompt("interviewer", tracker) is None
    previous = Hearing.for_guide(guide, mode="previous")
    assert previous.prompt("respondent", tracker) is None
    previous.heard("respondent", "We mostly met on Tuesdays")
    previous.heard("interviewer", "  ")
    assert previous.prompt("respondent", tracker) == "We mostly met on Tuesdays."
    assert previous.prompt("interviewer", tracker) is None
    both = Hearing.for_guide(guide, mode="guided+previous")
    both.heard("interviewer", "So that was the start")
    prompt = both.prompt("interviewer", tracker)
    assert prompt.startswith(guide.questions[0].text) and prompt.endswith("So that was the start.")
    with pytest.raises(ValueError):
        Hearing.for_guide(guide, mode="loud")


def test_the_live_pipeline_gives_each_utterance_the_prompt_of_where_the_interview_is():
    """The English demo replayed, each utterance given the script's words: after the tracker
    hears a question, the interviewer's next prompt expects the questions after it."""
    import json

    from core.pipeline.demo import load_demo

    demo = load_demo("en")
    guide = demo.guide
    script = json.loads((demo.folder / "expected.json").read_text(encoding="utf-8"))
    scripted = ScriptedTranscriber([t["text"] for t in script] * 2)
    prompts = []

    class Listening:
        name = "listening"

        def transcribe(self, audio, prompt=None):
            prompts.append(prompt)
            return scripted.transcribe(audio)

    source = FileReplaySource(demo.tracks, realtime=False)
    pipeline = LivePipeline(source, Listening(), guide, clock=source.clock,
                            hearing=Hearing.for_guide(guide, names=["Acme"]))
    heard = []
    pipeline.run(heard.append, threading.Event())
    assert len(heard) == len(prompts) > 4
    first_interviewer = next(i for i, r in enumerate(heard) if r.segment.speaker == "interviewer")
    assert prompts[first_interviewer].startswith(guide.questions[0].text)
    asked: set[int] = set()
    moved = 0
    for ready, prompt in zip(heard, prompts):
        seg = ready.segment
        if seg.speaker == "respondent":
            assert prompt.startswith("Acme, ")
        elif asked:
            later = [q for q in guide.questions if q.number > max(asked) and q.number not in asked]
            assert all(guide.question(n).text not in prompt for n in asked)
            if later:
                assert prompt.startswith(later[0].text) or later[0].text in prompt
                moved += 1
        if seg.asks is not None:
            asked.add(seg.asks)
    assert asked and moved  # the tracker moved, and the prompts with it


@pytest.mark.parametrize("hearing", [None, "plain", "previous"])
def test_the_demo_hears_with_the_guide_unless_told_otherwise(hearing):
    """`fieldnote demo` (and `record`) take the live hearing by default; --hearing changes it."""
    from core.pipeline.demo import load_demo, replay_pipeline
    from core.understanding.hearing import LIVE_MODE

    demo = load_demo("en")
    prompts = []

    class Listening:
        name = "listening"

        def transcribe(self, audio, prompt=None):
            prompts.append(prompt)
            return ScriptedTranscriber(["Thanks."]).transcribe(audio)

    pipeline = replay_pipeline(demo, Listening(), realtime=False, hearing=hearing)
    pipeline.run(lambda ready: None, threading.Event())
    mode = hearing or LIVE_MODE
    if mode == "plain":
        assert set(prompts) == {None}
    elif mode == "previous":
        assert prompts[0] is None and "Thanks." in prompts
    else:
        assert any(p and demo.guide.questions[0].text in p for p in prompts)


# the guard against the prompt ---------------------------------------------------------------------

def test_a_copy_of_the_prompt_is_kept_only_when_whisper_is_sure_it_heard_it():
    prompt = "Kunt u kort wat over uw werk en uw functie vertellen? Hoe bent u betrokken?"
    said = "Kunt u kort wat over uw werk en uw functie vertellen?"
    assert _longest_shared_run(words(said), words(prompt)) == 11
    assert not prompted_copy(said, prompt, 4.0, 0.05, -0.3)  # heard, and sure of it
    assert prompted_copy(said, prompt, 4.0, 0.5, -0.3)  # doubts there was speech
    assert prompted_copy(said, prompt, 4.0, 0.05, -1.2)  # doubts its words
    assert not prompted_copy(said, prompt, 4.0, 0.05, -0.7)  # a synthetic voice, heard fairly sure
    assert prompted_copy(said, prompt, 1.0, 0.05, -0.3)  # eleven words in a second were not said
    assert not prompted_copy("Wat doet u precies in uw werk?", prompt, 2.0, 0.5, -0.9)  # own words
    assert not prompted_copy(said, None, 1.0, 0.9, -2.0)  # no prompt: the other filters decide


# with the real models ----------------------------------------------------------------------------

def _speak(text: str, path: Path, voice: str) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True,
                   capture_output=True)
    audio, rate = sf.read(path, dtype="float32")
    assert rate == SR, f"espeak-ng -v {voice} wrote {rate} Hz"  # it and MBROLA's Dutch voices write 16 kHz
    return audio


def _dutch_voice() -> str:
    return "mb-nl2" if Path("/usr/share/mbrola/nl2").exists() else "nl"


@pytest.fixture(scope="module")
def dutch():
    return WhisperTranscriber(resolve_model("base"), language="nl", threads=2)


@pytest.fixture(scope="module")
def english():
    return WhisperTranscriber(resolve_model("tiny.en"), language="en", threads=2)


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian) speaks the tests")


@pytest.mark.parametrize("which", ["dutch", "english"])
def test_silence_and_noise_under_a_prompt_stay_empty(which, request):
    transcriber = request.getfixturevalue(which)
    guide = load_guide("koers-en-kansen" if which == "dutch" else "remote-work-en")
    hearing = Hearing.for_guide(guide, names=["Samen starten"])
    tracker = GuideTracker(guide)
    rng = np.random.default_rng(3)
    sounds = {
        "silence": np.zeros(5 * SR, dtype=np.float32),
        "hum": (1e-3 * rng.standard_normal(5 * SR)).astype(np.float32),
        "noise": (0.05 * rng.standard_normal(5 * SR)).astype(np.float32),
    }
    for track in ("interviewer", "respondent"):
        prompt = hearing.prompt(track, tracker)
        for name, audio in sounds.items():
            text = transcriber.transcribe(audio, prompt=prompt).text
            assert _longest_shared_run(words(text), words(prompt)) < 3, (track, name, text)
            assert len(words(text)) <= 2, (track, name, text)


@needs_espeak
def test_talk_off_the_guide_and_a_question_in_other_words_come_out_as_said(dutch, tmp_path):
    guide = load_guide("koers-en-kansen")
    tracker = GuideTracker(guide)
    hearing = Hearing.for_guide(guide)
    prompt = hearing.prompt("interviewer", tracker)
    voice = _dutch_voice()
    off_guide = _speak("Het regent vandaag heel hard in Utrecht.", tmp_path / "off.wav", voice)
    other_words = _speak("Wat doet u eigenlijk precies in uw baan?", tmp_path / "other.wav", voice)
    for audio in (off_guide, other_words):
        text = dutch.transcribe(audio, prompt=prompt).text
        assert text, "nothing heard"
        assert _longest_shared_run(words(text), words(prompt)) < 4, text
    text = dutch.transcribe(other_words, prompt=prompt).text
    assert "baan" in words(text) or "precies" in words(text), text
