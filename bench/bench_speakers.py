"""How often fieldnote tells the interviewer right, on the eight typed reference interviews.

    python bench/bench_speakers.py          # the table: tuning interviews 1-4, held-out 5-8
    python bench/bench_speakers.py --fit    # fit the segment model on 1-4 and print its weights

Each interview (sample_sessions/transcripts/, read with
`core.interchange.transcripts.parse_transcript`) is given with its speakers hidden:

- roles, turns: each turn's text is one segment, in order, without times, through
  `core.understanding.speakers.propose_roles`; right is a turn proposed as the interviewer's
  that the transcript's interviewer (index.toml) spoke, or proposed as not the interviewer's that
  someone else spoke. An observer (interview 2's Q) counts as not the interviewer. The share of
  turns right, and of words.
- roles, segments: the same with each turn cut into its sentences, each sentence a segment, as
  a recording's segments come (no times, so no pauses: the cut is the only thing that says the
  segments are pieces of turns).
- find_interviewer: the speakers named, as a Teams transcript names them; right when the
  speaker taken is the transcript's interviewer, "none" when no speaker is clear enough.

Each is run with the reference guide and with the guide's cues taken out (a guide just written
from its question list), next to two baselines from the same run: turns taking turns strictly
from the first (the first speaker the interviewer), and each segment's own evidence without the
sequence. The models (`TURN_WEIGHTS`, `SEGMENT_WEIGHTS`, the chances of a change of speaker) were fitted and chosen on
interviews 1-4 (`--fit`); 5-8 confirm.

A fourth table gives find_interviewer on made-up interviews in German, French and Spanish
(tests/data/): their turns are the interviewer's alone, so each is given with a made-up second
speaker who answers every turn with the next turn's words shuffled (a respondent who talks
about the same things without putting the guide's questions).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.interchange.guide_draft import DraftGuide, DraftQuestion, guide_text  # noqa: E402
from core.interchange.transcripts import parse_transcript  # noqa: E402
from core.study.guide import Guide, load_guide, parse_guide  # noqa: E402
from core.understanding import speakers  # noqa: E402

TRANSCRIPTS = ROOT / "sample_sessions" / "transcripts"
MADE_UP = ROOT / "tests" / "data"
TUNED = (1, 2, 3, 4)
HELD_OUT = (5, 6, 7, 8)
FEATURES = ["poses", "asks", "mark", "length"]
_SENTENCE = re.compile(r"(?<=[.?!…])\s+")


def interview(number: int) -> tuple[list[tuple[str, str]], set[str]]:
    """The interview's turns (speaker, text) and its interviewer's codes."""
    index = tomllib.loads((TRANSCRIPTS / "index.toml").read_text(encoding="utf-8"))
    entry = index["transcript"][number - 1]
    path = TRANSCRIPTS / entry["file"]
    parsed = parse_transcript(path.read_text(encoding="utf-8"), str(path))
    return [(t.speaker, t.text) for t in parsed.turns], set(entry["interviewer"])


def sentences(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(s, part) for s, text in turns for part in _SENTENCE.split(text) if part.strip()]


def without_cues(guide: Guide) -> Guide:
    return replace(guide, questions=tuple(replace(q, cues=()) for q in guide.questions))


_READ: dict[tuple[int, int, bool], tuple[list[str], list[bool], list[dict]]] = {}


def read(guide: Guide, number: int, split: bool) -> tuple[list[str], list[bool], list[dict]]:
    """An interview's segments (turns, or their sentences), whether each is the interviewer's,
    and each segment's evidence as `propose_roles` reads it (read once per run)."""
    key = (id(guide), number, split)
    if key not in _READ:
        turns, interviewer = interview(number)
        if split:
            turns = sentences(turns)
        texts = [t for _, t in turns]
        _READ[key] = (texts, [s in interviewer for s, _ in turns], speakers.segment_evidence(texts, guide))
    return _READ[key]


def role_tallies(guide: Guide, numbers, split: bool, weights: dict | None = None, **chances) -> dict[str, list[int]]:
    """Per method, [segments right, segments, words right, words] summed over the interviews."""
    w = (speakers.SEGMENT_WEIGHTS if split else speakers.TURN_WEIGHTS) if weights is None else weights
    out = {"proposal": [0, 0, 0, 0], "alternation": [0, 0, 0, 0], "own evidence": [0, 0, 0, 0],
           "all respondent": [0, 0, 0, 0]}
    for n in numbers:
        texts, truth, evidence = read(guide, n, split)
        with chances_set(**chances):
            proposals = speakers.roles_from(evidence, None, None, not split, w)
        said = {"proposal": proposals, "alternation": [i % 2 == 0 for i in range(len(texts))],
                "own evidence": [speakers._logit(e, w) >= 0 for e in evidence],  # with its prior
                "all respondent": [False] * len(texts)}
        for name, guess in said.items():
            s = speakers.score_roles(guess, truth, texts)
            for i, v in enumerate((s.right, s.segments, s.right_words, s.words)):
                out[name][i] += v
    return out


class chances_set:
    """Sets the module's chances of a change of speaker for a run (the grid of --fit)."""

    def __init__(self, **values: float):
        self.values = values

    def __enter__(self):
        self.saved = {k: getattr(speakers, k) for k in self.values}
        for k, v in self.values.items():
            setattr(speakers, k, v)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            setattr(speakers, k, v)


def fit(rows: list[tuple[dict, bool]], l2: float = 1.0) -> dict[str, float]:
    """Logistic regression by Newton's method on the L2-penalised log-likelihood."""
    import numpy as np

    x = np.array([[f[n] for n in FEATURES] for f, _ in rows], dtype=float)
    y = np.array([1.0 if t else 0.0 for _, t in rows])
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    penalty = l2 * np.diag(np.r_[0, np.ones(len(FEATURES))])
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ w))
        step = np.linalg.solve((x * (p * (1 - p))[:, None]).T @ x + penalty, x.T @ (p - y) + penalty @ w)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    share = float(y.mean())
    return {"bias": round(float(w[0]), 3), **{n: round(float(v), 3) for n, v in zip(FEATURES, w[1:])},
            "prior": round(math.log(share / (1 - share)), 3)}


GRIDS = {
    False: {"SWITCH_TURNS": (0.8, 0.9, 0.95, 0.98), "EVIDENCE_TURNS": (0.25, 0.5, 0.75, 1.0)},
    True: {"LEAVE_INTERVIEWER": (0.1, 0.2, 0.3, 0.5), "LEAVE_RESPONDENT": (0.1, 0.2, 0.3, 0.4, 0.5),
           "SWITCH_AFTER_QUESTION": (0.5, 0.7, 0.9), "EVIDENCE_SEGMENTS": (0.5, 0.75, 1.0)},
}


def fit_on_tuning(guide: Guide) -> None:
    """Each segment model fitted on 1-4 (turns, and turns cut into sentences), then each grid
    of the sequence's chances searched on 1-4 for the best share of segments right."""
    import itertools

    for split, grid in GRIDS.items():
        rows = []
        for n in TUNED:
            _, truth, evidence = read(guide, n, split)
            rows += list(zip(evidence, truth))
        weights = fit(rows)
        print("SEGMENT_WEIGHTS =" if split else "TURN_WEIGHTS =", weights)
        scored = []
        for values in itertools.product(*grid.values()):
            chosen = dict(zip(grid, values))
            t = role_tallies(guide, TUNED, split, weights, **chosen)["proposal"]
            scored.append((t[0] / t[1], t[2] / t[3], chosen))
        scored.sort(key=lambda x: (-x[0], -x[1]))
        for share_right, share_words, chosen in scored[:5]:
            print(f"  {share_right:.3f} of segments, {share_words:.3f} of words: {chosen}")


def interviewer_found(guide: Guide, numbers) -> tuple[int, int, int, list[str]]:
    """Right, wrong, none, and what each said."""
    right = wrong = none = 0
    said = []
    for n in numbers:
        turns, interviewer = interview(n)
        guess = speakers.find_interviewer(turns, guide)
        if guess is None:
            none += 1
            said.append(f"{n}: none")
            continue
        ok = guess.speaker in interviewer
        right += ok
        wrong += not ok
        said.append(f"{n}: {guess.speaker} {guess.sureness:.2f}{'' if ok else ' WRONG'}")
    return right, wrong, none, said


def made_up(code: str, seed: int = 7) -> tuple[Guide, list[tuple[str, str]]]:
    data = tomllib.loads((MADE_UP / f"interview-{code}.toml").read_text(encoding="utf-8"))
    draft = DraftGuide("Check", [DraftQuestion(q, n) for n, q in enumerate(data["questions"], 1)])
    guide = parse_guide(guide_text(draft, guide_id=f"{code}-check", title=None, language=code, planned_minutes=60))
    rng = random.Random(seed)
    texts = [t["text"] for t in data["turns"]]
    turns = []
    for i, text in enumerate(texts):
        turns.append(("Interviewer A", text))
        answer = texts[(i + 1) % len(texts)].replace("?", ".").split()
        rng.shuffle(answer)
        turns.append(("Respondent B", " ".join(answer)))
    return guide, turns


def row(label: str, values: list[str]) -> None:
    print(f"{label:<44}" + "".join(f"{v:>18}" for v in values))


def share(t: list[int]) -> str:
    return f"{t[0] / t[1]:.3f} / {t[2] / t[3]:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="fit the segment model on 1-4 and print its weights and the grid")
    args = ap.parse_args(argv)
    reference = load_guide("koers-en-kansen")
    if args.fit:
        fit_on_tuning(reference)
        return 0
    groups = [("tuned (1-4)", TUNED), ("held-out (5-8)", HELD_OUT)]
    for guide_name, guide in (("reference guide", reference), ("guide without cues", without_cues(reference))):
        for split in (False, True):
            what = "segments (sentences)" if split else "turns"
            tallies = [role_tallies(guide, ns, split) for _, ns in groups]
            row(f"roles, {what}, {guide_name}", [name for name, _ in groups])
            row(f"  (share of {what.split()[0]} / of words right)", ["", ""])
            for method in ("proposal", "alternation", "own evidence", "all respondent"):
                row(f"  {method}", [share(t[method]) for t in tallies])
            print()
        row(f"find_interviewer, {guide_name}", [name for name, _ in groups])
        found = [interviewer_found(guide, ns) for _, ns in groups]
        row("  right / wrong / none", [f"{r}/{w}/{n}" for r, w, n, _ in found])
        for said in zip(*(s for *_, s in found)):
            row("", list(said))
        print()
    row("find_interviewer, made-up interviews", ["taken", "sureness", "reason"])
    for code in ("de", "fr", "es"):
        guide, turns = made_up(code)
        guess = speakers.find_interviewer(turns, guide)
        if guess is None:
            row(f"  {code}", ["none", "", ""])
        else:
            print(f"  {code:<42}{guess.speaker:>18}{guess.sureness:>18.2f}   {guess.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
