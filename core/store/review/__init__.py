"""Corrections and coding after the interview, each one a transaction that can be undone.

    changes      the change recorder: one edit, its rows before and after; undo, redo, history
    corrections  a segment's text, a split, a merge, its speaker (or several segments'); codings
                 follow their text
    coding       suggestions accepted, rejected or changed; codings added and removed
    notes        memos and bookmarks added in review
    loading      a session as the review screen reads it, and the lookups the edits share

Callers use the names below (`from core.store import review`, then `review.edit_text(...)`);
changes and loading import no other module of review; the rest import those two.
"""

from core.store.review.changes import HISTORY_LIMIT, Changes, Edit, history, recorded, redo, undo
from core.store.review.coding import (
    accept_confident,
    accept_suggestion,
    add_coding,
    change_suggestion,
    confident_suggestions,
    rank_indicators,
    reject_suggestion,
    remove_coding,
    remove_codings,
)
from core.store.review.corrections import (
    OffsetMap,
    edit_text,
    merge_segments,
    remap_codings,
    set_roles,
    set_speaker,
    split_segment,
)
from core.store.review.loading import (
    SessionForReview,
    bookmark_places,
    dimension_memos,
    guide_of_session,
    load_session,
    neighbours,
    segment_record,
)
from core.store.review.notes import (
    MEMO_TARGETS,
    add_bookmark,
    add_memo,
    bookmark_time,
    delete_bookmark,
    delete_memo,
    edit_bookmark,
    edit_memo,
)

__all__ = [
    "HISTORY_LIMIT", "Changes", "Edit", "history", "recorded", "redo", "undo",
    "accept_confident", "accept_suggestion", "add_coding", "change_suggestion", "confident_suggestions",
    "rank_indicators", "reject_suggestion", "remove_coding", "remove_codings",
    "OffsetMap", "edit_text", "merge_segments", "remap_codings", "set_roles", "set_speaker", "split_segment",
    "SessionForReview", "bookmark_places", "dimension_memos", "guide_of_session", "load_session",
    "neighbours", "segment_record",
    "MEMO_TARGETS", "add_bookmark", "add_memo", "bookmark_time", "delete_bookmark", "delete_memo",
    "edit_bookmark", "edit_memo",
]
