"""A codebook from QDA software read into a guide: the codes of a REFI-QDA codebook (.qdc) or
project (.qdpx) become dimensions and indicators, merged into a base guide with question links
drafted from the codebook's words (core/understanding/codebook_draft.py), and written as the
guide's TOML (`dump_guide`, which core/interchange/guide_draft.py uses too).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.base import paths
from core.base.errors import UserError
from core.interchange.exporters.refi import CODEBOOK_NS, PROJECT_NS
from core.interchange.limits import LONGEST_CODE_NAME, Package, Unreadable, parse_xml, read_file
from core.study.guide import Guide, parse_guide, user_guide_path
from core.study.language import load_language
from core.understanding.codebook_draft import draft_links


@dataclass
class ImportedIndicator:
    name: str
    description: str


@dataclass
class ImportedDimension:
    name: str
    definition: str
    colour: str | None
    indicators: list[ImportedIndicator]


def _colour(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"#[0-9A-Fa-f]{3}", value):
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value.lower() if re.fullmatch(r"#[0-9A-Fa-f]{6}", value) else None


def read_codebook(path: Path) -> list[ImportedDimension]:
    """The codes of a .qdc codebook or of a .qdpx project's codebook: top-level codes are
    dimensions; the codes under them (at any depth, named by their path) are indicators. A
    top-level code with nothing under it becomes a dimension with one indicator of its name."""
    part = "project.qde"
    try:
        if zipfile.is_zipfile(path):
            with Package(path) as z:
                data = z.read(part)
        else:
            part = path.name
            data = read_file(path)
    except KeyError:
        raise UserError(f"{path}: not a REFI-QDA project: it has no project.qde") from None
    except zipfile.BadZipFile:
        raise UserError(f"{path}: a damaged REFI-QDA project (.qdpx): its zip cannot be read") from None
    except Unreadable as exc:
        raise UserError(f"{path}: the codebook cannot be read: {exc}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the codebook ({exc.strerror or exc})") from None
    try:
        root = parse_xml(data, part)
    except ET.ParseError as exc:
        raise UserError(f"{path}, line {exc.position[0]}: not valid XML ({exc})") from None
    except Unreadable as exc:
        raise UserError(f"{path}: the codebook cannot be read: {exc}") from None
    if root.tag == f"{{{CODEBOOK_NS}}}CodeBook":
        ns, codes = CODEBOOK_NS, root.find(f"{{{CODEBOOK_NS}}}Codes")
    elif root.tag == f"{{{PROJECT_NS}}}Project":
        ns, codes = PROJECT_NS, root.find(f"{{{PROJECT_NS}}}CodeBook/{{{PROJECT_NS}}}Codes")
    else:
        raise UserError(f"{path}: not a REFI-QDA codebook (.qdc) or project (.qdpx)")
    if codes is None or not codes.findall(f"{{{ns}}}Code"):
        raise UserError(f"{path}: the codebook holds no codes")

    def description(el: ET.Element) -> str:
        d = el.find(f"{{{ns}}}Description")
        return " ".join((d.text or "").split()) if d is not None else ""

    def name(el: ET.Element) -> str:
        value = " ".join((el.get("name") or "").split())
        if not value:
            raise UserError(f"{path}: a code (guid {el.get('guid')}) has no name")
        if len(value) > LONGEST_CODE_NAME:
            raise UserError(f"{path}: a code (guid {el.get('guid')}) has a name of {len(value)} characters; "
                            f"fieldnote takes names of up to {LONGEST_CODE_NAME} (put the rest in its description)")
        return value

    def descendants(el: ET.Element, prefix: str) -> list[ImportedIndicator]:
        out = []
        for child in el.findall(f"{{{ns}}}Code"):
            full = f"{prefix}{name(child)}"
            if child.get("isCodable", "true") != "false" or not child.findall(f"{{{ns}}}Code"):
                out.append(ImportedIndicator(full, description(child)))
            out += descendants(child, full + " / ")
        return out

    dims = []
    for top in codes.findall(f"{{{ns}}}Code"):
        indicators = descendants(top, "") or [ImportedIndicator(name(top), description(top))]
        dims.append(ImportedDimension(name(top), description(top), _colour(top.get("color")), indicators))
    return dims


# Colours for codes that bring none (the tab10 palette, as the bundled guides use).
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "code"


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


@dataclass
class MergedCodebook:
    text: str  # the new guide's TOML
    drafted_links: dict[int, str]  # question number -> name of the dimension linked by its words


def merge_codebook(base: Guide, imported: list[ImportedDimension], *, guide_id: str, replace: bool) -> MergedCodebook:
    """The base guide's TOML with the imported codebook merged in, as a new guide `guide_id`.

    Questions and study facts are the base guide's. A code matches a dimension or indicator of
    the base by id or by name (ignoring case); a match keeps its phrases and question links and
    takes the file's name, colour and definition. With `replace`, what the file lacks is dropped.
    New indicators get their name as their only phrase, which code suggestions start from. When
    no question of the guide is linked to a dimension yet (a guide just written from the
    question list), each is linked to the dimension that shares its rarest words, if any
    (`core.understanding.codebook_draft`), as `drafted_questions`, for the researcher to check.
    """
    raw = tomllib.loads(base.text)
    raw.setdefault("study", {})["id"] = guide_id
    dims: list[dict] = raw.get("dimension", [])

    def same(entry: dict, name: str) -> bool:
        return entry.get("id", "").casefold() == _slug(name) or entry.get("name", "").casefold() == name.casefold()

    dim_ids = {d["id"] for d in dims}
    ind_ids = {i["id"] for d in dims for i in d.get("indicator", [])}
    kept: list[dict] = []
    for n, imp in enumerate(imported):
        entry = next((d for d in dims if same(d, imp.name)), None)
        if entry is None:
            entry = {"id": _unique(_slug(imp.name), dim_ids), "name": imp.name, "questions": [], "indicator": []}
            dims.append(entry)
        entry["name"] = imp.name
        if imp.definition:
            entry["definition"] = imp.definition
        entry["colour"] = imp.colour or entry.get("colour") or _PALETTE[n % len(_PALETTE)]
        old = entry.get("indicator", [])
        merged_inds: list[dict] = []
        for ii in imp.indicators:
            ind = next((i for i in old if same(i, ii.name)), None)
            if ind is None:
                ind = {"id": _unique(_slug(ii.name), ind_ids), "name": ii.name, "phrases": [ii.name]}
            ind["name"] = ii.name
            if ii.description:
                ind["description"] = ii.description
            merged_inds.append(ind)
        if not replace:
            merged_inds += [i for i in old if i not in merged_inds]
        entry["indicator"] = merged_inds
        kept.append(entry)
    raw["dimension"] = kept if replace else kept + [d for d in dims if d not in kept]
    # Only a guide with no question linked yet (one just written from the question list): in
    # a guide with links, a question without one (an opening, a closing question) is meant so.
    drafted: dict[int, str] = {}
    if not any(d.get("questions") or d.get("drafted_questions") for d in raw["dimension"]):
        words_of = [(d["id"], " ".join([d["name"], d.get("definition", ""), *(i["name"] for i in d.get("indicator", []))]))
                    for d in raw["dimension"]]
        questions = [(q["number"], q["text"]) for q in raw.get("question", [])]
        drafted = draft_links(questions, words_of, load_language(base.language))
    by_id = {d["id"]: d for d in raw["dimension"]}
    for number, dim_id in sorted(drafted.items()):
        by_id[dim_id].setdefault("drafted_questions", []).append(number)
    header = ["# Written by fieldnote (codebook import); comments of the guide it came from are not kept."]
    if drafted:
        header += [
            "# `drafted_questions`: questions fieldnote linked to a dimension by the words they share, for",
            "# code suggestions to start from. Each counts until passages coded under the question say",
            "# otherwise. Check them: move a number to `questions` where it is right, delete it where not.",
        ]
    return MergedCodebook(dump_guide(raw, header), {n: by_id[d]["name"] for n, d in drafted.items()})


# A guide's TOML: tables first, then arrays of tables, as guide.py documents the format.


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to a guide")


def _toml_table(lines: list[str], header: str | None, table: dict, prefix: str) -> None:
    if header:
        lines += ["", header]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.append((key, value, True))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value, is_array in nested:
        name = f"{prefix}{key}"
        if is_array:
            for item in value:
                _toml_table(lines, f"[[{name}]]", item, name + ".")
        else:
            _toml_table(lines, f"[{name}]", value, name + ".")


def dump_guide(raw: dict, header: list[str] | None = None) -> str:
    """A guide's TOML, under the comment lines `header`."""
    lines = list(header or ["# Written by fieldnote (codebook import); comments of the guide it came from are not kept."])
    _toml_table(lines, None, raw, "")
    return "\n".join(lines) + "\n"


def import_codebook(path: Path, *, guide_id: str, base: Guide, replace: bool = False, force: bool = False
                    ) -> tuple[Path, MergedCodebook]:
    """Write the guide `guide_id` (the base guide with the codebook merged in) to the user's
    guides folder; the file is validated as a guide before it replaces anything."""
    target = user_guide_path(guide_id, force=force, replaced="its comments are not kept")
    imported = read_codebook(path)
    merged = merge_codebook(base, imported, guide_id=guide_id, replace=replace)
    parse_guide(merged.text, source=f"{path} merged into {base.id}")
    from core.interchange.exporters.files import write_atomic

    paths.make_private_dir(target.parent, "your guides")
    write_atomic(target, merged.text.encode("utf-8"))
    return target, merged
