"""The fitted weights of the two models, read from `weights.toml` beside this module.

Guide tracking and suggestions are logistic models with few weights, none of which names a
question, a dimension or a word of the study, so they carry over to other guides.
`python bench/bench_understanding.py --fit` fits them on the tuning interviews 1-4 of the
reference study and writes that file; `tests/test_understanding.py` fits them again the same way
and fails if the file says anything else, so the file is never edited by hand. Each table maps a
feature to its weight ("bias" is the intercept); the features are those of
`GuideTracker.features` and `Suggester.rank`, and were chosen by leave-one-interview-out
cross-validation within 1-4 (`--cv`).

The tables are read once, at import. `bench/bench_understanding.py` swaps a table's contents in
place while it fits or cross-validates: a tracker or suggester made meanwhile takes those.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("weights.toml")


def read_weights() -> dict[str, dict[str, float]]:
    """The tables of the weights file, by name."""
    with WEIGHTS_FILE.open("rb") as f:
        return tomllib.load(f)


_TABLES = read_weights()

# The chance that the speech poses the question: fitted on interviews 1-4, each with the cues
# heard only in it taken out of the guide (so it is read as an interview the cues were not
# written from) and the tracker running on its own detections, as in use.
QUESTION_WEIGHTS: dict[str, float] = _TABLES["question"]

# The same model for a question that has no cues of its own and is followed by the clauses of its
# text (a guide just written from the question list): fitted the same way on interviews 1-4 with
# every cue taken out of the guide. It weighs a clause heard, and the likeness to the whole
# question, more than a heard cue is weighed above: a clause is the question's own wording.
CLAUSE_QUESTION_WEIGHTS: dict[str, float] = _TABLES["clause_question"]

# The chance that the researcher codes the passage with the dimension: fitted on interviews 1-4,
# each seen as an interview the codebook was not written from (its own phrases out) and
# learning from the codings of the other three.
WEIGHTS: dict[str, float] = _TABLES["suggestion"]

# The same model for a codebook whose indicators listen for nothing but their names (one just
# brought in from QDA software): fitted the same way on interviews 1-4 with the reference study
# started as such a study would be (`bench_understanding.py`, third table), and on each of them
# alone too, as a new study's first interview has nothing coded before it. Names are seldom said,
# so phrases weigh nothing here and the question in effect, what was coded under it and the most
# alike coded passage weigh more; with the main model's weights such a study's scores were far
# too low (a mean score of 0.26 where two in three were coded). Once the researcher writes
# phrases of their own, the main model applies.
NAMES_ONLY_WEIGHTS: dict[str, float] = _TABLES["names_only"]
