"""Word transcripts: the text layouts and both Teams downloads read from .docx, errors naming the
paragraph, and files named .docx that are no Word document refused with one message."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from core.base.errors import ImportFormatError
from core.interchange.formats import FORMATS, read_transcript
from core.study.guide import load_guide
from core.pipeline.importing import import_transcript
from core.store.database import Store
from tui.cli import main


def word(path: Path, paragraphs: list[str]) -> Path:
    """A .docx with one paragraph per item; python-docx writes "\n" as a line break (w:br) and
    "\t" as a tab (w:tab), as Word does for Shift+Enter and Tab."""
    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    doc.save(path)
    return path


def turns(parsed) -> list[tuple]:
    return [(t.speaker, t.text, t.line, t.start, t.end) for t in parsed.turns]


# Teams' newer download: title, date, duration, then "Name   m:ss" and the text. The time can
# sit on its own paragraph, or after a line break in the name's paragraph.
TEAMS = [
    "Interview 7 - remote work",  # 1
    "3 March 2024, 14:00",  # 2: a date is not a speaker
    "38m 12s",  # 3
    "Jan de Vries started transcription",  # 4
    "Jan de Vries   0:03",  # 5
    "Could you tell me a little about your job and how your working week is set up at the moment?",
    "Jan de Vries   0:09",  # 7: the same speaker again: one turn
    "Take your time.",
    "Anna Bakker",  # 9
    "0:15",
    "I work in payroll, three days at home and two in the office.",
    "We start at 9:30 on Mondays.",  # 12: a sentence ending in a time is speech
    "Jan de Vries\t1:02:03\nHow did your way of working change when the pandemic started?",  # 13
    "Anna Bakker   1:02:10",  # 14
    "Everything moved online overnight.",
    "Jan de Vries stopped transcription",
]

# Teams' older download: per cue a timing, the speaker's name, then the text.
OLD_TEAMS = [
    "0:0:0.0 --> 0:0:3.720", "Jan de Vries", "Could you tell me a little about your job?",  # 1-3
    "",
    "0:0:3.720 --> 0:0:6.5", "Jan de Vries", "Just roughly.",  # 5-7
    "0:0:7.100 --> 0:0:15.250", "Anna Bakker", "I work in payroll,", "mostly from home.",  # 8-11
    "0:1:2.0 --> 0:1:4.500", "Jan de Vries", "Thanks.",  # 12-14
]


def test_the_thesis_layout_in_word_reads_as_in_text_with_paragraphs_for_lines(tmp_path):
    path = word(tmp_path / "interview.docx", [
        "Interview 3: maandag 8 juni",
        "X = Interviewer",
        "Y\t= Geïnterviewde",
        "",
        "X: Hoe is de samenwerking begonnen?",
        "Y: Eerst moeizaam.\nDaarna ging het beter.",  # a line break inside the turn
        "Let op: om 10:00 kwam de wethouder erbij.",  # a colon in a continuation paragraph
        "X =\tDank u.",
    ])
    parsed = read_transcript(path)
    assert parsed.format == "docx" and parsed.title == "Interview 3: maandag 8 juni"
    assert parsed.speakers == {"X": "Interviewer", "Y": "Geïnterviewde"}
    assert turns(parsed) == [
        ("X", "Hoe is de samenwerking begonnen?", 5, None, None),
        ("Y", "Eerst moeizaam. Daarna ging het beter. Let op: om 10:00 kwam de wethouder erbij.", 6, None, None),
        ("X", "Dank u.", 8, None, None),
    ]


def test_name_text_lines_in_word_read_as_in_text(tmp_path):
    path = word(tmp_path / "named.docx", [
        "Gesprek met Anna, 15 juni",
        "Jan: Hoe laat begin je meestal?",
        "Anna: Meestal om 9:30.",
        "Jan:  En stop je ook op tijd?",
        "Anna: Nee,\nnooit.",
        "Noot: de verbinding viel even weg",
    ])
    parsed = read_transcript(path)
    assert parsed.title == "Gesprek met Anna, 15 juni"
    assert [(t.speaker, t.text, t.line) for t in parsed.turns] == [
        ("Jan", "Hoe laat begin je meestal?", 2),
        ("Anna", "Meestal om 9:30.", 3),
        ("Jan", "En stop je ook op tijd?", 4),
        ("Anna", "Nee, nooit. Noot: de verbinding viel even weg", 5),
    ]
    assert all(t.start is None for t in parsed.turns)


def test_teams_newer_download_gives_turns_with_start_times(tmp_path):
    parsed = read_transcript(word(tmp_path / "Interview 7.docx", TEAMS))
    assert parsed.title == "Interview 7 - remote work"
    assert list(parsed.speakers) == ["Jan de Vries", "Anna Bakker"]
    assert turns(parsed) == [
        ("Jan de Vries", "Could you tell me a little about your job and how your working week is set up at the "
         "moment? Take your time.", 5, 3.0, 15.0),
        ("Anna Bakker", "I work in payroll, three days at home and two in the office. We start at 9:30 on Mondays.",
         9, 15.0, 3723.0),
        ("Jan de Vries", "How did your way of working change when the pandemic started?", 13, 3723.0, 3730.0),
        # The last turn runs on: Teams gives no end.
        ("Anna Bakker", "Everything moved online overnight.", 14, 3730.0, None),
    ]


def test_teams_headers_with_one_space_or_a_cue_end_are_read_by_the_shape_of_a_name(tmp_path):
    # Other Teams versions: one space between name and time, a "(Guest)" note, or the cue's end.
    parsed = read_transcript(word(tmp_path / "one-space.docx", [
        "Interview 9", "Jan de Vries 0:03", "How is your week set up?",
        "Anna Bakker (Guest) 0:00:09.400 --> 0:00:14.000", "Three days at home.", "We start at 9:30",
        "Jan de Vries 1:02:03", "Thanks.",
    ]))
    assert turns(parsed) == [
        ("Jan de Vries", "How is your week set up?", 2, 3.0, 9.0),
        ("Anna Bakker (Guest)", "Three days at home. We start at 9:30", 4, 9.0, 3723.0),
        ("Jan de Vries", "Thanks.", 7, 3723.0, None),
    ]


def test_teams_older_download_gives_turns_with_start_and_end(tmp_path):
    parsed = read_transcript(word(tmp_path / "old.docx", OLD_TEAMS))
    assert parsed.title is None
    assert turns(parsed) == [
        ("Jan de Vries", "Could you tell me a little about your job? Just roughly.", 1, 0.0, 6.5),
        ("Anna Bakker", "I work in payroll, mostly from home.", 8, 7.1, 15.25),
        ("Jan de Vries", "Thanks.", 12, 62.0, 64.5),
    ]


def test_the_whole_command_stores_a_teams_word_transcript(tmp_path, capsys):
    db = tmp_path / "study.db"
    path = word(tmp_path / "Interview 7.docx", TEAMS)
    code = main(["--db", str(db), "import", str(path), "--guide", "remote-work-en",
                 "--interviewer", "Jan de Vries", "--respondent", "7"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == "1" and "4 turns" in err
    store = Store(db)
    try:
        assert (store.session(1)["title"], store.session(1)["respondent"]) == ("Interview 7 - remote work", "7")
        segs = store.segments(1)
        assert [(s["speaker"], s["speaker_label"], s["start"], s["end"]) for s in segs] == [
            ("interviewer", "Jan de Vries", 3.0, 15.0),
            ("respondent", "Anna Bakker", 15.0, 3723.0),
            ("interviewer", "Jan de Vries", 3723.0, 3730.0),
            ("respondent", "Anna Bakker", 3730.0, None),
        ]
        assert segs[1]["text"].startswith("I work in payroll")
        # Understood as live: the first question of the guide is followed.
        assert segs[0]["asks"] == 1
    finally:
        store.close()


def test_an_error_names_the_paragraph_not_the_line(tmp_path, memory_store):
    path = word(tmp_path / "broken.docx", [
        "X = Interviewer",
        "Y = Geïnterviewde",
        "X: Hoe begon het?\nEn wanneer?",  # two lines, one paragraph
        "",
        "Y: In 2019.",
        "Z: Mag ik iets zeggen?",  # paragraph 6, line 7
    ])
    with pytest.raises(ImportFormatError) as err:
        import_transcript(memory_store, read_transcript(path), load_guide("koers-en-kansen"))
    assert str(err.value).startswith(f"{path}, paragraph 6: a turn by speaker 'Z'"), str(err.value)
    assert memory_store.sessions() == []


def test_a_teams_error_names_the_paragraph(tmp_path):
    paragraphs = TEAMS[:12] + ["Jan de Vries   0:10", "Back in time."]
    with pytest.raises(ImportFormatError, match=r"later\.docx, paragraph 13: the turn of Jan de Vries starts at 0:10"):
        read_transcript(word(tmp_path / "later.docx", paragraphs))
    with pytest.raises(ImportFormatError, match=r"cue\.docx, paragraph 5: the cue should hold the speaker's name"):
        read_transcript(word(tmp_path / "cue.docx", OLD_TEAMS[:3] + ["", "0:0:3.720 --> 0:0:6.5", "Jan de Vries"]))


def test_an_empty_document_is_refused(tmp_path):
    path = word(tmp_path / "empty.docx", ["", "  ", "\t"])
    with pytest.raises(ImportFormatError) as err:
        read_transcript(path)
    assert str(err.value) == f"{path}: the Word document holds no text"


def _zip(entries: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return buf.getvalue()


def _good_docx(tmp_path) -> bytes:
    return word(tmp_path / "good.docx", ["Anna: hoi", "Jan: dag", "Anna: ja", "Jan: nee"]).read_bytes()


NOT_WORD = [
    ("renamed-text", lambda tmp: "X = Interviewer\nX: Hallo\n".encode(), "not a Word document (.docx); if it is a text transcript"),
    ("zero-bytes", lambda tmp: b"", "the file is empty"),
    ("truncated", lambda tmp: _good_docx(tmp)[:600], "a damaged Word document"),
    ("old-doc", lambda tmp: bytes.fromhex("d0cf11e0a1b11ae1") + bytes(600), "an old Word document (.doc)"),
    ("rtf", lambda tmp: b"{\\rtf1\\ansi Anna: hoi}", "Rich Text (RTF)"),
    ("other-zip", lambda tmp: _zip({"notes.txt": "Anna: hoi"}), "not a Word document (it has no word/document.xml)"),
    ("odt", lambda tmp: _zip({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<x/>"}),
     "an OpenDocument file"),
    ("bad-xml", lambda tmp: _zip({"word/document.xml": "<w:document><w:body>"}), "a damaged Word document"),
]


@pytest.mark.parametrize("name,content,problem", NOT_WORD, ids=[n for n, _, _ in NOT_WORD])
def test_a_file_named_docx_that_is_no_word_document_gets_one_message(tmp_path, name, content, problem):
    path = tmp_path / f"{name}.docx"
    path.write_bytes(content(tmp_path))
    with pytest.raises(ImportFormatError) as err:
        read_transcript(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value), str(err.value)


def test_the_command_refuses_a_renamed_or_damaged_file_with_exit_2_and_stores_nothing(tmp_path, capsys):
    db = tmp_path / "study.db"
    good = word(tmp_path / "good.docx", TEAMS)
    assert main(["--db", str(db), "import", str(good), "--guide", "remote-work-en",
                 "--interviewer", "Jan de Vries"]) == 0
    capsys.readouterr()
    renamed = tmp_path / "renamed.docx"
    renamed.write_text("Anna: hoi\nJan: dag\n", encoding="utf-8")
    damaged = tmp_path / "damaged.docx"
    damaged.write_bytes(good.read_bytes()[:-200])
    for path, problem in [(renamed, "not a Word document"), (damaged, "a damaged Word document")]:
        code = main(["--db", str(db), "import", str(path), "--guide", "remote-work-en"])
        out, err = capsys.readouterr()
        assert code == 2 and out == "", err
        assert err.startswith(f"fieldnote: error: {path}: ") and problem in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    store = Store(db)
    try:
        assert [s["id"] for s in store.sessions()] == [1]
        assert store.db["segments"].count == 4
    finally:
        store.close()
    # A text file named .docx is read as text when asked to.
    assert main(["--db", str(db), "import", str(renamed), "--guide", "remote-work-en", "--format", "text",
                 "--interviewer", "Jan"]) == 0


def test_format_docx_and_word_bytes_are_read_as_word_whatever_the_name(tmp_path):
    data = word(tmp_path / "a.docx", OLD_TEAMS).read_bytes()
    for name in ("export", "transcript.txt"):
        (tmp_path / name).write_bytes(data)
        assert read_transcript(tmp_path / name).turns[0].end == 6.5
    assert read_transcript(tmp_path / "export", "docx").format == "docx"
    # A layout given with --format is applied to the document's text.
    named = word(tmp_path / "n.docx", ["Anna: hoi", "Jan: dag", "Anna: ja", "Jan: nee"])
    with pytest.raises(ImportFormatError, match=r"n\.docx, paragraph 2: no speakers are declared"):
        read_transcript(named, "thesis")
    assert [t.speaker for t in read_transcript(named, "named").turns] == ["Anna", "Jan", "Anna", "Jan"]
    assert "docx" in FORMATS and FORMATS["docx"].extensions == (".docx",)


def _add_xml_paragraph(doc, inner: str) -> None:
    doc.element.body.insert(len(doc.element.body) - 1, parse_xml(f"<w:p {nsdecls('w')}>{inner}</w:p>"))


def test_tracked_changes_read_as_accepted_and_text_boxes_are_left_out(tmp_path):
    doc = Document()
    doc.add_paragraph("X = Interviewer")
    doc.add_paragraph("Y = Geïnterviewde")
    _add_xml_paragraph(doc, "<w:r><w:t>X: Hoe </w:t></w:r>"
                       '<w:ins w:id="1" w:author="a"><w:r><w:t>lang </w:t></w:r></w:ins>'
                       '<w:del w:id="2" w:author="a"><w:r><w:delText>kort </w:delText></w:r></w:del>'
                       "<w:r><w:t>werkt u hier?</w:t></w:r>")
    _add_xml_paragraph(doc, "<w:r><w:t>Y: Tien jaar.</w:t></w:r>"
                       "<w:r><w:pict><w:txbxContent><w:p><w:r><w:t>Kader</w:t></w:r></w:p></w:txbxContent>"
                       "</w:pict></w:r>")
    path = tmp_path / "tracked.docx"
    doc.save(path)
    assert [(t.speaker, t.text) for t in read_transcript(path).turns] == [
        ("X", "Hoe lang werkt u hier?"), ("Y", "Tien jaar.")]


def _table_document(path: Path, rows: list[tuple[str, str]]) -> Path:
    doc = Document()
    doc.add_paragraph("X = Interviewer")
    doc.add_paragraph("Y = Geïnterviewde")
    table = doc.add_table(rows=0, cols=2)
    for code, text in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = code, text
    doc.save(path)
    return path


def test_a_table_is_read_a_row_at_a_time_with_the_speaker_in_the_first_cell(tmp_path):
    rows = [("X", "Hoe gaat het?"), ("Y", "Goed."), ("X:", "Mooi.")]
    path = _table_document(tmp_path / "table.docx", rows)
    assert [(t.speaker, t.text, t.line) for t in read_transcript(path).turns] == [
        ("X", "Hoe gaat het?", 3), ("Y", "Goed.", 4), ("X", "Mooi.", 5)]
    path = _table_document(tmp_path / "undeclared.docx", [*rows, ("Z", "Wie ben ik?")])
    with pytest.raises(ImportFormatError, match=r"undeclared\.docx, paragraph 6 \(a table row\): a turn by speaker 'Z'"):
        read_transcript(path)
