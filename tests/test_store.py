"""The database schema, built from a blank database by the migrations, asserted whole."""

from __future__ import annotations

import sqlite3

import pytest

from core.store.database import NewSegment, NewSuggestion, Store
from core.store.migrations import migrations

SCHEMA = {
    "_sqlite_migrations": ["id", "migration_set", "name", "applied_at"],
    "sessions": ["id", "title", "guide_id", "guide_title", "guide_digest", "guide_toml", "language",
                 "respondent", "case_name", "consent_at", "started_at", "ended_at", "duration", "status",
                 "origin", "model", "audio_dir", "current_question"],
    "segments": ["id", "session_id", "speaker", "speaker_label", "start", "end", "text", "asr_text",
                 "origin", "edited", "asks", "question", "created_at", "model", "server"],
    "segments_fts": ["text"],
    "question_events": ["id", "session_id", "question", "at", "kind", "segment_id", "score"],
    "suggestions": ["id", "segment_id", "rank", "dimension_id", "indicator_id", "score", "reason", "state"],
    "codings": ["id", "segment_id", "dimension_id", "indicator_id", "start_offset", "end_offset", "origin",
                "suggestion_id", "created_at"],
    "memos": ["id", "session_id", "target", "target_id", "text", "created_at"],
    "pseudonyms": ["id", "name", "replacement", "created_at"],
    "respondents": ["number", "organisation", "role"],
    "edits": ["id", "session_id", "at", "label", "changes", "undone"],
    "session_counts": ["session_id", "segments", "respondent_segments", "coded_segments", "codings", "last_end"],
    "code_counts": ["session_id", "dimension_id", "indicator_id", "codings"],
    "dimension_passages": ["session_id", "dimension_id", "passages"],
    "gaps": ["id", "session_id", "track", "start", "end", "reason", "detail"],
    "live_bookmarks": ["id", "session_id", "at", "note", "created_at"],
    "recording_sources": ["id", "session_id", "path", "size", "mtime", "role", "linked", "staged"],
    "servers": ["id", "name", "url", "model", "token_env", "insecure_http", "created"],
    "server_approvals": ["id", "server_id", "guide_id", "approved_at"],
    "server_chunks": ["id", "session_id", "job", "speaker", "start", "end", "words", "done_at"],
    "server_queue": ["id", "session_id", "segment_id", "server", "queued_at"],
}

FOREIGN_KEYS = {
    ("segments", "session_id", "sessions"),
    ("question_events", "session_id", "sessions"),
    ("question_events", "segment_id", "segments"),
    ("suggestions", "segment_id", "segments"),
    ("codings", "segment_id", "segments"),
    ("codings", "suggestion_id", "suggestions"),
    ("memos", "session_id", "sessions"),
    ("recording_sources", "session_id", "sessions"),
    ("server_approvals", "server_id", "servers"),
    ("server_chunks", "session_id", "sessions"),
    ("server_queue", "session_id", "sessions"),
    ("server_queue", "segment_id", "segments"),
}


def test_a_blank_database_gets_the_whole_schema(memory_store):
    tables = {
        t.name: [c.name for c in t.columns]
        for t in memory_store.db.tables
        if not t.name.startswith("segments_fts_")
    }
    assert tables == SCHEMA
    fks = {(t.name, fk.column, fk.other_table) for t in memory_store.db.tables for fk in t.foreign_keys}
    assert FOREIGN_KEYS <= fks
    applied = [m.name for m in migrations.applied(memory_store.db)]
    assert applied == [m.name for m in migrations._migrations]
    assert applied[0] == "m001_initial" and applied == sorted(applied)  # ordered, numbered


def test_a_file_database_is_private_in_wal_mode_and_reopens(tmp_path):
    path = tmp_path / "study" / "fieldnote.db"
    store = Store(path)
    assert store.db.journal_mode == "wal"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    store.close()
    again = Store(path)  # applying migrations to an up-to-date database changes nothing
    assert [m.name for m in migrations.pending(again.db)] == []
    again.close()


def test_an_older_database_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    db = __import__("sqlite_utils").Database(path)
    names = [m.name for m in migrations._migrations]
    migrations.apply(db, stop_before=names[1])  # the database as the first version left it
    db["sessions"].insert({"id": 1, "guide_id": "g", "guide_toml": "x", "started_at": "2026-01-01", "status": "completed", "origin": "import"})
    db["segments"].insert({"id": 1, "session_id": 1, "speaker": "respondent", "text": "vertrouwen was goed"})
    db.close()
    store = Store(path)
    assert [m.name for m in migrations.applied(store.db)] == names
    assert store.segments(1)[0]["text"] == "vertrouwen was goed"
    assert [r["id"] for r in store.search("vertrouwen")] == [1]
    store.close()


def test_a_segment_is_stored_with_its_suggestions_and_question_in_one_transaction(memory_store):
    from core.study.guide import load_guide

    guide = load_guide("koers-en-kansen")
    sid = memory_store.create_session(guide, origin="demo")
    seg = NewSegment("respondent", "Het vertrouwen was groot.", 1.0, 2.5, asks=None, question=6,
                     suggestions=[NewSuggestion("vertrouwen", guide.dimension("vertrouwen").indicators[0].id, 0.9, "said 'vertrouwen'")])
    seg_id = memory_store.add_segment(sid, seg)
    assert memory_store.suggestions_for([seg_id])[seg_id][0]["dimension_id"] == "vertrouwen"
    bad = NewSegment("respondent", "x", 3.0, 4.0, suggestions=[NewSuggestion("vertrouwen", "ind", None, "")])  # score is required
    with pytest.raises((sqlite3.IntegrityError, TypeError)):
        memory_store.add_segment(sid, bad)  # fails after the segment row was inserted
    assert [s["id"] for s in memory_store.segments(sid)] == [seg_id]  # the half-written segment was rolled back


def test_search_treats_user_input_as_words(memory_store):
    from core.study.guide import load_guide

    sid = memory_store.create_session(load_guide("remote-work-en"), origin="demo")
    memory_store.add_segment(sid, NewSegment("respondent", "My manager trusts me (mostly)", 0, 1))
    for query in ['trust', '"trust', 'trust AND', '(mostly', 'NEAR(']:
        memory_store.search(query)  # never an FTS syntax error
    assert len(memory_store.search("trust")) == 1


def test_a_withdrawn_question_is_taken_off_the_segment_that_asked_it_and_counts_as_not_asked(memory_store):
    from core.study.guide import load_guide

    guide = load_guide("koers-en-kansen")
    sid = memory_store.create_session(guide, origin="demo")
    memory_store.add_segment(sid, NewSegment("interviewer", "Wat werd er verwacht?", 0.0, 2.0, asks=10, question=10,
                                             question_score=0.97))
    early = memory_store.add_segment(sid, NewSegment("interviewer", "En als laatste vraagje", 10.0, 12.0, asks=24,
                                                     question=24, question_score=0.65))
    assert memory_store.asked_questions(sid) == {10, 24}
    rest = memory_store.add_segment(sid, NewSegment("interviewer", "Kennisuitwisseling gericht?", 12.5, 14.0,
                                                    asks=11, question=11, question_score=0.9, withdraws=24))
    asks = {s["id"]: s["asks"] for s in memory_store.segments(sid)}
    assert asks[early] is None and asks[rest] == 11
    events = [(e["question"], e["kind"]) for e in memory_store.db["question_events"].rows_where(
        "session_id = ?", [sid], order_by="id")]
    assert events == [(10, "detected"), (24, "withdrawn"), (11, "detected")]
    assert memory_store.asked_questions(sid) == {10, 11}
    assert memory_store.session(sid)["current_question"] == 11
    # Asked later after all, it is asked there.
    memory_store.add_segment(sid, NewSegment("interviewer", "Heeft u nog iets toe te voegen?", 90.0, 92.0, asks=24,
                                             question=24, question_score=0.99))
    assert memory_store.asked_questions(sid) == {10, 11, 24}
