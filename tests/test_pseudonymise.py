"""Pseudonymisation: the study's list of names, proposals from the transcripts, and exports that
leak no listed name in any format while codings keep their passages."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.base.errors import UserError
from core.interchange.exporters import FORMATS, ExportOptions, render
from core.interchange.formats import read_transcript
from core.study.guide import load_guide
from core.pipeline.importing import import_transcript
from core.interchange.pseudonymise import (
    Pseudonym,
    Pseudonymiser,
    add_pseudonym,
    fold,
    pseudonyms,
    remove_pseudonym,
    suggest_names,
)
from core.store.database import NewSegment

from suite import examples

SEED = Path(__file__).resolve().parent.parent / "sample_sessions" / "transcripts"

LIST = [
    Pseudonym("Johan", "[collega 1]"),
    Pseudonym("Jürgen", "[collega 2]"),
    Pseudonym("Marleen de Wit", "[collega 3]"),
    Pseudonym("Marleen", "[collega 4]"),
]


def test_names_are_replaced_in_any_casing_accent_and_possessive_and_only_as_whole_words():
    p = Pseudonymiser(LIST)
    text = ("Johan, JOHAN en johan; Johans fiets, Johan's idee en Johan’s plan. Jurgen en Jürgen. "
            "Marleen  de Wit en Marleen. Johannes, Johanna en januari blijven; e-mail johan@pilot.nl.")
    assert p.replace(text).text == (
        "[collega 1], [collega 1] en [collega 1]; [collega 1]'s fiets, [collega 1]'s idee en [collega 1]’s plan. "
        "[collega 2] en [collega 2]. [collega 3] en [collega 4]. Johannes, Johanna en januari blijven; "
        "e-mail [collega 1]@pilot.nl."
    )


def test_offsets_move_with_the_replacement_and_a_cut_name_is_taken_whole():
    p = Pseudonymiser(LIST)
    text = "Toen zei Johan dat Marleen de Wit het regelde."
    r = p.replace(text)
    a, b = text.index("dat"), text.index(" het")
    assert r.text[r.position(a, end=False) : r.position(b, end=True)] == "dat [collega 3]"
    # A passage that starts or ends inside a name takes the whole replacement.
    a, b = text.index("ohan"), text.index("Wit") + 1
    assert r.text[r.position(a, end=False) : r.position(b, end=True)] == "[collega 1] dat [collega 3]"
    assert r.position(0, end=False) == 0 and r.position(len(text), end=True) == len(r.text)


WORDS = ["Johan", "johans", "Jürgen", "Marleen", "de", "Wit", "en", "samenwerking", "Johannes", ",", "."]


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), st.data())
def test_a_passage_on_word_boundaries_keeps_its_words_after_replacement(words, data):
    p = Pseudonymiser(LIST)
    text = " ".join(words)
    bounds = [0] + [m.end() for m in re.finditer(r"\S+", text)]
    i = data.draw(st.integers(0, len(words) - 1))
    j = data.draw(st.integers(i + 1, len(words)))
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    a, b = starts[i], bounds[j]
    r = p.replace(text)
    moved = r.text[r.position(a, end=False) : r.position(b, end=True)]
    # The passage's own replacement can differ only where a multi-word name crosses its edge.
    if "Marleen" not in words[max(0, i - 2) : j + 2]:
        assert moved == p.replace(text[a:b]).text


def test_the_list_refuses_duplicates_and_replacements_that_hold_a_name(memory_store):
    add_pseudonym(memory_store, "Johan", "[collega 1]")
    assert add_pseudonym(memory_store, "Eline").replacement == "[name 2]"
    with pytest.raises(UserError, match="already listed"):
        add_pseudonym(memory_store, "JOHAN", "x")
    with pytest.raises(UserError, match="contains the listed name 'Johan'"):
        add_pseudonym(memory_store, "Bart", "Johans collega")
    with pytest.raises(UserError, match="appears in the replacement"):
        add_pseudonym(memory_store, "collega", "[iemand]")
    remove_pseudonym(memory_store, "eline")
    assert pseudonyms(memory_store) == [Pseudonym("Johan", "[collega 1]")]
    with pytest.raises(UserError, match="not in the list"):
        remove_pseudonym(memory_store, "Eline")


def test_the_schema_holds_the_names_and_respondents_tables(memory_store):
    db = memory_store.db
    assert {c.name for c in db["pseudonyms"].columns} == {"id", "name", "replacement", "created_at"}
    assert {c.name for c in db["respondents"].columns} == {"number", "organisation", "role"}


def test_suggestions_are_names_from_the_transcripts_not_guide_or_common_words(memory_store):
    guide = load_guide("koers-en-kansen")
    for name, resp, inter, respondents in [("interview-02.txt", "2,3", ["X"], ["Y1", "Y2"]),
                                           ("interview-08.txt", "9", ["X"], ["Y"])]:
        import_transcript(memory_store, read_transcript(SEED / name), guide, interviewer=inter,
                          respondents=respondents, respondent=resp)
    words = [c.word for c in suggest_names(memory_store)]
    assert {"Jurgen", "Eline"} <= set(words)
    guide_words = {fold(w) for w in re.findall(r"\w+", guide.text)}
    assert not [w for w in words if fold(w) in guide_words]
    # Capitalised only where a sentence starts: common words, not names.
    assert not {"Ja", "Nee", "Dus", "Dankzij", "Bestaande"} & set(words)
    add_pseudonym(memory_store, "Jurgen")
    assert "Jurgen" not in [c.word for c in suggest_names(memory_store)]


def test_names_commands(tmp_path, capsys):
    from tui.cli import main

    db = str(tmp_path / "study.db")
    assert main(["--db", db, "names", "add", "Johan", "[collega 1]"]) == 0
    assert main(["--db", db, "names", "add", "Jan de Vries"]) == 0
    assert main(["--db", db, "names", "add", "johan"]) == 2
    assert main(["--db", db, "names", "list"]) == 0
    out = capsys.readouterr().out
    assert "Johan" in out and "[collega 1]" in out and "Jan de Vries" in out and "[name 2]" in out
    assert main(["--db", db, "names", "remove", "Jan de Vries"]) == 0
    assert main(["--db", db, "names", "suggest"]) == 0
    assert main(["--db", db, "respondents", "set", "3", "--role", "Projectleider"]) == 0
    assert main(["--db", db, "respondents", "list"]) == 0
    assert "Projectleider" in capsys.readouterr().out


# the leak test ---------------------------------------------------------------------------------------

NAMES = ["Johan", "Jürgen", "Marleen de Wit", "Anna Bakker", "Utrecht"]


@pytest.fixture
def named_study(memory_store):
    """A Teams-style session whose names are everywhere: text, title, respondent, speakers, memos."""
    store = memory_store
    guide = load_guide("koers-en-kansen")
    sid = store.create_session(guide, origin="import", respondent="Anna Bakker", case_name="Pilot Utrecht",
                               title="Gesprek met Anna Bakker", started_at="2021-06-14T10:00:00+00:00")
    turns = [
        ("interviewer", "Johan", "Goedemorgen Anna, kun je iets vertellen over Jürgen en Marleen de Wit?"),
        ("respondent", "Anna Bakker", "Johan's vraag is goed. Ik werk met JOHAN en Jurgen samen in Utrecht; "
                                      "Marleen de Wits rol is de regie."),
        ("interviewer", "Johan", "Dank je, anna."),
    ]
    segs = [store.add_segment(sid, NewSegment(sp, text, 5.0 * n, 5.0 * n + 4, speaker_label=lab))
            for n, (sp, lab, text) in enumerate(turns)]
    trust = guide.dimension("vertrouwen")
    text = turns[1][2]
    c1 = store.add_coding(segs[1], trust.id, trust.indicators[0].id, start_offset=0, end_offset=text.index(";"))
    store.add_coding(segs[1], trust.id, trust.indicators[0].id, start_offset=text.index("Marleen"),
                     end_offset=len(text))
    store.add_coding(segs[0], trust.id, trust.indicators[0].id)
    store.add_memo(sid, "coding", c1, "Johan en Anna vertrouwen elkaar")
    store.add_memo(sid, "segment", segs[0], "Marleen de Wit kwam later")
    store.add_memo(sid, "session", sid, "Anna Bakker sprak vrijuit over Jürgen")
    store.add_memo(None, "dimension", trust.id, "Vergelijk Johan met Utrecht")
    for n, name in enumerate(NAMES, 1):
        add_pseudonym(store, name, f"[persoon {n}]")
    add_pseudonym(store, "Anna", "[persoon 6]")
    return store, sid


def _all_text(data: bytes) -> str:
    if data[:2] == b"PK":
        z = zipfile.ZipFile(io.BytesIO(data))
        return "\n".join(z.read(n).decode("utf-8", "ignore") for n in z.namelist())
    return data.decode("utf-8")


@pytest.mark.parametrize("respondent_names", [False, True])
def test_no_listed_name_appears_in_any_export_format(named_study, respondent_names):
    store, sid = named_study
    options = ExportOptions(pseudonymise=True, respondent_names=respondent_names)
    patterns = [re.compile(r"(?<![a-z])" + r"\s+".join(fold(w) for w in name.split()) + r"(?![a-z])")
                for name in NAMES + ["Anna", "Jurgen"]]
    for fmt in FORMATS:
        text = fold(html.unescape(_all_text(render(store, [sid], fmt, options)[0].data)))
        text = re.sub(r"\\(.)", r"\1", text)  # Markdown escapes
        leaks = [p.pattern for p in patterns if p.search(text)]
        assert not leaks, f"{fmt} leaks {leaks}"
    # Without pseudonymisation the same exports do hold the names: the search can find them.
    plain = fold(_all_text(render(store, [sid], "csv", ExportOptions())[0].data))
    assert patterns[0].search(plain) and patterns[2].search(plain)


def test_pseudonymised_codings_keep_their_passages(named_study):
    store, sid = named_study
    p = Pseudonymiser(pseudonyms(store))
    rows = list(csv.DictReader(io.StringIO(render(store, [sid], "csv", ExportOptions(pseudonymise=True))[0]
                                           .data.decode("utf-8-sig"))))
    segs = {s["id"]: s["text"] for s in store.segments(sid)}
    codings = store.codings_for(list(segs))
    expected = []
    for seg_id, text in segs.items():
        for c in codings[seg_id]:
            a = c["start_offset"] or 0
            b = len(text) if c["end_offset"] is None else c["end_offset"]
            expected.append(p.replace(text[a:b]).text)
    assert [r["passage"] for r in rows] == expected
    new_texts = {s: p.replace(t).text for s, t in segs.items()}
    for r in rows:
        assert new_texts[int(r["segment"])][int(r["start_offset"]) : int(r["end_offset"])] == r["passage"]
    assert rows[0]["passage"] == "Goedemorgen [persoon 6], kun je iets vertellen over [persoon 2] en [persoon 3]?"
    assert rows[1]["passage"] == "[persoon 1]'s vraag is goed. Ik werk met [persoon 1] en [persoon 2] samen in [persoon 5]"
    assert rows[1]["respondent"] == "1" and rows[1]["memo"] == "[persoon 1] en [persoon 6] vertrouwen elkaar"
    lines = [json.loads(x) for x in render(store, [sid], "jsonl", ExportOptions(pseudonymise=True))[0].data.decode().splitlines()]
    coded = lines[1]["codings"][1]
    assert lines[1]["text"][coded["start_offset"] : coded["end_offset"]] == coded["passage"] == "[persoon 3]'s rol is de regie."


# a transcript that is UTF-8 but for a few bytes ------------------------------------------------------

THESIS = ("X = Interviewer\nY = Geïnterviewde\nX: Hoe werkt u samen met Jürgen en Gülşen?\n"
          "Y: Jürgen belt elke week; Gülşen komt naar het café.\n")


def test_a_utf8_transcript_with_a_stray_byte_is_refused_naming_the_line_and_the_byte(tmp_path, capsys):
    from core.base.errors import ImportFormatError
    from core.store.database import Store
    from tui.cli import main

    path = tmp_path / "interview.txt"
    # One byte of another encoding in an otherwise UTF-8 file: read as Windows-1252 it would garble
    # every accented name ("JÃ¼rgen"), and the names list would no longer find them.
    path.write_bytes(THESIS.encode("utf-8").replace("naar het".encode(), b"naar h\xe9t"))
    with pytest.raises(ImportFormatError) as err:
        read_transcript(path)
    message = str(err.value)
    assert message.startswith(f"{path}, line 4, column 45: byte 0xE9 is not UTF-8"), message
    assert "UTF-8" in message

    db = tmp_path / "study.db"
    assert main(["--db", str(db), "import", str(path), "--guide", "koers-en-kansen"]) == 2
    err_text = capsys.readouterr().err
    assert "line 4" in err_text and "Traceback" not in err_text and len(err_text.strip().splitlines()) == 1
    store = Store(db)
    assert store.sessions() == []
    store.close()


def test_a_utf8_transcript_cut_inside_a_character_is_refused_too(tmp_path):
    from core.base.errors import ImportFormatError

    path = tmp_path / "cut.txt"
    path.write_bytes(THESIS.encode("utf-8") + "Y: En Jü".encode("utf-8")[:-1])
    with pytest.raises(ImportFormatError, match=r"line 5, column 8: byte 0xC3 "):
        read_transcript(path)


def test_a_windows_1252_transcript_that_happens_to_hold_utf8_is_refused_showing_what_it_holds(tmp_path):
    from core.base.errors import ImportFormatError

    # "É" and a closing quote in Windows-1252 are the two bytes of "ɔ" in UTF-8: the message
    # shows the odd character, so the researcher sees which encoding the file is in.
    path = tmp_path / "ansi.txt"
    path.write_bytes("X = Interviewer\nY = Geïnterviewde\nX: „CAFÉ” zei ze\nY: ja\n".encode("cp1252"))
    with pytest.raises(ImportFormatError, match=r"line 2, column 7: byte 0xEF .*\(line 3 holds 'ɔ'; 2 such bytes, on lines 2, 3\)"):
        read_transcript(path)
    path.write_bytes(b"\xef\xbb\xbf" + "X = Interviewer\nY = Geïnterviewde\n".encode("cp1252"))
    with pytest.raises(ImportFormatError, match=r"line 2, column 7: .*starts with UTF-8's byte order mark"):
        read_transcript(path)


def test_a_windows_1252_transcript_is_still_read_whole(tmp_path):
    path = tmp_path / "ansi.txt"
    path.write_bytes(THESIS.encode("cp1252", errors="replace").replace(b"G?l?en", b"Gulsen"))
    turns = read_transcript(path).turns
    assert "Jürgen" in turns[0].text and "café" in turns[1].text


# names written otherwise than in the list -----------------------------------------------------------

FORMS = {
    # listed as: written in the transcripts as
    "O'Brien": ["O’Brien", "O‘Brien", "OʼBrien", "O'BRIEN", "O’Briens", "Ｏ’Ｂｒｉｅｎ"],
    "Yıldız": ["YILDIZ", "Yildiz", "yıldız", "Yıldız'ın", "YİLDİZ"],
    "İlker": ["ilker", "ILKER", "İlker", "Ilker"],
    "Jan-Willem": ["Jan–Willem", "Jan—Willem", "Jan‐Willem", "Jan Willem", "jan-willem", "Jan - Willem",
                   "Jan\u00adWillem"],
    "Jürgen": ["Jür\u00adgen", "Jü\u200brgen", "Ju\u0308rgen", "J\u200cürgen", "JÜR\u2060GEN"],
    "Sanne": ["Ｓａｎｎｅ", "ＳＡＮＮＥ", "Sa\ufeffnne"],
}
# What must not be left of each name, found after folding the output in a way of the test's own.
CORES = ["brien", "yildiz", "ilker", "willem", "jurgen", "sanne"]


def _trace_fold(text: str) -> str:
    """The output as a reader would see it: compatibility forms, invisible characters, accents,
    case and the dotless i all folded away."""
    import unicodedata

    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return re.sub(r"\\(.)", r"\1", text.casefold().replace("ı", "i"))


def _forms_study(store):
    guide = load_guide("koers-en-kansen")
    sid = store.create_session(guide, origin="import", respondent="Jan–Willem O’Brien", case_name="Pilot YILDIZ",
                               title="Gesprek met Ｓａｎｎｅ en ilker", started_at="2021-06-14T10:00:00+00:00")
    texts = []
    for n, (listed, forms) in enumerate(FORMS.items()):
        texts.append(("interviewer", "Interviewer", f"Vertel eens over {forms[0]}."))
        texts.append(("respondent", forms[-1], "Ik werk met " + ", ".join(forms) + f" samen. Dat is {n} jaar."))
    segs = [store.add_segment(sid, NewSegment(sp, text, 5.0 * n, 5.0 * n + 4, speaker_label=lab))
            for n, (sp, lab, text) in enumerate(texts)]
    trust = guide.dimension("vertrouwen")
    for seg, (_, _, text) in zip(segs, texts):
        if text.startswith("Ik werk"):
            # From the start to the first full stop: the names inside, cut nowhere.
            store.add_coding(seg, trust.id, trust.indicators[0].id, start_offset=0, end_offset=text.index(" samen"))
            store.add_coding(seg, trust.id, trust.indicators[0].id, start_offset=text.index("Dat"),
                             end_offset=len(text))
    store.add_memo(sid, "session", sid, "Ｓａｎｎｅ en Jan–Willem spraken over O’Brien")
    for n, listed in enumerate(FORMS, 1):
        add_pseudonym(store, listed, f"[persoon {n}]")
    return sid


def _leaks(data: bytes) -> list[str]:
    text = _trace_fold(_all_text(data))
    leaks = [core for core in CORES if core in text]
    raw = data if data[:2] != b"PK" else b"".join(
        zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist())
    leaks += [form for forms in FORMS.values() for form in forms if form.encode("utf-8") in raw]
    return leaks


def test_the_list_finds_names_in_every_written_form():
    p = Pseudonymiser([Pseudonym(name, f"[p{n}]") for n, name in enumerate(FORMS)])
    for n, (listed, forms) in enumerate(FORMS.items()):
        for form in forms:
            replaced = p.replace(f"Met {form} gesproken.").text
            assert f"[p{n}]" in replaced and not any(c in _trace_fold(replaced) for c in CORES), (form, replaced)
    # Whole words still: a listed name inside a longer word is left alone.
    assert p.replace("Sannes Sannemarie Jürgensen").text == "[p5]'s Sannemarie Jürgensen"
    # Separators go between the parts of a name only, not between its letters.
    assert p.replace("S a n n e, Jür-gen, Jan, Willem").text == "S a n n e, Jür-gen, Jan, Willem"


def test_the_list_refuses_a_name_listed_again_in_another_form(memory_store):
    add_pseudonym(memory_store, "Jan-Willem")
    add_pseudonym(memory_store, "O’Brien")
    for again in ("Jan Willem", "jan–willem", "O'Brien", "Ｏ'Ｂｒｉｅｎ"):
        with pytest.raises(UserError, match="already listed"):
            add_pseudonym(memory_store, again)
    remove_pseudonym(memory_store, "JAN WILLEM")
    assert [p.name for p in pseudonyms(memory_store)] == ["O’Brien"]


def test_no_written_form_of_a_name_is_left_in_any_export(memory_store):
    sid = _forms_study(memory_store)
    options = ExportOptions(pseudonymise=True)
    for fmt in FORMATS:
        assert not _leaks(render(memory_store, [sid], fmt, options)[0].data), fmt
    # Without pseudonymisation they are all there: the search can see them.
    assert set(CORES) <= set(_leaks(render(memory_store, [sid], "md", ExportOptions())[0].data))


def test_replacing_names_of_other_lengths_keeps_qdpx_selections_and_jsonl_offsets_on_their_text(memory_store):
    import xml.etree.ElementTree as ET

    sid = _forms_study(memory_store)
    p = Pseudonymiser(pseudonyms(memory_store))
    segs = {s["id"]: s["text"] for s in memory_store.segments(sid)}
    codings = memory_store.codings_for(list(segs))
    expected = [p.replace(text[c["start_offset"] : c["end_offset"]]).text
                for seg_id, text in segs.items() for c in codings[seg_id]]
    assert len(expected) == 12 and all("[persoon" in e for e in expected[::2])

    lines = [json.loads(x) for x in render(memory_store, [sid], "jsonl", ExportOptions(pseudonymise=True))[0]
             .data.decode().splitlines()]
    got = [seg["text"][c["start_offset"] : c["end_offset"]] for seg in lines[1:] for c in seg.get("codings", [])]
    assert got == expected

    z = zipfile.ZipFile(io.BytesIO(render(memory_store, [sid], "qdpx", ExportOptions(pseudonymise=True))[0].data))
    ns = "{urn:QDA-XML:project:1.0}"
    root = ET.fromstring(z.read("project.qde"))
    got = []
    for src in root.iter(f"{ns}TextSource"):
        text = z.read("sources/" + src.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
        for sel in src.findall(f"{ns}PlainTextSelection"):
            if sel.find(f"{ns}Coding") is not None:
                got.append(text[int(sel.get("startPosition")) : int(sel.get("endPosition"))])
    assert got == expected


def test_fieldnote_matrix_pseudonymises_respondents_cases_and_titles(tmp_path, capsys):
    from core.store.database import Store
    from tui.cli import main

    db = tmp_path / "study.db"
    store = Store(db)
    _forms_study(store)
    store.close()
    for by in ("respondent", "case"):
        for fmt in ("csv", "table"):
            assert main(["--db", str(db), "matrix", "--by", by, "--format", fmt, "--pseudonymise"]) == 0
            out = capsys.readouterr().out
            assert not _leaks(out.encode("utf-8")), (by, fmt, out)
            assert "Vertrouwen" in out
    assert main(["--db", str(db), "matrix", "--by", "respondent", "--format", "csv", "--pseudonymise"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["code", "level", "1", "total"]
    assert main(["--db", str(db), "matrix", "--by", "case", "--format", "csv", "--pseudonymise"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out)))[0] == ["code", "level", "Pilot [persoon 2]", "total"]
    # Without it, the matrix shows what was typed (the search sees it), as before.
    assert main(["--db", str(db), "matrix", "--by", "case", "--format", "csv"]) == 0
    assert _leaks(capsys.readouterr().out.encode("utf-8"))
    # With no names listed there is nothing to pseudonymise by: said, as `export` says it.
    assert main(["--db", str(tmp_path / "empty.db"), "matrix", "--pseudonymise"]) == 2
    assert "list of names is empty" in capsys.readouterr().err


# Invisible characters and a combining accent, put anywhere inside a name by the property below.
DISGUISES = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u0301"]
OTHER_WORDS = ["en", "met", "samenwerking", "Sannemarie", "Jürgensen", "Brienne", ",", "."]


@st.composite
def _disguised_form(draw):
    form = draw(st.sampled_from([f for forms in FORMS.values() for f in forms]))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(1, len(form) - 1))
        form = form[:at] + draw(st.sampled_from(DISGUISES)) + form[at:]
    return form


@settings(deadline=None, database=None, max_examples=examples(100))
@given(st.lists(st.one_of(_disguised_form(), st.sampled_from(OTHER_WORDS)), min_size=1, max_size=20), st.data())
def test_a_disguised_name_leaves_no_trace_and_passages_keep_their_words(words, data):
    p = Pseudonymiser([Pseudonym(name, f"[p{n}]") for n, name in enumerate(FORMS)])
    text = " ".join(words)
    r = p.replace(text)
    names_left = _trace_fold(r.text)
    for word in ("sannemarie", "jurgensen", "brienne"):
        names_left = names_left.replace(word, "")
    assert not [c for c in CORES if c in names_left], (text, r.text)
    starts = [sum(len(w) + 1 for w in words[:k]) for k in range(len(words))]
    i = data.draw(st.integers(0, len(words) - 1))
    j = data.draw(st.integers(i, len(words) - 1))
    a, b = starts[i], starts[j] + len(words[j])
    assert r.text[r.position(a, end=False) : r.position(b, end=True)] == p.replace(text[a:b]).text
