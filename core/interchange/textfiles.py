"""A text file's bytes and their text, for the transcript formats and the question lists of
`guides new` (core/interchange/formats.py): held to the limits of core/interchange/limits.py,
and decoded as UTF-8 or Windows-1252, with a file that is UTF-8 but for a few bytes refused and
the bytes named (a garbled name would slip past pseudonymisation).
"""

from __future__ import annotations

import re
from pathlib import Path

from core.base.errors import ImportFormatError
from core.interchange.limits import LARGEST_PACKAGE, LARGEST_PART, TooLarge, read_file


def read_bytes(path: Path) -> bytes:
    """A file's bytes, up to what fieldnote reads of a Word document (which may hold pictures);
    text is held to the smaller LARGEST_PART by `within_text_limit`."""
    try:
        return read_file(path, LARGEST_PACKAGE)
    except TooLarge as exc:
        raise ImportFormatError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def within_text_limit(data: bytes, path: Path) -> bytes:
    if len(data) > LARGEST_PART:
        raise ImportFormatError(f"{path}: the file holds {len(data) // 2**20} MB of text, more than fieldnote "
                                f"reads of a transcript or question list ({LARGEST_PART // 2**20} MB); a study's "
                                "are far smaller")
    return data


# A character as UTF-8 writes it in two to four bytes. Windows-1252 text holds one only by chance
# (a capital with an accent just before a curly quote or a dash), so a file with these and also
# with bytes that UTF-8 cannot read is UTF-8 damaged in a few places, or two encodings pasted
# together.
_UTF8_CHARACTER = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Where a byte UTF-8 cannot read sits in text decoded with "surrogateescape".
_STRAY_BYTE = re.compile("[\udc80-\udcff]")
_STRAY_LINES_SHOWN = 5


def decode(data: bytes, path: Path) -> str:
    """The text of a file in UTF-8 (with or without a byte order mark) or in Windows-1252.

    A file that is UTF-8 but for a few bytes is refused, naming them: read as Windows-1252 its
    accented letters would all come out garbled ("JÃ¼rgen"), so the study's names list would no
    longer find those names and a pseudonymised export would show them; read with the bad bytes
    replaced, a name holding one ("J�rgen") would go out half-hidden, and the stored transcript
    would keep the damage. The researcher corrects a byte in a minute, once told where it is."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if _UTF8_CHARACTER.search(data):  # a byte order mark is one too
        raise _not_quite_utf8(data, path)
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path}: neither UTF-8 nor Windows-1252 text; save it as UTF-8 and try again") from None


def _not_quite_utf8(data: bytes, path: Path) -> ImportFormatError:
    text = data.decode("utf-8", "surrogateescape")
    stray = _STRAY_BYTE.finditer(text)
    first = next(stray)  # the caller saw UTF-8 fail, so there is one
    at = first.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    lines, count, pos = [line], 1, at
    for m in stray:
        count += 1
        if len(lines) <= _STRAY_LINES_SHOWN:
            n = lines[-1] + text.count("\n", pos, m.start())
            pos = m.start()
            if n != lines[-1]:
                lines.append(n)
    more = ""
    if count > 1:
        shown = ", ".join(str(n) for n in lines[:_STRAY_LINES_SHOWN])
        more = f"; {count} such bytes, on lines {shown}{', …' if len(lines) > _STRAY_LINES_SHOWN else ''}"
    # Where UTF-8 was seen, so a file that is Windows-1252 throughout shows it by an odd character.
    utf8 = _UTF8_CHARACTER.search(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0)
    if utf8:
        utf8_line = data.count(b"\n", 0, utf8.start()) + 1
        seen = f"line {utf8_line} holds {utf8.group().decode()!r}"
    else:
        seen = "it starts with UTF-8's byte order mark"
    return ImportFormatError(
        f"{path}, line {line}, column {column}: byte 0x{ord(first.group()) - 0xDC00:02X} is not UTF-8, "
        f"though the file is UTF-8 elsewhere ({seen}{more}). Read as another encoding, its accented "
        "letters (names among them) would be garbled: correct that character in a text editor, save the "
        "file as UTF-8 and try again"
    )
