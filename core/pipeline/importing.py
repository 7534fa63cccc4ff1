"""Importing a transcript typed or exported elsewhere as a session, understood as if live.

Each turn becomes a segment, in order, with the times the format has (none for a typed
transcript). Files are read through the format registry (core/interchange/formats.py). Guide tracking and suggestions run over
the turns in time order through `core.pipeline.live.annotate`, the function the live pipeline uses, so
an imported interview gets what the live session would have given: the suggester first learns
from the passages coded in the earlier sessions of the same guide, and each turn is understood
with only the turns before it.

Speakers. A code (or name) is the interviewer's, a respondent's or an observer's:

- the interviewer: the codes given, else the speaker the header calls "Interviewer", else the
  speaker who clearly asks the guide's questions (`core.understanding.speakers.find_interviewer`;
  `SpeakerRoles.guess` says whom it took, how sure and why);
- respondents: the codes given, else every other speaker;
- observers: speakers in neither list when both are given (the communication adviser `Q` of
  interview 2 of the reference study). Their words stay in the transcript, stored on the
  interviewer's side (the export's `speaker` has only the two sides), but they neither move
  the guide nor get suggestions: they are not the interviewer and not coded.

`speaker_label` keeps the transcript's own code ("Y1"), so two respondents stay apart.
Nothing is stored unless the whole transcript is: one transaction for the session and all its
segments, and the understanding is computed before it opens.

`once=True` imports a transcript only if no session of the guide was imported under its title
yet, looked up under the write lock, so two runs at once still store it once
(`fieldnote import-samples`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.interchange import formats
from core.base.errors import UserError
from core.interchange.formats import ImportedTranscript
from core.study.guide import Guide
from core.pipeline.live import annotate
from core.store.database import NewSegment, Store
from core.interchange.transcripts import ParsedTranscript
from core.understanding.speakers import InterviewerGuess, find_interviewer
from core.understanding.suggester import Suggester
from core.understanding.tracker import GuideTracker

INTERVIEWER, RESPONDENT, OBSERVER = "interviewer", "respondent", "observer"


class AlreadyImported(Exception):
    """The transcript was imported with this guide before, as `session_id`; nothing was stored."""

    def __init__(self, session_id: int):
        super().__init__(f"already imported as session {session_id}")
        self.session_id = session_id


def read_transcript(path: Path | str, fmt: str | None = None) -> ImportedTranscript:
    """The one place an import's file is read and parsed: the format registry, which finds
    the format by extension and content unless `fmt` names one."""
    return formats.read_transcript(path, fmt)


@dataclass(frozen=True)
class SpeakerRoles:
    roles: dict[str, str]  # code -> interviewer | respondent | observer
    guess: InterviewerGuess | None = None  # when the interviewer was found by the guide's questions

    def of(self, code: str) -> str:
        return self.roles[code]


def _looks_like_interviewer(label: str) -> bool:
    label = label.strip().lower()
    return label.startswith("interviewer") or label.startswith("interviewster")


def speaker_roles(
    parsed: ParsedTranscript | ImportedTranscript,
    interviewer: list[str] | None = None,
    respondents: list[str] | None = None,
    guide: Guide | None = None,
) -> SpeakerRoles:
    """Who is who: the options given, else the header's interviewer (else, with a guide, the
    speaker who clearly asks its questions) and everyone else."""
    present = list(dict.fromkeys([*parsed.speakers, *(t.speaker for t in parsed.turns)]))
    known = ", ".join(present)
    for code in [*(interviewer or []), *(respondents or [])]:
        if code not in present:
            raise UserError(f"speaker {code!r} does not occur in the transcript (speakers: {known})")
    guess = None
    if interviewer:
        interviewers = list(dict.fromkeys(interviewer))
    else:
        interviewers = [c for c in present if _looks_like_interviewer(parsed.speakers.get(c, c))]
        if not interviewers and guide is not None:
            guess = find_interviewer([(t.speaker, t.text) for t in parsed.turns], guide)
            if guess is not None and guess.speaker not in (respondents or []):
                interviewers = [guess.speaker]
            else:
                guess = None
        if not interviewers:
            raise UserError(
                f"cannot tell which speaker is the interviewer (speakers: {known}); "
                "name them with --interviewer"
            )
    both = set(interviewers) & set(respondents or [])
    if both:
        raise UserError(f"speaker {sorted(both)[0]!r} is given as both interviewer and respondent")
    roles = {}
    for code in present:
        if code in interviewers:
            roles[code] = INTERVIEWER
        elif respondents is None or code in respondents:
            roles[code] = RESPONDENT
        else:
            roles[code] = OBSERVER
    if RESPONDENT not in roles.values():
        raise UserError(f"no respondent among the speakers ({known}); name them with --respondent-speakers")
    return SpeakerRoles(roles, guess)


def prepared_understanding(store: Store, guide: Guide) -> tuple[GuideTracker, Suggester]:
    """A tracker and a suggester as a new session of this guide starts: the suggester has
    learned from every passage coded, and every suggestion rejected, in the sessions so far."""
    suggester = Suggester(guide)
    suggester.learn_from(store.coded_examples(guide.id))
    return GuideTracker(guide), suggester


def understand(
    parsed: ParsedTranscript | ImportedTranscript, roles: SpeakerRoles, tracker: GuideTracker, suggester: Suggester
) -> list[NewSegment]:
    """The transcript's turns as segments, annotated in order as the live path would."""
    segments = []
    for turn in parsed.turns:
        role = roles.of(turn.speaker)
        seg = NewSegment(
            speaker=RESPONDENT if role == RESPONDENT else INTERVIEWER,
            text=turn.text,
            # Subtitle formats (Teams VTT, SRT) have times; typed transcripts do not.
            start=getattr(turn, "start", None),
            end=getattr(turn, "end", None),
            speaker_label=turn.speaker,
            origin="import",
        )
        if role == OBSERVER:
            seg.question = tracker.current
        else:
            annotate(seg, tracker, suggester)
        segments.append(seg)
    return segments


def import_transcript(
    store: Store,
    parsed: ParsedTranscript | ImportedTranscript,
    guide: Guide,
    *,
    interviewer: list[str] | None = None,
    respondents: list[str] | None = None,
    respondent: str | None = None,
    case: str | None = None,
    title: str | None = None,
    once: bool = False,
) -> int:
    """Store the transcript as a new imported session and return its id. With `once`, raise
    AlreadyImported instead if a session of this guide was imported under the same title."""
    roles = speaker_roles(parsed, interviewer, respondents, guide)
    tracker, suggester = prepared_understanding(store, guide)
    segments = understand(parsed, roles, tracker, suggester)
    title = title or parsed.title
    with store.atomic():
        if once and title:
            existing = store.imported_session(guide.id, title)
            if existing is not None:
                raise AlreadyImported(existing)
        session_id = store.create_session(
            guide,
            origin="import",
            status="imported",
            respondent=respondent,
            case_name=case,
            title=title,
        )
        for seg in segments:
            store.add_segment(session_id, seg)
    return session_id
