"""SQL lives in core/store/: no other module of core, and nothing in tui/, talks to SQLite.

A module outside the store that wants rows calls a function or a Store method that reads them.
What counts as talking to SQLite, found in the syntax tree: importing sqlite3 or sqlite_utils;
calling `.execute`, `.executemany`, `.executescript` or `.rows_where` on anything; and reaching
into a store's connection, `x.db` or `x.conn` (a store's sqlite-utils database and its sqlite3
connection). In core, `.query(...)` is sqlite-utils' too; in tui it is Textual's DOM query, and
`args.db` there is the --db option.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_CALLS = {"execute", "executemany", "executescript", "rows_where"}
CONNECTIONS = {"db", "conn"}


def sql_uses(path: Path, *, textual: bool, root: Path = ROOT) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in ("sqlite3", "sqlite_utils")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("sqlite3", "sqlite_utils"):
            found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in SQL_CALLS or (name == "query" and not textual):
                found.append(f"{where} calls .{name}()")
        elif isinstance(node, ast.Attribute) and node.attr in CONNECTIONS:
            if isinstance(node.value, ast.Name) and node.value.id == "args":
                continue  # the --db option
            found.append(f"{where} reaches into .{node.attr}")
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_no_module_of_core_outside_the_store_talks_to_sqlite():
    store = ROOT / "core" / "store"
    found = [use for p in modules("core") if store not in p.parents for use in sql_uses(p, textual=False)]
    assert found == []


def test_nothing_in_tui_talks_to_sqlite():
    found = [use for p in modules("tui") for use in sql_uses(p, textual=True)]
    assert found == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    # Each way of reaching SQLite is caught, so an empty answer above means something.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlite3\n"
        "from sqlite_utils import Database\n"
        "store.db.execute('select 1')\n"
        "rows = store.db['segments'].rows_where('id = ?', [1])\n"
        "store.db.query('select 1')\n"
        "conn = store.conn\n"
        "path = args.db\n"
    )
    found = sorted(use.split(" ", 1)[1] for use in sql_uses(sample, textual=False, root=tmp_path))
    assert found == sorted([
        "imports sqlite3", "imports from sqlite_utils", "calls .execute()", "reaches into .db",
        "calls .rows_where()", "reaches into .db", "calls .query()", "reaches into .db", "reaches into .conn",
    ])
    in_tui = [use.split(" ", 1)[1] for use in sql_uses(sample, textual=True, root=tmp_path)]
    assert "calls .query()" not in in_tui and len(in_tui) == len(found) - 1
