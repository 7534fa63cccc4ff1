"""Where fieldnote keeps its files. Every path the product writes comes from here.

`FIELDNOTE_HOME` overrides the platform's user data directory (tests set it, so the suite
writes nothing to the home directory).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "fieldnote"
# prompts/ sits beside core/ in the source tree: the guides that ship with fieldnote.
BUNDLED_GUIDES = Path(__file__).resolve().parents[2] / "prompts"
SAMPLE_SESSIONS = Path(__file__).resolve().parents[2] / "sample_sessions"
# How fieldnote reads each language (word lists, stemming): prompts/languages/CODE.toml.
BUNDLED_LANGUAGES = BUNDLED_GUIDES / "languages"


def home() -> Path:
    override = os.environ.get("FIELDNOTE_HOME")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create a folder readable by the user only: interviews are confidential.

    Every folder it creates is private, parents included (`mkdir -p` would leave those open).
    A folder that exists already is tightened only if it is fieldnote's own (inside `home()`
    or the models folder): `--db /tmp/study.db` must not chmod /tmp, nor `-o ~/Desktop/x`
    the desktop.
    """
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    for folder in missing or ([path] if _own_folder(path) else []):
        try:
            folder.chmod(0o700)  # mkdir's mode passes through the umask
        except OSError:
            pass
    return path


def make_private_dir(path: Path, what: str) -> Path:
    """`ensure_private_dir`, with a folder that cannot be made (a read-only disk, a parent that
    is not writable) told as a UserError naming it and `what` it is for."""
    from core.base.errors import UserError

    try:
        return ensure_private_dir(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot make the folder for {what} ({exc.strerror or exc}); make its parent "
                        "writable for you, or move fieldnote's data to a folder you can write to with FIELDNOTE_HOME"
                        ) from None


def _own_folder(path: Path) -> bool:
    try:
        target = path.resolve()
        return any(target == root or root in target.parents
                   for root in (home().resolve(), models_dir().resolve()))
    except OSError:
        return False


def default_db() -> Path:
    return home() / "fieldnote.db"


def guides_dir() -> Path:
    """The user's own guides; a guide name is looked up here, then in the bundled prompts/."""
    return home() / "guides"


def languages_dir() -> Path:
    """The user's own language files; a language is looked up here, then in the bundled ones."""
    return home() / "languages"


def models_dir() -> Path:
    """Models fieldnote assembled or was given (for example the joined multilingual base).

    `FIELDNOTE_MODELS` moves it on its own, so several homes can share one copy of a model.
    """
    override = os.environ.get("FIELDNOTE_MODELS")
    return Path(override).expanduser() if override else home() / "models"


def sessions_dir(db_path: Path | None) -> Path:
    """Audio of each session lives in a folder next to the database it belongs to."""
    base = db_path.parent if db_path is not None else home()
    return base / "sessions"


def config_file() -> Path:
    return home() / "config.toml"


def held_by_another(path: Path) -> bool:
    """Whether another process holds an OS lock on this file (a live recording, a running
    export). The lock dies with its process, even on kill -9."""
    if os.name == "nt":
        return False
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
