"""Languages as data: the word lists and stemming guide tracking and suggestions read a language by."""

from __future__ import annotations

import pytest

from core.doctor import FAIL, WARN, check_guides
from core.study.guide import load_guide, parse_guide
from core.study.language import LanguageError, available_languages, load_language, parse_language
from core.understanding.suggester import Suggester
from core.understanding.tracker import GuideTracker

# A language no file comes with: Luxembourgish (Whisper's "lb"); for the test, German words.
GERMAN = '''
language = "lb"
name = "Lëtzebuergesch"
stopwords = "der die das und oder ich sie es wie war ist zwischen den dem ein eine mit"
question_openers = "wie was welche wer wo wann warum war waren gab hat haben"
clause_fillers = "ja nein also äh ähm und aber"
conjunctions = "und aber oder"
asking = ['\\bich frage mich\\b']

[stemming]
min_stem = 4
endings = ["ern", "en", "er", "e", "s"]
'''

GERMAN_GUIDE = '''
[study]
id = "zusammenarbeit"
title = "Zusammenarbeit im Netzwerk"
language = "lb"

[[question]]
number = 1
text = "Welche Organisationen sind an dem Projekt beteiligt?"

[[question]]
number = 2
text = "Wie war das Vertrauen zwischen den Partnern?"
cues = ["Vertrauen zwischen den Partnern"]

[[dimension]]
id = "vertrauen"
name = "Vertrauen"
colour = "#2ca02c"
questions = [2]

  [[dimension.indicator]]
  id = "vertrauen-partner"
  name = "Vertrauen zwischen Partnern"
  phrases = ["Vertrauen", "verlassen können"]

[[dimension]]
id = "mitglieder"
name = "Netzwerkmitglieder"
colour = "#1f77b4"
questions = [1]

  [[dimension.indicator]]
  id = "mitglieder-anzahl"
  name = "Anzahl der Organisationen"
  phrases = ["Organisationen", "Partner"]
'''


def test_the_bundled_languages_load():
    assert {"nl", "en", "de"} <= set(available_languages())
    dutch, english = load_language("nl"), load_language("en")
    assert dutch.has_word_lists and english.has_word_lists
    assert "eigenlijk" in dutch.stopwords and "the" in english.stopwords
    assert dutch.asks_something("ik ben benieuwd naar de samenwerking")
    assert english.asks_something("I wonder how the partners worked together")
    assert not english.asks_something("That is all from me, thank you.")


@pytest.mark.parametrize(
    ("a", "b"),
    [("meetings", "meeting"), ("responsibilities", "responsibility"), ("shared", "sharing"),
     ("planning", "plan"), ("organizations", "organization"), ("felt", "feeling")],
)
def test_english_forms_of_one_word_share_a_stem(a, b):
    english = load_language("en")
    assert english.stem(a) == english.stem(b)


def test_a_language_of_the_users_own_follows_a_guide_in_that_language(tmp_path, monkeypatch):
    from core.base import paths

    guide = parse_guide(GERMAN_GUIDE, "zusammenarbeit.toml")
    plain = GuideTracker(guide)
    assert not plain.language.has_word_lists
    # Read plainly, speech without a question mark asks only what it says in the question's own
    # words, unmistakably (`UNASKED_THRESHOLD`): this paraphrase does not.
    said = "und wie war es mit dem Vertrauen unter den Partnern"
    assert plain.observe(said) is None

    folder = paths.home() / "languages"
    folder.mkdir(parents=True)
    (folder / "lb.toml").write_text(GERMAN, encoding="utf-8")
    tracker = GuideTracker(guide)
    assert tracker.language.name == "Lëtzebuergesch"
    tracker.set_current(1)
    match = tracker.observe(said)  # "wie" opens it: the language file knows it asks
    assert match is not None and match.number == 2
    suggestions = Suggester(guide).suggest("Wir konnten uns auf die Partner verlassen, das Vertrauen war groß.", 2)
    assert suggestions[0].dimension_id == "vertrauen"
    assert [c.status for c in check_guides() if c.summary.startswith("zusammenarbeit")] == []  # not in guides/


def test_a_guide_in_a_language_without_word_lists_is_flagged_by_doctor():
    from core.base import paths

    folder = paths.guides_dir()
    folder.mkdir(parents=True)
    (folder / "zusammenarbeit.toml").write_text(GERMAN_GUIDE, encoding="utf-8")
    flagged = [c for c in check_guides() if c.summary.startswith("zusammenarbeit")]
    assert [c.status for c in flagged] == [WARN]
    assert "lb.toml" in flagged[0].fix
    load_guide("zusammenarbeit")  # the guide itself is fine


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('language = "de"\nwords = "a b"', "unknown entries words"),
        ('language = "Deutsch"', "'language' must be a language code"),
        ('language = "de"\nasking = ["(unclosed"]', "is not a regular expression"),
        ('language = "de"\nstopwords = 3', "'stopwords' must be words"),
        ('language = "de"\n[stemming]\nendings = "en"', "endings must be a list"),
        ('language = "de"\n[stemming]\nmin_stem = 0', "min_stem must be a whole number"),
        ('language = "de"\n[stemming]\nforms = ["ging"]', "forms must map a word"),
        ('language = "de"\nname = [', "not valid TOML"),
    ],
)
def test_a_malformed_language_file_is_named_with_what_is_wrong(text, names):
    with pytest.raises(LanguageError) as err:
        parse_language(text, "/somewhere/de.toml")
    assert str(err.value).startswith("/somewhere/de.toml: ")
    assert names in str(err.value)


def test_a_broken_language_file_stops_the_guide_that_needs_it_with_a_message():
    from core.base import paths

    (paths.home() / "languages").mkdir(parents=True)
    (paths.home() / "languages" / "lb.toml").write_text('language = "fr"\n', encoding="utf-8")
    guides = paths.guides_dir()
    guides.mkdir(parents=True)
    (guides / "zusammenarbeit.toml").write_text(GERMAN_GUIDE, encoding="utf-8")
    with pytest.raises(LanguageError, match="says it is language 'fr'"):
        GuideTracker(load_guide("zusammenarbeit"))
    flagged = [c for c in check_guides() if "lb.toml" in c.summary]
    assert [c.status for c in flagged] == [FAIL]
