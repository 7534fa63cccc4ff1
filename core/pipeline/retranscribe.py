"""Transcribing a session again after the interview, from its recorded tracks, with a larger
model, without losing the corrections and codes made since.

Each track is transcribed whole with word timestamps (core.speech.tracks, which holds a few
megabytes of audio however long the recording is). The words are then laid onto the session's
existing segments by time, per speaker:

- a segment keeps its id, times, codings, suggestions decided on, and memos; its text becomes
  the words heard within its time, and its span codings are moved through the text change like
  a hand edit, so each coding stays on the same audio time and the same words;
- a segment the user edited (edited = 1) keeps its text unless `overwrite_edited` is given; the
  new recognition is still stored in its asr_text, for comparison;
- words outside every segment (speech the live segmenter missed) become new segments, with the
  suggestions the live pipeline would have made;
- a segment in which the new model hears nothing keeps its text: nothing is deleted.

The whole change is one edit in the undo log (core/store/review/changes.py), so a
re-transcription can be undone. Transcription runs before the transaction opens; stopping it
midway writes nothing.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Callable

from core.base.errors import UserError
from core.pipeline.live import annotate
from core.speech.batched import Cancelled
from core.speech.choice import AFTER, pick_model
from core.speech.models import load_model, resolve_model
from core.speech.tracks import Progress, Word, transcribe_session_audio
from core.store.review import guide_of_session, recorded, remap_codings
from core.audio.decoding import MIXED
from core.audio.playback import session_tracks
from core.store.database import NewSegment, Store, now_iso
from core.understanding.suggester import Suggester
from core.understanding.tracker import GuideTracker

# A word belongs to a segment whose time it falls within, give or take this much.
TOLERANCE = 0.4
# Words outside every segment are grouped into new segments at pauses this long, or this size.
NEW_SEGMENT_PAUSE = 0.8
NEW_SEGMENT_MAX = 15.0


@dataclass
class Result:
    session_id: int
    model: str
    batched: bool
    audio_seconds: float
    transcribe_seconds: float
    updated: int = 0  # segments whose text changed
    unchanged: int = 0
    kept_edited: int = 0  # edited segments left as the user wrote them
    overwritten_edited: int = 0
    inserted: int = 0
    silent: int = 0  # segments where the new model heard nothing (kept as they were)
    edit_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        return self.transcribe_seconds / self.audio_seconds if self.audio_seconds else 0.0


# --- laying the words onto the session --------------------------------------------------------


def _join(words: list[Word]) -> str:
    return " ".join("".join(w.text for w in words).split())


def _assign(words: list[Word], segments: list[dict], protected: list[tuple[float, float]]):
    """Split one speaker's words into those of each segment and those outside all of them."""
    starts = [s["start"] for s in segments]
    by_segment: dict[int, list[Word]] = {s["id"]: [] for s in segments}
    loose: list[Word] = []
    for w in words:
        mid = w.middle
        i = bisect.bisect_right(starts, mid)
        best, gap = None, TOLERANCE
        for s in segments[max(0, i - 2) : i + 1]:
            d = 0.0 if s["start"] <= mid <= s["end"] else min(abs(mid - s["start"]), abs(mid - s["end"]))
            if d <= gap:
                best, gap = s, d
        if best is not None:
            by_segment[best["id"]].append(w)
        elif not any(a <= mid <= b for a, b in protected):
            loose.append(w)
    return by_segment, loose


def _nearest_speaker(segments: list[dict], words: list[Word]) -> str:
    """Whose words these are on a mixed track: the speaker of the segment nearest them in time."""
    middle = (words[0].start + words[-1].end) / 2
    if not segments:
        return "respondent"
    return min(segments, key=lambda s: min(abs(middle - s["start"]), abs(middle - s["end"])))["speaker"]


def _groups(words: list[Word]) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for w in words:
        if groups and w.start - groups[-1][-1].end < NEW_SEGMENT_PAUSE and w.end - groups[-1][0].start < NEW_SEGMENT_MAX:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups


def apply_words(
    store: Store,
    session_id: int,
    words: dict[str, list[Word]],
    *,
    model_name: str,
    overwrite_edited: bool = False,
    result: Result,
    server: str | None = None,
) -> Result:
    guide = guide_of_session(store, session_id)
    _require_times(store, session_id)
    segments = store.segments(session_id)
    # Speech in an edited segment is the user's, whichever track it came through.
    protected = [(s["start"] - TOLERANCE, s["end"] + TOLERANCE) for s in segments if s["edited"] and not overwrite_edited]
    suggester = Suggester(guide)
    suggester.learn_from(store.coded_examples(guide.id, exclude_session=session_id))
    label = f"re-transcribe with {model_name}" + (f" on server {server}" if server else "")
    # Each segment whose text is what this model heard records which model, and which server
    # (None: this machine), heard it.
    heard_by = {"model": model_name, "server": server}
    with recorded(store, session_id, label) as ch:
        new_segments: list[NewSegment] = []
        for speaker, heard in words.items():
            # A mixed track (an imported recording with both speakers in one channel) holds every segment's words.
            mine = sorted((s for s in segments if s["speaker"] == speaker or speaker == MIXED),
                          key=lambda s: (s["start"], s["id"]))
            by_segment, loose = _assign(heard, mine, protected)
            for seg in mine:
                got = by_segment[seg["id"]]
                if not got:
                    result.silent += 1
                    continue
                text = _join(got)
                if seg["edited"] and not overwrite_edited:
                    ch.update("segments", seg["id"], {"asr_text": text})
                    result.kept_edited += 1
                    continue
                if text == seg["text"]:
                    ch.update("segments", seg["id"], {"asr_text": text, **heard_by})
                    result.unchanged += 1
                    continue
                ch.update("segments", seg["id"], {"text": text, "asr_text": text, "edited": 0, **heard_by})
                remap_codings(ch, store, seg["id"], seg["text"], text)
                result.overwritten_edited += bool(seg["edited"])
                result.updated += 1
                if seg["speaker"] == "respondent":
                    _refresh_suggestions(ch, store, suggester, seg["id"], text, seg["question"])
            for group in _groups(loose):
                new_segments.append(
                    NewSegment(speaker=speaker if speaker != MIXED else _nearest_speaker(mine, group), text=_join(group), start=round(group[0].start, 2), end=round(group[-1].end, 2))
                )
        if new_segments:
            _insert_new(ch, store, session_id, guide, suggester, new_segments, heard_by)
            result.inserted = len(new_segments)
        ch.update("sessions", session_id, {"model": model_name})
    result.edit_id = ch.edit_id
    return result


def _require_times(store: Store, session_id: int) -> None:
    untimed = store.untimed_segments(session_id)
    if untimed:
        raise UserError(
            f"session {session_id} has {untimed} segments without times (typed or imported text): their "
            "words cannot be matched to the audio, so it is not re-transcribed"
        )


def _refresh_suggestions(ch, store: Store, suggester: Suggester, segment_id: int, text: str, question: int | None) -> None:
    """Pending suggestions were made for the old text; decided ones stay as the user left them."""
    decided = set()
    for row in store.suggestions_for([segment_id])[segment_id]:
        if row["state"] == "pending":
            ch.delete("suggestions", row["id"])
        else:
            decided.add(row["indicator_id"])
    rank = store.next_suggestion_rank(segment_id)
    for s in suggester.suggest(text, question=question):
        if s.indicator_id in decided:
            continue
        ch.insert("suggestions", {"segment_id": segment_id, "rank": rank, "dimension_id": s.dimension_id,
                                  "indicator_id": s.indicator_id, "score": round(float(s.score), 4),
                                  "reason": s.reason, "state": "pending"})
        rank += 1


def _insert_new(ch, store: Store, session_id: int, guide, suggester: Suggester, new: list[NewSegment],
                heard_by: dict) -> None:
    existing = [(s["start"] or 0.0, s["question"]) for s in store.segments(session_id)]
    existing.sort(key=lambda x: x[0])
    starts = [t for t, _ in existing]
    tracker = GuideTracker(guide)
    for seg in sorted(new, key=lambda s: s.start):
        i = bisect.bisect_right(starts, seg.start)
        tracker.set_current(existing[i - 1][1] if i else None)
        annotate(seg, tracker, suggester)
        seg_id = ch.insert(
            "segments",
            {"session_id": session_id, "speaker": seg.speaker, "speaker_label": None, "start": seg.start,
             "end": seg.end, "text": seg.text, "asr_text": seg.text, "origin": "asr", "edited": 0,
             "asks": seg.asks, "question": seg.question, "created_at": now_iso(), **heard_by},
        )
        for rank, s in enumerate(seg.suggestions):
            ch.insert("suggestions", {"segment_id": seg_id, "rank": rank, "dimension_id": s.dimension_id,
                                      "indicator_id": s.indicator_id, "score": round(float(s.score), 4),
                                      "reason": s.reason, "state": "pending"})
        if seg.asks is not None:
            ch.insert("question_events", {"session_id": session_id, "question": seg.asks, "at": seg.start,
                                          "kind": "detected", "segment_id": seg_id, "score": seg.question_score})


def session_language(store: Store, session_id: int) -> str | None:
    return store.session(session_id)["language"] or guide_of_session(store, session_id).language


def session_model(store: Store, session_id: int, model: str | None = None) -> tuple[str | None, str]:
    """The model to transcribe the session with after the interview, and the line saying why:
    `model` if given, else the largest installed (multilingual unless the session is in English)."""
    return pick_model(model, AFTER, session_language(store, session_id))


def retranscribe(
    store: Store,
    session_id: int,
    model: str | None = None,
    *,
    verbatim: bool = False,
    overwrite_edited: bool = False,
    batched: bool | None = None,
    threads: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    loaded_model=None,
) -> Result:
    """Transcribe the session's tracks again with `model` (default: `session_model`'s choice) and
    lay the words onto it."""
    session = store.session(session_id)
    tracks = session_tracks(session)
    _require_times(store, session_id)
    language = session_language(store, session_id)
    ref = resolve_model(model or pick_model(None, AFTER, language)[0])
    if on_progress is not None:
        on_progress(Progress(f"loading the model {ref.name}", 0.0, 0.0, 0.0))
    whisper = loaded_model if loaded_model is not None else load_model(ref, language, threads)
    words, seconds, took, mode = transcribe_session_audio(
        tracks, whisper, language=language, verbatim=verbatim, batched=batched, on_progress=on_progress, stop=stop
    )
    if stop is not None and stop.is_set():
        raise Cancelled("re-transcription stopped; the session is as it was")
    result = Result(session_id, ref.name, mode, seconds, took)
    return apply_words(store, session_id, words, model_name=ref.name, overwrite_edited=overwrite_edited, result=result)
