"""Writing an export: atomically (a temporary file beside the target, then a rename), readable by
the user only, with the temporary files of exports killed midway removed by the next one.

Used by the package's write_export, by the REFI-QDA codebook writer and by `fieldnote guides new`.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

from core.base import paths
from core.base.errors import UserError
from core.interchange.exporters.registry import FORMATS

# A temporary file write_atomic made: ".NAME.EXT.<mkstemp's 8 characters>.part".
_PART = re.compile(r"\..+(%s)\.[A-Za-z0-9_]{8}\.part" % "|".join(re.escape(f.extension) for f in FORMATS.values()))


def _hold(fd: int) -> None:
    """Lock a temporary file while it is written; the lock dies with its process, so a file
    nobody holds was left by an export that was killed."""
    try:
        import fcntl
    except ImportError:  # Windows: a file open in another process cannot be deleted anyway
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def remove_stale_parts(folder: Path) -> list[Path]:
    """Delete the temporary files that exports killed midway left in `folder`; those removed.

    A concurrent export's file is held until its rename and stays. (One created an instant ago
    and not yet held could go; that export then fails with a message, it writes nothing wrong.)
    """
    removed = []
    try:
        parts = [p for p in Path(folder).iterdir() if _PART.fullmatch(p.name)]
    except OSError:
        return removed
    for part in parts:
        try:
            if not paths.held_by_another(part):
                part.unlink()
                removed.append(part)
        except OSError:
            pass
    return removed


def _cannot_write(path: Path, exc: OSError) -> UserError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"{path}: the disk is full, so the export was not written (no part of it was left "
                         "there). Free some space on that disk, or export to another disk")
    return UserError(f"{path}: cannot write the export ({exc.strerror or exc})")


def write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    path = Path(path)
    remove_stale_parts(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _hold(f.fileno())  # until the rename: a concurrent export's cleanup leaves it alone
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, exc) from None
