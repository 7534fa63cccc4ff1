"""How well fieldnote follows the guide and suggests codes, on the hand-labelled interviews.

    python bench/bench_understanding.py --cv          # model selection: cross-validation within 1-4
    python bench/bench_understanding.py --cv --details   # every miss in cross-validation
    python bench/bench_understanding.py --fit         # fit both models on 1-4, write core/understanding/weights.toml
    python bench/bench_understanding.py               # the table (tuned 1-4, held-out 5-8)
    python bench/bench_understanding.py --only 1-4    # the tuning interviews alone (in-sample)
    python bench/bench_understanding.py --languages   # each language file against reading plainly

Everything but the plain table, `--languages` (and `--only` with 5-8 in it) reads interviews 1-4
only.

The eight seed interviews (sample_sessions/transcripts/) are imported one by one, in interview
order, into one fresh in-memory database with `core.pipeline.importing.import_transcript`, exactly as
`fieldnote import` does: guide tracking and suggestions run turn by turn, and the suggester
starts from what was coded in the sessions imported before. After each interview is scored, a
simulated researcher reviews it against the hand labels (bench/devset/): a suggestion whose
dimension the passage is labelled with is accepted, one on a labelled passage whose dimension
is not is rejected, and a labelled dimension no suggestion offered is added by hand. So
interview k is understood with the codings of interviews 1..k-1 only, as in a real study where
the researcher codes each interview before the next one; interview 1 starts from nothing.

Figures (definitions in bench/devset/README.md): question detection precision, recall and F1
over interviewer turns; top-1 and top-3 of the suggestions over labelled respondent passages,
next to two baselines from the same run (the dimension of the question in effect alone, and
phrase matching alone); and the time to suggest for one segment, with this codebook and with a
synthetic one of 500 indicators, as a ratio to a reference measured in the same run.

A second table runs the same with every cue taken out of the guide, as a guide just written
from the question list (`fieldnote guides new`) is: the tracker then has the questions' own
text alone (`Language.clauses`). A third runs the reference study as a new study would start:
the guide written by `guides new` from the thesis's question list, the codebook exported to a
.qdc and imported into it (names and definitions only, question links drafted from their words,
`core.understanding.codebook_draft`), next to the same without the drafted links.

Cues and phrases were written from interviews 1-4, so figures on them measure the guide
against what it was written from. `--cv` measures what the method does on speech it was not
written from, within 1-4: each tuning interview in turn is left out, both models are fitted
on the other three, those three are imported and reviewed, and the one left out is imported
and scored with the cues and phrases heard in it alone taken out of the guide (see `unseen`).
Features, regularisation and the question threshold are chosen on these figures; the held-out
interviews 5-8 are not used to choose anything. They have been read, as totals, after several
rounds of design (bench/devset/README.md says which), so figures on them are less clean
held-out figures than a first reading would be.

`--fit` writes the fitted weights to core/understanding/weights.toml, which the tracker and the
suggester read; tests/test_understanding.py fits them again and compares. `--languages` puts each
language file against reading the words plainly: the reference study in Dutch, and made-up
interviews in German, French and Spanish (tests/data/).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.interchange.export import segment_records  # noqa: E402
from core.study.guide import Guide, load_guide, parse_guide  # noqa: E402
from core.pipeline.importing import import_transcript, read_transcript  # noqa: E402
from core.study.language import load_language, normalise  # noqa: E402
from core.store.database import Store  # noqa: E402
from core.understanding import tracker as tracking, weights as in_force  # noqa: E402
from core.understanding.features import Lexicon, _Passage, _Pattern  # noqa: E402
from core.understanding.suggester import Suggester, names_only  # noqa: E402
from core.understanding.tracker import GuideTracker  # noqa: E402

DEVSET = ROOT / "bench" / "devset"
TRANSCRIPTS = ROOT / "sample_sessions" / "transcripts"
TUNED = (1, 2, 3, 4)
HELD_OUT = (5, 6, 7, 8)


@dataclass
class Labels:
    number: int
    transcript: str
    respondent: str
    case: str
    interviewer: list[str]
    respondents: list[str]
    asks: dict[int, tuple[int, ...]]  # turn index -> (label, *also); label 0 = none
    dimensions: dict[int, list[str]]  # turn index -> dimension names, primary first


def load_labels(number: int) -> Labels:
    data = tomllib.loads((DEVSET / f"interview-{number:02d}.toml").read_text(encoding="utf-8"))
    asks, dims = {}, {}
    for entry in data["turn"]:
        if "asks" in entry:
            asks[entry["index"]] = (entry["asks"], *entry.get("also", []))
        else:
            dims[entry["index"]] = entry["dimensions"]
    return Labels(number, data["transcript"], data["respondent"], data["case"], data["interviewer"],
                  data["respondents"], asks, dims)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    passages: int = 0
    top1: dict[str, int] = field(default_factory=lambda: {"method": 0, "question": 0, "phrases": 0})
    top3: dict[str, int] = field(default_factory=lambda: {"method": 0, "question": 0, "phrases": 0})
    scores: list[tuple[float, bool]] = field(default_factory=list)  # (suggestion score, labelled with it)

    def add(self, other: "Tally") -> None:
        self.scores += other.scores
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.passages += other.passages
        for k in self.top1:
            self.top1[k] += other.top1[k]
            self.top3[k] += other.top3[k]

    def calibration(self, bins: int = 5) -> list[tuple[float, float, int, float, float]]:
        """Per score band: (low, high, suggestions, mean score, share the labels code)."""
        out = []
        for b in range(bins):
            lo, hi = b / bins, (b + 1) / bins
            inside = [(s, ok) for s, ok in self.scores if lo <= s < hi or (b == bins - 1 and s == 1.0)]
            if inside:
                out.append((lo, hi, len(inside), statistics.fmean(s for s, _ in inside),
                            sum(ok for _, ok in inside) / len(inside)))
        return out

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def question_baseline(guide: Guide, question: int | None) -> list[str]:
    q = guide.question(question)
    return [guide.dimension(d).name for d in q.dimension_ids] if q else []


def phrase_baseline(phrases_only: Suggester, guide: Guide, text: str) -> list[str]:
    ranked = [c for c in phrases_only.rank(text, None) if c.features["phrase"] > 0]
    ranked.sort(key=lambda c: -c.features["phrase"])
    return [guide.dimension(c.dimension_id).name for c in ranked]


def score_interview(guide: Guide, labels: Labels, phrases_only: Suggester, details: list[str] | None,
                    records: list[dict]) -> Tally:
    tally = Tally()
    for index, gold in labels.asks.items():
        r = records[index]
        detected = r["asks"]
        correct = gold[0] != 0 and detected in gold
        if correct:
            tally.tp += 1
        elif detected is not None or gold[0] != 0:
            if detected is not None:
                tally.fp += 1
            if gold[0] != 0:
                tally.fn += 1
            if details is not None:
                details.append(f"  QD {labels.number}:{index:<3} gold={gold} got={detected} | {r['text'][:160]}")
    for index, r in enumerate(records):
        if r["speaker"] == "respondent":
            gold = labels.dimensions.get(index, [])
            tally.scores += [(s["score"], s["dimension"] in gold) for s in r["suggestions"]]
    for index, gold in labels.dimensions.items():
        r = records[index]
        tally.passages += 1
        ranked = {
            "method": [s["dimension"] for s in r["suggestions"]],
            "question": question_baseline(guide, r["question"]),
            "phrases": phrase_baseline(phrases_only, guide, r["text"]),
        }
        for name, dims in ranked.items():
            tally.top1[name] += bool(dims) and dims[0] in gold
            tally.top3[name] += gold[0] in dims[:3]
        if details is not None and (not ranked["method"] or ranked["method"][0] not in gold):
            got = ", ".join(f"{s['dimension']} {s['score']:.2f}" for s in r["suggestions"])
            details.append(f"  SG {labels.number}:{index:<3} q={r['question']} gold={gold} got=[{got}] "
                           f"| {r['text'][:140]}")
    return tally


def review(store: Store, guide: Guide, labels: Labels, records: list[dict]) -> None:
    """The researcher codes the interview: accepts right suggestions, rejects wrong ones on
    passages she codes, adds what none offered."""
    names = {d.name: d for d in guide.dimensions}
    helper = Suggester(guide)
    ids = [r["id"] for r in records]
    stored = store.suggestions_for(ids)
    for index, r in enumerate(records):
        if r["speaker"] != "respondent":
            continue
        gold = labels.dimensions.get(index)
        if not gold:
            continue
        accepted = set()
        for s in stored[r["id"]]:
            name = guide.dimension(s["dimension_id"]).name
            if name in gold:
                store.accept_suggestion(s["id"])
                accepted.add(name)
            else:
                store.reject_suggestion(s["id"])
        for name in gold:
            if name in accepted:
                continue
            dim = names[name]
            best = next((c.indicator_id for c in helper.rank(r["text"], None) if c.dimension_id == dim.id),
                        dim.indicators[0].id)
            store.add_coding(r["id"], dim.id, best, origin="manual")


def run(numbers: list[int], guide: Guide, details: list[str] | None = None,
        features: list | None = None, scored: list[int] | None = None) -> dict[int, Tally]:
    """Import, score and review the interviews in this order in one fresh database.

    Only the interviews in `scored` (default: all) are scored and, with `features`, give
    feature rows; the others are imported and reviewed so that later ones learn from them."""
    store = Store(memory_name=f"bench-understanding-{time.monotonic_ns()}")
    phrases_only = Suggester(guide)
    scored = list(numbers) if scored is None else scored
    out = {}
    for number in numbers:
        labels = load_labels(number)
        parsed = read_transcript(TRANSCRIPTS / labels.transcript)
        if features is not None and number in scored:
            collect_features(store, guide, parsed, labels, features)
        session_id = import_transcript(
            store, parsed, guide, interviewer=labels.interviewer, respondents=labels.respondents,
            respondent=labels.respondent, case=labels.case, title=parsed.title,
        )
        records = list(segment_records(store, session_id))
        if number in scored:
            out[number] = score_interview(guide, labels, phrases_only, details, records)
        review(store, guide, labels, records)
    store.close()
    return out


# the unseen interview --------------------------------------------------------------------------
#
# Cues and phrases were written from interviews 1-4, so scoring one of them with the whole guide
# measures how well it matches what it was written from. To see one of them as an interview
# the guide was not written from, its own cues and phrases come out: those heard in it and in
# none of the other tuning interviews. The rest stay, as the whole guide stays for 5-8.


def attestations(guide: Guide) -> dict[tuple[str, str], set[int]]:
    """For each cue (interviewer speech) and phrase (respondent speech): the tuning interviews
    it is heard in."""
    from core.pipeline.importing import speaker_roles

    language = load_language(guide.language)
    patterns = {("phrase", p): _Pattern.of(p, language) for i in guide.indicators for p in i.phrases}
    patterns.update({("cue", c): _Pattern.of(c, language) for q in guide.questions for c in q.cues})
    patterns = {k: p for k, p in patterns.items() if p is not None}
    lexicon = Lexicon({s for p in patterns.values() for s in p.stems})
    heard: dict[tuple[str, str], set[int]] = {k: set() for k in patterns}
    for number in TUNED:
        labels = load_labels(number)
        parsed = read_transcript(TRANSCRIPTS / labels.transcript)
        roles = speaker_roles(parsed, labels.interviewer, labels.respondents)
        for turn in parsed.turns:
            role = roles.of(turn.speaker)
            if role == "observer":
                continue
            passage = _Passage.read(turn.text, lexicon, language)
            kind = "cue" if role == "interviewer" else "phrase"
            for key, pat in patterns.items():
                if key[0] == kind and pat.find(passage) > 0:
                    heard[key].add(number)
    return heard


def unseen(guide: Guide, number: int, heard: dict[tuple[str, str], set[int]]) -> Guide:
    """The guide as if interview `number` had not been read: without the cues and phrases heard
    in it alone."""
    def keep(kind: str, text: str) -> bool:
        return heard.get((kind, text), set()) != {number}

    questions = tuple(replace(q, cues=tuple(c for c in q.cues if keep("cue", c))) for q in guide.questions)
    dimensions = tuple(
        replace(d, indicators=tuple(replace(i, phrases=tuple(p for p in i.phrases if keep("phrase", p)))
                                    for i in d.indicators))
        for d in guide.dimensions
    )
    return replace(guide, questions=questions, dimensions=dimensions)


@contextmanager
def model(question_weights: dict, weights: dict, threshold: float):
    """Run the import with these models, as if they were the ones core/understanding/weights.toml
    holds, and with this question threshold."""
    saved = tracking.QUESTION_THRESHOLD
    tracking.QUESTION_THRESHOLD = threshold
    try:
        with weights_of(in_force.QUESTION_WEIGHTS, question_weights), weights_of(in_force.WEIGHTS, weights):
            yield
    finally:
        tracking.QUESTION_THRESHOLD = saved


# fitting the models ----------------------------------------------------------------------------


class _RecordingSuggester(Suggester):
    """Keeps the features of each passage it ranks, for fitting."""

    def __init__(self, guide: Guide):
        super().__init__(guide)
        self.ranked: list[list] = []

    def rank(self, text, question=None, prompt=None):
        out = super().rank(text, question, prompt)
        self.ranked.append(out)
        return out


def collect_features(store: Store, guide: Guide, parsed, labels: Labels, rows: list) -> None:
    """Feature rows (features, is-labelled) for every respondent turn and dimension, computed
    as the import does: same learned state, same question in effect, same context."""
    from core.pipeline.importing import speaker_roles, understand

    roles = speaker_roles(parsed, labels.interviewer, labels.respondents)
    suggester = _RecordingSuggester(guide)
    suggester.learn_from(store.coded_examples(guide.id))
    understand(parsed, roles, GuideTracker(guide), suggester)
    respondent_turns = [i for i, t in enumerate(parsed.turns) if roles.of(t.speaker) == "respondent"]
    for index, candidates in zip(respondent_turns, suggester.ranked):
        gold = set(labels.dimensions.get(index, []))
        for c in candidates:
            rows.append((c.features, guide.dimension(c.dimension_id).name in gold, labels.number, index))


def collect_question_features(guide: Guide, number: int, weights: dict, threshold: float) -> list:
    """Feature rows (features, is-the-question-asked) for every interviewer turn and question,
    from a tracker running on its own detections, as in use."""
    from core.pipeline.importing import speaker_roles

    labels = load_labels(number)
    parsed = read_transcript(TRANSCRIPTS / labels.transcript)
    roles = speaker_roles(parsed, labels.interviewer, labels.respondents)
    # One model for every question while it is fitted (the guides fitted on have cues for all
    # questions, or, for the clause model, for none).
    tracker = GuideTracker(guide, threshold=threshold, weights=weights, clause_weights=weights)
    rows = []
    for index, turn in enumerate(parsed.turns):
        if roles.of(turn.speaker) != "interviewer":
            continue
        gold = labels.asks.get(index, (0,))
        for q, f in tracker.features(turn.text, tracker.current, tracker.asked).items():
            rows.append((f, gold[0] != 0 and q in gold, number, index))
        tracker.observe(turn.text)
    return rows


def fit(rows: list, names: list[str], l2: float) -> dict[str, float]:
    """Logistic regression by Newton's method on the L2-penalised log-likelihood."""
    import numpy as np

    x = np.array([[f[n] for n in names] for f, *_ in rows], dtype=float)
    y = np.array([1.0 if r[1] else 0.0 for r in rows])
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    penalty = l2 * np.diag(np.r_[0, np.ones(len(names))])
    for _ in range(200):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"bias": round(float(w[0]), 3), **{n: round(float(v), 3) for n, v in zip(names, w[1:])}}


# Model selection (by --cv): the features each model uses and how strongly their weights are
# pulled towards nothing.
QUESTION_FEATURES = ["cue", "whole_cue", "text", "margin", "next"]
QUESTION_L2 = 1.0
FEATURES = ["asked", "learned_question", "prompt", "phrase", "phrase_best", "similar", "length"]
L2 = 1.0


# Where fitting starts, so that it gives the same weights whatever core/understanding/weights.toml holds:
# a plain model of cues heard and the next question, and of the question in effect and phrases.
START_QUESTION_WEIGHTS = {"bias": -4.0, "cue": 2.0, "whole_cue": 2.0, "text": 1.0, "next": 2.0}
START_WEIGHTS = {"bias": -6.0, "asked": 3.0, "prompt": 2.0, "phrase": 3.0, "length": 0.5}


def fit_models(guide: Guide, numbers: list[int], heard: dict, rounds: int = 2) -> tuple[dict, dict]:
    """Both models fitted on these tuning interviews, each seen as unseen (its own cues and
    phrases out) and learning from the codings of the others, as an interview the guide was not
    written from would be."""
    qweights, weights = dict(START_QUESTION_WEIGHTS), dict(START_WEIGHTS)
    for _ in range(rounds + 1):  # the tracker's context (what was asked) follows its own detections
        rows = [r for n in numbers
                for r in collect_question_features(unseen(guide, n, heard), n, qweights, tracking.QUESTION_THRESHOLD)]
        qweights = fit(rows, QUESTION_FEATURES, QUESTION_L2)
    for _ in range(rounds):  # what is rejected, and so learned from, follows the weights
        rows = []
        with model(qweights, weights, tracking.QUESTION_THRESHOLD):
            for n in numbers:
                others = [m for m in numbers if m != n]
                run(others + [n], unseen(guide, n, heard), features=rows, scored=[n])
        weights = fit(rows, FEATURES, L2)
    return qweights, weights


def without_cues(guide: Guide) -> Guide:
    """The guide with every cue taken out: a guide just written from the question list."""
    return replace(guide, questions=tuple(replace(q, cues=()) for q in guide.questions))


def fit_clause_weights(guide: Guide, numbers: list[int], rounds: int = 2) -> dict:
    """The tracker's model for questions followed by their own clauses, fitted on these
    interviews with every cue out of the guide (nothing there was written from them)."""
    bare = without_cues(guide)
    weights = dict(START_QUESTION_WEIGHTS)
    for _ in range(rounds + 1):
        rows = [r for n in numbers for r in collect_question_features(bare, n, weights, tracking.QUESTION_THRESHOLD)]
        weights = fit(rows, QUESTION_FEATURES, QUESTION_L2)
    return weights


def as_new_study(guide: Guide) -> Guide:
    """The reference study as a researcher starting it in fieldnote would have it: the guide
    written by `fieldnote guides new` from the question list copied out of the thesis, and the
    codebook exported to a REFI-QDA .qdc (as QDA software holds it: names, definitions and
    colours; no phrases, no questions) and imported into that guide by `fieldnote codebook
    import`, which drafts phrases and question links from the codebook's words."""
    import tempfile

    from core.interchange.exporters.model import codebook_only
    from core.interchange.codebook import merge_codebook, read_codebook
    from core.interchange.exporters.refi import to_qdc
    from core.interchange.formats import read_lines
    from core.interchange.guide_draft import draft_guide, guide_text

    questions = ROOT / "sample_sessions" / "guides" / "koers-en-kansen-questions.txt"
    draft = draft_guide(read_lines(questions), str(questions))
    new = parse_guide(guide_text(draft, guide_id="new-study", title=None, language=guide.language,
                                 planned_minutes=guide.planned_minutes), "the new study's guide")
    with tempfile.TemporaryDirectory() as tmp:
        qdc = Path(tmp) / "codebook.qdc"
        qdc.write_bytes(to_qdc(codebook_only(guide)))
        merged = merge_codebook(new, read_codebook(qdc), guide_id="new-study", replace=True)
    return parse_guide(merged.text, "the new study's guide with its codebook")


@contextmanager
def weights_of(table: dict, weights: dict):
    """Run with these weights in one of the weight tables of core/understanding/weights.py."""
    saved = dict(table)
    table.clear()
    table.update(weights)
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


def fit_names_only_weights(new: Guide, numbers: list[int], rounds: int = 2) -> dict:
    """The suggester's model for a codebook of names alone, fitted on these interviews of the
    reference study started as a new study (`as_new_study`): each learning from the codings of
    the others, as for the main model, and each alone, with nothing coded before, as a new
    study's first interview is."""
    weights = dict(START_WEIGHTS)
    for _ in range(rounds):  # what is rejected, and so learned from, follows the weights
        rows: list = []
        with weights_of(in_force.NAMES_ONLY_WEIGHTS, weights):
            for n in numbers:
                run([m for m in numbers if m != n] + [n], new, features=rows, scored=[n])
                run([n], new, features=rows)
        weights = fit(rows, FEATURES, L2)
    return weights


WEIGHTS_NOTE = """\
# Written by `python bench/bench_understanding.py --fit`: do not edit by hand.
# tests/test_understanding.py fits the weights again the same way and fails if they differ.
# Fitted on the tuning interviews 1-4 of the reference study (bench/devset/); what each table is
# and how it was fitted: core/understanding/weights.py.
"""


def fit_weights(guide: Guide) -> dict[str, dict[str, float]]:
    """The tables of core/understanding/weights.toml, fitted on interviews 1-4.

    The clause model is fitted first and is in force while the others are (every question of the
    new study, and any question the unseen reading leaves without cues, is followed by it), so
    the tables come from the interviews and the starting weights alone, whatever the file held."""
    numbers = list(TUNED)
    clauses = fit_clause_weights(guide, numbers)
    with weights_of(in_force.CLAUSE_QUESTION_WEIGHTS, clauses):
        qweights, weights = fit_models(guide, numbers, attestations(guide))
        names = fit_names_only_weights(as_new_study(guide), numbers)
    return {"question": qweights, "clause_question": clauses, "suggestion": weights, "names_only": names}


def weights_text(tables: dict[str, dict[str, float]]) -> str:
    lines = [WEIGHTS_NOTE]
    for name, table in tables.items():
        lines += [f"[{name}]", *(f"{feature} = {weight!r}" for feature, weight in table.items()), ""]
    return "\n".join(lines)


def cross_validate_without_cues(guide: Guide, scored: Guide | None = None, fit_names: bool = True) -> dict[int, Tally]:
    """Leave one tuning interview out, with the guide's cues all out (or another guide without
    cues, `scored`): the clause model fitted on the other three, and for a codebook of names
    alone, its model too (unless `fit_names` is off: then the names-only weights in force)."""
    bare = without_cues(guide) if scored is None else scored
    out = {}
    for k in TUNED:
        train = [n for n in TUNED if n != k]
        fitted = fit_names and names_only(bare)
        names = fit_names_only_weights(bare, train) if fitted else dict(in_force.NAMES_ONLY_WEIGHTS)
        with weights_of(in_force.CLAUSE_QUESTION_WEIGHTS, fit_clause_weights(guide, train)), \
                weights_of(in_force.NAMES_ONLY_WEIGHTS, names):
            out.update(run(train + [k], bare, scored=[k]))
    return out


def cross_validate(guide: Guide, details: list[str] | None = None) -> dict[int, Tally]:
    """Leave one tuning interview out: fit on the other three, then import them (reviewed) and
    the one left out, and score that one with its own cues and phrases out of the guide."""
    heard = attestations(guide)
    out = {}
    for k in TUNED:
        train = [n for n in TUNED if n != k]
        qweights, weights = fit_models(guide, train, heard)
        with model(qweights, weights, tracking.QUESTION_THRESHOLD):
            out.update(run(train + [k], unseen(guide, k, heard), details, scored=[k]))
    return out


# timing ----------------------------------------------------------------------------------------


def synthetic_guide(indicators: int, vocabulary: list[str], seed: int = 7) -> Guide:
    """A codebook of the given size whose phrases are drawn from the interviews' own words, so
    that they are heard as often as real phrases are."""
    rnd = random.Random(seed)
    per_dim = 10
    lines = ['[study]', 'id = "synthetic"', 'title = "Synthetic codebook"', 'language = "nl"', '']
    for q in range(1, 25):
        lines += ['[[question]]', f'number = {q}', f'text = "Vraag {q} over {rnd.choice(vocabulary)}?"',
                  f'cues = ["{rnd.choice(vocabulary)} {rnd.choice(vocabulary)} {q}"]', '']
    used: set[str] = set()
    n = 0
    for d in range(math.ceil(indicators / per_dim)):
        colour = f"#{(d * 2654435761) % 0xFFFFFF:06x}"
        lines += ['[[dimension]]', f'id = "d{d}"', f'name = "Dimensie {d}"', f'colour = "{colour}"',
                  f'questions = [{d % 24 + 1}]', '']
        for _ in range(min(per_dim, indicators - n)):
            phrases = []
            while len(phrases) < 15:
                p = " ".join(rnd.choice(vocabulary) for _ in range(rnd.choice((1, 1, 2, 2, 3))))
                if p not in used:
                    used.add(p)
                    phrases.append(p)
            lines += ['  [[dimension.indicator]]', f'  id = "i{n}"', f'  name = "Indicator {n}"',
                      '  phrases = [' + ", ".join(f'"{p}"' for p in phrases) + ']', '']
            n += 1
    return parse_guide("\n".join(lines), source="<synthetic>")


def time_suggestions(guide: Guide, texts: list[tuple[str, int | None]], examples: list[tuple[str, str, bool, int | None]],
                     runs: int = 3) -> tuple[float, float]:
    """Median and 99th percentile of the time to suggest for one segment, in seconds.

    Each segment's time is the least of `runs` runs, each in a fresh suggester that learned
    the same examples, with the answers lexicons share forgotten: cold caches count (each run
    meets each word for the first time where a session would), but a shared machine pre-empting
    the process does not."""
    best = [math.inf] * len(texts)
    rows = [{"text": t, "indicator_id": i, "positive": p, "question": q} for t, i, p, q in examples]
    for _ in range(runs):
        Lexicon.forget_all()  # fresh suggesters of the same codebook would share them
        suggester = Suggester(guide)
        suggester.learn_from(rows)
        for k, (text, question) in enumerate(texts):
            t = time.perf_counter()
            suggester.suggest(text, question=question)
            best[k] = min(best[k], time.perf_counter() - t)
    best.sort()
    return statistics.median(best), best[min(len(best) - 1, int(0.99 * len(best)))]


def time_reference(texts: list[tuple[str, int | None]], runs: int = 3) -> float:
    """The median time to split a segment into normalised words, timed as the suggestions are."""
    best = [math.inf] * len(texts)
    for _ in range(runs):
        for k, (text, _) in enumerate(texts):
            t = time.perf_counter()
            normalise(text).split()
            best[k] = min(best[k], time.perf_counter() - t)
    return statistics.median(best)


def timing(guide: Guide, numbers: list[int]) -> list[tuple[str, float, float, float]]:
    texts: list[tuple[str, int | None]] = []
    examples = []
    vocabulary: set[str] = set()
    rnd = random.Random(3)
    for number in numbers:
        labels = load_labels(number)
        parsed = read_transcript(TRANSCRIPTS / labels.transcript)
        for index, turn in enumerate(parsed.turns):
            if turn.speaker in labels.respondents:
                texts.append((turn.text, rnd.randint(1, 24)))
                vocabulary.update(w for w in normalise(turn.text).split() if len(w) > 4)
                for name in labels.dimensions.get(index, []):
                    dim = next(d for d in guide.dimensions if d.name == name)
                    examples.append((turn.text, dim.indicators[0].id, True, texts[-1][1]))
    reference = time_reference(texts)
    rows = []
    med, p99 = time_suggestions(guide, texts, examples)
    rows.append((f"{guide.id} ({len(guide.indicators)} indicators)", med, p99, reference))
    big = synthetic_guide(500, sorted(vocabulary))
    rnd = random.Random(5)
    big_examples = [(t, f"i{rnd.randrange(500)}", p, q) for t, _, p, q in examples]
    med, p99 = time_suggestions(big, texts, big_examples)
    rows.append((f"synthetic ({len(big.indicators)} indicators)", med, p99, reference))
    return rows


def summed_over(per_interview: dict[int, Tally], groups: list[tuple[str, tuple | list]]) -> list[Tally]:
    """Per group of interviews, their tallies added up."""
    out = []
    for _, numbers in groups:
        t = Tally()
        for n in numbers:
            t.add(per_interview[n])
        out.append(t)
    return out


def row(label: str, values: list[str]) -> None:
    print(f"{label:<44}" + "".join(f"{v:>16}" for v in values))


# what a language file is worth ----------------------------------------------------------------
#
# A guide in a language without a file is read plainly: words as they are (no function words, no
# stems), a question only where there is a question mark. These runs put each language's file
# against that reading: the reference study in Dutch, and made-up interviews in German, French
# and Spanish (tests/data/, written before the files were tried on them) with a guide written
# from the question list, as `fieldnote guides new` writes it.

PLAIN = "xx"  # a language code no file comes with
MADE_UP = ROOT / "tests" / "data"


def read_plainly(guide: Guide) -> Guide:
    """The guide as if its language had no file."""
    if load_language(PLAIN).has_word_lists:
        raise SystemExit(f"a language file {PLAIN}.toml is installed: it cannot stand for the plain reading")
    return replace(guide, language=PLAIN)


def made_up_interview(code: str, plainly: bool) -> tuple[int, int, int]:
    """In tests/data/interview-CODE.toml, the questions the tracker found right and wrongly, and
    how many the interviewer asked."""
    from core.interchange.guide_draft import DraftGuide, DraftQuestion, guide_text

    data = tomllib.loads((MADE_UP / f"interview-{code}.toml").read_text(encoding="utf-8"))
    draft = DraftGuide("Check", [DraftQuestion(q, n) for n, q in enumerate(data["questions"], 1)])
    guide = parse_guide(guide_text(draft, guide_id=f"{code}-check", title=None, language=code, planned_minutes=60))
    tracker = GuideTracker(read_plainly(guide) if plainly else guide)
    right = wrong = 0
    for turn in data["turns"]:
        match = tracker.observe(turn["text"])
        if match is not None:
            right += match.number == turn["asks"]
            wrong += match.number != turn["asks"]
    return right, wrong, sum(1 for t in data["turns"] if t["asks"])


def languages(guide: Guide) -> None:
    """The table of `--languages`."""
    groups = [("tuned (1-4)", TUNED), ("held-out (5-8)", HELD_OUT)]
    totals = {}
    for reading, g in (("file", guide), ("plain", read_plainly(guide))):
        for (name, _), t in zip(groups, summed_over(run(list(TUNED + HELD_OUT), g), groups)):
            totals[reading, name] = t
    row(f"the reference study ({load_language(guide.language).name})", [name for name, _ in groups])
    for label, value in (("question detection F1", lambda t: t.f1),
                         ("suggestions top-1", lambda t: t.top1["method"] / t.passages),
                         ("suggestions top-3", lambda t: t.top3["method"] / t.passages)):
        for reading, how in (("file", "with its file"), ("plain", "read plainly")):
            row(f"{label}, {how}", [f"{value(totals[reading, name]):.3f}" for name, _ in groups])
    print()
    row("made-up interviews, guide without cues", ["with its file", "read plainly"])
    row("  (questions found right / wrongly, of asked)", [])
    for code in sorted(p.stem.removeprefix("interview-") for p in MADE_UP.glob("interview-*.toml")):
        cells = []
        for plainly in (False, True):
            right, wrong, asked = made_up_interview(code, plainly)
            cells.append(f"{right} / {wrong} of {asked}")
        row(f"  {load_language(code).name} (tests/data/interview-{code}.toml)", cells)


# the table -------------------------------------------------------------------------------------


def parse_only(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return sorted(set(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="1-8", help="interviews to run, e.g. 1-4 (tuning); default 1-8")
    ap.add_argument("--cv", action="store_true",
                    help="leave-one-interview-out cross-validation within the tuning interviews 1-4")
    ap.add_argument("--details", action="store_true", help="print every miss")
    ap.add_argument("--fit", action="store_true", help="fit both models on interviews 1-4 and write their weights to core/understanding/weights.toml")
    ap.add_argument("--languages", action="store_true",
                    help="what a language file is worth: each bundled one against reading the words plainly")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args(argv)
    guide = load_guide("koers-en-kansen")

    if args.languages:
        languages(guide)
        return 0

    if args.fit:
        text = weights_text(fit_weights(guide))
        in_force.WEIGHTS_FILE.write_text(text, encoding="utf-8")
        print(text, end="")
        print(f"(written to {in_force.WEIGHTS_FILE.relative_to(ROOT)})")
        return 0

    details: list[str] | None = [] if args.details else None
    if args.cv:
        numbers = list(TUNED)
        tallies = cross_validate(guide, details)
        groups = [("CV (1-4)", numbers)]
    else:
        numbers = parse_only(args.only)
        tallies = run(numbers, guide, details)
        groups = [("tuned (1-4)", [n for n in numbers if n in TUNED]),
                  ("held-out (5-8)", [n for n in numbers if n in HELD_OUT])]
        groups = [(name, ns) for name, ns in groups if ns]
    def summed(per_interview: dict[int, Tally]) -> list[Tally]:
        return summed_over(per_interview, groups)

    totals = summed(tallies)

    row("", [name for name, _ in groups])
    row("question detection precision", [f"{t.precision:.3f}" for t in totals])
    row("question detection recall", [f"{t.recall:.3f}" for t in totals])
    row("question detection F1", [f"{t.f1:.3f}" for t in totals])
    row("  (true pos / false pos / missed)", [f"{t.tp}/{t.fp}/{t.fn}" for t in totals])
    row("labelled passages", [str(t.passages) for t in totals])
    for label, key in (("suggestions", "method"), ("baseline: question in effect", "question"),
                       ("baseline: phrases alone", "phrases")):
        row(f"{label} top-1", [f"{t.top1[key] / t.passages:.3f}" for t in totals])
        row(f"{label} top-3", [f"{t.top3[key] / t.passages:.3f}" for t in totals])
    # The same guide without its cues: a new guide, its questions' text alone.
    bare_totals = summed(cross_validate_without_cues(guide) if args.cv else run(numbers, without_cues(guide)))
    print()
    row("the guide without cues (question texts only)", [name for name, _ in groups])
    row("question detection precision", [f"{t.precision:.3f}" for t in bare_totals])
    row("question detection recall", [f"{t.recall:.3f}" for t in bare_totals])
    row("question detection F1", [f"{t.f1:.3f}" for t in bare_totals])
    row("suggestions top-1", [f"{t.top1['method'] / t.passages:.3f}" for t in bare_totals])
    row("suggestions top-3", [f"{t.top3['method'] / t.passages:.3f}" for t in bare_totals])
    # A new study: the guide from the question list, the codebook from QDA software; next to it,
    # the same as before this was built for: no question links drafted, the main model's weights.
    new = as_new_study(guide)
    undrafted = replace(new, questions=tuple(replace(q, drafted_dimension_ids=()) for q in new.questions))
    print()
    row("a new study: guide from the question list,", [name for name, _ in groups])
    row("  codebook from QDA software (names only)", [])
    new_totals = []
    for label, g, names in (("", new, None), ("before: ", undrafted, in_force.WEIGHTS)):
        with weights_of(in_force.NAMES_ONLY_WEIGHTS, dict(names or in_force.NAMES_ONLY_WEIGHTS)):
            per = cross_validate_without_cues(guide, g, fit_names=names is None) if args.cv else run(numbers, g)
        got = summed(per)
        if not label:
            new_totals = got
            row("question detection F1", [f"{t.f1:.3f}" for t in got])
        row(f"{label}suggestions top-1", [f"{t.top1['method'] / t.passages:.3f}" for t in got])
        row(f"{label}suggestions top-3", [f"{t.top3['method'] / t.passages:.3f}" for t in got])
        if not args.cv and 1 in per:  # interview 1 starts from nothing coded
            row(f"  {label}interview 1 alone, top-1 / top-3",
                [f"{per[1].top1['method'] / per[1].passages:.3f} / {per[1].top3['method'] / per[1].passages:.3f}"])

    def links(g: Guide, q, drafted: bool) -> set[str]:
        return {g.dimension(d).name for d in (q.drafted_dimension_ids if drafted else q.dimension_ids)}

    right = sum(len(links(new, q, True) & links(guide, r, False)) for q, r in zip(new.questions, guide.questions))
    print("  (before: no question links drafted, and the main model's weights)")
    print(f"  (question links drafted from the codebook's words: {sum(len(q.drafted_dimension_ids) for q in new.questions)}, "
          f"{right} of them as the guide has them; the guide has {sum(len(q.dimension_ids) for q in guide.questions)})")
    print()
    print("per interview: QD F1, top-1, top-3")
    for n in numbers:
        t = tallies[n]
        print(f"  interview {n}: {t.f1:.3f}  {t.top1['method'] / t.passages:.3f}  {t.top3['method'] / t.passages:.3f}")
    print()
    print("calibration: suggestions on respondent passages by score, and the share the labels code")
    for study, all_totals in (("", totals), ("new study, ", new_totals)):
        for name, t in zip([name for name, _ in groups], all_totals):
            for lo, hi, n, mean, share in t.calibration():
                print(f"  {study + name:<28} score {lo:.1f}-{hi:.1f}: {n:>5} suggestions, mean score {mean:.2f}, "
                      f"coded {share:.2f}")

    if not args.no_timing:
        print()
        print(f"{'suggestion time per segment':<44}{'median ms':>12}{'p99 ms':>12}{'p99 / ref':>12}")
        for name, med, p99, ref in timing(guide, numbers):
            print(f"  {name:<42}{med * 1000:>12.2f}{p99 * 1000:>12.2f}{p99 / ref:>12.0f}")
        print("  (each segment: the least of 3 runs in fresh suggesters; ref: the median time to split a")
        print("   segment into normalised words, measured in the same run)")
    if details:
        print()
        print("\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
