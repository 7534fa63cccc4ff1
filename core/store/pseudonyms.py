"""The study's list of names and their replacements (table `pseudonyms`), as stored.

What a name matches, and which names may be listed, is core/interchange/pseudonymise.py's.
"""

from __future__ import annotations

from core.store.database import Store, now_iso


def listed_pseudonyms(store: Store) -> list[tuple[int, str, str]]:
    """(id, name, replacement) of every listed name, in the order they were added."""
    return store.db.execute("select id, name, replacement from pseudonyms order by id").fetchall()


def insert_pseudonym(store: Store, name: str, replacement: str) -> None:
    with store.db.atomic():
        store.db["pseudonyms"].insert({"name": name, "replacement": replacement, "created_at": now_iso()})


def delete_pseudonym(store: Store, pseudonym_id: int) -> None:
    with store.db.atomic():
        store.db["pseudonyms"].delete(pseudonym_id)
