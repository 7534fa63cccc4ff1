"""How codes and speakers are named and coloured on screen: a code by its dimension's name
and colour, on a chip whose text stays readable; a speaker by role, with the name a transcript
gave them where it did."""

from __future__ import annotations

from core.study.guide import Guide


def contrast(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (#rrggbb)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "#ffffff"


def code_names(guide: Guide, dimension_id: str, indicator_id: str) -> tuple[str, str, str]:
    """The dimension's name, the indicator's name and the dimension's colour; a code the guide
    no longer has (a colleague's, an older codebook's) shows by its ids, in grey."""
    try:
        dim = guide.dimension(dimension_id)
        dim_name, colour = dim.name, dim.colour
    except KeyError:
        dim_name, colour = dimension_id, "#808080"
    try:
        ind_name = guide.indicator(indicator_id).name
    except KeyError:
        ind_name = indicator_id
    return dim_name, ind_name, colour


def who(record: dict) -> str:
    """'Interviewer' or 'Respondent', with the speaker's label from an imported transcript."""
    who = "Interviewer" if record["speaker"] == "interviewer" else "Respondent"
    return f"{who} ({record['speaker_label']})" if record.get("speaker_label") else who
