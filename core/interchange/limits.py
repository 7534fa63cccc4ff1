"""How much fieldnote reads of a file it did not write, and how: transcripts, question lists,
codebooks and projects come from other programs and other people, and a damaged or hostile one
(a zip bomb, a member whose data is damaged, XML nested thousands deep, a document of hundreds of
megabytes) must end in one message naming the file, not in a traceback, a machine out of memory
or an import that runs for an hour.

The limits are here, in one place, each with its reason. The readers (core/interchange/word.py,
formats.py, projects.py, codebook.py) raise `Unreadable`'s words as their own message, naming
the file.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

MiB = 1024 * 1024

# The largest text or XML part read: a transcript file, a question list, a codebook, a Word
# document's document.xml, a project's project.qde or one of its source texts. A two-hour
# interview is some 150 kB of text and its document.xml a few megabytes even with every word in
# a run of its own; a project holding fifty interviews' texts inline is some 10 MB. 32 MiB is
# ten times that. Work grows in step with it: a 16 MB document.xml is read in 3-5 s with 230 MB
# of memory, and an 8 MB text transcript of 100,000 turns imports in 26 s with 120 MB (here, on
# 2 cores), so a part at the limit imports in under two minutes; a 250 MB document.xml took more
# than 300 s and 3.9 GB.
LARGEST_PART = 32 * MiB

# All that is read from one zip file (a Word document or a project): its parts within
# LARGEST_PART each, and no more than this together, so that many members cannot add up.
LARGEST_PACKAGE = 256 * MiB

# The deepest nesting of XML elements. Word nests a paragraph's text a dozen deep (body, table,
# row, cell, content control, tracked insertion, hyperlink, run, text), tables in tables a few
# times more; a codebook nests a code under its parent, which QDA programs show as a tree a few
# levels deep. The readers walk the tree recursively: thousands of levels would exhaust Python's
# stack.
DEEPEST_NESTING = 100

# The longest code name read from a codebook: QDA programs show names in a tree a line wide, and
# an indicator is named by the path of codes above it, so nested long names would multiply.
LONGEST_CODE_NAME = 500

# The latest hour a cue's time may have: a subtitle file's hours are digits without end, and a
# 400-digit hour is more seconds than a float holds. A recording of days is already no interview.
LATEST_HOUR = 999

_CHUNK = 1 * MiB


class Unreadable(Exception):
    """What is wrong with a file or a part of it, in words for the user; the reader puts the
    file's name before it."""


class TooLarge(Unreadable):
    """Beyond a limit: more bytes, or deeper nesting, than fieldnote reads."""


class Damaged(Unreadable):
    """A zip member whose data cannot be unpacked as it is."""


def _size(n: int) -> str:
    return f"{n / MiB:.0f} MB" if n >= MiB else f"{n} bytes"


def read_file(path: Path, limit: int = LARGEST_PART) -> bytes:
    """A file's bytes, refused if there are more than `limit`: the read stops one byte past it
    (a pipe or a file still growing has no size to check first). OSError for the caller."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the file holds more than {_size(limit)}, more than fieldnote reads of a "
                       "transcript, question list or codebook; a study's are far smaller")
    return data


class Package:
    """A zip file whose members are read within the limits: each member's declared size is
    checked against them before it is read, and the read stops one byte past that size, so a
    header that understates it cannot make the read unbounded; damaged data (a bad deflate
    stream, a wrong checksum, a truncated member, an encrypted one) is `Damaged`."""

    def __init__(self, file: Path | BinaryIO):
        self._zip = zipfile.ZipFile(file)  # BadZipFile for the caller: "not a zip file" is its to word
        self._read = 0

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def names(self) -> list[str]:
        return self._zip.namelist()

    def read(self, name: str) -> bytes:
        """A member's bytes (KeyError if there is none)."""
        info = self._zip.getinfo(name)
        if info.file_size > LARGEST_PART:
            raise TooLarge(f"{name} unpacks to {info.file_size:,} bytes; fieldnote reads no part larger "
                           f"than {_size(LARGEST_PART)}")
        if self._read + info.file_size > LARGEST_PACKAGE:
            raise TooLarge(f"the parts to read unpack to more than {_size(LARGEST_PACKAGE)} together, "
                           "more than fieldnote reads of one file")
        try:
            with self._zip.open(info) as member:
                # zipfile stops at the size declared; the bound holds even if it did not.
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
            raise Damaged(f"{name} is damaged ({exc})") from None
        except (NotImplementedError, RuntimeError) as exc:  # an unknown compression, a password
            raise Damaged(f"{name} cannot be unpacked ({exc})") from None
        if len(data) > info.file_size:
            raise Damaged(f"{name} is damaged (it unpacks to more than its zip header says)")
        self._read += len(data)
        return data


def parse_xml(data: bytes, part: str) -> ElementTree.Element:
    """The root of an XML document, refused (`Unreadable`) if its elements nest deeper than
    DEEPEST_NESTING; malformed XML raises ElementTree.ParseError, which each reader words."""
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    depth = 0
    root = None

    def follow() -> None:
        nonlocal depth, root
        for event, element in parser.read_events():
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                if depth > DEEPEST_NESTING:
                    raise TooLarge(f"{part} nests its elements more than {DEEPEST_NESTING} deep; no "
                                   "document, codebook or project nests so deep")
            else:
                depth -= 1

    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        parser.feed(bytes(view[start:start + _CHUNK]))
        follow()
    parser.close()  # ParseError if the document is incomplete or empty, so root is set after it
    follow()
    return root
