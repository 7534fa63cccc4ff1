"""Loaded by every Python process a test starts (tests/_network_guard.py puts this folder on
PYTHONPATH): the same socket guard as in the test process, outside pytest."""

import os
import sys


def _guard() -> None:
    log = os.environ.get("FIELDNOTE_NETWORK_GUARD_LOG")
    if not log:
        return
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        import _network_guard
    finally:
        del sys.path[0]
    _network_guard.install(log)


def _chain() -> None:
    # This file hides the machine's own sitecustomize, if there is one: run it as well.
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        sys.modules["sitecustomize"] = me


_guard()
_chain()
