"""Nothing leaves the machine, seen where native code cannot hide it: the system calls.

The socket guard (tests/_network_guard.py) sees Python's sockets only. ONNX Runtime, which runs
the Silero VAD, has a telemetry uploader in its native code: some 9 s after the library loads it
looks up its collector's host (DNS on port 53, again a few seconds later), and from the first
moment it keeps a device id and an event store under ~/.cache. These tests run real commands
under strace and look at every connect, sendto and sendmsg of every thread and child process.

A non-local address is one that is not AF_UNIX, netlink or loopback; a loopback address on port
53 counts as well, since a local resolver passes the look-up on. The demo is cut short and
replayed in real time, so the run lasts longer after the VAD loads than the uploader waits,
on a fast machine as on a slow one.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from core.base import paths

from suite import strace

DEMO_SECONDS = 18.0  # replayed in real time: ONNX Runtime's first look-up came 9 s after it loaded
WATCHED = "connect,sendto,sendmsg,sendmmsg,openat"
ORT_LOADED = "onnxruntime_pybind11_state"  # the library's native module, opened as it loads

# Runs tui.cli.main as the `fieldnote` command does, with the sample folder moved to the short copy.
CLI_WITH_SAMPLES = (
    "import sys; from pathlib import Path; from core.base import paths; "
    "paths.SAMPLE_SESSIONS = Path(sys.argv[1]); del sys.argv[1]; sys.argv[0] = 'fieldnote'; "
    "from tui.cli import main; sys.exit(main())"
)

_FAMILY = re.compile(r"sa_family=(AF_[A-Z0-9]+)")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')
_SOCKET_CALL = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg)\(")
_TIME = re.compile(r"^\d+\s+(\d+\.\d+)\s")  # strace -ttt: seconds since the epoch


def _remote(address: str) -> bool:
    """One socket address as strace prints it, from `sa_family=` on: is it another machine?"""
    family = _FAMILY.match(address).group(1)
    if family in ("AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"):
        return False
    if family not in ("AF_INET", "AF_INET6"):
        return True  # a raw or packet socket: nothing fieldnote has a use for
    ip_text = next((a or b for a, b in _ADDRESS.findall(address)), "")
    try:
        ip = ipaddress.ip_address(ip_text)
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    port = _PORT.search(address)
    return not (ip.is_loopback or ip.is_unspecified) or bool(port and port.group(1) == "53")


def leaving_the_machine(trace: str) -> list[str]:
    """The socket calls in an strace log that address anything but this machine."""
    found = []
    for line in trace.splitlines():
        call = _SOCKET_CALL.search(line)
        if not call:
            continue
        tail = line[call.start():]
        starts = [m.start() for m in _FAMILY.finditer(tail)]
        addresses = [tail[a:b] for a, b in zip(starts, [*starts[1:], len(tail)])]
        if any(_remote(address) for address in addresses):
            found.append(line.strip())
    return found


def _clock(line: str) -> float:
    return float(_TIME.match(line).group(1))


def seconds_after_ort_loaded(trace: str) -> float:
    """From ONNX Runtime's native module being opened to the last traced event (the exit)."""
    lines = [l for l in trace.splitlines() if _TIME.match(l)]
    loaded = next(l for l in lines if ORT_LOADED in l)
    return _clock(lines[-1]) - _clock(loaded)


def traced(tool: str, trace: Path, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([tool, "-f", "-ttt", "-q", "-e", f"trace={WATCHED}", "-o", str(trace), *argv],
                          capture_output=True, text=True, env=env, timeout=180)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def short_demo(tmp_path) -> Path:
    """The sample folder with the English demo cut to DEMO_SECONDS."""
    folder = tmp_path / "samples"
    folder.mkdir()
    for item in paths.SAMPLE_SESSIONS.iterdir():
        if item.name != "demo-en":
            (folder / item.name).symlink_to(item)
    demo = folder / "demo-en"
    shutil.copytree(paths.SAMPLE_SESSIONS / "demo-en", demo)
    for track in demo.glob("*.flac"):
        audio, rate = sf.read(track, dtype="float32")
        sf.write(track, audio[: int(DEMO_SECONDS * rate)], rate)
    return folder


def test_demo_and_transcribe_send_nothing_off_this_machine(tmp_path, short_demo, models_home):
    tool = strace()
    home = tmp_path / "home"  # ONNX Runtime kept its device id and events under ~/.cache
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "FIELDNOTE_HOME": str(tmp_path / "fieldnote"), "FIELDNOTE_MODELS": str(models_home)}
    db = tmp_path / "study.db"
    cli = [sys.executable, "-c", CLI_WITH_SAMPLES, str(short_demo), "--db", str(db)]

    demo_trace = tmp_path / "demo.strace"
    demo = traced(tool, demo_trace, [*cli, "demo", "--no-ui", "--model", "tiny.en"], env)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.strip(), "the short demo stored no segment"
    trace = demo_trace.read_text(encoding="utf-8", errors="replace")
    assert ORT_LOADED in trace, "the demo did not load ONNX Runtime (the VAD): this test would prove nothing"
    # Real-time replay: the VAD ran longer than ONNX Runtime waited before its first look-up.
    assert seconds_after_ort_loaded(trace) >= DEMO_SECONDS - 3
    leaks = leaving_the_machine(trace)
    assert not leaks, "the demo addressed another machine:\n" + "\n".join(leaks)

    transcribe_trace = tmp_path / "transcribe.strace"
    for mode in ("batched", "sequential"):  # Silero through fieldnote's own loop, and through faster-whisper's
        out = traced(tool, transcribe_trace, [*cli, "transcribe", "1", "--model", "tiny.en", "--mode", mode], env)
        assert out.returncode == 0, out.stderr
        trace = transcribe_trace.read_text(encoding="utf-8", errors="replace")
        assert ORT_LOADED in trace
        leaks = leaving_the_machine(trace)
        assert not leaks, f"transcribe --mode {mode} addressed another machine:\n" + "\n".join(leaks)

    written = files_under(home)
    assert not written, f"a library wrote into the home directory: {written}"


def test_the_trace_reader_tells_local_from_remote():
    remote = [
        '7 01:49:19.431604 connect(15, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '7 01:49:19.431604 sendto(3, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("192.0.2.1")}, 16) = 1',
        '7 01:49:19.431604 connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>',
        '7 01:49:19.431604 sendmsg(5, {msg_name={sa_family=AF_INET, sin_port=htons(123), sin_addr=inet_addr("198.51.100.7")}, '
        'msg_namelen=16}, 0) = 48',
        '7 01:49:19.431604 connect(6, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0',
        '7 01:49:19.431604 connect(6, {sa_family=AF_PACKET, sll_protocol=htons(ETH_P_ALL)}, 20) = 0',
        '7 01:49:19.431604 sendmmsg(7, [{msg_hdr={msg_name={sa_family=AF_INET, sin_port=htons(9), '
        'sin_addr=inet_addr("127.0.0.1")}}}, {msg_hdr={msg_name={sa_family=AF_INET, sin_port=htons(9), '
        'sin_addr=inet_addr("203.0.113.5")}}}], 2, 0) = 2',
    ]
    local = [
        '7 01:49:19.431604 connect(3, {sa_family=AF_UNIX, sun_path="/run/user/0/pulse/native"}, 110) = 0',
        '7 01:49:19.431604 connect(3, {sa_family=AF_INET, sin_port=htons(4713), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '7 01:49:19.431604 connect(3, {sa_family=AF_INET6, sin6_port=htons(8000), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '7 01:49:19.431604 connect(3, {sa_family=AF_UNSPEC, sa_data="..."}, 16) = 0',
        '7 01:49:19.431604 sendto(9, "\\24\\0", 20, 0, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20',
        '7 01:49:19.431604 sendto(15, "5\\211\\1", 50, MSG_NOSIGNAL, NULL, 0) = 50',
        '7 01:49:19.431604 openat(AT_FDCWD, "/x/onnxruntime_pybind11_state.so", O_RDONLY|O_CLOEXEC) = 3',
    ]
    assert leaving_the_machine("\n".join(remote)) == remote
    assert leaving_the_machine("\n".join(local)) == []
