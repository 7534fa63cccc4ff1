"""The study's transcription servers, the studies allowed to use each, and the chunks of a
server job done so far.

A server is a row of name, URL, model and the name of the environment variable holding its
token; the token itself is never stored. A server job keeps each chunk's words here as it comes
back, so that a job that died resumes from the last chunk done; the rows go once it is applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.base.errors import UserError
from core.store.database import Store, now_iso


class UnknownServer(UserError):
    """No server of that name in the study database."""


@dataclass(frozen=True)
class ServerRow:
    id: int
    name: str
    url: str
    model: str | None
    token_env: str | None
    insecure_http: bool
    created: str


def _row(r: dict) -> ServerRow:
    return ServerRow(r["id"], r["name"], r["url"], r["model"], r["token_env"], bool(r["insecure_http"]), r["created"])


def add_server(store: Store, name: str, url: str, model: str | None, token_env: str | None,
               insecure_http: bool) -> ServerRow:
    if find_server(store, name) is not None:
        raise UserError(f"a server named {name!r} is already known (`fieldnote servers remove {name}` first)")
    with store.atomic():
        store.db["servers"].insert({"name": name, "url": url, "model": model, "token_env": token_env,
                                    "insecure_http": int(insecure_http), "created": now_iso()})
    return server(store, name)


def find_server(store: Store, name: str) -> ServerRow | None:
    rows = list(store.db.query("select * from servers where name = ?", [name]))
    return _row(rows[0]) if rows else None


def server(store: Store, name: str) -> ServerRow:
    found = find_server(store, name)
    if found is None:
        known = ", ".join(s.name for s in servers(store)) or "none yet"
        raise UnknownServer(f"no server named {name!r} (known: {known}); add it with "
                            "`fieldnote servers add NAME URL`")
    return found


def servers(store: Store) -> list[ServerRow]:
    return [_row(r) for r in store.db.query("select * from servers order by name")]


def remove_server(store: Store, name: str) -> ServerRow:
    row = server(store, name)
    with store.atomic():
        store.db.execute("delete from server_approvals where server_id = ?", [row.id])
        store.db.execute("delete from servers where id = ?", [row.id])
    return row


def approved(store: Store, server_id: int, guide_id: str) -> bool:
    return bool(list(store.db.query(
        "select 1 from server_approvals where server_id = ? and guide_id = ?", [server_id, guide_id])))


def approve(store: Store, server_id: int, guide_id: str) -> None:
    with store.atomic():
        store.db.execute(
            "insert or ignore into server_approvals (server_id, guide_id, approved_at) values (?, ?, ?)",
            [server_id, guide_id, now_iso()],
        )


# chunks of a job ------------------------------------------------------------------------------


def done_chunks(store: Store, session_id: int, job: str) -> dict[tuple[str, float, float], list[list]]:
    """The chunks of this job done before, by (speaker, start, end): their words as stored."""
    out = {}
    for r in store.db.query(
        "select speaker, start, end, words from server_chunks where session_id = ? and job = ?", [session_id, job]
    ):
        out[(r["speaker"], r["start"], r["end"])] = json.loads(r["words"])
    return out


def keep_chunk(store: Store, session_id: int, job: str, speaker: str, start: float, end: float,
               words: list[list]) -> None:
    with store.atomic():
        store.db.execute(
            "insert into server_chunks (session_id, job, speaker, start, end, words, done_at) values (?, ?, ?, ?, ?, ?, ?)",
            [session_id, job, speaker, start, end, json.dumps(words, ensure_ascii=False), now_iso()],
        )


def forget_chunks(store: Store, session_id: int, keep_job: str | None = None) -> None:
    """The session's kept chunks, but those of `keep_job`, go: a job applied needs none, and a
    job for other settings (another server, model or language) none of the others'."""
    with store.atomic():
        store.db.execute("delete from server_chunks where session_id = ? and job is not ?", [session_id, keep_job])


def chunk_count(store: Store, session_id: int) -> int:
    return store.db.execute("select count(*) from server_chunks where session_id = ?", [session_id]).fetchone()[0]
