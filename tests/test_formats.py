"""The import registry: Teams WebVTT, SRT, the text layouts; malformed files name their line.
Word documents: tests/test_import_docx.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.errors import ImportFormatError
from core.interchange.formats import FORMATS, detect, read_transcript
from core.study.guide import load_guide
from core.pipeline.importing import import_transcript
from core.interchange.transcripts import parse_transcript

SEED = Path(__file__).resolve().parent.parent / "sample_sessions" / "transcripts"

# As Teams writes a meeting transcript: cue ids "<uuid>/<n>-<part>", voice tags, one turn cut
# over several cues, cues over several lines, entities.
TEAMS = """\ufeffWEBVTT

6f1c2a44-3b1e-4c55-9d2e-8a0b7e5d1c01/17-0
00:00:03.520 --> 00:00:07.140
<v Jan de Vries>Goedemorgen, fijn dat je tijd
hebt vrijgemaakt.</v>

6f1c2a44-3b1e-4c55-9d2e-8a0b7e5d1c01/17-1
00:00:07.140 --> 00:00:09.000
<v Jan de Vries>Kun je kort iets over je werk vertellen?</v>

NOTE Teams adds no notes, other tools do

6f1c2a44-3b1e-4c55-9d2e-8a0b7e5d1c01/25-0
00:00:09.800 --> 00:00:15.250
<v Anna Bakker-Özdemir>Ja hoor. Ik werk bij de reclassering &amp; de gemeente.</v>

6f1c2a44-3b1e-4c55-9d2e-8a0b7e5d1c01/31-0
00:01:02.000 --> 00:01:04.500
<v Jan de Vries>Dank je.</v>
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Interviewer: Hoe is de samenwerking
begonnen?

2
00:00:04,500 --> 00:00:09,000
Respondent: Eerst moeizaam.

3
00:00:09,000 --> 00:00:11,000
<i>Daarna</i> ging het beter.

4
00:00:11,000 --> 00:00:12,250
Nou: veel beter.

5
00:00:12,500 --> 00:00:14,000
Interviewer: Dank u.

6
00:00:14,000 --> 00:00:15,000
Respondent: Graag gedaan.
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_teams_transcript_reads_as_turns_with_speakers_and_times(tmp_path):
    parsed = read_transcript(write(tmp_path, "meeting.vtt", TEAMS))
    assert parsed.format == "vtt"
    assert [(t.speaker, t.text, t.start, t.end, t.line) for t in parsed.turns] == [
        ("Jan de Vries", "Goedemorgen, fijn dat je tijd hebt vrijgemaakt. Kun je kort iets over je werk vertellen?",
         3.52, 9.0, 4),
        ("Anna Bakker-Özdemir", "Ja hoor. Ik werk bij de reclassering & de gemeente.", 9.8, 15.25, 15),
        ("Jan de Vries", "Dank je.", 62.0, 64.5, 19),
    ]
    assert list(parsed.speakers) == ["Jan de Vries", "Anna Bakker-Özdemir"]


def test_a_teams_transcript_imports_with_its_speakers_mapped(tmp_path, memory_store):
    parsed = read_transcript(write(tmp_path, "meeting.vtt", TEAMS))
    guide = load_guide("koers-en-kansen")
    sid = import_transcript(memory_store, parsed, guide, interviewer=["Jan de Vries"], respondent="3")
    segs = memory_store.segments(sid)
    assert [(s["speaker"], s["speaker_label"]) for s in segs] == [
        ("interviewer", "Jan de Vries"), ("respondent", "Anna Bakker-Özdemir"), ("interviewer", "Jan de Vries")
    ]
    assert segs[1]["text"] == "Ja hoor. Ik werk bij de reclassering & de gemeente."


def test_srt_speakers_carry_on_until_another_is_named(tmp_path):
    parsed = read_transcript(write(tmp_path, "call.srt", SRT))
    assert parsed.format == "srt"
    assert [(t.speaker, t.text, t.start, t.end) for t in parsed.turns] == [
        ("Interviewer", "Hoe is de samenwerking begonnen?", 1.0, 4.0),
        # "Nou:" starts no turn: the word starts no other cue.
        ("Respondent", "Eerst moeizaam. Daarna ging het beter. Nou: veel beter.", 4.5, 12.25),
        ("Interviewer", "Dank u.", 12.5, 14.0),
        ("Respondent", "Graag gedaan.", 14.0, 15.0),
    ]


def test_the_text_layouts_go_through_core_transcripts(tmp_path):
    text = (SEED / "interview-02.txt").read_text(encoding="utf-8")
    parsed = read_transcript(SEED / "interview-02.txt")
    direct = parse_transcript(text, str(SEED / "interview-02.txt"))
    assert parsed.format == "text" and parsed.title == direct.title and parsed.speakers == direct.speakers
    assert [(t.speaker, t.text, t.line) for t in parsed.turns] == [(t.speaker, t.text, t.line) for t in direct.turns]
    assert all(t.start is None for t in parsed.turns)
    named = read_transcript(write(tmp_path, "n.txt", "Anna: Hallo.\nJan: Dag Anna.\nAnna: Zullen we?\nJan: Ja.\n"))
    assert [t.speaker for t in named.turns] == ["Anna", "Jan", "Anna", "Jan"]


def test_detection_by_extension_then_content_and_an_explicit_format_wins(tmp_path):
    assert detect(Path("a.vtt"), "") == "vtt" and detect(Path("a.SRT"), "") == "srt"
    assert detect(Path("a.txt"), "X = Interviewer\n") == "text"
    assert detect(Path("export"), TEAMS) == "vtt"
    assert detect(Path("export"), SRT) == "srt"
    assert detect(Path("export"), "Anna: hoi\n") == "text"
    no_ext = write(tmp_path, "export", SRT)
    assert read_transcript(no_ext).format == "srt"
    with pytest.raises(ImportFormatError, match="WEBVTT"):
        read_transcript(no_ext, "vtt")
    with pytest.raises(ImportFormatError, match="no import format 'pdf'"):
        read_transcript(no_ext, "pdf")
    # --format docx on a text file: one message that it is no Word document.
    with pytest.raises(ImportFormatError, match="not a Word document"):
        read_transcript(no_ext, "docx")
    assert detect(Path("Meeting.DOCX"), "") == "docx"
    assert set(FORMATS) == {"text", "thesis", "named", "vtt", "srt", "docx"}


MALFORMED = [
    ("no-header.vtt", "00:00:01.000 --> 00:00:02.000\n<v A>Hoi</v>\n", 1, "WEBVTT"),
    ("bad-timing.vtt", "WEBVTT\n\nid-1\n00:00:01.000 -> 00:00:02.000\n<v A>Hoi</v>\n", 4, "cue timing"),
    ("backwards.vtt", "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\n<v A>Hoi</v>\n", 3, "before it starts"),
    ("nobody.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHoi zonder spreker\n", 4, "names no speaker"),
    ("two-voices.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>Hoi</v> <v B>Dag</v>\n", 4, "several speakers"),
    ("empty-cue.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\n<v A>Hoi</v>\n", 3, "no text"),
    ("bad-timing.srt", "1\n00:00:01,000 --> 00:00:02,000\nA: Hoi\n\n2\n00:00:03,000 --> 00:00:xx,000\nA: Dag\n", 6,
     "cue timing"),
    ("no-number.srt", "1\n00:00:01,000 --> 00:00:02,000\nA: Hoi\n\ntwee\n00:00:03,000 --> 00:00:04,000\nA: Dag\n", 5,
     "subtitle number"),
    ("nobody.srt", "1\n00:00:01,000 --> 00:00:02,000\nhoi zonder spreker\n", 3, "names no speaker"),
    ("undeclared.txt", "X = Interviewer\nY = Geïnterviewde\nX: Hallo.\nY: Dag.\nZ: Wie ben ik?\n", 5, "not declared"),
    ("empty.txt", "\n\n", 1, "empty"),
    ("binary.srt", "1\n00:00:01,000 --> 00:00:02,000\nA: H\x00i\n", 3, "binary"),
]


@pytest.mark.parametrize("name,text,line,problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_are_refused_naming_the_line_and_nothing_is_stored(tmp_path, memory_store, name, text,
                                                                             line, problem):
    path = write(tmp_path, name, text)
    guide = load_guide("koers-en-kansen")
    with pytest.raises(ImportFormatError) as err:
        import_transcript(memory_store, read_transcript(path), guide)
    message = str(err.value)
    assert message.startswith(f"{path}, line {line}: ") and problem in message, message
    assert memory_store.sessions() == []
    assert memory_store.db["segments"].count == 0


def test_explicit_thesis_format_refuses_a_named_file(tmp_path):
    path = write(tmp_path, "n.txt", "Anna: Hallo.\nJan: Dag.\n")
    with pytest.raises(ImportFormatError, match=r"n.txt, line \d+: no speakers are declared"):
        read_transcript(path, "thesis")


def test_windows_1252_text_is_read(tmp_path):
    path = tmp_path / "cp.srt"
    path.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nAnna: Geïnterviewde café\n".encode("cp1252"))
    assert read_transcript(path).turns[0].text == "Geïnterviewde café"
