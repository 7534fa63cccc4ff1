"""Reading verbatim transcripts for import: the eight seed interviews and malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.errors import ImportFormatError
from core.interchange.transcripts import (
    ParsedTranscript,
    Turn,
    parse_named_transcript,
    parse_thesis_transcript,
    parse_transcript,
)

# The seed interviews as shipped for import (copied unchanged from the thesis material).
SEED = Path(__file__).resolve().parent.parent / "sample_sessions" / "transcripts"


def seed(name: str) -> str:
    return (SEED / name).read_text(encoding="utf-8")


def parse_seed(name: str) -> ParsedTranscript:
    return parse_transcript(seed(name), name)


# Counted by reading each file turn by turn: (turns, first turn, last turn) where a turn is
# (speaker, line, first words).
SEED_TURNS = {
    "interview-01.txt": (113, ("X", 13, "We hebben maar een uurtje"),
                         ("X", 889, "Ja dat komt helemaal goed.")),
    "interview-02.txt": (124, ("X", 17, "Ja ik wil eerst gewoon"),
                         ("X", 1045, "Heel hartelijk bedankt voor jullie tijd.")),
    "interview-03.txt": (106, ("X", 13, "Even kijken… ja mijn eerste vragen"),
                         ("Y", 737, "Nee ja je vragen waren heel helder.")),
    "interview-04.txt": (93, ("X", 13, "Kan je kort wat vertellen over je werk"),
                         ("X", 765, "Ja oké nou het zit erop.")),
    "interview-05.txt": (91, ("X", 13, "Mijn onderzoek richt zich echt op de samenwerking"),
                         ("X", 696, "Ja ik heb meer vragen heb ik niet.")),
    "interview-06.txt": (99, ("X", 13, "Uhm ja mijn eerste vragen zijn inleidend"),
                         ("X", 785, "Ja, ja ik geloof het wel hoor.")),
    "interview-07.txt": (85, ("X", 13, "Nou mijn eerste vragen zijn gewoon heel inleidend"),
                         ("X", 684, "Oké nou ik weet genoeg denk ik.")),
    "interview-08.txt": (120, ("X", 13, "Ja nou uhm we zullen eens gaan beginnen"),
                         ("Y", 581, "Succes in ieder geval.")),
}


@pytest.mark.parametrize("name", sorted(SEED_TURNS))
def test_seed_transcript_turns(name):
    parsed = parse_seed(name)
    count, first, last = SEED_TURNS[name]
    assert len(parsed.turns) == count
    for turn, (speaker, line, words) in ((parsed.turns[0], first), (parsed.turns[-1], last)):
        assert (turn.speaker, turn.line) == (speaker, line)
        assert turn.text.startswith(words)
    number = name.removeprefix("interview-").removesuffix(".txt").lstrip("0")
    assert parsed.title.startswith(f"Interview {number}: ")
    # The consent note belongs to the header, never to a turn.
    assert not any("toestemming gevraagd om het interview" in t.text for t in parsed.turns)


@pytest.mark.parametrize("name", sorted(SEED_TURNS))
def test_seed_turns_are_clean(name):
    parsed = parse_seed(name)
    lines = seed(name).splitlines()
    for turn in parsed.turns:
        assert turn.speaker in parsed.speakers
        assert turn.text == " ".join(turn.text.split())
        # Each turn starts on the line that carries its speaker code.
        assert lines[turn.line - 1].lstrip().startswith(turn.speaker)
    lines_in_order = [t.line for t in parsed.turns]
    assert lines_in_order == sorted(set(lines_in_order))


def test_one_interviewee_header():
    parsed = parse_seed("interview-01.txt")
    assert parsed.speakers == {"X": "Interviewer", "Y": "Geïnterviewde"}
    assert {t.speaker for t in parsed.turns} == {"X", "Y"}


def test_two_interviewees_and_an_observer():
    parsed = parse_seed("interview-02.txt")
    assert parsed.speakers == {
        "X": "Interviewer",
        "Y1": "Geïnterviewde 1",
        "Y2": "Geïnterviewde 2",
        "Q": "Communicatieadviseur Koers en kansen",
    }
    by_speaker = {code: [t for t in parsed.turns if t.speaker == code] for code in parsed.speakers}
    assert {code: len(turns) for code, turns in by_speaker.items()} == {
        "X": 39, "Y1": 36, "Y2": 36, "Q": 13}
    assert by_speaker["Y1"][0].text.startswith("Zal ik even beginnen Jurgen?")
    assert by_speaker["Y2"][0].text.startswith("Ik ben Jurgen Hanemaaijer, procesregisseur")
    # "Y1" is its own code, not "Y" followed by "1".
    assert not any(t.text.startswith("1") for t in parsed.turns)


def test_turn_indented_by_a_page_break():
    turns = parse_seed("interview-02.txt").turns
    by_line = {t.line: t for t in turns}
    assert by_line[74] == Turn("Y1", by_line[74].text, 74)
    assert by_line[74].text.startswith("Want voor mijn verheldering Inge")
    assert by_line[1043].speaker == "Q"
    assert by_line[1043].text == "Oh cultuur. Oké ik snapte het niet maar helder."


def test_stray_page_number_is_dropped_and_the_turn_continues():
    # Line 222 of interview 2 is the page number "111", between two lines of one turn.
    turn = next(t for t in parse_seed("interview-02.txt").turns if t.line == 215)
    assert "is geweest van dat project is dat je ook collega’s die veel minder" in turn.text
    assert "111" not in turn.text


def test_separator_without_a_space():
    turn = next(t for t in parse_seed("interview-01.txt").turns if t.line == 353)
    assert turn.speaker == "Y"
    assert turn.text.startswith("Ja en ik heb in Zutphen")


def test_hyphenated_wrap_keeps_the_compound():
    turn = next(t for t in parse_seed("interview-02.txt").turns if t.line == 678)
    assert "informatie-uitwisseling tussen de partners" in turn.text


def test_wrapped_lines_join_with_single_spaces():
    first = parse_seed("interview-01.txt").turns[0]
    assert first.text == (
        "We hebben maar een uurtje dus we zullen snel starten. De eerste vragen zijn wat "
        "inleidend hoor maar uhm... kunt u iets vertellen over uw werk en uw functie?"
    )


@pytest.mark.parametrize(
    ("with_separator", "without"),
    [("Y = Nou ja kijk… in de basis", "Y Nou ja kijk… in de basis"),
     ("X = Oké. Wat goed", "X Oké. Wat goed")],
)
def test_missing_separator_is_recovered(with_separator, without):
    # The seed files as shipped have no such line, so one is made by deleting a separator.
    text = seed("interview-01.txt")
    assert text.count(with_separator) == 1
    broken = parse_transcript(text.replace(with_separator, without), "interview-01.txt")
    assert broken == parse_seed("interview-01.txt")


def test_continuation_lines_with_separators_stay_text():
    text = (
        "X = Interviewer\n"
        "Y = Geïnterviewde\n"
        "X = Hoe verliep het overleg?\n"
        "Y = Nou, de afspraak was: eens per maand, en 1 = goed\n"
        "Y en X hadden toen ook nog: een telefoontje\n"
        "Let op: dat was voor corona.\n"
        "X: Oké.\n"
    )
    parsed = parse_thesis_transcript(text, "t.txt")
    assert [(t.speaker, t.line) for t in parsed.turns] == [("X", 3), ("Y", 4), ("X", 7)]
    assert parsed.turns[1].text == (
        "Nou, de afspraak was: eens per maand, en 1 = goed Y en X hadden toen ook nog: "
        "een telefoontje Let op: dat was voor corona."
    )
    assert parsed.title is None


def test_parse_transcript_detects_the_layout():
    thesis = parse_transcript("X = Interviewer\nY = Respondent\nX: Hallo.\nY: Dag.\n", "a.txt")
    assert thesis.speakers == {"X": "Interviewer", "Y": "Respondent"}
    named = parse_transcript("Anna: Hallo.\nBert: Dag.\nAnna: Zullen we?\nBert: Ja.\n", "b.txt")
    assert named.speakers == {"Anna": "Anna", "Bert": "Bert"}


NAMED = """Interview 3, 15 juni

Anna: Goedemorgen, kunt u iets vertellen over uw werk
en uw functie?
Bert de Vries: Ja zeker. Ik werk bij de gemeente.
Noot: dit is geen spreker, het staat midden in Berts verhaal.
Anna: Dank u.

Bert de Vries: Graag gedaan.
"""


def test_named_transcript():
    parsed = parse_named_transcript(NAMED, "named.txt")
    assert parsed.title == "Interview 3, 15 juni"
    assert parsed.speakers == {"Anna": "Anna", "Bert de Vries": "Bert de Vries"}
    assert parsed.turns == [
        Turn("Anna", "Goedemorgen, kunt u iets vertellen over uw werk en uw functie?", 3),
        Turn("Bert de Vries", "Ja zeker. Ik werk bij de gemeente. Noot: dit is geen spreker, "
             "het staat midden in Berts verhaal.", 5),
        Turn("Anna", "Dank u.", 7),
        Turn("Bert de Vries", "Graag gedaan.", 9),
    ]
    assert parse_transcript(NAMED, "named.txt") == parsed


def error_line(excinfo) -> str:
    return str(excinfo.value).split(":", 1)[0]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("", 1, "empty"),
        ("  \n\n \n", 1, "empty"),
        ("X = Interviewer\nY = Geïnterviewde\nX: Hallo.\nY: Dag.\nY3: Ik ook.\n", 5,
         "'Y3', who is not declared"),
        ("X = Interviewer\nY = Geïnterviewde\n(opname)\nZ: Hallo\nX: Dag.\n", 4,
         "'Z', who is not declared"),
        ("Interview 9\nX = Interviewer\nY = Geïnterviewde\n\nDit is een losse zin.\nX: Hallo.\n",
         5, "text before the first turn"),
        ("Interview 9\nX = Interviewer\nY = Geïnterviewde\n(opname)\n", 4, "no turns"),
        ("X = Interviewer\nY = Geïnterviewde\nX = \nY = Hallo.\n", 3, "turn by X has no text"),
        ("X = Interviewer\nY = Geïnterviewde\n(opname zonder einde\nX: Hallo.\n", 3,
         "never closed"),
        ("Hallo\nallemaal\n", 2, "no speakers are declared"),
        ("X = Interviewer\nY = Geïnterviewde\nX: Hallo\x00\x01\n", 3, "binary"),
    ],
)
def test_malformed_thesis_transcripts(text, line, says):
    with pytest.raises(ImportFormatError) as excinfo:
        parse_thesis_transcript(text, "bad.txt")
    assert error_line(excinfo) == f"bad.txt, line {line}"
    assert says in str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("Titel\nLosse zin zonder spreker.\nAnna: Hallo.\nBert: Dag.\n", 2,
         "text before the first turn"),
        ("Alleen een titel\n", 1, "no turns"),
        ("Anna: Hallo.\nBert:\nAnna: Bert?\nBert: Ja.\n", 2, "turn by Bert has no text"),
    ],
)
def test_malformed_named_transcripts(text, line, says):
    with pytest.raises(ImportFormatError) as excinfo:
        parse_named_transcript(text, "bad.txt")
    assert error_line(excinfo) == f"bad.txt, line {line}"
    assert says in str(excinfo.value)


def test_undeclared_speaker_in_a_seed_file_names_the_line():
    lines = seed("interview-01.txt").splitlines()
    lines[289 - 1] = lines[289 - 1].replace("Y = ", "Y2 = ", 1)
    with pytest.raises(ImportFormatError) as excinfo:
        parse_transcript("\n".join(lines), "interview-01.txt")
    assert error_line(excinfo) == "interview-01.txt, line 289"
