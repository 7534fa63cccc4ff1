"""The SQLite database and every query on it. SQL lives in this package and nowhere else in core
or tui (tests/test_sql_in_store.py checks it).

    migrations   the schema, as ordered append-only migrations
    connection   the connection's write lock, a full disk told apart from damage
    database     the Store: sessions, segments, suggestions, codings, memos, bookmarks, search
    review/      edits after the interview with their undo log (corrections, coding, notes)
    respondents  respondents by number, and their attributes
    browse       the sessions overview and full-text search across sessions
    passages     what the comparison across sessions reads: counts per column, coded passages
    pseudonyms   the study's list of names and their replacements
    health       whether a database file is sound, read without writing (for the doctor)
    deletion     deleting a session for good

Imports core.base and core.study (a session keeps its guide).
"""
