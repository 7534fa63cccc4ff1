"""Text from the study made safe to print on a terminal.

A session title, a respondent's name or a guide's title comes from an imported transcript or a
guide file, and may hold terminal control sequences: an escape that recolours the screen, moves
the cursor, sets the window title or writes to the clipboard, or a bidirectional override that
shows text in another order than it is stored. Printed raw, they act on the researcher's
terminal. Everything the command line prints passes `PrintableWriter` (tui/cli.py installs it
on standard output and standard error), which shows each such character as its escape
(`\\u001b`) instead: visible, harmless, and in JSON output the very escape JSON reads back as
the same character. Table cells use `printable(..., lines=False)`, so a line break or carriage
return in a title cannot break or overwrite a row either.
"""

from __future__ import annotations

import re

# C0 controls but tab, line feed and carriage return (the command line's own line endings and
# progress line use them), DEL, C1 controls, and the bidirectional embeddings, overrides and
# isolates.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_AND_LINES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str, *, lines: bool = True) -> str:
    """`text` with every terminal control character shown as its escape; with `lines=False`
    tabs, line feeds and carriage returns too (a table cell)."""
    return (_CONTROLS if lines else _CONTROLS_AND_LINES).sub(_escape, text)


class PrintableWriter:
    """A text stream that writes everything through `printable`; the rest is the stream's own
    (its binary buffer, for files written as bytes, passes unchanged)."""

    def __init__(self, stream):
        self._stream = stream

    @property
    def wrapped(self):
        return self._stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)
