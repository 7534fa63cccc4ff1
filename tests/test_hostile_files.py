"""Files others made, damaged or hostile, read through the real commands (`import`, `guides new
--questions`, `agreement`, `codebook import`): XML nested thousands deep, a member whose deflate
data is damaged, a zip header that lies about a member's size, a zip bomb, a document beyond the
largest fieldnote reads, a cue at a 400-digit hour. Each ends in exit 2 and one message naming
the file and what is wrong, no traceback, and nothing changed: the database as it was, no guide
written. The limits are core/interchange/limits.py's; the files are built here, small on disk."""

from __future__ import annotations

import io
import sqlite3
import struct
import zipfile
from pathlib import Path

import pytest

from core.base import paths
from core.interchange import limits
from tui.cli import main

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
QDA = 'xmlns="urn:QDA-XML:project:1.0"'
CODEBOOK = 'xmlns="urn:QDA-XML:codebook:1.0"'
DEEP = 5000  # far past the limit and past Python's recursion limit, which the readers once hit


def _zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _docx(path: Path, body: str) -> Path:
    return _zip(path, {"word/document.xml": f"<w:document {W}><w:body>{body}</w:body></w:document>"})


def _paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def _project(codes: str = '<Code guid="c1" name="Trust"/>', text: str = "X: hello") -> str:
    return (f'<Project {QDA} name="p"><CodeBook><Codes>{codes}</Codes></CodeBook><Sources>'
            f'<TextSource guid="s1" name="s"><PlainTextContent>{text}</PlainTextContent></TextSource>'
            '</Sources></Project>')


def _damaged(path: Path, member: str) -> Path:
    """The file with bytes in the middle of a member's deflate data flipped, as a bad disk or
    a broken download leaves it."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + 10, start + min(50, info.compress_size - 2)):
        data[i] ^= 0x55
    path.write_bytes(bytes(data))
    return path


def _lying(path: Path, member: str, declared: int) -> Path:
    """The file with the member's uncompressed size, in its local header and in the central
    directory, set to `declared`: a header that says small of a member that unpacks large."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    central = data.rindex(b"PK\x01\x02")  # the files built here hold one member
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))
    return path


# XML with more spaces inside than fieldnote reads of one part: a few dozen kilobytes packed,
# past the limit unpacked.
DOCUMENT_BOMB = (f"<w:document {W}><w:body>", "</w:body></w:document>")
PROJECT_BOMB = (f"<Project {QDA}>", "</Project>")


def _bomb(xml: tuple[str, str]) -> bytes:
    return xml[0].encode() + b" " * (limits.LARGEST_PART + 1) + xml[1].encode()


def _unpacked(xml: tuple[str, str]) -> str:
    return f"{len(xml[0]) + limits.LARGEST_PART + 1 + len(xml[1]):,} bytes"


# The files, each with the words its message must hold.
def deep_docx(tmp: Path) -> Path:
    return _docx(tmp / "deep.docx", "<w:p>" + "<w:r>" * DEEP + "<w:t>X: hello</w:t>" + "</w:r>" * DEEP + "</w:p>")


def deep_controls_docx(tmp: Path) -> Path:
    return _docx(tmp / "controls.docx", "<w:sdt>" * DEEP + _paragraph("X: hello") + "</w:sdt>" * DEEP)


def damaged_docx(tmp: Path) -> Path:
    return _damaged(_docx(tmp / "damaged.docx", "".join(_paragraph(f"X: turn {i} of the interview") for i in range(300))),
                    "word/document.xml")


def bomb_docx(tmp: Path) -> Path:
    return _zip(tmp / "bomb.docx", {"word/document.xml": _bomb(DOCUMENT_BOMB)})


def lying_docx(tmp: Path) -> Path:
    return _lying(bomb_docx(tmp), "word/document.xml", 1000)


def deep_qdpx(tmp: Path) -> Path:
    return _zip(tmp / "deep.qdpx", {"project.qde": _project('<Code guid="c" name="c">' * DEEP + "</Code>" * DEEP)})


def damaged_qdpx(tmp: Path) -> Path:
    codes = "".join(f'<Code guid="c{i}" name="Code number {i}"/>' for i in range(300))
    return _damaged(_zip(tmp / "damaged.qdpx", {"project.qde": _project(codes)}), "project.qde")


def bomb_qdpx(tmp: Path) -> Path:
    return _zip(tmp / "bomb.qdpx", {"project.qde": _bomb(PROJECT_BOMB)})


def lying_qdpx(tmp: Path) -> Path:
    return _lying(bomb_qdpx(tmp), "project.qde", 1000)


DOCX = [
    (deep_docx, "nests its elements more than 100 deep"),
    (deep_controls_docx, "nests its elements more than 100 deep"),
    (damaged_docx, "a damaged Word document (word/document.xml is damaged"),
    (bomb_docx, f"word/document.xml unpacks to {_unpacked(DOCUMENT_BOMB)}; fieldnote reads no part larger than 32 MB"),
    (lying_docx, "a damaged Word document (word/document.xml is damaged (Bad CRC-32"),
]
QDPX = [
    (deep_qdpx, "project.qde nests its elements more than 100 deep"),
    (damaged_qdpx, "project.qde is damaged"),
    (bomb_qdpx, f"project.qde unpacks to {_unpacked(PROJECT_BOMB)}; fieldnote reads no part larger than 32 MB"),
    (lying_qdpx, "project.qde is damaged (Bad CRC-32"),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A database holding one imported interview."""
    folder = tmp_path_factory.mktemp("study")
    transcript = folder / "interview.txt"
    transcript.write_text("X = Interviewer\nY = Respondent\n\nX: How did it start?\nY: Slowly, with trust.\n",
                          encoding="utf-8")
    db = folder / "study.db"
    assert main(["--db", str(db), "import", str(transcript), "--guide", "remote-work-en"]) == 0
    return db


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return list(connection.iterdump())


def _guides() -> list[Path]:
    return sorted(paths.guides_dir().glob("*")) if paths.guides_dir().exists() else []


def refused(capsys, db: Path, args: list[str], path: Path, problem: str) -> None:
    before, guides = _dump(db), _guides()
    capsys.readouterr()
    code = main(["--db", str(db), *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, err)
    assert err.startswith(f"fieldnote: error: {path}") and problem in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert _dump(db) == before and _guides() == guides


@pytest.mark.parametrize("build, problem", DOCX, ids=[b.__name__ for b, _ in DOCX])
def test_a_hostile_word_document_is_refused_by_import_and_guides_new(tmp_path, capsys, study, build, problem):
    path = build(tmp_path)
    assert path.stat().st_size < 1_000_000
    refused(capsys, study, ["import", str(path), "--guide", "remote-work-en"], path, problem)
    refused(capsys, study, ["guides", "new", "hostile", "--questions", str(path), "--language", "en"], path, problem)


@pytest.mark.parametrize("build, problem", QDPX, ids=[b.__name__ for b, _ in QDPX])
def test_a_hostile_project_is_refused_by_agreement_and_codebook_import(tmp_path, capsys, study, build, problem):
    path = build(tmp_path)
    assert path.stat().st_size < 1_000_000
    refused(capsys, study, ["agreement", str(path)], path, problem)
    refused(capsys, study, ["codebook", "import", str(path), "--guide", "hostile", "--from", "remote-work-en"],
            path, problem)


def test_a_codebook_nested_thousands_deep_is_refused(tmp_path, capsys, study):
    qdc = tmp_path / "deep.qdc"
    qdc.write_text(f'<CodeBook {CODEBOOK}><Codes>' + '<Code guid="c" name="c">' * DEEP + "</Code>" * DEEP
                   + "</Codes></CodeBook>", encoding="utf-8")
    refused(capsys, study, ["codebook", "import", str(qdc), "--guide", "hostile", "--from", "remote-work-en"],
            qdc, "deep.qdc nests its elements more than 100 deep")


def test_a_code_name_longer_than_any_tree_shows_is_refused(tmp_path, capsys, study):
    qdc = tmp_path / "long.qdc"
    qdc.write_text(f'<CodeBook {CODEBOOK}><Codes><Code guid="c" name="{"Trust " * 200}"/></Codes></CodeBook>',
                   encoding="utf-8")
    refused(capsys, study, ["codebook", "import", str(qdc), "--guide", "hostile", "--from", "remote-work-en"],
            qdc, "has a name of 1199 characters; fieldnote takes names of up to 500")


def test_the_parts_of_a_project_together_are_bounded_too(tmp_path, capsys, study, monkeypatch):
    # Many members each within the part's limit must not add up past the package's: the limit
    # is lowered here so that the test stays small.
    monkeypatch.setattr(limits, "LARGEST_PACKAGE", 100_000)
    path = _zip(tmp_path / "many.qdpx", {"project.qde": _project(),
                                         **{f"sources/{i}.txt": "x" * 30_000 for i in range(5)}})
    refused(capsys, study, ["agreement", str(path)], path, "unpack to more than 100000 bytes together")


@pytest.mark.parametrize("name, text", [
    ("hour.vtt", "WEBVTT\n\n{h}:00:00.000 --> {h}:00:01.000\n<v Anna>Hello.\n"),
    ("hour.srt", "1\n{h}:00:00,000 --> {h}:00:01,000\nAnna: Hello.\n"),
    ("more-digits-than-int-reads.vtt", "WEBVTT\n\n00:00.000 --> {long}:00:01.000\n<v Anna>Hello.\n"),
])
def test_a_cue_at_a_400_digit_hour_is_refused_with_its_line(tmp_path, capsys, study, name, text):
    path = tmp_path / name
    path.write_text(text.format(h="9" * 400, long="9" * 5000), encoding="utf-8")
    line = 3 if name.endswith(".vtt") else 2
    refused(capsys, study, ["import", str(path), "--guide", "remote-work-en"], path,
            f"{path}, line {line}: the cue's time has 999999999999... hours; no recording runs past 999 hours")


def test_teams_older_download_at_a_400_digit_hour_is_refused(tmp_path, capsys, study):
    path = _docx(tmp_path / "teams.docx", "".join(_paragraph(p) for p in [
        f"{'9' * 400}:0:0.0 --> {'9' * 400}:0:3.720", "Jan de Vries", "Could you tell me about your job?"]))
    refused(capsys, study, ["import", str(path), "--guide", "remote-work-en"], path,
            "paragraph 1: the cue's time has 999999999999... hours")


def test_a_text_file_longer_than_any_transcript_is_refused_unread(tmp_path, capsys, study):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.truncate(limits.LARGEST_PART + 1)  # sparse: nothing on disk
    refused(capsys, study, ["import", str(path), "--guide", "remote-work-en"], path,
            "the file holds 32 MB of text, more than fieldnote reads of a transcript or question list (32 MB)")
    refused(capsys, study, ["guides", "new", "hostile", "--questions", str(path), "--language", "en"], path,
            "more than fieldnote reads of a transcript or question list")


def test_nesting_within_the_limit_reads_as_ever(tmp_path, capsys):
    # Content controls a few dozen deep, as templates and tracked changes stack them.
    depth = limits.DEEPEST_NESTING - 10
    body = "<w:sdt><w:sdtContent>" * (depth // 2) + "".join(_paragraph(t) for t in [
        "X = Interviewer", "Y = Respondent", "X: How did it start?", "Y: Slowly."]) + "</w:sdtContent></w:sdt>" * (depth // 2)
    path = _docx(tmp_path / "nested.docx", body)
    assert main(["--db", str(tmp_path / "s.db"), "import", str(path), "--guide", "remote-work-en"]) == 0
    qdc = tmp_path / "nested.qdc"
    qdc.write_text(f'<CodeBook {CODEBOOK}><Codes>' + "".join(f'<Code guid="c{i}" name="Level {i}">' for i in range(40))
                   + "</Code>" * 40 + "</Codes></CodeBook>", encoding="utf-8")
    assert main(["--db", str(tmp_path / "s.db"), "codebook", "import", str(qdc), "--guide", "nested",
                 "--from", "remote-work-en"]) == 0


def test_a_package_reads_a_member_within_the_limits_whole():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", b"hello " * 1000)
    with limits.Package(io.BytesIO(buf.getvalue())) as package:
        assert package.read("a.txt") == b"hello " * 1000
