"""The utterances of a live session through a group's server that this machine's model heard in
its stead (the server slower than the live budget, or away): queued here until the server's words
for them are applied (core.pipeline.server_job.send_queued)."""

from __future__ import annotations

from core.store.database import Store, now_iso


def queue_local_segments(store: Store, session_id: int, server: str) -> int:
    """Queue the session's recognised segments that no server heard; how many are queued now."""
    with store.atomic():
        store.db.execute(
            "insert or ignore into server_queue (session_id, segment_id, server, queued_at) "
            "select session_id, id, ?, ? from segments where session_id = ? and origin = 'asr' and server is null "
            "and start is not null and end is not null",
            [server, now_iso(), session_id],
        )
    return queued_count(store, session_id)


def queued_segments(store: Store, session_id: int) -> list[dict]:
    """The queued segments (id, speaker, start, end, text), in time order."""
    return list(store.db.query(
        "select s.id, s.speaker, s.start, s.end, s.text, q.server from server_queue q "
        "join segments s on s.id = q.segment_id where q.session_id = ? order by s.start, s.id",
        [session_id],
    ))


def queued_count(store: Store, session_id: int) -> int:
    return store.db.execute("select count(*) from server_queue where session_id = ?", [session_id]).fetchone()[0]


def unqueue(store: Store, segment_ids: list[int]) -> None:
    with store.atomic():
        for segment_id in segment_ids:
            store.db.execute("delete from server_queue where segment_id = ?", [segment_id])
