"""fieldnote's log: what happened, never what was said.

The log is `fieldnote.log` in the data folder, readable by the user only. Interview words must
never reach it, and the handler makes sure of it rather than trusting every call site:

- a log message is a constant format string with arguments (`log.info("stored %d", n)`);
  tests/test_privacy.py fails on an f-string or `%`/`.format` message in core/ and tui/;
- every text argument is replaced by its length unless it is marked `Plain` (something
  fieldnote chose: an id, a model or device name, a path it made), because a text could be a
  segment, a memo, a guide answer or a transcript line;
- an exception's message is withheld (only its type and the code frames are written): an
  import error may quote the line of a transcript it could not read.

Third-party libraries log through the same handler (faster-whisper logs timings at DEBUG).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import traceback
from pathlib import Path

from core.base import paths
from core.base.errors import UserError

LOG_NAME = "fieldnote.log"
ENV_LEVEL = "FIELDNOTE_LOG_LEVEL"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Plain(str):
    """A text known to hold no interview content, passed to the log as it is."""


def _withheld(value: object) -> object:
    if value is None or isinstance(value, (Plain, bool, int, float)):
        return value
    if isinstance(value, (str, bytes)):
        return f"<text withheld: {len(value)} characters>"
    # Anything else may carry text in its repr (a segment dict, a dataclass, a path).
    return f"<{type(value).__name__} withheld>"


class RedactingFilter(logging.Filter):
    """Replaces what could be interview content in a record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            record.msg = _withheld(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: _withheld(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_withheld(v) for v in record.args)
        return True


class RedactingFormatter(logging.Formatter):
    def formatException(self, ei) -> str:
        exc_type, exc, tb = ei
        frames = "".join(traceback.format_tb(tb))
        name = exc_type.__qualname__ if exc_type is not None else "Exception"
        size = len(str(exc)) if exc is not None else 0
        return f"Traceback (most recent call last):\n{frames}{name}: <message withheld: {size} characters>"

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # a cached text from another handler would bypass formatException
        return super().format(record)


def log_path() -> Path:
    return paths.home() / LOG_NAME


def setup_logging(level: int | str | None = None, path: Path | None = None) -> Path:
    """Send every logger's records (fieldnote's and its libraries') to the private log file.

    The level comes from `level`, else FIELDNOTE_LOG_LEVEL, else INFO. Calling it again
    replaces the handler it installed before.
    """
    path = Path(path) if path is not None else log_path()
    paths.ensure_private_dir(path.parent)
    stream = _open_log(path)
    level = level if level is not None else os.environ.get(ENV_LEVEL, "INFO")
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_fieldnote", False)]:
        root.removeHandler(old)
        old.close()
    handler = _LogHandler(stream)
    handler._fieldnote = True  # type: ignore[attr-defined]
    handler.setLevel(level)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(RedactingFormatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(min(level, root.level) if root.level else level)
    return path


def _open_log(path: Path):
    """The log file opened for appending, private, and only if it is a file of its own.

    A symbolic link (or a second hard link) in its place would have fieldnote append to
    whatever file it points at, so it is refused rather than followed; the file is opened once,
    by this descriptor, so nothing can swap it in between.
    """
    refuse = (f"{path}: the log is a link to another file; fieldnote does not write through one. "
              "Remove the link (fieldnote makes a new log file in its place) and run the command again")
    if path.is_symlink():
        raise UserError(refuse)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        # Created private: logging would use the umask.
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(refuse) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise UserError(refuse if stat.S_ISREG(info.st_mode) else
                        f"{path}: the log is not a plain file; remove it and run the command again")
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else path.chmod(0o600)
    except OSError:
        pass
    return os.fdopen(fd, "a", encoding="utf-8")


class _LogHandler(logging.StreamHandler):
    """A handler on the file `_open_log` opened, which it closes with itself."""

    def close(self) -> None:
        self.acquire()
        try:
            try:
                if self.stream is not None:
                    self.stream.close()
            finally:
                self.stream = None
                super().close()
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None:
            super().emit(record)


def teardown_logging() -> None:
    """Remove and close the handler `setup_logging` installed (tests, and a clean exit)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_fieldnote", False)]:
        root.removeHandler(old)
        old.close()
