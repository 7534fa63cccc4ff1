"""The house's layers: each package of core/ imports only from itself and the packages below it.

The order is core/__init__.py's, bottom first. A module that reaches up (the store importing
the pipeline, say) or a circle between two modules fails here, with the line that does it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"

LAYERS = ["base", "study", "audio", "speech", "store", "understanding", "interchange", "analysis", "pipeline", "doctor"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every core module this file imports, wherever the import stands
    (inside functions and under TYPE_CHECKING too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "core"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "core":
                continue
            for alias in node.names:
                # `from core.store import review` imports the module core.store.review
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if module_path(sub) else target))
    return found


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_every_package_of_core_is_a_known_layer():
    tops = {p.relative_to(CORE).parts[0].removesuffix(".py") for p in core_modules()} - {"__init__"}
    assert tops == set(LAYERS), "core/__init__.py and LAYERS name the packages of core/"


def test_the_layers_are_written_down_in_the_order_checked():
    doc = ast.get_docstring(ast.parse((CORE / "__init__.py").read_text()))
    listed = [line.split()[0] for line in doc.splitlines() if line.startswith("    ")]
    assert listed == LAYERS


def test_no_package_imports_one_above_it():
    wrong = []
    for path in core_modules():
        mine = LAYERS.index(layer(module_name(path))) if layer(module_name(path)) else len(LAYERS)
        for line, target in imports(path):
            theirs = layer(target)
            assert module_path(target), f"{path.relative_to(ROOT)}:{line} imports {target}, which does not exist"
            if theirs and LAYERS.index(theirs) > mine:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == []


def test_no_two_modules_of_core_import_each_other():
    graph = {module_name(p): {t for _, t in imports(p)} for p in core_modules()}
    circles = []

    def visit(node, trail):
        for nxt in sorted(graph.get(node, ())):
            if nxt == trail[0]:
                circles.append(" -> ".join(trail + [nxt]))
            elif nxt not in trail and nxt in graph and len(trail) < 12 and nxt > trail[0]:
                visit(nxt, trail + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert circles == []
