"""What fieldnote remembers between runs in its config file: the guide used last.

`record` and `import` remember the guide they ran with (the name or path as given), so
`--guide` is needed only to change it. The config file's other tables stay as they are, line
for line (the devices the setup screen remembers live in its [devices] table,
core/audio/devices.py). A config file that cannot be written does not stop the command: the
reason is returned for it to show.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from core.base import paths
from core.base.errors import UserError

TABLE = "last"


def last_guide() -> str | None:
    """The guide used last, as it was given, or None."""
    try:
        data = tomllib.loads(paths.config_file().read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = data.get(TABLE, {}).get("guide") if isinstance(data.get(TABLE), dict) else None
    return value if isinstance(value, str) and value else None


def guide_or_last(given: str | None) -> str:
    """The guide to use: the one given, else the one used last; a UserError when neither."""
    if given:
        return given
    last = last_guide()
    if last is None:
        raise UserError("give the interview guide with --guide NAME_OR_PATH (see `fieldnote guides`); "
                        "it is remembered for next time")
    return last


def remember_guide(guide: str) -> str | None:
    """Remember the guide for next time; the reason when the config file cannot be written."""
    # A path is remembered as an absolute one: the next command may run in another folder.
    candidate = Path(guide).expanduser()
    if candidate.suffix == ".toml" and candidate.is_file():
        guide = str(candidate.resolve())
    path = paths.config_file()
    try:
        write_table(path, TABLE, {"guide": guide})
    except OSError as exc:
        return f"{path}: the guide could not be remembered for next time ({exc.strerror or exc})"
    return None


def write_table(path: Path, table: str, values: dict[str, str]) -> None:
    """Replace one table of the config file, keeping every other line (comments included); the
    file is written whole and private."""
    paths.ensure_private_dir(path.parent)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    kept, skipping = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped == f"[{table}]"
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    body = [f"[{table}]"] + [f"{key} = {_toml_string(value)}" for key, value in values.items()]
    text = "\n".join(kept + ([""] if kept else []) + body) + "\n"
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'
