"""Question links for a new study's codebook, drafted from the words the researcher wrote.

A REFI-QDA codebook (ATLAS.ti, NVivo, MAXQDA, QualCoder) carries codes: names, descriptions and
colours. Code suggestions take the dimensions that the guide question in effect asks about as
their strongest evidence, and a new study has no such links: its guide was just written from
the question list (`fieldnote guides new`) and its codebook names no questions. So when a
codebook is imported into a guide with no links, each question is linked to the dimension whose
name, definition and indicator names share the rarest words with the question's text ("Hoe
stond het met het vertrouwen ...?" goes with the dimension "Vertrouwen"), when the words they
share weigh at least as much as one word that a third of the dimensions have.

The links are written to the guide as `drafted_questions`, for the researcher to check; until
then each counts for suggestions while the passages coded under its question do not say
otherwise (`Suggester`).

Measured on the reference study made new this way (`bench/bench_understanding.py`, third table:
its question list read by `guides new`, its codebook exported to .qdc and imported again): 21
links drafted, 14 of them as the guide has them (it has 20). On the first interview, with nothing
coded before, suggestions reach top-1 / top-3 0.611 / 0.750 against 0.111 / 0.222 without the
links (in-sample: interview 1 is one of the tuning interviews the drafting was designed on). Once coded interviews teach the suggester, the links matter less (the figures, and how
the design was chosen, are in bench/devset/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rapidfuzz import fuzz

from core.study.language import Language

# A question goes with a dimension when the words they share weigh at least as much as one word
# that this share of the dimensions have (with 15 dimensions: a word of 5 of them); a word weighs
# log(dimensions / dimensions that have it).
_RARE_SHARE = 1 / 3


def _stems(text: str, language: Language) -> set[str]:
    return {s for s in language.content_stems(text) if len(s) > 3}


def _alike(a: str, b: str) -> bool:
    """One word in two forms: "efficient" and "efficientie", "stabiel" and "stabiliteit"."""
    if a == b:
        return True
    if min(len(a), len(b)) < 5:
        return False
    return a[:6] == b[:6] or fuzz.ratio(a, b) >= 85


def draft_links(questions: Sequence[tuple[int, str]], dimensions: Sequence[tuple[str, str]],
                language: Language) -> dict[int, str]:
    """For each question (number, text): the id of the dimension (id, its words: name,
    definition, indicator names) it most likely asks about, if they share words rare enough."""
    vocab = {d: _stems(text, language) for d, text in dimensions}
    if not vocab:
        return {}
    n = len(vocab)
    order = {d: i for i, (d, _) in enumerate(dimensions)}
    links: dict[int, str] = {}
    for number, text in questions:
        score: dict[str, float] = {}
        for s in sorted(_stems(text, language)):  # in one order, so that equal sums tie equally
            having = [d for d, v in vocab.items() if any(_alike(s, t) for t in v)]
            if not having:
                continue
            rarity = math.log(n / len(having))
            for d in having:
                score[d] = score.get(d, 0.0) + rarity
        if not score:
            continue
        # The best dimension; on a tie (to rounding), the one the codebook lists first.
        best = max(score, key=lambda d: (round(score[d], 9), -order[d]))
        if score[best] >= math.log(1 / _RARE_SHARE) - 1e-9:
            links[number] = best
    return links
