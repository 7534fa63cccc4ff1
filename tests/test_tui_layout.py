"""tui/ in rooms, as tui/__init__.py lays them out: screens are built from widgets, and the
application and the commands open screens; nothing imports the other way, and imports are
absolute, as in core/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each room of tui/ and the modules above it, which it must not import.
ABOVE = {
    "widgets": ("tui.screens", "tui.commands", "tui.app", "tui.cli"),
    "screens": ("tui.commands", "tui.cli"),
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or "")


def _reaches(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


@pytest.mark.parametrize("room", sorted(ABOVE))
def test_a_room_of_tui_imports_nothing_above_it(room):
    found = [f"{path.relative_to(ROOT)} imports {name}"
             for path in sorted((ROOT / "tui" / room).glob("*.py"))
             for name in _imports(path) if _reaches(name, ABOVE[room])]
    assert found == []


def test_imports_in_tui_are_absolute():
    relative = [f"{path.relative_to(ROOT)} imports {name}"
                for path in sorted((ROOT / "tui").rglob("*.py"))
                for name in _imports(path) if name.startswith(".")]
    assert relative == []
