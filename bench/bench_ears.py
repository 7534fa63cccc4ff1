"""The live path through the ears: the reference interviews voiced, heard, and understood.

    python bench/bench_ears.py                       # interviews 5-8, clean and Teams-like, the table
    python bench/bench_ears.py --interviews 1-4      # where methods are chosen
    python bench/bench_ears.py --hearing plain,guided   # each way of hearing side by side
    python bench/bench_ears.py --delay 10            # also: delay in real time on a 10-minute excerpt
    python bench/bench_ears.py --segmenter '{"tail": 0.15, "foresee": 0.25}'   # other VAD padding
    python bench/bench_ears.py --real-voices 50      # WER on real Dutch actors (fillets-ng-data-nl)

During a call fieldnote never sees typed text, only what Whisper made of the voices. This
benchmark gives every figure of bench/bench_understanding.py twice for the same interviews: on
the typed transcript and on what the live pipeline heard when the transcript was spoken.

Voicing. Each turn of the transcript is spoken by espeak-ng with an MBROLA voice (Debian's
contrib and non-free `mbrola-nl*`, installed by .ci/install): `nl2` for the interviewer, `nl3`
for the respondent and `nl3` spoken lower for a second respondent (interview 2), each turn at
its place on one timeline, the interviewer on one track and the respondents on the other, as a
call records them. The voices may be used, not redistributed: the audio is made in the run, in a
temporary folder (or `--keep DIR`, outside the repository), and never committed. Observers'
turns (interview 2) are not voiced: they neither move the guide nor get suggestions.

The excerpt. Voicing and hearing eight full interviews (about five hours of speech) takes hours
on two cores, so by default every interviewer turn is spoken whole and each respondent turn is
cut to its first `--respondent-words` words (30). The typed figures are measured on the same cut
transcript, so the two columns compare the same words; `--respondent-words 0` speaks everything.

The Teams-like channel: the same tracks encoded as Opus at 24 kbit/s and decoded again (PyAV),
with faint room noise (pink, 45 dB below the speech).

Hearing. The tracks are replayed through the live path (`FileReplaySource` -> VAD segmenter ->
Whisper -> guide tracker and suggester, as `fieldnote demo --tracks --fast` runs them) with the
bundled base model, greedy as live, 2 threads. Each heard segment belongs to the voiced turn of
its track it overlaps most; a turn's detected question is the first its segments gave (any
further different question detected in the same turn counts as a false positive, unless the
labels say the turn asks it too), and a respondent turn's suggestions are its segments'
suggestions, each dimension at its best score.

Learning, as in bench_understanding: interview k is understood with what the researcher coded
in interviews 1..k-1 (imported typed and reviewed against the hand labels, as she would have
corrected them), both typed and through the ears.

Word error rate: per track, against the words voiced on it, lower case, punctuation and
hesitations (uh, uhm, hm ...) taken out of both sides.

Delay (`--delay MIN`): the first MIN minutes of the first interview replayed in real time,
end of each utterance to its segment being ready (median, p95), with the hearing given and, as
live, each utterance heard while its pause is being confirmed (core/pipeline/live.py `ahead`).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_understanding as bu  # noqa: E402
from machine import machine_line  # noqa: E402
from core.audio.segmenter import VadSegmenter  # noqa: E402
from core.audio.sources import FileReplaySource  # noqa: E402
from core.interchange.export import segment_records  # noqa: E402
from core.pipeline.importing import import_transcript, prepared_understanding, read_transcript  # noqa: E402
from core.pipeline.live import LivePipeline, SegmentReady, hears_ahead  # noqa: E402
from core.speech.models import resolve_model  # noqa: E402
from core.speech.transcriber import WhisperTranscriber  # noqa: E402
from core.store.database import Store  # noqa: E402
from core.store.deletion import delete_session  # noqa: E402
from core.study.guide import Guide, load_guide  # noqa: E402

RATE = 16_000
GAP = 0.8  # seconds of silence between turns
# espeak-ng's voice and its options. A second respondent is nl3 spoken lower, not nl1: nl1 holds
# only the 142 diphones of spoken numbers (its README), so espeak-ng's Dutch replaces most of a
# sentence's diphones with silence and Whisper base heard 12 of interview 2's second respondent's
# turns at WER 1.02 (nl3: 0.45, nl3 at pitch 30: 0.43).
VOICE_INTERVIEWER = ("mb-nl2",)
VOICES_RESPONDENT = (("mb-nl3",), ("mb-nl3", "-p", "30"))
HESITATIONS = {"uh", "uhm", "um", "uhh", "hm", "hmm", "eh", "ehm", "mm", "mhm", "uhu", "ehh", "hum", "euh"}


# voicing ----------------------------------------------------------------------------------------

def spoken(text: str) -> str:
    """The turn as it is spoken: notes in brackets out, an ellipsis a pause."""
    text = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", " ", text)
    text = text.replace("…", ", ").replace("...", ", ")
    return " ".join(text.split())


def cut(text: str, words: int) -> str:
    if words <= 0:
        return text
    parts = text.split()
    if len(parts) <= words:
        return text
    return " ".join(parts[:words]).rstrip(",;:") + "."


@dataclass
class VoicedTurn:
    index: int
    track: str  # interviewer | respondent
    start: float
    end: float
    text: str  # the words spoken


@dataclass
class Voiced:
    number: int
    tracks: dict[str, Path]
    turns: list[VoicedTurn]
    seconds: float


def say(text: str, voice: tuple[str, ...], speed: int) -> np.ndarray:
    """`voice`: espeak-ng's voice, then any options of its own (a pitch)."""
    name, *options = voice
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        proc = subprocess.run(["espeak-ng", "-v", name, *options, "-s", str(speed), "-w", tmp.name, text],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"espeak-ng -v {name} failed: {proc.stderr.strip()[:200]} "
                             "(the MBROLA voices come with .ci/install)")
        audio, rate = sf.read(tmp.name, dtype="float32")
    if rate != RATE:
        raise SystemExit(f"espeak-ng -v {name} gave {rate} Hz, expected {RATE}")
    return audio


def excerpt_of(number: int, respondent_words: int):
    """The interview's transcript with respondent turns cut, and its labels."""
    labels = bu.load_labels(number)
    parsed = read_transcript(bu.TRANSCRIPTS / labels.transcript)
    turns = []
    for turn in parsed.turns:
        if turn.speaker in labels.respondents:
            turn = replace(turn, text=cut(turn.text, respondent_words))
        turns.append(turn)
    return replace(parsed, turns=turns), labels


def voice(number: int, folder: Path, respondent_words: int, speed: int) -> Voiced:
    parsed, labels = excerpt_of(number, respondent_words)
    voices = {labels.interviewer[0]: ("interviewer", VOICE_INTERVIEWER)}
    for k, code in enumerate(labels.respondents):
        voices[code] = ("respondent", VOICES_RESPONDENT[k % len(VOICES_RESPONDENT)])
    for code in labels.interviewer[1:]:
        voices[code] = ("interviewer", VOICE_INTERVIEWER)
    pieces: dict[str, list[tuple[int, np.ndarray]]] = {"interviewer": [], "respondent": []}
    turns, t = [], 0.5
    for index, turn in enumerate(parsed.turns):
        if turn.speaker not in voices:
            continue  # an observer
        track, voice_name = voices[turn.speaker]
        text = spoken(turn.text)
        if not any(ch.isalpha() for ch in text):
            continue
        audio = say(text, voice_name, speed)
        start = round(t, 3)
        pieces[track].append((int(start * RATE), audio))
        t = start + len(audio) / RATE
        turns.append(VoicedTurn(index, track, start, round(t, 3), text))
        t += GAP
    total = int((t + 0.5) * RATE)
    folder.mkdir(parents=True, exist_ok=True)
    tracks = {}
    for track, placed in pieces.items():
        signal = np.zeros(total, dtype=np.float32)
        for at, audio in placed:
            signal[at:at + len(audio)] += audio
        path = folder / f"{track}.flac"
        sf.write(path, signal, RATE)
        tracks[track] = path
    return Voiced(number, tracks, turns, total / RATE)


def teams_like(voiced: Voiced, folder: Path, seed: int = 5) -> Voiced:
    """The tracks as a Teams call carries them: Opus at 24 kbit/s, faint room noise."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    tracks = {}
    rng = np.random.default_rng(seed + voiced.number)
    for track, path in voiced.tracks.items():
        audio, _ = sf.read(path, dtype="float32")
        coded = opus_round_trip(audio, av)
        coded = coded[: len(audio)]
        if len(coded) < len(audio):
            coded = np.pad(coded, (0, len(audio) - len(coded)))
        speech = audio[np.abs(audio) > 1e-4]
        level = float(np.sqrt(np.mean(speech ** 2))) if len(speech) else 0.05
        noisy = coded + pink_noise(len(coded), rng) * level * 10 ** (-45 / 20)
        out = folder / f"{track}.flac"
        sf.write(out, np.clip(noisy, -1, 1).astype(np.float32), RATE)
        tracks[track] = out
    return Voiced(voiced.number, tracks, voiced.turns, voiced.seconds)


def opus_round_trip(audio: np.ndarray, av) -> np.ndarray:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48000)
        stream.bit_rate = 24_000
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        block = RATE  # a second at a time
        for i in range(0, len(audio), block):
            piece = (np.clip(audio[i:i + block], -1, 1) * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(piece[None, :], format="s16", layout="mono")
            frame.sample_rate = RATE
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    out.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    decoded = []
    with av.open(buffer, "r") as inp:
        back = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in inp.decode(audio=0):
            for f in back.resample(frame):
                decoded.append(f.to_ndarray().reshape(-1))
        for f in back.resample(None):
            decoded.append(f.to_ndarray().reshape(-1))
    return np.concatenate(decoded).astype(np.float32)


def pink_noise(n: int, rng) -> np.ndarray:
    white = rng.standard_normal(n + 1)
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
    pink = np.fft.irfft(spectrum, n + 1)[:n]
    return (pink / (np.sqrt(np.mean(pink ** 2)) or 1)).astype(np.float32)


# hearing ----------------------------------------------------------------------------------------

def hear(voiced: Voiced, guide: Guide, store: Store, transcriber, hearing: str, *, realtime: bool = False,
         until: float | None = None, names: tuple[str, ...] = (),
         segmenter: dict | None = None) -> tuple[list[SegmentReady], object]:
    """What the live path heard of the voiced tracks, and its stats; `segmenter`: options of
    the VAD segmenter other than the live path's (`--segmenter`)."""
    tracks = voiced.tracks
    if until is not None:
        tracks = {}
        folder = voiced.tracks["interviewer"].parent / "excerpt"
        folder.mkdir(exist_ok=True)
        for track, path in voiced.tracks.items():
            audio, _ = sf.read(path, dtype="float32", frames=int(until * RATE))
            tracks[track] = folder / path.name
            sf.write(tracks[track], audio, RATE)
    source = FileReplaySource(tracks, realtime=realtime)
    tracker, suggester = prepared_understanding(store, guide)
    pipeline = LivePipeline(source, transcriber, guide, clock=source.clock, tracker=tracker,
                            suggester=suggester, ahead=hears_ahead(transcriber, realtime),
                            segmenter_factory=lambda track: VadSegmenter(track, **(segmenter or {})),
                            **hearing_options(hearing, guide, names))
    heard: list[SegmentReady] = []
    stats = pipeline.run(heard.append, threading.Event())
    return heard, stats


def hearing_options(hearing: str, guide: Guide, names: tuple[str, ...] = ()) -> dict:
    """`plain`, `guided`, `previous`, `guided+previous` (core/understanding/hearing.py), each
    with `+turns` for the tracker reading an utterance with the rest of its turn."""
    from core.understanding.hearing import Hearing

    mode, turns = hearing.removesuffix("+turns"), hearing.endswith("+turns")
    out: dict = {"join_turns": turns}
    if mode != "plain":
        out["hearing"] = Hearing.for_guide(guide, mode=mode, names=names)
    return out


def heard_records(voiced: Voiced, heard: list[SegmentReady], guide: Guide,
                  parsed) -> tuple[list[dict], list[tuple[int, int, str]]]:
    """Records shaped as segment_records gives them, one per turn of the transcript, from what
    was heard; and the further questions detected inside a turn after its first (the turn, the
    question, the words of the segment that asked it)."""
    by_turn: dict[int, list[SegmentReady]] = {}
    for ready in heard:
        seg = ready.segment
        own = [t for t in voiced.turns if t.track == seg.speaker]
        if not own:
            continue
        mid = (seg.start + seg.end) / 2

        def fit(turn: VoicedTurn) -> tuple[float, float]:
            overlap = min(turn.end, seg.end) - max(turn.start, seg.start)
            return (overlap, -abs((turn.start + turn.end) / 2 - mid))

        by_turn.setdefault(max(own, key=fit).index, []).append(ready)
    names = {d.id: d.name for d in guide.dimensions}
    side = {t.index: t.track for t in voiced.turns}
    # A question is asked by the segment the store keeps asking it (Store.add_segment: detected
    # again later, an earlier detection is withdrawn; withdrawn by the rest of its turn, it was
    # not asked).
    store = Store(memory_name=f"bench-ears-{voiced.number}-{id(heard)}")
    try:
        session = store.create_session(guide, origin="demo")
        stored = {id(r.segment): store.add_segment(session, r.segment)
                  for r in sorted(heard, key=lambda r: r.segment.start)}
        kept = {row["id"]: row["asks"] for row in store.segments(session)}
    finally:
        store.close()

    def asks(s) -> int | None:
        return kept[stored[id(s)]]

    records, extra, question = [], [], None
    for index, turn in enumerate(parsed.turns):
        segs = sorted((r.segment for r in by_turn.get(index, [])), key=lambda s: s.start)
        detected = [asks(s) for s in segs if asks(s) is not None]
        further = {asks(s): s.text for s in segs if asks(s) is not None and asks(s) != detected[0]}
        extra += [(index, q, text) for q, text in further.items()]
        best: dict[str, float] = {}
        for s in segs:
            for sug in s.suggestions:
                name = names[sug.dimension_id]
                best[name] = max(best.get(name, 0.0), sug.score)
        if segs:
            question = segs[0].question if segs[0].question is not None else question
        records.append({
            "speaker": side.get(index, "observer"),
            "text": " ".join(s.text for s in segs),
            "asks": detected[0] if detected else None,
            "question": question,
            "suggestions": [{"dimension": n, "score": v} for n, v in sorted(best.items(), key=lambda kv: -kv[1])],
        })
    return records, extra


def mixed_roles(voiced: Voiced, guide: Guide, transcriber) -> tuple[int, int, int]:
    """Both voices in one channel, heard as one track, and fieldnote's proposal of who said each
    segment (core.understanding.speakers, as `fieldnote import` gives a mixed recording):
    (segments right, segments, segments right calling everything the respondent's)."""
    from core.understanding.speakers import propose_roles, score_roles

    folder = voiced.tracks["interviewer"].parent / "mixed"
    folder.mkdir(exist_ok=True)
    a, _ = sf.read(voiced.tracks["interviewer"], dtype="float32")
    b, _ = sf.read(voiced.tracks["respondent"], dtype="float32")
    sf.write(folder / "mixed.flac", np.clip(a + b, -1, 1), RATE)
    source = FileReplaySource({"mixed": folder / "mixed.flac"}, realtime=False)
    heard: list[SegmentReady] = []
    LivePipeline(source, transcriber, guide, clock=source.clock).run(heard.append, threading.Event())
    segs = sorted((r.segment for r in heard), key=lambda s: s.start)

    def truly_interviewer(seg) -> bool:
        best = max(voiced.turns, key=lambda t: min(t.end, seg.end) - max(t.start, seg.start))
        return best.track == "interviewer"

    truth = [truly_interviewer(s) for s in segs]
    proposals = propose_roles([s.text for s in segs], guide, starts=[s.start for s in segs],
                              ends=[s.end for s in segs])
    score = score_roles(proposals, truth)
    return score.right, score.segments, sum(not t for t in truth)


class HeardCache:
    """A transcriber in front of another that remembers what it heard (`--cache DIR`).

    Keyed by the utterance's samples, the prompt, the model and the beam, so a second run with a
    changed tracker or suggester hears again only the utterances whose prompt changed: the same
    figures as a run without the cache, in minutes instead of an hour. The cache holds text only
    (no audio), outside the repository like the voiced audio."""

    def __init__(self, inner, path: Path):
        import sqlite3

        self.inner, self.name = inner, inner.name
        self.hits = self.misses = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("create table if not exists heard (key text primary key, text text, language text, "
                         "avg_logprob real, no_speech_prob real)")
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, prompt: str | None = None):
        import hashlib

        from core.speech.transcriber import Transcript

        h = hashlib.sha1(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
        h.update(f"|{self.inner.name}|{getattr(self.inner, 'beam_size', 1)}|{prompt or ''}".encode())
        key = h.hexdigest()
        with self._lock:
            row = self._db.execute("select text, language, avg_logprob, no_speech_prob from heard where key = ?",
                                   (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return Transcript(*row)
        self.misses += 1
        result = self.inner.transcribe(audio, prompt=prompt) if prompt else self.inner.transcribe(audio)
        with self._lock, self._db:
            self._db.execute("insert or replace into heard values (?, ?, ?, ?, ?)",
                             (key, result.text, result.language, result.avg_logprob, result.no_speech_prob))
        return result


# word error rate --------------------------------------------------------------------------------

def words_of(text: str) -> list[str]:
    words = re.sub(r"[^\w\s']", " ", text.lower()).split()
    return [w for w in words if w not in HESITATIONS]


def errors(reference: list[str], hypothesis: list[str]) -> tuple[int, int]:
    import jiwer

    if not reference:
        return len(hypothesis), 0
    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis) or "")
    return out.substitutions + out.deletions + out.insertions, len(reference)


def track_errors(voiced: Voiced, heard: list[SegmentReady]) -> dict[str, tuple[int, int]]:
    out = {}
    for track in ("interviewer", "respondent"):
        ref = [w for t in voiced.turns if t.track == track for w in words_of(t.text)]
        hyp = [w for r in sorted(heard, key=lambda r: r.segment.start) if r.segment.speaker == track
               for w in words_of(r.segment.text)]
        out[track] = errors(ref, hyp)
    return out


# the run ----------------------------------------------------------------------------------------

@dataclass
class Result:
    tally: "bu.Tally"
    wer: dict[str, tuple[int, int]]
    audio_seconds: float = 0.0
    transcribe_seconds: float = 0.0
    mixed: tuple[int, int, int] | None = None  # speaker proposal on the mono mix
    # Passages with the right dimension in the top three on typed text but not through the ears,
    # and how many of them stood under another question than on typed text (None: typed text).
    lost: tuple[int, int] | None = None


def run(numbers: list[int], guide: Guide, transcriber, channels: dict[str, list[str]],
        respondent_words: int, speed: int, work: Path, log, mixed: bool = False, details: bool = False,
        segmenter: dict | None = None) -> dict:
    """Per interview scored: the typed figures on the cut transcript, and per channel and hearing
    the figures through the ears; every interview up to the last scored is imported and reviewed
    so later ones learn from it."""
    store = Store(memory_name=f"bench-ears-{time.monotonic_ns()}")
    phrases_only = bu.Suggester(guide)
    results: dict[tuple[int, str], Result] = {}
    for number in range(1, max(numbers) + 1):
        labels = bu.load_labels(number)
        if number in numbers:
            cut_parsed, _ = excerpt_of(number, respondent_words)
            session = import_transcript(store, cut_parsed, guide, interviewer=labels.interviewer,
                                        respondents=labels.respondents, respondent=labels.respondent,
                                        case=labels.case, title=f"cut {number}")
            records = list(segment_records(store, session))
            typed_records = records
            results[(number, "typed")] = Result(bu.score_interview(guide, labels, phrases_only, None, records), {})
            if mixed:
                clean = voice(number, work / f"interview-{number:02d}" / "clean", respondent_words, speed)
                results[(number, "typed")].mixed = mixed_roles(clean, guide, transcriber)
                right, n, base = results[(number, "typed")].mixed
                log(f"interview {number}, one mixed channel: {right}/{n} segments' speaker proposed right "
                    f"(everything the respondent's: {base}/{n})")
            delete_session(store, session)
            if not mixed:
                clean = voice(number, work / f"interview-{number:02d}" / "clean", respondent_words, speed)
            voiced = {"clean": clean}
            if "teams" in channels:
                voiced["teams"] = teams_like(clean, work / f"interview-{number:02d}" / "teams")
            log(f"interview {number}: {clean.seconds / 60:.1f} min voiced")
            for channel, hearings in channels.items():
                for hearing in hearings:
                    t = time.perf_counter()
                    heard, stats = hear(voiced[channel], guide, store, transcriber, hearing, names=(labels.case,),
                                        segmenter=segmenter)
                    records, extra = heard_records(voiced[channel], heard, guide, cut_parsed)
                    missed: list[str] | None = [] if details else None
                    tally = bu.score_interview(guide, labels, phrases_only, missed, records)
                    # A further question detected in a turn is right when the turn asks it too (the
                    # labels' "also": "how was the trust, and was it shared across the network?"),
                    # a false one otherwise.
                    for i, q, text in extra:
                        wrong = q not in labels.asks.get(i, (0,))
                        tally.fp += wrong
                        if missed is not None:
                            missed.append(f"  QD {number}:{i:<3} {'also got' if wrong else 'also asked'}={q} "
                                          f"| {text[:160]}")
                    res = Result(tally, track_errors(voiced[channel], heard), stats.audio_seconds,
                                 stats.transcribe_seconds, lost=top3_lost(labels, typed_records, records))
                    results[(number, f"{channel}/{hearing}")] = res
                    w = {k: e / n if n else 0.0 for k, (e, n) in res.wer.items()}
                    log(f"  {channel}/{hearing}: WER interviewer {w['interviewer']:.3f} respondent "
                        f"{w['respondent']:.3f}, F1 {tally.f1:.3f}, top-3 {tally.top3['method']}/{tally.passages} "
                        f"({time.perf_counter() - t:.0f} s)")
                    for line in missed or ():
                        log(f"    {line.strip()}")
        parsed = read_transcript(bu.TRANSCRIPTS / labels.transcript)
        session = import_transcript(store, parsed, guide, interviewer=labels.interviewer,
                                    respondents=labels.respondents, respondent=labels.respondent,
                                    case=labels.case, title=parsed.title)
        bu.review(store, guide, labels, list(segment_records(store, session)))
    store.close()
    return results


def top3_lost(labels: "bu.Labels", typed: list[dict], heard: list[dict]) -> tuple[int, int]:
    """How many labelled passages have their dimension in the top three suggested on typed text
    but not through the ears, and how many of those stood under another question than typed."""
    lost = other = 0
    for index, gold in labels.dimensions.items():
        t, h = typed[index], heard[index]
        if (gold[0] in [s["dimension"] for s in t["suggestions"]][:3]
                and gold[0] not in [s["dimension"] for s in h["suggestions"]][:3]):
            lost += 1
            other += t["question"] != h["question"]
    return lost, other


def summed(results: dict, numbers: list[int], column: str) -> Result:
    total = Result(bu.Tally(), {"interviewer": (0, 0), "respondent": (0, 0)})
    for n in numbers:
        r = results[(n, column)]
        total.tally.add(r.tally)
        for k, (e, w) in r.wer.items():
            e0, w0 = total.wer[k]
            total.wer[k] = (e0 + e, w0 + w)
        total.audio_seconds += r.audio_seconds
        total.transcribe_seconds += r.transcribe_seconds
        if r.lost is not None:
            total.lost = tuple(a + b for a, b in zip(total.lost or (0, 0), r.lost))
    return total


def table(results: dict, numbers: list[int], columns: list[str]) -> list[str]:
    sums = {c: summed(results, numbers, c) for c in columns}
    typed = sums["typed"].tally

    def pct(x):
        return f"{x:.3f}"

    def wer(r, k):
        e, n = r.wer.get(k, (0, 0))
        return pct(e / n) if n else "-"

    rows = [
        ("WER interviewer track", lambda r: wer(r, "interviewer")),
        ("WER respondent track", lambda r: wer(r, "respondent")),
        ("guide tracking precision", lambda r: pct(r.tally.precision)),
        ("guide tracking recall", lambda r: pct(r.tally.recall)),
        ("guide tracking F1", lambda r: pct(r.tally.f1)),
        ("  F1 lost against typed", lambda r: pct(typed.f1 - r.tally.f1)),
        ("suggestion top-1", lambda r: pct(r.tally.top1["method"] / max(1, r.tally.passages))),
        ("suggestion top-3", lambda r: pct(r.tally.top3["method"] / max(1, r.tally.passages))),
        ("  top-3 lost against typed", lambda r: pct((typed.top3["method"] - r.tally.top3["method"])
                                                     / max(1, r.tally.passages))),
        ("  right on typed only (under another question)",
         lambda r: f"{r.lost[0]} ({r.lost[1]})" if r.lost is not None else "-"),
        ("real-time factor of Whisper", lambda r: pct(r.transcribe_seconds / r.audio_seconds) if r.audio_seconds else "-"),
    ]
    width = max(12, *(len(c) for c in columns))
    out = [f"| figure | {' | '.join(c.ljust(width) for c in columns)} |",
           f"|---|{'|'.join('-' * (width + 2) for _ in columns)}|"]
    for label, value in rows:
        out.append(f"| {label} | {' | '.join(value(sums[c]).ljust(width) for c in columns)} |")
    out.append(f"\n{typed.passages} labelled respondent passages; "
               f"{typed.tp + typed.fn} guide questions asked (typed), interviews {numbers}")
    return out


def delays(number: int, guide: Guide, transcriber, hearing: str, minutes: float, respondent_words: int,
           speed: int, work: Path, segmenter: dict | None = None) -> tuple[float, float, int, object]:
    voiced = voice(number, work / f"delay-{number:02d}", respondent_words, speed)
    store = Store(memory_name=f"bench-ears-delay-{time.monotonic_ns()}")
    _, stats = hear(voiced, guide, store, transcriber, hearing, realtime=True, until=minutes * 60,
                    segmenter=segmenter)
    store.close()
    d = sorted(stats.delays)
    return statistics.median(d), d[min(len(d) - 1, int(round(0.95 * (len(d) - 1))))], len(d), stats


# real voices ------------------------------------------------------------------------------------

FILLETS = Path("/usr/share/games/fillets-ng")


def fillets_clips(count: int, seed: int = 11) -> list[tuple[Path, str]]:
    """(clip, the line it speaks) for Dutch clips of fillets-ng-data-nl, from the dialogs_nl.lua
    scripts of fillets-ng-data."""
    import random

    pairs = []
    for script in sorted((FILLETS / "script").glob("*/dialogs_nl.lua")):
        level = script.parent.name
        text = script.read_text(encoding="utf-8", errors="replace")
        for name, line in re.findall(r'dialogId\("([^"]+)"[^\n]*\n\s*dialogStr\("((?:[^"\\]|\\.)*)"\)', text):
            for ext in ("ogg", "wav"):
                clip = FILLETS / "sound" / level / "nl" / f"{name}.{ext}"
                if clip.is_file():
                    pairs.append((clip, line.replace('\\"', '"')))
                    break
    random.Random(seed).shuffle(pairs)
    return pairs[:count]


def real_voices(count: int, transcriber_for, hearings: list[str], log) -> dict[str, float]:
    from core.audio.sources import load_audio

    clips = fillets_clips(count)
    if not clips:
        raise SystemExit(f"no Dutch clips under {FILLETS} (Debian fillets-ng-data and fillets-ng-data-nl)")
    out = {}
    for hearing in hearings:
        transcriber = transcriber_for(hearing)
        e_sum = n_sum = 0
        for clip, line in clips:
            audio = load_audio(clip)
            text = transcriber.transcribe(audio).text
            e, n = errors(words_of(line), words_of(text))
            e_sum, n_sum = e_sum + e, n_sum + n
        out[hearing] = e_sum / max(1, n_sum)
        log(f"real voices, {hearing}: WER {out[hearing]:.3f} on {len(clips)} clips ({n_sum} words)")
    return out


# ------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interviews", default="5-8", help="which interviews (default 5-8; 1-4 to choose methods)")
    parser.add_argument("--channels", default="clean,teams", help="clean, teams or both (default both)")
    parser.add_argument("--hearing", default="plain,guided",
                        help="ways of hearing to compare: plain (Whisper alone), guided (the guide and "
                             "codebook in Whisper's prompt; see core/understanding/hearing.py), ...")
    parser.add_argument("--respondent-words", type=int, default=30,
                        help="respondent turns cut to their first N words (0: whole; default 30)")
    parser.add_argument("--speed", type=int, default=170, help="espeak-ng words per minute (default 170)")
    parser.add_argument("--model", default="base", help="Whisper model (default: the bundled base)")
    parser.add_argument("--beam", type=int, default=1,
                        help="Whisper's beam size for every hearing and the delay (default 1, greedy, as live)")
    parser.add_argument("--delay", type=float, default=0, metavar="MIN",
                        help="also replay MIN minutes of the first interview in real time for the delay")
    parser.add_argument("--real-voices", type=int, default=0, metavar="N",
                        help="also WER on N clips of real Dutch actors (fillets-ng-data-nl)")
    parser.add_argument("--only-real-voices", action="store_true", help="the real voices alone")
    parser.add_argument("--real-hearing", default="plain,beam5",
                        help="for the real voices, which need no guide: plain (greedy, as live) and beam5")
    parser.add_argument("--teams-hearing", help="on the Teams-like channel only these ways of hearing "
                        "(default: all of --hearing)")
    parser.add_argument("--mixed", action="store_true",
                        help="also: both voices mixed into one channel, and how often fieldnote proposes the "
                        "right speaker for each segment (as `fieldnote import` does for a mixed recording)")
    parser.add_argument("--segmenter", type=json.loads, default={}, metavar="JSON",
                        help="options of the VAD segmenter (core/audio/segmenter.py) other than the live "
                        "path's, for every hearing and the delay, e.g. '{\"tail\": 0.15, \"foresee\": 0.25}'")
    parser.add_argument("--keep", type=Path, help="keep the voiced audio here (never inside the repository)")
    parser.add_argument("--details", action="store_true",
                        help="also list each missed or wrong question (QD) and suggestion (SG) heard")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="remember what Whisper heard here (never inside the repository): a later run "
                        "hears again only what its changes changed")
    args = parser.parse_args(argv)

    if shutil.which("espeak-ng") is None or not all(Path(f"/usr/share/mbrola/{v}").exists() for v in ("nl2", "nl3")):
        print("bench_ears needs espeak-ng and the MBROLA voices nl2 and nl3: run .ci/install", file=sys.stderr)
        return 2
    numbers = bu.parse_only(args.interviews)
    channels = [c for c in args.channels.split(",") if c]
    hearings = [h for h in args.hearing.split(",") if h]
    guide = load_guide("koers-en-kansen")
    ref = resolve_model(args.model)

    def transcriber_for(hearing: str):
        # "beam5": Whisper's beam search of five instead of the live path's greedy decoding.
        return WhisperTranscriber(ref, language=guide.language, threads=2,
                                  beam_size=5 if hearing == "beam5" else args.beam)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    for option, folder in (("--keep", args.keep), ("--cache", args.cache)):
        if folder is not None and (ROOT == folder.resolve() or ROOT in folder.resolve().parents):
            print(f"{option} must be outside the repository: nothing made of MBROLA voices is committed",
                  file=sys.stderr)
            return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="fieldnote-ears-"))
    print(machine_line(), flush=True)
    try:
        if args.real_voices or args.only_real_voices:
            real = real_voices(args.real_voices or 50, transcriber_for, args.real_hearing.split(","), log)
            print(f"\nReal Dutch voices (fillets-ng-data-nl), Whisper {ref.name}: "
                  + ", ".join(f"{h} WER {v:.3f}" for h, v in real.items()))
            if args.only_real_voices:
                return 0
        transcriber = transcriber_for("plain")
        if args.cache is not None:
            transcriber = HeardCache(transcriber, args.cache / f"heard-{ref.name}.sqlite")
        started = time.perf_counter()
        per_channel = {c: hearings for c in channels}
        if args.teams_hearing and "teams" in per_channel:
            per_channel["teams"] = [h for h in args.teams_hearing.split(",") if h]
        results = run(numbers, guide, transcriber, per_channel, args.respondent_words, args.speed, work, log,
                      mixed=args.mixed, details=args.details, segmenter=args.segmenter)
        columns = ["typed"] + [f"{c}/{h}" for c, hs in per_channel.items() for h in hs]
        print(f"\nThrough the ears: interviews {args.interviews}, Whisper {ref.name} int8, 2 threads, "
              f"{'greedy' if args.beam == 1 else f'beam {args.beam}'}; "
              f"respondent turns cut to {args.respondent_words or 'all'} words; "
              f"{(time.perf_counter() - started) / 60:.0f} min")
        print("\n".join(table(results, numbers, columns)))
        if args.cache is not None:
            print(f"heard cache {args.cache}: {transcriber.hits} utterances remembered, {transcriber.misses} heard "
                  "(a remembered utterance counts as heard in no time in the real-time factor)")
        if args.mixed:
            right = sum(results[(n, "typed")].mixed[0] for n in numbers)
            total = sum(results[(n, "typed")].mixed[1] for n in numbers)
            base = sum(results[(n, "typed")].mixed[2] for n in numbers)
            print(f"speaker proposal, both voices in one channel (plain hearing): {right / total:.3f} of {total} "
                  f"segments right; everything the respondent's: {base / total:.3f}")
        if args.delay:
            for hearing in hearings[-1:]:
                # Never through the cache: the delay is Whisper's own time.
                median, p95, n, stats = delays(numbers[0], guide, getattr(transcriber, "inner", transcriber), hearing, args.delay,
                                        args.respondent_words, args.speed, work, args.segmenter)
                print(f"delay, {hearing}, {args.delay:g} min of interview {numbers[0]} in real time: "
                      f"median {median:.2f} s, p95 {p95:.2f} s over {n} utterances; {stats.heard_ahead} heard "
                      f"while their pause was being confirmed, {stats.unused_ahead} of them left unused (speech went on)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
