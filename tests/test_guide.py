"""The guide files that ship, and how the loader treats a guide a user got wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.base import paths
from core.base.errors import GuideError, UserError
from core.study.guide import available_guides, load_guide, parse_guide, resolve_guide_path

REFERENCE_DIMENSIONS = [
    "Sturingsvorm",
    "Aantal netwerkleden",
    "Doelconsensus",
    "Behoefte aan netwerkcompetenties",
    "Vertrouwen",
    "Inclusiviteit",
    "Efficiëntie",
    "Externe legitimiteit",
    "Interne legitimiteit",
    "Flexibiliteit",
    "Stabiliteit",
    "Verschillende percepties",
    "Informatie-uitwisseling",
    "Type organisatiecultuur",
    "Verschillende organisatieculturen in een netwerk",
]

SHIPPED = ["koers-en-kansen", "remote-work-en"]


@pytest.fixture(autouse=True)
def fieldnote_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("FIELDNOTE_HOME", str(home))
    return home


# --- the shipped guides ------------------------------------------------------------------------


def test_reference_guide_has_the_thesis_structure():
    guide = load_guide("koers-en-kansen")
    assert guide.id == "koers-en-kansen"
    assert guide.language == "nl"
    assert guide.planned_minutes == 60
    assert [q.number for q in guide.questions] == list(range(1, 25))
    assert [d.name for d in guide.dimensions] == REFERENCE_DIMENSIONS
    # Tabel 8 and Bijlage 5 list 23 indicators between them.
    assert len(guide.indicators) == 23
    assert len({i.id for i in guide.indicators}) == 23


def test_reference_guide_keeps_the_question_wording():
    guide = load_guide("koers-en-kansen")
    assert guide.question(7).text == "Is het vertrouwen breed gedeeld over het hele netwerk?"
    assert guide.question(4).text.startswith(
        "Hoe is de (netwerk)samenwerking ingericht, is er één bepaalde organisatie"
    )
    assert guide.question(4).text.endswith("een sleutelrol heeft in het coördineren van de samenwerking?")
    for q in guide.questions:
        assert q.text == q.text.strip()
        assert "  " not in q.text and "\n" not in q.text


def test_reference_guide_maps_questions_as_tabel_8_does():
    guide = load_guide("koers-en-kansen")
    asked = {d.id: d.questions for d in guide.dimensions}
    assert asked["sturingsvorm"] == (4, 5)
    assert asked["aantal-netwerkleden"] == (3,)
    assert asked["vertrouwen"] == (6, 7)
    assert asked["interne-legitimiteit"] == (14, 15)
    assert asked["verschillende-organisatieculturen"] == (22, 23)
    unmapped = [q.number for q in guide.questions if not q.dimension_ids]
    assert unmapped == [1, 2, 20, 24]


def test_reference_guide_plans_about_an_hour():
    guide = load_guide("koers-en-kansen")
    assert all(q.minutes for q in guide.questions)
    assert 55 <= sum(q.minutes for q in guide.questions) <= 65


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_guide_is_complete(name):
    guide = load_guide(name)
    numbers = [q.number for q in guide.questions]
    assert numbers == list(range(1, len(numbers) + 1))
    assert all(q.cues for q in guide.questions), "every question needs cues for guide tracking"
    colours = [d.colour for d in guide.dimensions]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(colours)) == len(colours), "two dimensions share a colour"
    for indicator in guide.indicators:
        assert indicator.phrases, indicator.id
    # The same cue under two questions, or phrase under two indicators, could never tell them apart.
    cues = [c.lower() for q in guide.questions for c in q.cues]
    assert len(set(cues)) == len(cues)
    phrases = [p.lower() for i in guide.indicators for p in i.phrases]
    assert len(set(phrases)) == len(phrases)


def test_reference_indicators_have_enough_phrases_to_match_speech():
    guide = load_guide("koers-en-kansen")
    for indicator in guide.indicators:
        assert 10 <= len(indicator.phrases) <= 25, indicator.id


def test_english_guide_serves_another_study():
    guide = load_guide("remote-work-en")
    assert guide.language == "en"
    assert 6 <= len(guide.questions) <= 8
    assert 4 <= len(guide.dimensions) <= 5
    assert all(1 <= len(d.indicators) <= 3 for d in guide.dimensions)


def test_shipped_guides_are_listed(fieldnote_home):
    assert set(SHIPPED) <= set(available_guides())


# --- what the loader rejects -------------------------------------------------------------------

VALID = """\
[study]
id = "tiny"
title = "Tiny"
language = "en"

[[question]]
number = 1
text = "First?"

[[question]]
number = 2
text = "Second?"

[[dimension]]
id = "d1"
name = "One"
colour = "#112233"
questions = [1]

  [[dimension.indicator]]
  id = "i1"
  name = "Indicator one"
  phrases = ["alpha"]

[[dimension]]
id = "d2"
name = "Two"
colour = "#445566"
questions = [2]

  [[dimension.indicator]]
  id = "i2"
  name = "Indicator two"
  phrases = ["beta"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _rejection(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(GuideError) as info:
        load_guide(path)
    message = str(info.value)
    assert str(path) in message, "the message must name the file"
    return message


def test_the_valid_sample_loads(tmp_path):
    guide = load_guide(_write(tmp_path, VALID))
    assert [q.dimension_ids for q in guide.questions] == [("d1",), ("d2",)]
    assert guide.indicator("i2").dimension_id == "d2"


def test_a_guide_error_is_a_user_error():
    # The command line turns UserError into one message instead of a traceback.
    assert issubclass(GuideError, UserError)


@pytest.mark.parametrize(
    ("old", "new", "entry"),
    [
        ('title = "Tiny"', 'title = "Tiny"\nauthor = "me"', "[study]"),
        ('text = "First?"', 'text = "First?"\ncue = ["x"]', "question #1"),
        ('name = "Two"', 'name = "Two"\ncolor = "#445566"', "dimension #2"),
        ('phrases = ["beta"]', 'phrases = ["beta"]\nphrase = "b"', "dimension 'd2' indicator #1"),
    ],
)
def test_unknown_key_is_rejected(tmp_path, old, new, entry):
    assert VALID.count(old) == 1
    message = _rejection(tmp_path, VALID.replace(old, new))
    assert entry in message
    assert "unknown key" in message


def test_unknown_top_level_key_is_rejected(tmp_path):
    message = _rejection(tmp_path, 'questions = 3\n' + VALID)
    assert "unknown key 'questions'" in message


def test_duplicate_question_number_is_rejected(tmp_path):
    message = _rejection(tmp_path, VALID.replace("number = 2", "number = 1"))
    assert "question 1" in message and "duplicate question number" in message


def test_duplicate_dimension_id_is_rejected(tmp_path):
    message = _rejection(tmp_path, VALID.replace('id = "d2"', 'id = "d1"'))
    assert "dimension 'd1'" in message and "duplicate dimension id" in message


def test_duplicate_indicator_id_across_dimensions_is_rejected(tmp_path):
    message = _rejection(tmp_path, VALID.replace('id = "i2"', 'id = "i1"'))
    assert "dimension 'd2' indicator 'i1'" in message and "duplicate indicator id" in message


def test_reference_to_a_missing_question_is_rejected(tmp_path):
    message = _rejection(tmp_path, VALID.replace("questions = [2]", "questions = [2, 9]"))
    assert "dimension 'd2'" in message and "question 9" in message


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "112233", "#gg0000"])
def test_bad_colour_is_rejected(tmp_path, colour):
    message = _rejection(tmp_path, VALID.replace('"#445566"', f'"{colour}"'))
    assert "dimension 'd2'" in message and "#RRGGBB" in message


def test_invalid_toml_is_rejected(tmp_path):
    message = _rejection(tmp_path, VALID.replace('title = "Tiny"', 'title = "Tiny'))
    assert "not valid TOML" in message
    assert "line 3" in message


def test_missing_study_table_is_rejected(tmp_path):
    text = VALID.replace('[study]\nid = "tiny"\ntitle = "Tiny"\nlanguage = "en"\n', "")
    message = _rejection(tmp_path, text)
    assert "[study]" in message


def test_indicator_without_phrases_is_rejected(tmp_path):
    message = _rejection(tmp_path, VALID.replace('phrases = ["beta"]', "phrases = []"))
    assert "indicator 'i2'" in message and "phrase" in message


@pytest.mark.parametrize(
    "text",
    [
        "question = [1]\n" + VALID.replace("[[question]]\nnumber = 1\ntext = \"First?\"\n", ""),
        VALID.replace('questions = [1]', 'questions = [true]'),
    ],
)
def test_entries_of_the_wrong_type_give_a_message_not_a_traceback(tmp_path, text):
    _rejection(tmp_path, text)


def test_changing_a_guide_changes_its_digest():
    first = parse_guide(VALID)
    second = parse_guide(VALID.replace('"alpha"', '"alpha", "gamma"'))
    assert first.digest != second.digest
    assert first.digest == parse_guide(VALID).digest


# --- finding a guide by name or path -----------------------------------------------------------


def test_resolve_by_name_finds_a_bundled_guide():
    path = resolve_guide_path("remote-work-en")
    assert path == paths.BUNDLED_GUIDES / "remote-work-en.toml"


def test_resolve_by_name_finds_the_users_guide(fieldnote_home):
    guides = fieldnote_home / "guides"
    guides.mkdir(parents=True)
    (guides / "mine.toml").write_text(VALID, encoding="utf-8")
    assert resolve_guide_path("mine") == guides / "mine.toml"
    assert load_guide("mine").id == "tiny"
    assert "mine" in available_guides()


def test_the_users_guide_comes_before_a_bundled_one_of_the_same_name(fieldnote_home):
    guides = fieldnote_home / "guides"
    guides.mkdir(parents=True)
    (guides / "koers-en-kansen.toml").write_text(VALID, encoding="utf-8")
    assert load_guide("koers-en-kansen").id == "tiny"


def test_resolve_by_path(tmp_path):
    path = _write(tmp_path, VALID)
    assert resolve_guide_path(str(path)) == path
    assert load_guide(str(path)).id == "tiny"


def test_missing_path_names_the_path(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(GuideError, match=re.escape(str(missing))):
        resolve_guide_path(str(missing))


def test_unknown_name_lists_the_known_guides(fieldnote_home):
    with pytest.raises(GuideError) as info:
        resolve_guide_path("no-such-study")
    message = str(info.value)
    assert "no-such-study" in message
    for name in SHIPPED:
        assert name in message
    assert str(fieldnote_home / "guides") in message
