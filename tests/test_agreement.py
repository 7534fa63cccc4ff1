"""Agreement between two coders: this database's codings against a colleague's .qdpx project.

Two databases with the same sample interviews stand for the two coders; the colleague's project
is either their fieldnote export, or that export as a QDA program would give it back (its own
GUIDs, a coder of its own beside fieldnote's codings, codes matched by name).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.analysis.agreement import compare
from core.base.errors import UserError
from core.interchange.exporters import ExportOptions
from core.interchange.exporters.model import build
from core.interchange.exporters.refi import PROJECT_NS, source_text
from core.study.guide import load_guide
from core.store.review import add_coding, edit_text
from core.store.database import Store
from tui.cli import main

from suite import check_qdpx, examples

NS = f"{{{PROJECT_NS}}}"
GUIDE = load_guide("koers-en-kansen")
X, Y = GUIDE.dimensions[0], GUIDE.dimensions[5]


def _study(path: Path) -> Store:
    assert main(["--db", str(path), "import-samples"]) == 0
    return Store(path)


def _respondent_turns(store: Store, session_id: int = 1) -> list[int]:
    return [s["id"] for s in store.segments(session_id) if s["speaker"] == "respondent"]


def _code(store: Store, plan: dict) -> None:
    turns = _respondent_turns(store)
    for dimension, indices in plan.items():
        for i in indices:
            add_coding(store, turns[i], dimension.indicators[0].id)


@pytest.fixture
def coders(tmp_path, capsys):
    """Here coded turns 0 and 1 with X and 2 with Y; the colleague 0 with X and 2, 3 with Y."""
    here, there = _study(tmp_path / "here.db"), _study(tmp_path / "there.db")
    _code(here, {X: [0, 1], Y: [2]})
    _code(there, {X: [0], Y: [2, 3]})
    project = tmp_path / "colleague.qdpx"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--format", "qdpx", "-o", str(project)]) == 0
    capsys.readouterr()
    return here, there, project


def _kappa(n: int, both: int, here_only: int, there_only: int) -> float:
    observed = (n - here_only - there_only) / n
    p, q = (both + here_only) / n, (both + there_only) / n
    chance = p * q + (1 - p) * (1 - q)
    return (observed - chance) / (1 - chance)


def test_a_colleague_who_coded_in_fieldnote(coders):
    here, _, project = coders
    result = compare(here, project)
    n = len(_respondent_turns(here))
    assert result.coder == "the colleague" and [sid for sid, _ in result.sessions] == [1]
    assert result.unmatched == [] and result.unknown_codes == []
    by_name = {d.label: d for d in result.categories}
    x, y = by_name[X.name], by_name[Y.name]
    assert (x.here, x.there, x.both, x.turns) == (2, 1, 1, n)
    assert (y.here, y.there, y.both) == (1, 2, 1)
    assert x.agreement == 0.5 and y.agreement == 0.5
    assert x.kappa == pytest.approx(_kappa(n, 1, 1, 0)) and y.kappa == pytest.approx(_kappa(n, 1, 0, 1))
    # A dimension neither coded: full agreement, kappa undefined.
    other = by_name[GUIDE.dimensions[1].name]
    assert (other.here, other.there, other.agreement, other.kappa) == (0, 0, None, None)
    assert result.pooled_agreement == pytest.approx(2 / 4)
    turns = _respondent_turns(here)
    assert [(d.segment_id, d.category, d.coded_by) for d in result.disagreements] == [
        (turns[1], X.name, "here"), (turns[3], Y.name, "the colleague")]
    assert result.disagreements[0].turn == [s["id"] for s in here.segments(1)].index(turns[1]) + 1


def test_the_command_prints_the_table_and_the_disagreements(coders, tmp_path, capsys):
    _, _, project = coders
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project), "--disagreements"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(X.name + " "))
    assert row.split()[-5:-1] == ["2", "1", "1", "50%"]
    assert "2 disagreements" in out and f"{Y.name}, coded by the colleague only" in out


def _as_a_qda_program_gives_it_back(src: Path, out: Path, *, extra_coder: str = "Jan", span_turns=None) -> None:
    """fieldnote's export (with its codings, by user 'fieldnote') as ATLAS.ti or MAXQDA might
    return it: new GUIDs for the sources and the codes, and a second coder's selections with
    codes known by name (one of them spanning two turns), plus a code of their own."""
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    ET.register_namespace("", PROJECT_NS)
    root = ET.fromstring(files["project.qde"])
    ET.SubElement(root.find(f"{NS}Users"), f"{NS}User", guid="u-jan", name=extra_coder)
    codes = root.find(f"{NS}CodeBook/{NS}Codes")
    renamed = {}
    for n, code in enumerate(codes.iter(f"{NS}Code")):
        renamed[code.get("guid")] = f"code-{n}"
        code.set("guid", f"code-{n}")
    for ref in root.iter(f"{NS}CodeRef"):
        ref.set("targetGUID", renamed[ref.get("targetGUID")])
    ET.SubElement(codes, f"{NS}Code", guid="own", name="Eigen code", isCodable="true")
    by_name = {c.get("name"): c.get("guid") for c in codes.iter(f"{NS}Code")}
    source = root.find(f"{NS}Sources/{NS}TextSource")
    source.set("guid", "a-new-guid")
    for start, end, code in span_turns:
        sel = ET.SubElement(source, f"{NS}PlainTextSelection", guid=f"s-{start}", startPosition=str(start),
                            endPosition=str(end), creatingUser="u-jan")
        coding = ET.SubElement(sel, f"{NS}Coding", guid=f"c-{start}-{code}", creatingUser="u-jan")
        ET.SubElement(coding, f"{NS}CodeRef", targetGUID=by_name[code])
    files["project.qde"] = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def test_a_second_coder_in_a_qda_programs_project(coders, tmp_path):
    here, there, project = coders
    view = build(there, [1]).sessions[0]
    st = source_text(view)
    turns = _respondent_turns(there)
    seg = {s.id: s for s in view.segments}

    def span(segment_id: int) -> tuple[int, int]:
        return st.starts[segment_id], st.starts[segment_id] + len(seg[segment_id].text)

    # Jan: X on turn 1 (an indicator, by name) and on turns 4 to 5 (one selection, by the
    # dimension's name), Y on a few words inside turn 2 (an indicator, by name), and a code of
    # his own on turn 0.
    y_indicator = Y.indicators[-1].name
    a, b = span(turns[1])
    four, five = span(turns[4]), span(turns[5])
    mid = span(turns[2])
    plan = [(a, b, X.indicators[0].name), (four[0], five[1], X.name), (mid[0] + 3, mid[0] + 20, y_indicator),
            (span(turns[0])[0], span(turns[0])[1], "Eigen code")]
    returned = tmp_path / "returned.qdpx"
    _as_a_qda_program_gives_it_back(project, returned, span_turns=plan)

    result = compare(here, returned)
    assert result.coder == "Jan" and result.unknown_codes == ["Eigen code"]
    by_name = {d.label: d for d in result.categories}
    # Here: X on 0, 1; Y on 2. Jan: X on 1, on 4 and 5 and any interviewer turn between them, Y on 2.
    between = [s.id for s in view.segments if span(turns[4])[0] <= st.starts[s.id] <= span(turns[5])[0]]
    x_there = {turns[1]} | set(between)
    assert by_name[X.name].there == len(x_there) and by_name[X.name].both == 1
    assert (by_name[Y.name].there, by_name[Y.name].both) == (1, 1)
    # fieldnote's own codings in the file (the colleague's, exported) are not Jan's.
    assert compare(here, returned, coder="fieldnote").categories == compare(here, project).categories


def test_several_coders_need_a_choice_and_an_unknown_one_is_named(coders, tmp_path, capsys):
    here, there, project = coders
    returned = tmp_path / "returned.qdpx"
    _as_a_qda_program_gives_it_back(project, returned, span_turns=[(0, 5, X.name)])
    with zipfile.ZipFile(returned) as z:
        files = {n: z.read(n) for n in z.namelist()}
    # A program that gives every user a GUID of its own, and the first coder a name.
    qde = files["project.qde"]
    fieldnote_user = re.search(rb'<User guid="([^"]+)" name="fieldnote"', qde).group(1)
    files["project.qde"] = qde.replace(fieldnote_user, b"u-anna").replace(b'name="fieldnote"', b'name="Anna"')
    with zipfile.ZipFile(returned, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    db = str(tmp_path / "here.db")
    assert main(["--db", db, "agreement", str(returned)]) == 2
    assert "several coders (Anna, Jan); choose one with --coder" in capsys.readouterr().err
    assert main(["--db", db, "agreement", str(returned), "--coder", "Piet"]) == 2
    assert "no codings by 'Piet' in the project (its coders: Anna, Jan)" in capsys.readouterr().err
    assert main(["--db", db, "agreement", str(returned), "--coder", "anna"]) == 0
    assert compare(Store(tmp_path / "here.db"), returned, coder="Anna").categories == compare(here, project).categories


def test_a_transcript_edited_since_the_export_no_longer_lines_up(coders, tmp_path, capsys):
    here, _, project = coders
    edit_text(here, _respondent_turns(here)[0], "Iets heel anders.")
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project)]) == 2
    err = capsys.readouterr().err
    assert "none of its 1 sources is the text of a session here" in err and "colleague.qdpx" in err


@pytest.mark.parametrize("content, message", [
    (b"not a zip", "not a zip file"),
    (None, "it has no project.qde"),
    (b"<Project", "not valid XML"),
])
def test_a_file_that_is_no_project_is_refused(tmp_path, capsys, content, message):
    _study(tmp_path / "here.db")
    bad = tmp_path / "bad.qdpx"
    if content == b"not a zip":
        bad.write_bytes(content)
    else:
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("project.qde" if content else "other.txt", content or b"x")
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.qdpx" in err and "Traceback" not in err


def test_the_transcripts_for_a_second_coder_hold_no_codes_and_line_up(coders, tmp_path, capsys):
    _, there, project = coders
    blind = tmp_path / "blind.qdpx"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--format", "qdpx", "--no-codings",
                 "-o", str(blind)]) == 0
    md = tmp_path / "blind.md"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--no-codings", "-o", str(md)]) == 0

    def texts(path: Path) -> tuple[list[bytes], bytes]:
        with zipfile.ZipFile(path) as z:
            return sorted(z.read(n) for n in z.namelist() if n.startswith("sources/")), z.read("project.qde")

    blind_texts, blind_project = texts(blind)
    coded_texts, coded_project = texts(project)
    assert blind_texts == coded_texts
    assert b"<Coding " in coded_project and b"Coding" not in blind_project.replace(b"CodeBook", b"")
    assert not any(d.name in md.read_text() for d in GUIDE.dimensions)  # no coding, no suggestion
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "-o", str(tmp_path / "coded.md")]) == 0
    assert X.name in (tmp_path / "coded.md").read_text()
    assert build(there, [1], ExportOptions(codings=False)).sessions[0].segments[0].codings == []
    check_qdpx(blind)  # it opens in the QDA programs (last: without ../shared it skips, in CI fails)


def test_a_pseudonymised_export_is_matched_too(coders, tmp_path, capsys):
    here, there, _ = coders
    for db in ("here.db", "there.db"):
        assert main(["--db", str(tmp_path / db), "names", "add", "Zwolle", "[stad]"]) == 0
    project = tmp_path / "pseudonymised.qdpx"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--format", "qdpx", "--pseudonymise",
                 "-o", str(project)]) == 0
    with zipfile.ZipFile(project) as z:
        assert any(b"[stad]" in z.read(n) for n in z.namelist() if n.startswith("sources/"))
    result = compare(here, project)
    assert [sid for sid, _ in result.sessions] == [1]
    by_name = {d.label: d for d in result.categories}
    assert (by_name[X.name].here, by_name[X.name].there, by_name[X.name].both) == (2, 1, 1)


def test_a_reader_that_stops_early_is_no_error(coders, tmp_path):
    import os
    import subprocess

    _, _, project = coders
    read, write = os.pipe()
    os.close(read)
    done = subprocess.run(["fieldnote", "--db", str(tmp_path / "here.db"), "agreement", str(project),
                           "--disagreements"], stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert done.returncode == 0 and "Traceback" not in done.stderr


def test_a_transcript_imported_twice_is_matched_to_the_session_exported(tmp_path, capsys):
    dbs = {name: tmp_path / f"{name}.db" for name in ("here", "there")}
    for db in dbs.values():
        _study(db)
        assert main(["--db", str(db), "import-samples", "--again"]) == 0  # sessions 9-16: the same texts
    here, there = Store(dbs["here"]), Store(dbs["there"])
    for store in (here, there):
        add_coding(store, _respondent_turns(store, 9)[0], X.indicators[0].id)
    project = tmp_path / "colleague.qdpx"
    assert main(["--db", str(dbs["there"]), "export", "9", "--format", "qdpx", "-o", str(project)]) == 0
    result = compare(here, project)
    assert [sid for sid, _ in result.sessions] == [9]
    x = next(d for d in result.categories if d.label == X.name)
    assert (x.here, x.there, x.both) == (1, 1, 1)


def test_an_unknown_session_is_named(coders, tmp_path, capsys):
    _, _, project = coders
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project), "77"]) == 2
    assert "no session 77" in capsys.readouterr().err


def test_a_source_given_back_with_windows_line_ends_still_lines_up(coders, tmp_path):
    here, _, project = coders
    with zipfile.ZipFile(project) as z:
        files = {n: z.read(n) for n in z.namelist()}
    (name,) = [n for n in files if n.startswith("sources/")]
    text = files[name].decode("utf-8")
    files[name] = text.replace("\n", "\r\n").encode("utf-8")

    def crlf(match: re.Match) -> bytes:
        position = int(match.group(2))
        return match.group(1) + str(position + text.count("\n", 0, position)).encode() + b'"'

    files["project.qde"] = re.sub(rb'((?:start|end)Position=")(\d+)"', crlf, files["project.qde"])
    windows = tmp_path / "windows.qdpx"
    with zipfile.ZipFile(windows, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    assert b"\r\n" in zipfile.ZipFile(windows).read(name)
    assert compare(here, windows).categories == compare(here, project).categories
    assert compare(here, windows).disagreements == compare(here, project).disagreements


def test_per_indicator_a_code_for_the_dimension_alone_counts_for_none(tmp_path, capsys):
    here, there = _study(tmp_path / "here.db"), _study(tmp_path / "there.db")
    turns = _respondent_turns(here)
    first, second = X.indicators[0], X.indicators[1]
    add_coding(here, turns[0], first.id)
    add_coding(here, turns[1], second.id)
    add_coding(there, turns[0], first.id)
    add_coding(there, turns[1], first.id)  # the same dimension, another indicator
    project = tmp_path / "colleague.qdpx"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--format", "qdpx", "-o", str(project)]) == 0
    # A second coder who also put the dimension's own code (its folder) on turn 2.
    view = build(there, [1]).sessions[0]
    st, seg = source_text(view), {s.id: s for s in view.segments}
    start = st.starts[turns[2]]
    returned = tmp_path / "returned.qdpx"
    _as_a_qda_program_gives_it_back(project, returned, span_turns=[(start, start + len(seg[turns[2]].text), X.name)])

    by_dimension = {d.label: d for d in compare(here, returned, coder="Jan").categories}
    assert (by_dimension[X.name].here, by_dimension[X.name].there, by_dimension[X.name].both) == (2, 1, 0)
    by_dimension = {d.label: d for d in compare(here, project).categories}
    assert (by_dimension[X.name].here, by_dimension[X.name].there, by_dimension[X.name].both) == (2, 2, 2)

    by_indicator = {d.label: d for d in compare(here, project, level="indicator").categories}
    one, two = by_indicator[f"{X.name} / {first.name}"], by_indicator[f"{X.name} / {second.name}"]
    assert (one.here, one.there, one.both) == (1, 2, 1) and (two.here, two.there, two.both) == (1, 0, 0)
    jan = {d.label: d for d in compare(here, returned, coder="Jan", level="indicator").categories}
    assert sum(d.there for d in jan.values()) == 0  # the dimension's own code names no indicator
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project), "--indicators"]) == 0
    assert f"{X.name} / {first.name}"[:59] in capsys.readouterr().out


def test_a_project_nobody_coded_yet_is_named(coders, tmp_path, capsys):
    blind = tmp_path / "blind.qdpx"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--format", "qdpx", "--no-codings",
                 "-o", str(blind)]) == 0
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(blind)]) == 2
    assert "blind.qdpx: the project holds no codings to compare" in capsys.readouterr().err


def test_the_figures_and_the_disagreements_as_csv(coders, tmp_path, capsys):
    import csv
    import io

    here, there, _ = coders
    # The same turn in both databases, in words that would start a spreadsheet formula.
    for store in (here, there):
        edit_text(store, _respondent_turns(store)[1], "=SUM(A1:A9) zei hij, en dat was het.")
    project = tmp_path / "colleague-again.qdpx"
    assert main(["--db", str(tmp_path / "there.db"), "export", "1", "--format", "qdpx", "-o", str(project)]) == 0
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    x = next(r for r in rows if r["dimension"] == X.name)
    n = len(_respondent_turns(here))
    assert (x["here"], x["there"], x["both"], x["turns"], x["agreement"]) == ("2", "1", "1", str(n), "0.5000")
    assert float(x["kappa"]) == pytest.approx(_kappa(n, 1, 1, 0), abs=1e-4)
    assert rows[-1]["dimension"] == "all (pooled)" and rows[-1]["agreement"] == "0.5000"
    assert next(r for r in rows if r["dimension"] == GUIDE.dimensions[1].name)["kappa"] == ""  # undefined

    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project), "--format", "csv",
                 "--disagreements"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["dimension"], r["coded by"]) for r in rows] == [(X.name, "here"), (Y.name, "the colleague")]
    assert rows[0]["session"] == "1" and rows[0]["text"] == "'=SUM(A1:A9) zei hij, en dat was het."


def test_settling_the_disagreements_one_turn_at_a_time(coders):
    from core.analysis.agreement import drop_mine, take_theirs
    from core.store.review import undo

    here, _, project = coders
    mine, theirs = compare(here, project).disagreements  # X on turn 1 here only; Y on turn 3 there only
    assert theirs.their_indicator == Y.indicators[0].id and mine.coding_ids
    with pytest.raises(UserError, match="nothing of theirs"):
        take_theirs(here, mine)
    with pytest.raises(UserError, match="no coding of yours"):
        drop_mine(here, theirs)

    assert drop_mine(here, mine) == 1
    take_theirs(here, theirs)
    settled = compare(here, project)
    assert settled.disagreements == [] and settled.pooled_agreement == 1.0 and settled.pooled_kappa == 1.0
    undo(here, 1)  # each was one step
    assert [d.category for d in compare(here, project).disagreements] == [Y.name]
    undo(here, 1)
    assert compare(here, project).disagreements == [mine, theirs]


def test_a_code_for_the_dimension_alone_cannot_be_taken_as_it_is(coders, tmp_path):
    from core.analysis.agreement import take_theirs

    here, there, project = coders
    view = build(there, [1]).sessions[0]
    st, turn = source_text(view), _respondent_turns(there)[6]
    text = next(s.text for s in view.segments if s.id == turn)
    returned = tmp_path / "returned.qdpx"
    _as_a_qda_program_gives_it_back(project, returned, span_turns=[(st.starts[turn], st.starts[turn] + len(text), X.name)])
    (only,) = [d for d in compare(here, returned, coder="Jan").disagreements if d.segment_id == turn]
    assert only.their_indicator is None
    with pytest.raises(UserError, match="names the dimension alone"):
        take_theirs(here, only)


# --- the screen -----------------------------------------------------------------------------------


async def test_the_screen_settles_turns_and_opens_one_in_review(coders):
    from textual.widgets import DataTable, OptionList

    from tui.app import make_app
    from tui.screens.agreement import AgreementScreen
    from tui.screens.review import ReviewScreen
    from tui.screens.sessions import SessionsScreen
    from tui.widgets.transcript import TranscriptList

    here, _, project = coders
    app = make_app(here, screen=lambda s: AgreementScreen(s, project))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AgreementScreen)
        table = screen.query_one(DataTable)
        x_row = [str(table.get_cell_at((r, 0))) for r in range(table.row_count)].index(X.name)
        assert [str(v) for v in table.get_row_at(x_row)[1:]] == ["2", "1", "1", "50%", f"{_kappa(len(_respondent_turns(here)), 1, 1, 0):.2f}"]
        turns = screen.query_one("#disagreements", OptionList)
        assert turns.option_count == 2 and turns.highlighted == 0  # X on turn 1, coded here only

        await pilot.press("t")  # nothing of theirs on that turn: a warning, nothing changes
        assert turns.option_count == 2
        await pilot.press("x")  # drop mine
        assert turns.option_count == 1 and screen.result.disagreements[0].category == Y.name
        await pilot.press("t")  # take theirs
        assert turns.option_count == 0 and screen.result.pooled_agreement == 1.0
        assert str(table.get_row_at(table.row_count - 1)[4]) == "100%"

        await pilot.press("u")
        assert turns.option_count == 1
        await pilot.press("u")
        assert turns.option_count == 2
        await pilot.press("enter")  # the turn in the review screen
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert app.screen.query_one(TranscriptList).current_id == _respondent_turns(here)[1]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and turns.option_count == 2
        await pilot.press("i")  # per indicator
        assert screen.level == "indicator" and str(table.get_cell_at((0, 0))).startswith(X.name + " / ")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)


def test_settle_opens_the_screen_on_the_figures_asked_for(coders, tmp_path, monkeypatch):
    import tui.app
    from tui.screens.agreement import AgreementScreen

    _, _, project = coders
    opened = []

    class App:
        def __init__(self, store, screen):
            self.store, self.screen = store, screen

        def run(self):
            opened.append(self.screen(self.store))

    monkeypatch.setattr(tui.app, "make_app", lambda store, screen: App(store, screen))
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(project), "1", "--indicators", "--settle"]) == 0
    (screen,) = opened
    assert isinstance(screen, AgreementScreen)
    assert (screen.path, screen.level, screen.sessions, screen.coder) == (project, "indicator", [1], None)
    assert main(["--db", str(tmp_path / "here.db"), "agreement", str(tmp_path / "none.qdpx"), "--settle"]) == 2
    assert len(opened) == 1  # a mistake is named before any screen opens


async def test_the_sessions_screen_opens_agreement_with_a_projects_path(coders, tmp_path):
    from textual.widgets import TextArea

    from tui.app import make_app
    from tui.screens.agreement import AgreementScreen
    from tui.screens.sessions import SessionsScreen

    here, _, project = coders
    app = make_app(here)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)
        for path, opens in ((tmp_path / "missing.qdpx", False), (project, True)):
            await pilot.press("a")
            await pilot.pause()
            app.screen.query_one(TextArea).text = str(path)
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, AgreementScreen) is opens
        assert app.screen.result.turns == len(_respondent_turns(here))


# --- damaged projects -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def a_colleagues_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    for name in ("here", "there"):
        _study(folder / f"{name}.db")
    there = Store(folder / "there.db")
    _code(there, {X: [0], Y: [2, 3]})
    project = folder / "colleague.qdpx"
    assert main(["--db", str(folder / "there.db"), "export", "1", "--format", "qdpx", "-o", str(project)]) == 0
    with zipfile.ZipFile(project) as z:
        return folder / "here.db", {n: z.read(n) for n in z.namelist()}


def _damage(files: dict[str, bytes], how: str, at: float, junk: str) -> dict[str, bytes]:
    files = dict(files)
    qde = files["project.qde"]
    if how == "truncate":
        files["project.qde"] = qde[: int(len(qde) * at)]
        return files
    if how == "drop the text":
        return {n: d for n, d in files.items() if not n.startswith("sources/")}
    ET.register_namespace("", PROJECT_NS)
    root = ET.fromstring(qde)
    elements = list(root.iter())
    el = elements[min(int(at * len(elements)), len(elements) - 1)]
    if how == "drop an attribute" and el.attrib:
        del el.attrib[sorted(el.attrib)[int(at * 1000) % len(el.attrib)]]
    elif how == "junk in an attribute" and el.attrib:
        el.set(sorted(el.attrib)[int(at * 1000) % len(el.attrib)], junk)
    elif how == "drop an element":
        for parent in root.iter():
            if el in list(parent):
                parent.remove(el)
                break
    files["project.qde"] = ET.tostring(root, encoding="utf-8")
    return files


@settings(deadline=None, database=None, max_examples=examples(60),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(how=st.sampled_from(["truncate", "drop the text", "drop an attribute", "junk in an attribute", "drop an element"]),
       at=st.floats(0, 1), junk=st.text(max_size=8))
def test_a_damaged_project_gives_figures_or_one_message(a_colleagues_project, tmp_path_factory, how, at, junk):
    db, files = a_colleagues_project
    damaged = tmp_path_factory.mktemp("case") / "damaged.qdpx"
    with zipfile.ZipFile(damaged, "w") as z:
        for name, data in _damage(files, how, at, junk).items():
            z.writestr(name, data)
    store = Store(db)
    try:
        result = compare(store, damaged)
    except UserError as exc:
        assert "damaged.qdpx" in str(exc) or "session" in str(exc)
    else:
        assert all(0 <= d.both <= min(d.here, d.there) for d in result.categories)
    finally:
        store.close()
