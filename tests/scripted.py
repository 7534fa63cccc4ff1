"""A transcriber for fast tests: the live pipeline as it is, with Whisper replaced by a script."""

from __future__ import annotations

import numpy as np

from core.speech.transcriber import Transcript


class ScriptedTranscriber:
    """Returns the given texts in order, as a recogniser would for each utterance, then nothing."""

    def __init__(self, texts: list[str], name: str = "scripted"):
        self._texts = list(texts)
        self.name = name
        self.calls = 0

    def transcribe(self, audio: np.ndarray) -> Transcript:
        self.calls += 1
        text = self._texts.pop(0) if self._texts else ""
        return Transcript(text=text, language=None)
