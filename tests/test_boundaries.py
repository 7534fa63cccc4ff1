"""The house's shape: core/ is the product without a screen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_all_of_core_leaves_textual_unloaded():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in (ROOT / "core").rglob("*.py"))
    assert len(modules) > 40
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tui')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_core_loads_no_model_and_opens_no_database(tmp_path):
    code = (
        "import sys, importlib, pathlib\n"
        "import core.store.database, core.pipeline.live, core.pipeline.demo, core.speech.models, core.speech.transcriber\n"
        "print('faster_whisper' in sys.modules, 'ctranslate2' in sys.modules)\n"
        "print(sorted(p.name for p in pathlib.Path(sys.argv[1]).iterdir()))\n"
    )
    env = {"FIELDNOTE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split("\n")[:2] == ["False False", "[]"]
