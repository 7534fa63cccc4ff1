"""How much the fault tests try, and what they do when something outside the project is missing.

Read here and nowhere else, so that every test file and the README's faults table agree:

    (default)          the short run: 6 kills of the headless demo, 3 of each other kind, the
                       fuzz example counts the table gives; tests whose tool is missing skip
    FIELDNOTE_LONG=1   the long run the table reports: 50 kills of each kind, ten times the fuzz
                       examples, and a full-disk test that cannot mount its small filesystem
                       (it needs root) fails instead of skipping
    FIELDNOTE_KILLS=N  N kills of each kind, in either run (to look at one kind closely)
    CI=true            a check against the REFI-QDA schemas in ../shared fails when they are
                       not there, instead of skipping; so does the system-call check of
                       network use (tests/test_offline_syscalls.py) without strace
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LONG = os.environ.get("FIELDNOTE_LONG") == "1"
IN_CI = os.environ.get("CI") == "true"
LONG_KILLS = 50
LONG_FUZZ = 10  # times the default examples

REFI_CHECKER = Path(__file__).resolve().parents[2] / "shared" / "refi-qda" / "check_qdpx.py"


def kills(default: int) -> int:
    """How many times a kill test kills its command."""
    return int(os.environ.get("FIELDNOTE_KILLS") or (LONG_KILLS if LONG else default))


def examples(default: int) -> int:
    """How many examples a fuzz test draws."""
    return default * LONG_FUZZ if LONG else default


def needs_root(reason: str) -> None:
    """A test that cannot run without root: skipped in the short run, failed in the long one,
    which claims every row of the faults table."""
    if LONG:
        pytest.fail(f"FIELDNOTE_LONG=1 runs every fault test, and this one cannot run: {reason}")
    pytest.skip(reason)


def check_qdpx(path: Path) -> None:
    """The REFI-QDA project or codebook at `path` passes the schemas' checker (../shared/refi-qda).

    Without the checker the test skips, saying so; in CI it fails, because there a skip would
    hide that no export was validated."""
    if not REFI_CHECKER.is_file():
        message = f"{REFI_CHECKER} is not here: the exports cannot be checked against the REFI-QDA schemas"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([sys.executable, str(REFI_CHECKER), str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stdout + result.stderr


def strace() -> str:
    """The strace command, for a test that watches a process's system calls.

    Without it (or where it may not trace) the test skips, saying so; in CI it fails, because
    there a skip would hide that nothing was watched."""
    tool = shutil.which("strace")
    reason = None
    if tool is None:
        reason = "strace is not installed (the Debian package strace, listed in .ci/debian-packages)"
    else:
        probe = subprocess.run([tool, "-f", "-o", os.devnull, "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            reason = f"strace cannot trace here: {probe.stderr.strip()}"
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return tool


def killed_demo(db: Path, env: dict, linger: float = 0.0) -> tuple[int, list[dict]]:
    """`fieldnote demo --fast --no-ui` (tiny.en) into `db`, killed with SIGKILL `linger` seconds
    after its first printed segment (the model is loaded by then). Returns its exit status and
    the segments it printed whole (a line cut off by the kill was never a whole record)."""
    import json
    import signal
    import threading
    import time

    proc = subprocess.Popen(
        ["fieldnote", "--db", str(db), "demo", "--fast", "--no-ui", "--model", "tiny.en"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    printed: list[dict] = []

    def read() -> None:
        for line in proc.stdout:
            if line.endswith("\n"):
                printed.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not printed and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(linger)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    return proc.returncode, printed


def like_a_terminal() -> None:
    """For `preexec_fn`: the child takes Ctrl-C as a program started from a terminal does. A test
    run started in the background by a script (`pytest &` in a non-interactive shell) ignores
    SIGINT, as POSIX has it, and so does every child it starts: Python then never raises
    KeyboardInterrupt in them, and a test of what Ctrl-C does fails for the way it was run."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
