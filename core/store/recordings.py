"""The files a session was imported from (`recording_sources`): which recording, as it was.

Each file of an imported recording is kept by its resolved path, size and modification time,
so that a queue stopped halfway skips, on its next run, every file whose session was stored
(`imported_from`); and by the name of the folder the import staged its audio in, so that the
next import can finish moving a committed session's audio into place, or remove a staging
folder no session was committed for (`staged_session`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.store.database import Store


@dataclass(frozen=True)
class SourceFile:
    path: Path  # resolved
    size: int
    mtime: float
    role: str  # interviewer | respondent | stereo | mixed | transcript

    @classmethod
    def of(cls, path: Path, role: str) -> "SourceFile":
        resolved = Path(path).resolve()
        st = resolved.stat()
        return cls(resolved, st.st_size, round(st.st_mtime, 3), role)


def add_sources(store: Store, session_id: int, sources: list[SourceFile], *, staged: str | None,
                linked: bool = False) -> None:
    """Record the session's source files; call inside the transaction that stores the session."""
    with store.db.atomic():
        for src in sources:
            store.db["recording_sources"].insert({
                "session_id": session_id, "path": str(src.path), "size": src.size, "mtime": src.mtime,
                "role": src.role, "linked": int(linked and src.role != "transcript"), "staged": staged,
            })


def imported_from(store: Store, source: SourceFile) -> int | None:
    """The session a file (as it is now: the same path, size and time) was imported into."""
    row = store.db.execute(
        "select min(s.id) from recording_sources r join sessions s on s.id = r.session_id "
        "where r.path = ? and r.size = ? and r.mtime = ? and r.role != 'transcript'",
        [str(source.path), source.size, source.mtime],
    ).fetchone()
    return row[0]


def staged_session(store: Store, staged: str) -> tuple[int, str | None] | None:
    """The session whose audio was staged under this name, with its audio folder."""
    row = store.db.execute(
        "select s.id, s.audio_dir from recording_sources r join sessions s on s.id = r.session_id "
        "where r.staged = ? limit 1",
        [staged],
    ).fetchone()
    return (row[0], row[1]) if row else None
