"""Exports read back: every format holds the same text, the same codings at the same offsets."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import wave
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core.base.errors import UserError
from core.interchange.export import to_jsonl
from core.interchange.exporters import FORMATS, ExportOptions, render, write_export
from core.interchange.codebook import import_codebook, read_codebook
from core.interchange.formats import read_transcript
from core.study.guide import load_guide
from core.store.respondents import set_attributes
from core.store.database import NewSegment, Store

from suite import check_qdpx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "sample_sessions" / "transcripts"
P = "{urn:QDA-XML:project:1.0}"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


TURNS = [
    ("interviewer", "X", 0.0, 5.5, "Kunt u kort wat over uw werk en uw functie vertellen?"),
    ("respondent", "Y", 6.0, 21.0,
     "Ik ben projectleider bij de reclassering. We delen informatie met de gemeente, "
     "maar het vertrouwen moest groeien: eerst wantrouwen, daarna korte lijnen."),
    ("interviewer", "X", 21.5, 24.0, "En hoe verliep de samenwerking met het wijkteam?"),
    ("respondent", "Y", 24.5, 40.0, "=SOM(A1) zei de controller altijd… Ha ha. Nee, serieus: het ging stroef."),
]


@pytest.fixture
def study(memory_store):
    """Two sessions: a timed one with codings of every kind, and a seed transcript without times."""
    store = memory_store
    guide = load_guide("koers-en-kansen")
    sid = store.create_session(guide, origin="live", respondent="4", case_name="Samen starten",
                               title="Interview 3", started_at="2021-06-14T10:00:00+00:00")
    segs = [store.add_segment(sid, NewSegment(sp, text, a, b, speaker_label=lab)) for sp, lab, a, b, text in TURNS]
    store.end_session(sid, "completed", duration=40.0)
    info = guide.dimension("informatie-uitwisseling")
    trust = guide.dimension("vertrouwen")
    culture = guide.dimensions[-1]
    text = TURNS[1][4]
    a = text.index("We delen informatie")
    b = text.index(", maar")
    c = text.index("het vertrouwen")
    codings = {
        "info": store.add_coding(segs[1], info.id, info.indicators[0].id, start_offset=a, end_offset=b),
        "trust": store.add_coding(segs[1], trust.id, trust.indicators[0].id, start_offset=c, end_offset=len(text)),
        "whole": store.add_coding(segs[3], culture.id, culture.indicators[0].id),
    }
    store.add_memo(sid, "coding", codings["trust"], "Vertrouwen groeit in de tijd")
    store.add_memo(sid, "segment", segs[3], "Grap over de controller")
    store.add_memo(sid, "session", sid, "Rustig gesprek, goede verbinding")
    store.add_memo(None, "dimension", trust.id, "Vergelijk met pilot 2")
    set_attributes(store, 4, organisation="Reclassering", role="Projectleider")

    parsed = read_transcript(SEED / "interview-01.txt")
    sid2 = store.create_session(guide, origin="import", respondent="1", case_name="Samen starten",
                                title=parsed.title, status="imported", started_at="2021-06-08")
    seg_ids = []
    with store.db.atomic():
        for t in parsed.turns:
            role = "interviewer" if t.speaker == "X" else "respondent"
            seg_ids.append(store.add_segment(sid2, NewSegment(role, t.text, None, None, speaker_label=t.speaker,
                                                              origin="import")))
    target = store.segments(sid2)[1]
    word = target["text"].split()[2]
    start = target["text"].index(word)
    store.add_coding(target["id"], info.id, info.indicators[0].id, start_offset=start, end_offset=start + len(word))
    return store, [sid, sid2], guide


def expected_codings(store: Store, ids: list[int]) -> list[tuple[int, str, str, int, int, str]]:
    """(segment, dimension, indicator, start, end, passage) as stored, whole segments spelled out."""
    out = []
    for sid in ids:
        guide = store.session_guide(sid)
        segs = store.segments(sid)
        codings = store.codings_for([s["id"] for s in segs])
        for s in segs:
            for c in codings[s["id"]]:
                a = 0 if c["start_offset"] is None else c["start_offset"]
                b = len(s["text"]) if c["end_offset"] is None else c["end_offset"]
                out.append((s["id"], guide.dimension(c["dimension_id"]).name,
                            guide.indicator(c["indicator_id"]).name, a, b, s["text"][a:b]))
    return out


def one(store, ids, fmt, **options) -> bytes:
    files = render(store, ids, fmt, ExportOptions(**options))
    assert len(files) == 1
    return files[0].data


# JSON lines and Markdown -------------------------------------------------------------------------


def test_jsonl_is_the_unchanged_contract(study):
    store, ids, _ = study
    assert one(store, ids[:1], "jsonl").decode() == to_jsonl(store, ids[0])
    both = one(store, ids, "jsonl").decode().splitlines()
    assert [json.loads(line)["session"] for line in both] == [ids[0]] * 4 + [ids[1]] * len(store.segments(ids[1]))


class _Marks(HTMLParser):
    """Turns of an HTML export: text without markers, and the marked text of every coding."""

    def __init__(self):
        super().__init__()
        self.turns: dict[int, str] = {}
        self.marked: dict[int, str] = {}
        self.colours: dict[int, set[str]] = {}
        self._turn = None
        self._in_text = 0
        self._in_sup = False
        self._mark: list[int] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "p" and "data-segment" in a:
            self._turn = int(a["data-segment"])
            self.turns[self._turn] = ""
        elif tag == "span" and a.get("class") == "text" and self._turn is not None:
            self._in_text = 1
        elif tag == "sup" and self._in_text:
            self._in_sup = True
        elif tag == "mark" and self._in_text:
            self._mark = [int(x) for x in a["data-codings"].split()]
            colour = re.search(r"background:(#[0-9a-f]{6})", a["style"]).group(1)
            for c in self._mark:
                self.colours.setdefault(c, set()).add(colour)

    def handle_endtag(self, tag):
        if tag == "p":
            self._turn, self._in_text = None, 0
        elif tag == "sup":
            self._in_sup = False
        elif tag == "mark":
            self._mark = []

    def handle_data(self, data):
        if self._in_text and not self._in_sup:
            self.turns[self._turn] += data
            for c in self._mark:
                self.marked[c] = self.marked.get(c, "") + data


def test_html_holds_the_text_and_marks_each_coded_passage_in_its_colour(study):
    store, ids, guide = study
    page = one(store, ids, "html").decode()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "http" not in page.split("<body>")[0]
    parsed = _Marks()
    parsed.feed(page)
    for sid in ids:
        for s in store.segments(sid):
            assert parsed.turns[s["id"]] == s["text"]
    stored = store.codings_for([s["id"] for sid in ids for s in store.segments(sid)])
    for seg_id, codings in stored.items():
        for c in codings:
            text = next(s["text"] for sid in ids for s in store.segments(sid) if s["id"] == seg_id)
            a, b = c["start_offset"] or 0, c["end_offset"] if c["end_offset"] is not None else len(text)
            assert parsed.marked[c["id"]] == text[a:b]
            assert parsed.colours[c["id"]] == {guide.dimension(c["dimension_id"]).colour}


def _md_plain(line: str) -> str:
    body = line.split("]: ", 1)[1]
    body = re.sub(r"<sup>.*?</sup>", "", body)
    body = re.sub(r"</?mark[^>]*>", "", body)
    return html.unescape(re.sub(r"\\(.)", r"\1", body))


def test_markdown_holds_every_turn_with_its_coded_passages(study):
    store, ids, guide = study
    md = one(store, ids, "md").decode()
    turns = [line for line in md.splitlines() if re.match(r"^\*\*(Interviewer|Respondent)\*\* \([XY]\) ", line)]
    texts = [s["text"] for sid in ids for s in store.segments(sid)]
    assert [_md_plain(t) for t in turns] == texts
    marked = [html.unescape(re.sub(r"\\(.)", r"\1", m)) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", md)]
    assert marked == [e[5] for e in expected_codings(store, ids)]
    assert "- **Respondent:** 4" in md and "## Legend" in md and "- **Speakers:** X = Interviewer, Y = Respondent 4" in md


def test_export_md_on_the_command_line_still_writes_to_stdout(tmp_path, capsys):
    from tui.cli import main

    db = tmp_path / "study.db"
    store = Store(db)
    guide = load_guide("koers-en-kansen")
    sid = store.create_session(guide, origin="live", respondent="Anna de Vries")
    store.add_segment(sid, NewSegment("respondent", "We werken goed samen.", 1.0, 3.0))
    store.close()
    assert main(["--db", str(db), "export", str(sid), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "We werken goed samen." in out and "- **Respondent:** 1" in out and "Anna" not in out
    assert main(["--db", str(db), "export", str(sid), "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "We werken goed samen."
    assert main(["--db", str(db), "export", str(sid), "--format", "md", "--respondent-names"]) == 0
    assert "Anna de Vries" in capsys.readouterr().out


def test_export_to_dash_writes_to_stdout_not_a_file_named_dash(tmp_path, capsys, monkeypatch):
    from tui.cli import main

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "study.db"
    store = Store(db)
    sid = store.create_session(load_guide("koers-en-kansen"), origin="live")
    store.add_segment(sid, NewSegment("respondent", "We werken goed samen.", 1.0, 3.0))
    store.close()
    assert main(["--db", str(db), "export", str(sid), "--format", "jsonl", "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "We werken goed samen."
    assert main(["--db", str(db), "codebook", "export", "--guide", "koers-en-kansen", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("<?xml")
    # A Word file cannot go to standard output: refused as without -o, and no file named '-'.
    assert main(["--db", str(db), "export", str(sid), "--format", "docx", "-o", "-"]) == 2
    assert "docx" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


# Word ------------------------------------------------------------------------------------------------


def test_docx_shades_each_coded_passage_in_its_dimensions_colour_and_names_the_indicator(study, tmp_path):
    import docx

    store, ids, guide = study
    path = tmp_path / "coded.docx"
    path.write_bytes(one(store, ids, "docx"))
    doc = docx.Document(str(path))
    shaded = []
    turn_texts = []
    for p in doc.paragraphs:
        if re.match(r"^[A-Z][0-9]* \[[-0-9:]+\] ", p.text):
            turn_texts.append(p.text.split("] ", 1)[1])
            for r in p.runs:
                shd = r._r.rPr.find(f"{W}shd") if r._r.rPr is not None else None
                if shd is not None:
                    shaded.append((r.text, "#" + shd.get(f"{W}fill").lower()))
    assert turn_texts == [s["text"] for sid in ids for s in store.segments(sid)]
    # The two codings of turn 2 do not overlap, so each is one run in its own colour.
    expected = [(e[5], guide.dimension(_dim_id(guide, e[1])).colour) for e in expected_codings(store, ids)]
    assert shaded == expected
    comments = [c.text for c in doc.comments]
    assert comments == [
        f"{e[1]} / {e[2]}" + ("\nVertrouwen groeit in de tijd" if "vertrouwen moest" in e[5] else "")
        for e in expected_codings(store, ids)
    ]
    legend = [p for p in doc.paragraphs if "(#" in p.text]
    assert {p.runs[0]._r.rPr.find(f"{W}shd").get(f"{W}fill") for p in legend} >= {
        guide.dimension("vertrouwen").colour[1:].upper()
    }
    facts = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert facts["Respondent"] == "4" and facts["Case"] == "Samen starten" and facts["Duration"] == "00:40"
    assert facts["Date"] == "2021-06-14" and facts["Study"] == guide.title


def _dim_id(guide, name: str) -> str:
    return next(d.id for d in guide.dimensions if d.name == name)


# Quote tables ----------------------------------------------------------------------------------------


def test_csv_and_xlsx_have_one_row_per_coded_passage(study, tmp_path):
    import openpyxl

    store, ids, _ = study
    expected = expected_codings(store, ids)
    data = one(store, ids, "csv")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    got = [(int(r["segment"]), r["dimension"], r["indicator"], int(r["start_offset"]), int(r["end_offset"]),
            r["passage"]) for r in rows]
    # The passage "=SOM(A1) zei ..." gets the quote that keeps a spreadsheet from evaluating it.
    assert got == [(*e[:5], "'" + e[5] if e[5].startswith("=") else e[5]) for e in expected]
    assert sum(e[5].startswith("=") for e in expected) == 1
    assert rows[0]["respondent"] == "4" and rows[0]["case"] == "Samen starten" and rows[0]["speaker"] == "Respondent 4"
    assert rows[0]["start"] == "00:06" and rows[1]["memo"] == "Vertrouwen groeit in de tijd"
    assert rows[2]["memo"] == "Grap over de controller" and rows[3]["session"] == str(ids[1])

    path = tmp_path / "quotes.xlsx"
    path.write_bytes(one(store, ids, "xlsx"))
    wb = openpyxl.load_workbook(path)
    sheet = wb["Quotes"]
    header = [c.value for c in sheet[1]]
    values = [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]
    assert [(v["segment"], v["dimension"], v["indicator"], v["start_offset"], v["end_offset"], v["passage"])
            for v in values] == expected
    formula_like = next(row for row in sheet.iter_rows(min_row=2) if str(row[7].value).startswith("="))
    assert formula_like[7].data_type == "s"
    assert sheet.cell(row=2, column=header.index("dimension") + 1).fill.fgColor.rgb.endswith("3FD7E6")
    assert wb["Codebook"].max_row > 20


FORMULA_LIKE = ['=HYPERLINK("http://x","click")', "-- ja, klopt", "@Jan zei", "+31 6 1234", "\tingesprongen",
                "#N/A"]
PLAIN = ["Gewoon een antwoord.", "'t Is goed zo", "Ja = nee"]


@pytest.fixture
def formula_study(memory_store):
    """A session whose respondent says things a spreadsheet would take for formulas, each coded whole."""
    from core.study.guide import parse_guide

    store = memory_store
    text = load_guide("koers-en-kansen").text
    assert text.count('definition = "Netwerken') == 1
    guide = parse_guide(text.replace('definition = "Netwerken', 'definition = "=Netwerken'))
    sid = store.create_session(guide, origin="live", respondent="3", case_name="@pilot", title="Formules")
    dim = guide.dimensions[0]
    for n, text in enumerate(FORMULA_LIKE + PLAIN):
        seg = store.add_segment(sid, NewSegment("respondent", text, float(n), n + 0.5, speaker_label="Y"))
        coding = store.add_coding(seg, dim.id, dim.indicators[0].id)
        store.add_memo(sid, "coding", coding, "-" + text)
    return store, [sid]


def test_xlsx_writes_every_text_as_a_string_cell_with_the_exact_text(formula_study, tmp_path):
    import openpyxl

    store, ids = formula_study
    path = tmp_path / "quotes.xlsx"
    path.write_bytes(one(store, ids, "xlsx"))
    sheets = zipfile.ZipFile(path)
    assert not [n for n in sheets.namelist() if n.startswith("xl/worksheets/") and b"<f>" in sheets.read(n)]
    wb = openpyxl.load_workbook(path)
    sheet = wb["Quotes"]
    header = [c.value for c in sheet[1]]
    cells = [dict(zip(header, row)) for row in sheet.iter_rows(min_row=2)]
    assert [c["passage"].value for c in cells] == FORMULA_LIKE + PLAIN
    assert [c["memo"].value for c in cells] == ["-" + t for t in FORMULA_LIKE + PLAIN]
    assert {c["case"].value for c in cells} == {"@pilot"}
    for c in cells:
        for name in ("passage", "memo", "respondent", "case", "dimension", "indicator"):
            assert c[name].data_type == "s", (name, c[name].value)
    book = [cell for row in wb["Codebook"].iter_rows() for cell in row]
    assert [c.value for c in book if c.value.startswith("=")] == [c.value for c in book if "=Netwerken" in c.value]
    assert len([c for c in book if c.value.startswith("=Netwerken")]) > 1
    assert all(c.data_type == "s" for c in book)


def test_csv_quotes_cells_a_spreadsheet_would_evaluate_and_leaves_the_rest(formula_study):
    store, ids = formula_study
    data = one(store, ids, "csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["passage"] for r in rows] == (["'" + t for t in FORMULA_LIKE[:5]] + ["#N/A"] + PLAIN)
    assert [r["memo"] for r in rows] == ["'-" + t for t in FORMULA_LIKE + PLAIN]
    assert {r["case"] for r in rows} == {"'@pilot"}
    # The columns a script reads as numbers stay numbers.
    assert [float(r["start_seconds"]) for r in rows] == [float(n) for n in range(len(rows))]
    assert all(int(r["start_offset"]) == 0 for r in rows)


# REFI-QDA ---------------------------------------------------------------------------------------------


def _project(path: Path):
    z = zipfile.ZipFile(path)
    root = ET.fromstring(z.read("project.qde"))
    return z, root


def test_qdpx_passes_the_checker_and_keeps_texts_codes_offsets_cases_and_memos(study, tmp_path):
    store, ids, guide = study
    path = tmp_path / "study.qdpx"
    path.write_bytes(one(store, ids, "qdpx"))
    check_qdpx(path)
    z, root = _project(path)
    codes = {c.get("guid"): c for c in root.iter(f"{P}Code")}
    parent = {child.get("guid"): c for c in root.iter(f"{P}Code") for child in c.findall(f"{P}Code")}
    folders = [c for c in root.find(f"{P}CodeBook/{P}Codes")]
    assert [f.get("name") for f in folders] == [d.name for d in guide.dimensions]
    assert all(f.get("isCodable") == "false" for f in folders)
    trust = next(f for f in folders if f.get("name") == "Vertrouwen")
    assert trust.get("color") == guide.dimension("vertrouwen").colour.upper()
    assert trust.find(f"{P}Description").text == guide.dimension("vertrouwen").definition

    got = []
    for src in root.iter(f"{P}TextSource"):
        text = z.read("sources/" + src.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
        for sel in src.findall(f"{P}PlainTextSelection"):
            coding = sel.find(f"{P}Coding")
            if coding is None:
                continue
            code = codes[coding.find(f"{P}CodeRef").get("targetGUID")]
            s, e = int(sel.get("startPosition")), int(sel.get("endPosition"))
            got.append((parent[code.get("guid")].get("name"), code.get("name"), text[s:e]))
    assert got == [(e[1], e[2], e[5]) for e in expected_codings(store, ids)]

    # every turn is in its source, whole
    first = next(root.iter(f"{P}TextSource"))
    text = z.read("sources/" + first.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
    assert all(t[4] in text for t in TURNS) and "[00:06] Respondent 4: Ik ben" in text

    cases = {c.get("name"): c for c in root.iter(f"{P}Case")}
    assert set(cases) == {"Respondent 1", "Respondent 4"}
    variables = {v.get("guid"): v.get("name") for v in root.iter(f"{P}Variable")}
    four = {variables[vv.find(f"{P}VariableRef").get("targetGUID")]: vv.find(f"{P}TextValue").text
            for vv in cases["Respondent 4"].findall(f"{P}VariableValue")}
    assert four == {"Case": "Samen starten", "Organisation": "Reclassering", "Role": "Projectleider"}
    notes = {n.get("guid"): n.find(f"{P}PlainTextContent").text for n in root.iter(f"{P}Note")}
    assert sorted(notes.values()) == sorted(["Vertrouwen groeit in de tijd", "Grap over de controller",
                                             "Rustig gesprek, goede verbinding", "Vergelijk met pilot 2"])
    assert notes[trust.find(f"{P}NoteRef").get("targetGUID")] == "Vergelijk met pilot 2"


def test_qdpx_with_audio_syncs_the_transcript_to_the_recording(study, tmp_path):
    store, ids, _ = study
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    with wave.open(str(audio_dir / "respondent.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000)
    store.set_session_audio_dir(ids[0], audio_dir)
    notes: list[str] = []
    files = render(store, ids, "qdpx", ExportOptions(audio=True), notes)
    path = tmp_path / "audio.qdpx"
    path.write_bytes(files[0].data)
    check_qdpx(path)
    z, root = _project(path)
    (audio,) = list(root.iter(f"{P}AudioSource"))
    assert z.read("sources/" + audio.get("path").removeprefix("internal://")) == (audio_dir / "respondent.wav").read_bytes()
    transcript = audio.find(f"{P}Transcript")
    text = z.read("sources/" + transcript.get("plainTextPath").removeprefix("internal://")).decode()
    syncs = [(int(s.get("position")), int(s.get("timeStamp"))) for s in transcript.findall(f"{P}SyncPoint")]
    second = text.index("[00:06]")
    assert (second, 6000) in syncs and (0, 0) in syncs
    assert notes == [f"session {ids[1]} has no recording; exported its transcript only"]


def test_qdc_round_trip_into_a_guide(study, tmp_path):
    store, ids, guide = study
    path = tmp_path / "codebook.qdc"
    path.write_bytes(one(store, ids[:1], "qdc"))
    check_qdpx(path)
    dims = read_codebook(path)
    assert [(d.name, d.colour, d.definition) for d in dims] == [(d.name, d.colour, d.definition) for d in guide.dimensions]
    assert [[i.name for i in d.indicators] for d in dims] == [[i.name for i in d.indicators] for d in guide.dimensions]
    target, merged = import_codebook(path, guide_id="kk-copy", base=guide)
    assert merged.drafted_links == {}  # the guide links its questions already
    copy = load_guide("kk-copy")
    assert target.stat().st_mode & 0o777 == 0o600
    assert copy.questions == guide.questions
    assert [(d.id, d.name, d.colour, d.questions, d.indicators) for d in copy.dimensions] == [
        (d.id, d.name, d.colour, d.questions, tuple(i for i in d.indicators)) for d in guide.dimensions
    ]
    with pytest.raises(UserError, match="--force"):
        import_codebook(path, guide_id="kk-copy", base=guide)


def test_qdc_import_adds_new_codes_with_their_names_as_phrases(tmp_path):
    guide = load_guide("remote-work-en")
    qdc = tmp_path / "team.qdc"
    qdc.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        '<Code guid="c0000000-0000-4000-8000-000000000001" name="Time management" isCodable="false" color="#36C">'
        '<Description>How people plan</Description>'
        '<Code guid="c0000000-0000-4000-8000-000000000002" name="Planning routine" isCodable="true"/>'
        "</Code></Codes></CodeBook>",
        encoding="utf-8",
    )
    check_qdpx(qdc)
    import_codebook(qdc, guide_id="team", base=guide)
    merged = load_guide("team")
    added = merged.dimension("time-management")
    assert (added.name, added.colour, added.definition) == ("Time management", "#3366cc", "How people plan")
    assert [(i.name, i.phrases) for i in added.indicators] == [("Planning routine", ("Planning routine",))]
    assert len(merged.dimensions) == len(guide.dimensions) + 1 and merged.questions == guide.questions
    import_codebook(qdc, guide_id="team-only", base=guide, replace=True)
    assert [d.id for d in load_guide("team-only").dimensions] == ["time-management"]


def test_a_malformed_codebook_names_the_line(tmp_path):
    bad = tmp_path / "bad.qdc"
    bad.write_text('<?xml version="1.0"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0">\n<Codes>\n</CodeBook>\n')
    with pytest.raises(UserError, match=r"line 4"):
        read_codebook(bad)


# Subtitles and the plain transcript ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_read_back_as_the_same_turns(study, tmp_path, fmt):
    store, ids, _ = study
    path = tmp_path / f"s.{fmt}"
    path.write_bytes(one(store, ids[:1], fmt))
    parsed = read_transcript(path)
    assert parsed.format == fmt
    assert [(t.speaker, t.text) for t in parsed.turns] == [
        ("Interviewer" if sp == "interviewer" else "Respondent 4", text) for sp, _, _, _, text in TURNS
    ]
    assert [(t.start, t.end) for t in parsed.turns] == [(a, b) for _, _, a, b, _ in TURNS]
    lines = path.read_text().splitlines()
    assert max(len(line) for line in lines) <= 2 * 42 + len("Respondent 4: ")


def test_subtitles_need_times(study):
    store, ids, _ = study
    with pytest.raises(UserError, match="without times"):
        render(store, ids[1:], "srt")


def test_plain_transcript_is_the_thesis_layout_and_reads_back(study, tmp_path):
    store, ids, _ = study
    text = one(store, ids[1:], "txt").decode()
    assert text.splitlines()[1:3] == ["X = Interviewer", "Y = Respondent 1"]
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    parsed = read_transcript(path)
    original = read_transcript(SEED / "interview-01.txt")
    assert [(t.speaker, t.text) for t in parsed.turns] == [(t.speaker, t.text) for t in original.turns]


# Several sessions, files --------------------------------------------------------------------------------


def test_per_session_formats_write_one_file_each_into_a_folder(study, tmp_path):
    store, ids, _ = study
    written = write_export(store, ids, "txt", tmp_path / "out")
    assert [p.name for p in written] == [f"session-{i}.txt" for i in ids]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in written)
    with pytest.raises(UserError, match="folder"):
        write_export(store, ids, "txt", None)
    with pytest.raises(UserError, match="-o FILE.docx"):
        write_export(store, ids, "docx", None)


def test_cli_exports_the_whole_study_atomically(study, tmp_path, capsys):
    from tui.cli import main

    store, ids, _ = study
    db = tmp_path / "study.db"
    disk = Store(db)
    store.db.conn.backup(disk.db.conn)
    disk.close()
    for fmt in FORMATS:
        if fmt in ("srt", "vtt"):
            continue
        out = tmp_path / f"all{FORMATS[fmt].extension}"
        target = out if not FORMATS[fmt].per_session else tmp_path / "txt"
        assert main(["--db", str(db), "export", "--all", "--format", fmt, "-o", str(target)]) == 0, fmt
        if fmt in ("qdpx", "qdc"):
            check_qdpx(out)
    assert not list(tmp_path.glob(".*.part"))
    assert (tmp_path / "all.docx").stat().st_mode & 0o777 == 0o600
    assert main(["--db", str(db), "export", "--all", "--format", "srt", "-o", str(tmp_path / "srt")]) == 2
    assert "without times" in capsys.readouterr().err
    assert main(["--db", str(db), "export", "99", "--format", "md"]) == 2
    assert main(["--db", str(db), "export", "--format", "md"]) == 2


# Hostile texts and big sessions -----------------------------------------------------------------


def test_control_characters_are_written_as_the_replacement_character_and_said(tmp_path, capsys):
    # A NUL, a bell, an escape sequence or a form feed (an imported file, a paste) made the docx
    # and xlsx exports fail with a traceback, and qdpx write a project no program reads back:
    # `export --all` failed for the whole study over one character.
    from tui.cli import main

    db = tmp_path / "study.db"
    store = Store(db)
    guide = load_guide("koers-en-kansen")
    sid = store.create_session(guide, origin="import", status="imported", title="Interview\x01 7")
    store.add_segment(sid, NewSegment("interviewer", "Hoe\x00 gaat\x07 het?", None, None, speaker_label="X",
                                      origin="import"))
    text = "Goed\x1b[31m, we delen informatie\x0c."
    seg = store.add_segment(sid, NewSegment("respondent", text, None, None, speaker_label="Y", origin="import"))
    dim = guide.dimension("informatie-uitwisseling")
    coding = store.add_coding(seg, dim.id, dim.indicators[0].id, start_offset=text.index("we"), end_offset=len(text))
    store.add_memo(sid, "coding", coding, "memo\x02")
    store.close()
    safe = "Goed\ufffd[31m, we delen informatie\ufffd."
    for fmt in ("docx", "xlsx", "qdpx"):
        out = tmp_path / f"all.{fmt}"
        assert main(["--db", str(db), "export", "--all", "--format", fmt, "-o", str(out)]) == 0, fmt
        err = capsys.readouterr().err
        assert f"{fmt}: 6 control character(s) that XML cannot hold written as U+FFFD" in err
        assert "session 1 (turns 1, 2; its title, facts or memos)" in err
        if fmt == "docx":
            import docx

            turns = [p.text.split("] ", 1)[1] for p in docx.Document(str(out)).paragraphs if "] " in p.text]
            assert turns == ["Hoe\ufffd gaat\ufffd het?", safe]
        elif fmt == "xlsx":
            import openpyxl

            sheet = openpyxl.load_workbook(out)["Quotes"]
            header = [c.value for c in sheet[1]]
            row = dict(zip(header, (c.value for c in sheet[2])))
            assert row["passage"] == safe[safe.index("we"):] and row["memo"] == "memo\ufffd"
        else:
            check_qdpx(out)
            with zipfile.ZipFile(out) as z:
                sources = [z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("sources/")]
            assert safe in sources[0]
    # A clean study says nothing of the kind.
    assert main(["--db", str(db), "export", "--all", "--format", "md", "-o", str(tmp_path / "all.md")]) == 0
    assert "U+FFFD" not in capsys.readouterr().err


def _session_of(store: Store, guide, turns: int) -> int:
    sid = store.create_session(guide, origin="import", status="imported", title=f"{turns} turns")
    with store.db.atomic():
        for n in range(turns):
            seg = store.add_segment(sid, NewSegment("respondent" if n % 2 else "interviewer", TURNS[n % 4][4],
                                                    None, None, speaker_label="Y" if n % 2 else "X", origin="import"))
            if n % 3 == 1:
                d = guide.dimensions[n % len(guide.dimensions)]
                store.add_coding(seg, d.id, d.indicators[0].id, start_offset=3, end_offset=20)
    return sid


def test_the_word_export_scans_the_document_in_proportion_to_its_turns(memory_store, monkeypatch):
    # python-docx looked for the body's end among all its paragraphs to append one, and read
    # every comment to number the next: 108,000 turns took 17 minutes. Count the children every
    # such look-up walks: four times the turns must cost about four times, not sixteen.
    from docx.oxml.xmlchemy import BaseOxmlElement

    walked = [0]
    xpath, first_child = BaseOxmlElement.xpath, BaseOxmlElement.first_child_found_in

    def counted_xpath(self, path):
        walked[0] += len(self)
        return xpath(self, path)

    def counted_first_child(self, *tags):
        walked[0] += len(self)
        return first_child(self, *tags)

    monkeypatch.setattr(BaseOxmlElement, "xpath", counted_xpath)
    monkeypatch.setattr(BaseOxmlElement, "first_child_found_in", counted_first_child)
    guide = load_guide("koers-en-kansen")
    small, big = _session_of(memory_store, guide, 300), _session_of(memory_store, guide, 1200)

    def work(sid: int) -> int:
        walked[0] = 0
        data = one(memory_store, [sid], "docx")
        assert data[:2] == b"PK"
        return walked[0]

    assert work(big) <= 4.5 * work(small)


def test_a_long_word_export_says_how_far_it_is(memory_store, capsys):
    from tui.commands.exchange import _export_progress

    guide = load_guide("koers-en-kansen")
    sid = _session_of(memory_store, guide, 2500)
    heard = []
    render(memory_store, [sid], "docx", ExportOptions(), progress=lambda done, total: heard.append((done, total)))
    assert heard == [(1000, 2500), (2000, 2500), (2500, 2500)]
    say = _export_progress("docx")
    say(1000, 2500)  # a short export says nothing
    say(3000, 108_000)
    assert capsys.readouterr().err == "fieldnote: docx: 3,000 of 108,000 turns written\n"
