"""One session as subtitles (SRT, WebVTT) with speaker names, or as a plain transcript in the
thesis's own layout (`X = Interviewer` header, then `X: ...` / `Y: ...` turns).

Subtitles cut a long turn into cues of at most two lines, timed in proportion to their share of
the turn's text; every cue names its speaker, so fieldnote's own SRT/VTT import joins the cues of
a turn back together. The plain transcript reads back through core/interchange/transcripts.py.
"""

from __future__ import annotations

import textwrap

from core.base.errors import UserError
from core.interchange.exporters.model import SessionView

LINE = 42  # characters per subtitle line, the usual broadcast limit


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _two_lines(chunk: str) -> list[str]:
    """Break a cue's text at the space nearest its middle."""
    if len(chunk) <= LINE or " " not in chunk:
        return [chunk]
    middle = len(chunk) // 2
    spaces = [i for i, ch in enumerate(chunk) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - middle))
    return [chunk[:cut], chunk[cut + 1 :]]


def cues(session: SessionView) -> list[tuple[float, float, str, list[str]]]:
    """(start, end, speaker name, lines) for every cue of the session, in time order."""
    untimed = [s for s in session.segments if s.start is None]
    if untimed:
        raise UserError(
            f"session {session.id} has turns without times (it was imported from text); "
            "subtitles need times: export it as txt, docx or md instead"
        )
    out = []
    segs = session.segments
    for n, seg in enumerate(segs):
        start = float(seg.start)
        end = seg.end
        if end is None or end <= start:
            following = segs[n + 1].start if n + 1 < len(segs) else None
            end = following if following is not None and following > start else start + max(2.0, len(seg.text) / 15)
        text = " ".join(seg.text.split())
        if not text:
            continue
        chunks = textwrap.wrap(text, 2 * LINE, break_long_words=False, break_on_hyphens=False)
        total = sum(len(c) for c in chunks)
        t = start
        for chunk in chunks:
            share = (end - start) * len(chunk) / total
            stop = end if chunk is chunks[-1] else t + share
            lines = _two_lines(chunk)
            out.append((t, stop, seg.name, lines))
            t = stop
    return out


def to_srt(session: SessionView) -> bytes:
    blocks = []
    for n, (start, end, name, lines) in enumerate(cues(session), 1):
        body = "\n".join([f"{name}: {lines[0]}"] + lines[1:])
        blocks.append(f"{n}\n{_stamp(start, ',')} --> {_stamp(end, ',')}\n{body}\n")
    return "\n".join(blocks).encode("utf-8")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(session: SessionView) -> bytes:
    blocks = ["WEBVTT\n"]
    for n, (start, end, name, lines) in enumerate(cues(session), 1):
        body = "\n".join(_vtt_escape(line) for line in lines)
        blocks.append(f"{n}\n{_stamp(start, '.')} --> {_stamp(end, '.')}\n<v {_vtt_escape(name)}>{body}</v>\n")
    return "\n".join(blocks).encode("utf-8")


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def to_txt(session: SessionView) -> bytes:
    title = " ".join(session.title.split())
    lines = [title]
    for code, name in session.speakers.items():
        lines.append(f"{code} = {name}")
    note = f"(Study: {session.study}; respondent: {session.respondent or '—'}; case: {session.case or '—'}; " \
           f"date: {session.date}; duration: {session.length})"
    if _balanced(note[1:-1]):
        lines.append(" ".join(note.split()))
    lines.append("")
    for seg in session.segments:
        lines.append(f"{seg.code}: {' '.join(seg.text.split())}")
    return ("\n".join(lines) + "\n").encode("utf-8")
