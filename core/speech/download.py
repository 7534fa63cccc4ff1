"""Bringing a faster-whisper model into fieldnote's models folder: `fieldnote models get NAME`.

This is the only network use fieldnote has, and only when the user runs that command. A model
comes from faster-whisper's hub (the repositories faster-whisper itself names, at the address
huggingface_hub is configured with), or from a folder the user copied from elsewhere
(`--from FOLDER` or a file:// URL), for a machine that is offline.

Either way the files land in a scratch folder inside the models folder (`.get-NAME`, a dot
name, so never taken for a model), each file first as `FILE.part`:

- a download or copy that stops (a cut connection, Ctrl-C, a crash) leaves its part, and the
  next run goes on from there: over HTTP with a Range request, from a folder by seeking;
- each finished file is checked: its size, and its sha256 where the source gives one (the hub
  gives it for large files, as their LFS id; for small ones it gives the git blob id, which is
  checked instead), or for a folder its SHA256SUMS if it has one, else the source file itself;
- only when every file is whole and checked is the scratch folder renamed into models/NAME in
  one step, so models/NAME is either the whole model or not there.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from core.base import paths
from core.base.errors import UserError

# The files faster-whisper itself fetches for a model (faster_whisper.utils.download_model).
MODEL_FILES = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
REQUIRED = ("model.bin", "config.json")
BLOCK = 1 << 20
TIMEOUT = 30.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

Progress = Callable[[str, int, "int | None"], None]  # file name, bytes so far, bytes in all


class Offline(UserError):
    """The hub cannot be reached: no route, no name lookup, nobody listening."""


class DownloadError(UserError):
    """A transfer that stopped or a file that came damaged; what was whole is kept for the next run."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    source: str  # an http(s) URL, or a path on this machine
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None  # the hub's blob id of a small (non-LFS) file


def known_names() -> dict[str, str]:
    """faster-whisper's model names and the hub repositories they stand for."""
    from faster_whisper.utils import _MODELS

    return dict(_MODELS)


def hub_endpoint() -> str:
    """Where huggingface_hub fetches from (HF_ENDPOINT moves it, as for huggingface_hub itself)."""
    override = os.environ.get("HF_ENDPOINT")
    if override:
        return override.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def _wanted(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in MODEL_FILES)


def _offline_hint() -> str:
    return (f"to bring a model another way, copy a faster-whisper model folder here and run "
            f"`fieldnote models get NAME --from FOLDER`, or copy it into {paths.models_dir()}/NAME")


def _unreachable(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return "the hub's name cannot be looked up"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "the connection timed out"
    return str(getattr(reason, "strerror", None) or reason)


def _request(url: str, headers: dict | None = None) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": "fieldnote", **(headers or {})})


def hub_files(name: str, *, endpoint: str | None = None, timeout: float = TIMEOUT) -> list[ModelFile]:
    """The files of model `name` on the hub, with their sizes and checksums, at one revision."""
    names = known_names()
    repo = names.get(name)
    if repo is None:
        raise UserError(f"no faster-whisper model named {name!r}; the names are: {', '.join(names)}")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise Offline(f"HF_HUB_OFFLINE is set, so fieldnote does not reach the model hub; {_offline_hint()}")
    base = endpoint or hub_endpoint()
    url = f"{base}/api/models/{repo}/revision/main?blobs=True"  # as huggingface_hub asks for file metadata
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as resp:
            info = json.load(resp)
    except urllib.error.HTTPError as exc:
        raise UserError(f"the model hub ({base}) answered HTTP {exc.code} for {repo}; try again later") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise Offline(f"cannot reach the model hub ({base}): {_unreachable(exc)}; this machine looks offline; "
                      f"{_offline_hint()}") from None
    except ValueError:
        raise UserError(f"the model hub ({base}) sent a listing for {repo} that is not JSON; try again later") from None
    revision = urllib.parse.quote(str(info.get("sha") or "main"), safe="")
    files = []
    for sibling in info.get("siblings") or []:
        fname = str(sibling.get("rfilename", ""))
        if "/" in fname or not _wanted(fname):
            continue
        lfs = sibling.get("lfs") or {}
        files.append(ModelFile(
            name=fname,
            source=f"{base}/{repo}/resolve/{revision}/{urllib.parse.quote(fname)}",
            size=lfs.get("size", sibling.get("size")),
            sha256=lfs.get("sha256"),
            git_sha1=None if lfs else sibling.get("blobId"),
        ))
    _require(files, f"{repo} on the model hub")
    return files


def _sums(folder: Path) -> dict[str, str]:
    """A SHA256SUMS file beside the model's files (`sha256sum` output), if there is one."""
    sums = {}
    listing = folder / "SHA256SUMS"
    if listing.is_file():
        for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
                sums[parts[1].lstrip("*").strip().removeprefix("./")] = parts[0].lower()
    return sums


def folder_files(source: str) -> list[ModelFile]:
    """The files of a model in a folder on this machine, given as a path or a file:// URL."""
    if source.startswith("file:"):
        parsed = urllib.parse.urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise UserError(f"--from {source}: a file:// URL names a folder on this machine (file:///path/to/model)")
        folder = Path(urllib.request.url2pathname(parsed.path))
    elif re.match(r"^[a-z][a-z0-9+.-]*://", source, re.I):
        raise UserError(f"--from {source}: give a folder or a file:// URL; without --from the model comes from the hub")
    else:
        folder = Path(source).expanduser()
    if not folder.is_dir():
        raise UserError(f"--from {folder}: no such folder")
    sums = _sums(folder)
    files = [ModelFile(p.name, str(p), p.stat().st_size, sums.get(p.name))
             for p in sorted(folder.iterdir()) if p.is_file() and _wanted(p.name)]
    _require(files, str(folder))
    return files


def _require(files: list[ModelFile], where: str) -> None:
    missing = [n for n in REQUIRED if n not in {f.name for f in files}]
    if missing:
        raise UserError(f"{where}: not a faster-whisper model (no {' and no '.join(missing)})")


# --- fetching ------------------------------------------------------------------------------------


def staging_dir(name: str, models: Path | None = None) -> Path:
    return (models or paths.models_dir()) / f".get-{name}"


@contextlib.contextmanager
def _alone(folder: Path, name: str) -> Iterator[None]:
    """One `models get NAME` at a time (the OS's lock on the scratch folder, gone with its process)."""
    if os.name == "nt":
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(f"another `fieldnote models get {name}` is under way; let it finish") from None
        yield
    finally:
        os.close(fd)


def _digests(path: Path) -> tuple[str, str]:
    """sha256 of the file, and its git blob id (sha1 of a 'blob SIZE\\0' header and the bytes)."""
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            sha256.update(block)
            sha1.update(block)
    return sha256.hexdigest(), sha1.hexdigest()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _check(part: Path, f: ModelFile, origin: str) -> None:
    """A finished part is the file the source meant, or it is removed and the reason raised."""
    size = part.stat().st_size
    problem = None
    if f.size is not None and size != f.size:
        problem = f"{size} bytes, expected {f.size}"
    else:
        sha256, sha1 = _digests(part)
        expected = f.sha256
        if expected is None and not f.source.startswith(("http://", "https://")):
            expected = _digests(Path(f.source))[0]  # a folder without SHA256SUMS: the copy is its source
        if expected is not None and sha256 != expected.lower():
            problem = f"sha256 {sha256}, expected {expected.lower()}"
        elif f.git_sha1 is not None and sha1 != f.git_sha1.lower():
            problem = f"git blob id {sha1}, expected {f.git_sha1.lower()}"
    if problem:
        part.unlink()
        raise DownloadError(f"{f.name} from {origin} came damaged ({problem}); it was removed and nothing was "
                            "installed; run the same command again to fetch it anew")


def _copy(f: ModelFile, part: Path, on_progress: Progress | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    total = f.size
    if total is not None and have > total:
        part.unlink()
        have = 0
    with open(f.source, "rb") as src, part.open("ab") as out:
        src.seek(have)
        for block in iter(lambda: src.read(BLOCK), b""):
            out.write(block)
            have += len(block)
            if on_progress:
                on_progress(f.name, have, total)


def _download(f: ModelFile, part: Path, on_progress: Progress | None, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    if f.size is not None and have > f.size:
        part.unlink()
        have = 0
    if f.size is not None and have == f.size:
        return
    request = _request(f.source, {"Range": f"bytes={have}-"} if have else {})
    total = f.size
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if have and resp.status != 206:
                have = 0  # the server sends the whole file: start it again
            total = total if total is not None else (have + int(resp.headers.get("Content-Length") or 0) or None)
            with part.open("ab" if have else "wb") as out:
                while True:
                    block = resp.read(BLOCK)
                    if not block:
                        break
                    out.write(block)
                    have += len(block)
                    if on_progress:
                        on_progress(f.name, have, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and f.size is None and have:
            return  # nothing more to send: the part is whole
        raise DownloadError(f"{f.source}: the server answered HTTP {exc.code}; try again later") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if isinstance(exc, urllib.error.URLError) and not have:
            raise Offline(f"cannot reach {urllib.parse.urlparse(f.source).netloc} for {f.name}: {_unreachable(exc)}; "
                          f"{_offline_hint()}") from None
        raise DownloadError(f"the connection was lost after {_mb(have)} of {f.name} ({_unreachable(exc)}); run the "
                            "same command again to go on from there") from None
    if total is not None and have < total:
        raise DownloadError(f"the connection was lost after {_mb(have)} of {_mb(total)} of {f.name}; run the same "
                            "command again to go on from there")


def get_model(name: str, files: list[ModelFile], *, origin: str, models: Path | None = None, force: bool = False,
              on_progress: Progress | None = None, timeout: float = TIMEOUT) -> Path:
    """Fetch or copy `files` into models/NAME, resumably, checked, all or nothing."""
    if not _NAME.match(name):
        raise UserError(f"{name!r}: a model's name is letters, digits, '.', '-' and '_'")
    models = models or paths.models_dir()
    target = models / name
    if target.exists() and not force:
        raise UserError(f"{target} is there already; `--force` fetches the model again and replaces it")
    scratch = paths.make_private_dir(staging_dir(name, models), "the Whisper models")
    with _alone(scratch, name):
        _forget_changed(scratch, files)
        for f in files:
            done = scratch / f.name
            if done.is_file():
                continue  # checked when it was finished, and the source still says the same of it
            part = scratch / f"{f.name}.part"
            try:
                if f.source.startswith(("http://", "https://")):
                    _download(f, part, on_progress, timeout)
                else:
                    _copy(f, part, on_progress)
            except OSError as exc:
                if not (exc.filename and str(exc.filename).startswith(str(scratch))):
                    raise UserError(f"{f.source}: cannot read it ({exc.strerror or exc})") from None
                raise UserError(f"{scratch}: cannot write {f.name} ({exc.strerror or exc}); make room or "
                                "set FIELDNOTE_MODELS to another folder") from None
            _check(part, f, origin)
            os.replace(part, done)
        (scratch / "expected.json").unlink(missing_ok=True)
        _install(scratch, target)
    return target


def _forget_changed(scratch: Path, files: list[ModelFile]) -> None:
    """What an earlier run left is kept only for files the source still describes the same way."""
    record = scratch / "expected.json"
    try:
        before = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    now = {f.name: {k: v for k, v in asdict(f).items() if k in ("size", "sha256", "git_sha1")} for f in files}
    for leftover in scratch.iterdir():
        fname = leftover.name.removesuffix(".part")
        if leftover.name == "expected.json":
            continue
        if fname not in now or before.get(fname) != now[fname]:
            leftover.unlink()
    tmp = scratch / "expected.json.tmp"
    tmp.write_text(json.dumps(now), encoding="utf-8")
    os.replace(tmp, record)


def _install(scratch: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(scratch, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
