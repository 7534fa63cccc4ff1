"""The schema of the study database, as the ordered list of migrations that builds it.

Append-only: a migration that has shipped is never edited, since databases in the field
already ran it. A change to the schema is a new function at the end of this module, named
`m00N_what_it_does` and registered with `@migrations()`; `Store` applies the pending ones every
time it opens a database (core/store/database.py), and tests/test_store.py asserts the schema
they build, from a blank database and from an older one.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("fieldnote")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["sessions"].create(
        {
            "id": int,
            "title": str,
            "guide_id": str,
            "guide_title": str,
            "guide_digest": str,
            "guide_toml": str,  # the guide as it was: the session stays readable if the file changes
            "language": str,
            "respondent": str,
            "case_name": str,
            "consent_at": str,
            "started_at": str,
            "ended_at": str,
            "duration": float,
            "status": str,  # recording | completed | interrupted | imported
            "origin": str,  # live, demo, import
            "model": str,
            "audio_dir": str,
            "current_question": int,
        },
        pk="id",
        not_null={"guide_id", "guide_toml", "started_at", "status", "origin"},
        defaults={"status": "recording"},
    )
    db["segments"].create(
        {
            "id": int,
            "session_id": int,
            "speaker": str,  # interviewer | respondent
            "speaker_label": str,
            "start": float,
            "end": float,
            "text": str,
            "asr_text": str,  # what the recogniser heard, kept when the text is edited
            "origin": str,  # asr, import
            "edited": int,
            "asks": int,  # the guide question this segment asks
            "question": int,  # the guide question in effect when it was spoken
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "speaker", "text"},
        defaults={"edited": 0},
    )
    db["segments"].create_index(["session_id", "start"])
    db["segments"].enable_fts(["text"], create_triggers=True, tokenize="unicode61 remove_diacritics 2")
    db["question_events"].create(
        {
            "id": int,
            "session_id": int,
            "question": int,
            "at": float,
            "kind": str,  # detected | manual | withdrawn (a detection the rest of its turn contradicted)
            "segment_id": int,
            "score": float,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id"), ("segment_id", "segments", "id")],
    )
    db["question_events"].create_index(["session_id"])
    db["suggestions"].create(
        {
            "id": int,
            "segment_id": int,
            "rank": int,
            "dimension_id": str,
            "indicator_id": str,
            "score": float,
            "reason": str,
            "state": str,  # pending | accepted | rejected
        },
        pk="id",
        foreign_keys=[("segment_id", "segments", "id")],
        not_null={"segment_id", "dimension_id", "indicator_id", "score", "state"},
        defaults={"state": "pending"},
    )
    db["suggestions"].create_index(["segment_id"])
    db["codings"].create(
        {
            "id": int,
            "segment_id": int,
            "dimension_id": str,
            "indicator_id": str,
            "start_offset": int,  # in the segment's text, code points; null = the whole segment
            "end_offset": int,
            "origin": str,  # suggestion | manual | import
            "suggestion_id": int,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("segment_id", "segments", "id"), ("suggestion_id", "suggestions", "id")],
        not_null={"segment_id", "dimension_id", "indicator_id", "origin"},
    )
    db["codings"].create_index(["segment_id"])
    db["memos"].create(
        {
            "id": int,
            "session_id": int,
            "target": str,  # session | segment | coding | dimension
            "target_id": str,
            "text": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"target", "text", "created_at"},
    )


@migrations()
def m002_pseudonyms_and_respondents(db: sqlite_utils.Database) -> None:
    # Study-level lists used by exports (core/interchange/pseudonymise.py, core/store/respondents.py).
    db["pseudonyms"].create(
        {"id": int, "name": str, "replacement": str, "created_at": str},
        pk="id",
        not_null={"name", "replacement", "created_at"},
    )
    db.execute("create unique index pseudonyms_name on pseudonyms (name collate nocase)")
    db["respondents"].create(
        {"number": int, "organisation": str, "role": str},
        pk="number",
    )


@migrations()
def m003_review_edit_log(db: sqlite_utils.Database) -> None:
    # core/store/review/changes.py: each correction after the interview is one row here, holding
    # every row it changed before and after (JSON), so it can be undone and redone.
    db["edits"].create(
        {"id": int, "session_id": int, "at": str, "label": str, "changes": str, "undone": int},
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"at", "label", "changes", "undone"},
        defaults={"undone": 0},
    )
    db["edits"].create_index(["session_id", "id"])
    # Covering indexes for the sessions overview and the comparison matrix across many sessions.
    db["segments"].create_index(["session_id", "speaker", "end"])
    db["codings"].create_index(["segment_id", "dimension_id", "start_offset", "end_offset", "indicator_id"])
    db["memos"].create_index(["session_id"])


@migrations()
def m004_review_counts(db: sqlite_utils.Database) -> None:
    # Counts kept up to date by triggers, whoever writes: the sessions overview and the
    # comparison matrix read a few rows per session instead of joining every coding of the
    # study (bench/bench_review.py). A passage is a coded (segment, span); a dimension counts
    # each passage once, however many of its indicators code it.
    for sql in _REVIEW_COUNTS_SQL:
        db.execute(sql)
    # Each session row carries its guide's text; these lists and groupings read indexes instead.
    db["sessions"].create_index(
        ["started_at", "id", "title", "respondent", "case_name", "guide_id", "guide_title", "duration", "status", "origin"],
        index_name="sessions_overview",
    )
    db["sessions"].create_index(["guide_id", "respondent", "case_name", "id"], index_name="sessions_compare")


_REVIEW_COUNTS_SQL = [
    """create table session_counts (
        session_id integer primary key, segments integer not null default 0,
        respondent_segments integer not null default 0, coded_segments integer not null default 0,
        codings integer not null default 0, last_end real)""",
    """create table code_counts (
        session_id integer not null, dimension_id text not null, indicator_id text not null,
        codings integer not null default 0, primary key (session_id, dimension_id, indicator_id)) without rowid""",
    """create table dimension_passages (
        session_id integer not null, dimension_id text not null, passages integer not null default 0,
        primary key (session_id, dimension_id)) without rowid""",
    # Existing data.
    """insert into session_counts (session_id, segments, respondent_segments, last_end)
        select session_id, count(*), sum(speaker = 'respondent'), max("end") from segments group by session_id""",
    """update session_counts set
        coded_segments = (select count(distinct c.segment_id) from codings c join segments g on g.id = c.segment_id
                          where g.session_id = session_counts.session_id),
        codings = (select count(*) from codings c join segments g on g.id = c.segment_id
                   where g.session_id = session_counts.session_id)""",
    """insert into code_counts select g.session_id, c.dimension_id, c.indicator_id, count(*)
        from codings c join segments g on g.id = c.segment_id group by 1, 2, 3""",
    """insert into dimension_passages select session_id, dimension_id, count(*) from (
        select distinct g.session_id, c.dimension_id, c.segment_id, c.start_offset, c.end_offset
        from codings c join segments g on g.id = c.segment_id) group by 1, 2""",
    # Segments.
    """create trigger counts_segment_insert after insert on segments begin
        insert into session_counts (session_id, segments, respondent_segments, last_end)
          values (new.session_id, 1, new.speaker = 'respondent', new."end")
          on conflict (session_id) do update set segments = segments + 1,
            respondent_segments = respondent_segments + (new.speaker = 'respondent'),
            last_end = max(coalesce(last_end, new."end"), coalesce(new."end", last_end));
      end""",
    """create trigger counts_segment_delete after delete on segments begin
        update session_counts set segments = segments - 1,
            respondent_segments = respondent_segments - (old.speaker = 'respondent'),
            last_end = (select max("end") from segments where session_id = old.session_id)
          where session_id = old.session_id;
      end""",
    """create trigger counts_segment_update after update of speaker, "end" on segments begin
        update session_counts set
            respondent_segments = respondent_segments - (old.speaker = 'respondent') + (new.speaker = 'respondent'),
            last_end = (select max("end") from segments where session_id = new.session_id)
          where session_id = new.session_id;
      end""",
    # Codings: the sole coding of a segment makes it coded; the first coding of a dimension on a
    # (segment, span) makes a passage of that dimension.
    """create trigger counts_coding_insert after insert on codings begin
        insert into code_counts (session_id, dimension_id, indicator_id, codings)
          select session_id, new.dimension_id, new.indicator_id, 1 from segments where id = new.segment_id
          on conflict (session_id, dimension_id, indicator_id) do update set codings = codings + 1;
        insert into dimension_passages (session_id, dimension_id, passages)
          select session_id, new.dimension_id, 1 from segments where id = new.segment_id
            and (select count(*) from codings c where c.segment_id = new.segment_id and c.dimension_id = new.dimension_id
                 and c.start_offset is new.start_offset and c.end_offset is new.end_offset) = 1
          on conflict (session_id, dimension_id) do update set passages = passages + 1;
        update session_counts set codings = codings + 1,
            coded_segments = coded_segments + ((select count(*) from codings where segment_id = new.segment_id) = 1)
          where session_id = (select session_id from segments where id = new.segment_id);
      end""",
    """create trigger counts_coding_delete after delete on codings begin
        update code_counts set codings = codings - 1
          where session_id = (select session_id from segments where id = old.segment_id)
            and dimension_id = old.dimension_id and indicator_id = old.indicator_id;
        update dimension_passages set passages = passages - 1
          where session_id = (select session_id from segments where id = old.segment_id)
            and dimension_id = old.dimension_id
            and not exists (select 1 from codings c where c.segment_id = old.segment_id
                            and c.dimension_id = old.dimension_id and c.start_offset is old.start_offset
                            and c.end_offset is old.end_offset);
        update session_counts set codings = codings - 1,
            coded_segments = coded_segments - (not exists (select 1 from codings where segment_id = old.segment_id))
          where session_id = (select session_id from segments where id = old.segment_id);
      end""",
    """create trigger counts_coding_update
      after update of segment_id, dimension_id, indicator_id, start_offset, end_offset on codings begin
        update code_counts set codings = codings - 1
          where session_id = (select session_id from segments where id = old.segment_id)
            and dimension_id = old.dimension_id and indicator_id = old.indicator_id;
        insert into code_counts (session_id, dimension_id, indicator_id, codings)
          select session_id, new.dimension_id, new.indicator_id, 1 from segments where id = new.segment_id
          on conflict (session_id, dimension_id, indicator_id) do update set codings = codings + 1;
        update dimension_passages set passages = passages - 1
          where session_id = (select session_id from segments where id = old.segment_id)
            and dimension_id = old.dimension_id
            and not exists (select 1 from codings c where c.segment_id = old.segment_id
                            and c.dimension_id = old.dimension_id and c.start_offset is old.start_offset
                            and c.end_offset is old.end_offset);
        insert into dimension_passages (session_id, dimension_id, passages)
          select session_id, new.dimension_id, 1 from segments where id = new.segment_id
            and not (old.segment_id = new.segment_id and old.dimension_id = new.dimension_id
                     and old.start_offset is new.start_offset and old.end_offset is new.end_offset)
            and (select count(*) from codings c where c.segment_id = new.segment_id and c.dimension_id = new.dimension_id
                 and c.start_offset is new.start_offset and c.end_offset is new.end_offset) = 1
          on conflict (session_id, dimension_id) do update set passages = passages + 1;
        update session_counts set
            coded_segments = coded_segments - (not exists (select 1 from codings where segment_id = old.segment_id)),
            codings = codings - 1
          where session_id = (select session_id from segments where id = old.segment_id);
        update session_counts set codings = codings + 1,
            coded_segments = coded_segments + (old.segment_id != new.segment_id
              and (select count(*) from codings where segment_id = new.segment_id) = 1)
          where session_id = (select session_id from segments where id = new.segment_id);
      end""",
    """create trigger counts_session_delete after delete on sessions begin
        delete from session_counts where session_id = old.id;
        delete from code_counts where session_id = old.id;
        delete from dimension_passages where session_id = old.id;
      end""",
]


@migrations()
def m005_capture_gaps(db: sqlite_utils.Database) -> None:
    # core/audio/capture.py: stretches of a live recording without audio from a track (a device that
    # vanished, a pause, a muted track), so a reader of the audio knows why it is silent there.
    db["gaps"].create(
        {
            "id": int,
            "session_id": int,
            "track": str,  # interviewer | respondent; null: both tracks
            "start": float,  # session seconds
            "end": float,  # null while the gap lasts
            "reason": str,  # device | paused | muted | interrupted
            "detail": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "start", "reason"},
    )
    db["gaps"].create_index(["session_id", "start"])


@migrations()
def m006_live_bookmarks(db: sqlite_utils.Database) -> None:
    # A moment the interviewer marked during the live interview (the `b` key), with an optional
    # short note typed there and then. Anchored to session time, not to a segment: the segment
    # spoken then may not be transcribed yet, and later splits, merges and re-transcriptions
    # move segments but not what happened when.
    db["live_bookmarks"].create(
        {
            "id": int,
            "session_id": int,
            "at": float,  # session seconds
            "note": str,  # null: a bookmark without a note
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "at", "created_at"},
    )
    db["live_bookmarks"].create_index(["session_id", "at"])


@migrations()
def m007_transcription_servers(db: sqlite_utils.Database) -> None:
    # A research group's Whisper server (core/store/servers.py). The token is never stored: only the
    # name of the environment variable that holds it.
    db["servers"].create(
        {
            "id": int,
            "name": str,
            "url": str,
            "model": str,  # the model asked for; null: the server's default
            "token_env": str,  # null: the server wants no token
            "insecure_http": int,  # 1: plain http to a public address was allowed by the user
            "created": str,
        },
        pk="id",
        not_null={"name", "url", "created"},
        defaults={"insecure_http": 0},
    )
    db["servers"].create_index(["name"], unique=True)
    # The answer to "send this study's audio to that server?", asked once per study (guide).
    db["server_approvals"].create(
        {"id": int, "server_id": int, "guide_id": str, "approved_at": str},
        pk="id",
        foreign_keys=[("server_id", "servers", "id")],
        not_null={"server_id", "guide_id", "approved_at"},
    )
    db["server_approvals"].create_index(["server_id", "guide_id"], unique=True)
    # What a server gave for each chunk of a job not yet applied, so that a job that died resumes
    # from the last chunk done. Deleted once the job is applied.
    db["server_chunks"].create(
        {
            "id": int,
            "session_id": int,
            "job": str,  # a digest of the server, model, language, options and chunk plan
            "speaker": str,
            "start": float,
            "end": float,
            "words": str,  # JSON: [[start, end, text], ...] in session seconds
            "done_at": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "job", "speaker", "start", "end", "words", "done_at"},
    )
    db["server_chunks"].create_index(["session_id", "job"])
    # Which model, and which server (null: this machine), last transcribed a segment.
    db["segments"].add_column("model", str)
    db["segments"].add_column("server", str)


@migrations()
def m008_recording_sources(db: sqlite_utils.Database) -> None:
    # The files a session was imported from (core/store/recordings.py): a recording or its
    # transcript, by resolved path, size and modification time, so a stopped queue skips what
    # it stored; `staged` names the folder its audio waited in before the session was stored.
    db["recording_sources"].create(
        {
            "id": int,
            "session_id": int,
            "path": str,
            "size": int,
            "mtime": float,
            "role": str,  # interviewer | respondent | mixed | transcript
            "linked": int,  # 1: the audio stays at `path` (not copied)
            "staged": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "path", "size", "mtime", "role"},
        defaults={"linked": 0},
    )
    db["recording_sources"].create_index(["path", "size", "mtime"])
    db["recording_sources"].create_index(["staged"])


@migrations()
def m009_server_queue(db: sqlite_utils.Database) -> None:
    # The utterances of a live session through a server that this machine's model heard instead
    # (the server slow or away), waiting to be sent to the server (core/store/server_queue.py).
    # A row goes once the server's words for it are applied.
    db["server_queue"].create(
        {
            "id": int,
            "session_id": int,
            "segment_id": int,
            "server": str,  # the name of the server the session went through
            "queued_at": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id"), ("segment_id", "segments", "id")],
        not_null={"session_id", "segment_id", "server", "queued_at"},
    )
    db["server_queue"].create_index(["segment_id"], unique=True)
    db["server_queue"].create_index(["session_id"])


# A new migration goes here, after the last one.
