"""Shared fixtures. The suite writes nothing to the home directory."""

from __future__ import annotations

import gc
import itertools
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["_network_guard"]  # no test reaches the network unless marked allow_network
_memory_names = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _heap_out_of_the_collectors_sight():
    """Faster-whisper's decode_audio and core.audio.sources run gc.collect() after every file they
    decode (PyAV frees a resampler's buffers only then), and a full collection walks every object
    the process holds: in a test run, all of the code and the tests, and what earlier tests keep
    alive, a tenth of a second and more per file. Before each module what is alive is frozen
    (after a collection, so no garbage is kept), and each collection walks only what came since."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(scope="session")
def models_home(tmp_path_factory) -> Path:
    """One models folder for each worker's run: the base model is joined once there, not per test."""
    return tmp_path_factory.mktemp("models-home")


@pytest.fixture(autouse=True)
def fieldnote_home(tmp_path_factory, monkeypatch, models_home) -> Path:
    home = tmp_path_factory.mktemp("fieldnote-home")
    monkeypatch.setenv("FIELDNOTE_HOME", str(home))
    monkeypatch.setenv("FIELDNOTE_MODELS", str(models_home))
    return home


@pytest.fixture(scope="session")
def base_transcriber_factory():
    """Load a bundled model once per worker and language (loading costs a second or two)."""
    cache = {}

    def factory(model: str, language: str):
        from core.speech.models import resolve_model
        from core.speech.transcriber import WhisperTranscriber

        key = (model, language)
        if key not in cache:
            cache[key] = WhisperTranscriber(resolve_model(model), language=language)
        return cache[key]

    return factory


@pytest.fixture
def memory_store():
    from core.store.database import Store

    store = Store(memory_name=f"fieldnote-test-{os.getpid()}-{next(_memory_names)}")
    yield store
    store.close()
