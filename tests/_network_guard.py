"""No test reaches the network unless it says so with `@pytest.mark.allow_network`.

Interviews are confidential and fieldnote promises to work offline, so the whole suite runs
with Python's sockets guarded: a connection (or a datagram, or a name lookup) to anything but
this machine raises `NetworkBlocked`. Unix sockets (PulseAudio) and loopback addresses work.

The guard also reaches the processes a test starts (`fieldnote demo` in a subprocess): it
puts `_netguard_site/` on PYTHONPATH, whose `sitecustomize` installs the same guard and
notes each blocked attempt in a log file this plugin reads after every test. A test whose code
swallowed the error (a library falling back to "offline") still fails, naming the address.

The guard part of this module imports nothing from pytest, so a subprocess loads it cheaply.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path

ENV_LOG = "FIELDNOTE_NETWORK_GUARD_LOG"  # set: guard this process, note attempts in this file
ENV_OFF = "FIELDNOTE_NETWORK_GUARD_OFF"  # set by a test marked allow_network, for its subprocesses
SITE_DIR = Path(__file__).resolve().parent / "_netguard_site"


class NetworkBlocked(RuntimeError):
    # Not an OSError: code that tolerates a failed connection must not quietly absorb this.
    pass


_state = {"allowed": False, "log": None, "installed": False}
attempts: list[str] = []
_real = {}


def _local_host(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).split("%", 1)[0].strip("[]").lower()
    if host in ("", "localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: looking it up may already leave the machine
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _local_address(family: int, address: object) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # AF_UNIX (PulseAudio, D-Bus), netlink: never off the machine
    if not isinstance(address, tuple) or not address:
        return False
    return _local_host(address[0])


def _blocked(what: str) -> NetworkBlocked:
    message = (
        f"network access blocked during tests: {what}. fieldnote must work offline; "
        "a test that truly needs the network says so with @pytest.mark.allow_network"
    )
    attempts.append(what)
    if _state["log"]:
        try:
            with open(_state["log"], "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[:3], "what": what}) + "\n")
        except OSError:
            pass
    return NetworkBlocked(message)


def _guarding() -> bool:
    return not _state["allowed"] and not os.environ.get(ENV_OFF)


def _connect(self, address):
    if _guarding() and not _local_address(self.family, address):
        raise _blocked(f"connect to {address!r}")
    return _real["connect"](self, address)


def _connect_ex(self, address):
    if _guarding() and not _local_address(self.family, address):
        raise _blocked(f"connect_ex to {address!r}")
    return _real["connect_ex"](self, address)


def _sendto(self, data, *args):
    address = args[-1] if args else None
    if _guarding() and not _local_address(self.family, address):
        raise _blocked(f"sendto {address!r}")
    return _real["sendto"](self, data, *args)


def _sendmsg(self, buffers, *args):
    address = args[2] if len(args) >= 3 else None
    if address is not None and _guarding() and not _local_address(self.family, address):
        raise _blocked(f"sendmsg to {address!r}")
    return _real["sendmsg"](self, buffers, *args)


def _getaddrinfo(host, *args, **kwargs):
    if _guarding() and not _local_host(host) and host != socket.gethostname():
        raise _blocked(f"name lookup of {host!r}")
    return _real["getaddrinfo"](host, *args, **kwargs)


def _gethostbyname(host):
    if _guarding() and not _local_host(host) and host != socket.gethostname():
        raise _blocked(f"name lookup of {host!r}")
    return _real["gethostbyname"](host)


def _gethostbyname_ex(host):
    if _guarding() and not _local_host(host) and host != socket.gethostname():
        raise _blocked(f"name lookup of {host!r}")
    return _real["gethostbyname_ex"](host)


def install(log: str | None = None) -> None:
    """Guard this process's sockets (idempotent)."""
    _state["log"] = log
    if _state["installed"]:
        return
    for name, wrapper in (("connect", _connect), ("connect_ex", _connect_ex), ("sendto", _sendto),
                          ("sendmsg", _sendmsg)):
        _real[name] = getattr(socket.socket, name)
        setattr(socket.socket, name, wrapper)
    for name, wrapper in (("getaddrinfo", _getaddrinfo), ("gethostbyname", _gethostbyname),
                          ("gethostbyname_ex", _gethostbyname_ex)):
        _real[name] = getattr(socket, name)
        setattr(socket, name, wrapper)
    _state["installed"] = True


# The pytest plugin ---------------------------------------------------------------------------


def _log_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def pytest_configure(config) -> None:
    import tempfile

    import pytest

    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # pytest-xdist's controller runs no test: each of its workers guards itself
    fd, name = tempfile.mkstemp(prefix="fieldnote-network-attempts-", suffix=".jsonl")
    os.close(fd)
    log = Path(name)
    install(str(log))
    # Processes the tests start inherit the guard through sitecustomize.
    os.environ[ENV_LOG] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(SITE_DIR), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    seen = pytest.StashKey[int]()

    class _Hooks:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            allowed = item.get_closest_marker("allow_network") is not None
            _state["allowed"] = allowed
            if allowed:
                os.environ[ENV_OFF] = "1"
            attempts.clear()
            item.stash[seen] = len(_log_lines(log))
            try:
                yield
            finally:
                _state["allowed"] = False
                os.environ.pop(ENV_OFF, None)

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            report = (yield).get_result()
            if report.when != "call" or _state["allowed"]:
                return
            lines = _log_lines(log)
            tried = list(dict.fromkeys(attempts))
            for line in lines[item.stash.get(seen, len(lines)):]:
                note = json.loads(line)
                if note["pid"] != os.getpid():  # this process's own attempts are in `attempts`
                    tried.append(f"{note['what']} (in a subprocess: {' '.join(note['argv'])})")
            attempts.clear()
            item.stash[seen] = len(lines)
            # Reported even when the code under test caught NetworkBlocked and carried on.
            if tried and report.outcome != "failed":
                report.outcome = "failed"
                report.longrepr = (
                    "this test tried to reach the network (blocked): " + "; ".join(tried)
                    + "\nmark it @pytest.mark.allow_network if it must"
                )

        def pytest_unconfigure(self, config):
            log.unlink(missing_ok=True)

    config.pluginmanager.register(_Hooks(), "fieldnote-network-guard-hooks")
