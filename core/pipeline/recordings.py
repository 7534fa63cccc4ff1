"""Importing a recording made elsewhere: audio or video in, a transcribed session out.

The layouts (`plan`):

- two files, one per speaker (the interviewer's first, or named): each is a track;
- one stereo file with one speaker per channel (found by how little the channels share,
  `core.audio.decoding.ChannelShare`, or asked for with channels="split"): each channel is a
  track, channel 0 the interviewer's unless the other channel asks the guide's questions
  (`core.understanding.speakers.find_interviewer`);
- one mixed file with a transcript that has speaker turns and times (Teams .vtt or .docx, SRT,
  fieldnote's export): Whisper transcribes the audio anew, and each word takes the speaker of
  the turn it falls in (the nearest one in a gap between turns), so each segment is one
  speaker's; the transcript's names map to interviewer and respondent as a text import's do,
  the interviewer found by who asks the guide's questions when no one is called so;
- one mixed file alone: one track; which segments are the interviewer's is proposed
  (`core.understanding.speakers.propose_roles`), for the review screen to confirm.

Every file is decoded into 16 kHz FLAC tracks as it is read, into a staging folder beside the
sessions' folders (`sessions/.import-<token>`); the tracks are transcribed by the batched
pipeline (core.speech.tracks), the segments understood in time order through the annotate path
text imports use, and the session stored in one transaction, which also records the source
files and the staging folder's name (core.store.recordings). Only then is the staging folder
renamed to the session's folder. A run killed before the commit leaves a staging folder no
session names, which the next import removes; one killed between the commit and the rename
leaves one a session names, which the next import moves into place (`tidy_staging`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.audio.decoding import MIXED, Decoded, check_lengths, decode_to_tracks
from core.base import paths
from core.base.errors import UserError
from core.interchange.formats import ImportedTranscript
from core.pipeline.importing import INTERVIEWER, OBSERVER, RESPONDENT, prepared_understanding, read_transcript, speaker_roles
from core.pipeline.live import annotate
from core.pipeline.server_job import DEFAULT_PARALLEL, track_on_server
from core.speech.remote import RemoteWhisper
from core.speech.tracks import Word, transcribe_track
from core.store.database import NewSegment, Store
from core.store.recordings import SourceFile, add_sources, imported_from, staged_session
from core.study.guide import Guide
from core.understanding.speakers import find_interviewer, propose_roles

STAGING_PREFIX = ".import-"
# Words are grouped into segments at pauses this long, or at this length, as re-transcription groups them.
SEGMENT_PAUSE = 0.8
SEGMENT_MAX = 15.0
# On one mixed track a change of speaker is often a shorter pause than that: it is cut at shorter ones.
MIXED_PAUSE = 0.5
# A transcript may run this far past the end of the audio (its last cue's end, rounded up) and still be its own.
TRANSCRIPT_SLACK = 2.0

SPLIT, MIX = "split", "mix"
# Windows of speech Whisper decodes at a time. Four keep a whole import with the base model under
# 1 GB (1,168 MB at eight, 804 MB at four, on 11 minutes), and on two cores are as fast as eight
# (102 s against 106 s, the same 1,640 words): the batch's working memory, not its speed, grows past four.
BATCH_SIZE = 4


@dataclass(frozen=True)
class Job:
    """One session to import: its files and how they are laid out."""

    files: tuple[Path, ...]  # one or two recordings
    layout: str  # "tracks" (two files) | "one" (one file: stereo or mixed, found when decoded)
    channels: str | None = None  # split | mix | None (found)
    transcript: Path | None = None

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.files)


@dataclass
class Options:
    guide: Guide
    respondent: str | None = None
    case_name: str | None = None
    title: str | None = None
    interviewer: list[str] | None = None  # with a transcript: its speaker(s) who interview
    verbatim: bool = False
    link: bool = False


@dataclass
class Imported:
    session_id: int
    layout: str  # two files | stereo | mixed with transcript | mixed
    seconds: float
    segments: int
    notes: list[str] = field(default_factory=list)  # what the import decided, one line each


Progress = Callable[[str, float], None]  # (what is being done, fraction of this file done)


def plan(files: list[Path], *, each: bool = False, interviewer_track: Path | None = None,
         channels: str | None = None, transcript: Path | None = None) -> list[Job]:
    """The sessions these files make: two files are two tracks of one interview unless `each`;
    one file, or more than two, each a session of its own."""
    files = [Path(f) for f in files]
    if not files:
        raise UserError("no recording given")
    if transcript is not None and len(files) != 1:
        raise UserError("--transcript goes with one recording (the mixed audio its turns are timed on)")
    if transcript is not None and channels == SPLIT:
        raise UserError("--transcript says who speaks when on one mixed track; --channels split makes two tracks "
                        "instead: give one or the other")
    if interviewer_track is not None:
        if len(files) != 2 or each:
            raise UserError("--interviewer-track names one of two files of one interview")
        chosen = [f for f in files if f == Path(interviewer_track) or f.resolve() == Path(interviewer_track).resolve()]
        if not chosen:
            raise UserError(f"{interviewer_track}: --interviewer-track is not one of the two files given "
                            f"({files[0]}, {files[1]})")
        files = chosen + [f for f in files if f is not chosen[0]]
    if len(files) == 2 and not each:
        if channels is not None:
            raise UserError("--channels is for one stereo file; two files are one track each")
        if files[0].resolve() == files[1].resolve():
            raise UserError(f"{files[0]}: given twice; two files are the two speakers' tracks")
        return [Job(tuple(files), "tracks")]
    return [Job((f,), "one", channels, transcript) for f in files]


def folder_files(folder: Path) -> list[Path]:
    """The recordings in a folder (not its subfolders), by name."""
    from core.audio.decoding import looks_like_recording

    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    found = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and looks_like_recording(p))
    if not found:
        raise UserError(f"{folder}: no recordings in this folder (audio or video files)")
    return found


# --- leftovers of an import that was killed ---------------------------------------------------


def tidy_staging(store: Store) -> list[str]:
    """Finish or remove what killed imports left in the sessions' folder; what was done, one line each."""
    root = paths.sessions_dir(store.path)
    if not root.is_dir():
        return []
    done = []
    for folder in sorted(root.glob(STAGING_PREFIX + "*")):
        token = folder.name[len(STAGING_PREFIX):]
        found = staged_session(store, token)
        if found is not None and found[1] and not Path(found[1]).exists():
            os.replace(folder, found[1])
            done.append(f"session {found[0]}: its audio moved into place (the import was stopped after storing it)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"{folder.name}: removed (audio of an import that was stopped before it was stored)")
    return done


# --- one session ------------------------------------------------------------------------------


def sources_of(job: Job) -> list[SourceFile]:
    for path in [*job.files, *([job.transcript] if job.transcript else [])]:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file")
    if job.layout == "tracks":
        return [SourceFile.of(job.files[0], INTERVIEWER), SourceFile.of(job.files[1], RESPONDENT)]
    out = [SourceFile.of(job.files[0], MIXED)]
    if job.transcript is not None:
        out.append(SourceFile.of(job.transcript, "transcript"))
    return out


def already_imported(store: Store, job: Job) -> int | None:
    """The session the job's first recording was stored as, if it is unchanged since."""
    return imported_from(store, sources_of(job)[0])


def import_recording(store: Store, job: Job, options: Options, model: Callable[[], object] | None, *, model_name: str,
                     on_progress: Progress | None = None, stop: threading.Event | None = None,
                     server: RemoteWhisper | None = None, parallel: int = DEFAULT_PARALLEL) -> Imported:
    """Decode, transcribe, understand and store one job as a session; nothing is stored unless all is.
    `model()` gives the Whisper model, called once the files are decoded (a bad file is named
    before a model loads). With `server`, the tracks are transcribed there instead (chunks cut at
    pauses, `parallel` in flight), and each segment records the server and model that heard it."""
    say = on_progress or (lambda stage, fraction: None)
    sources = sources_of(job)
    parsed = read_transcript(job.transcript) if job.transcript is not None else None
    if parsed is not None and not any(t.start is not None for t in parsed.turns):
        raise UserError(f"{job.transcript}: the transcript has no times, so its turns cannot be laid on the audio "
                        "(a Teams .vtt or .docx, SRT or fieldnote's own export have them)")
    root = paths.make_private_dir(paths.sessions_dir(store.path), "the recordings folder")
    token = secrets.token_hex(8)
    staging = root / f"{STAGING_PREFIX}{token}"
    paths.make_private_dir(staging, "the recordings folder")
    try:
        tracks, decoded, layout, notes = _decode(job, staging, say)
        if options.link and layout == "stereo":
            raise UserError(f"{job.files[0]}: --link keeps a recording as it is, and this one is split into its two "
                            "channels; import it without --link (its tracks are then kept in the session's folder)")
        seconds = max(d.seconds for d in decoded)
        if parsed is not None:
            _check_transcript_times(parsed, job.transcript, job.files[0], seconds)
        heard: dict[str, list[Word]] = {}
        # Each track lasts as long as the file it came from (a stereo file's channels alike).
        lengths = {name: next(d.seconds for d in decoded if path in d.tracks.values()) for name, path in tracks.items()}
        total = sum(lengths.values()) or 1.0
        done = 0.0
        for name, path in tracks.items():

            def report(at: float, before=done, length=lengths[name]) -> None:
                say("transcribing", 0.1 + 0.85 * (before + min(at, length)) / total)

            if server is not None:
                heard[name] = track_on_server(server, name, path, language=options.guide.language,
                                              verbatim=options.verbatim, parallel=parallel, stop=stop,
                                              on_share=lambda share, report=report, length=lengths[name]:
                                              report(share * length))
            else:
                heard[name] = transcribe_track(model(), path, language=options.guide.language,
                                               verbatim=options.verbatim, batched=True, on_segment=report, stop=stop,
                                               batch_size=BATCH_SIZE)
            done += lengths[name]
        say("understanding", 0.95)
        if layout == "stereo":
            tracks, heard, note = _stereo_roles(tracks, heard, options.guide)
            notes.append(note)
        segments, more = _segments(layout, heard, parsed, job, options)
        if not segments:
            raise UserError(f"{' and '.join(str(f) for f in job.files)}: no speech was heard in it (music, noise, or a language other than the "
                            f"guide's, {options.guide.language})")
        notes.extend(more)
        if server is not None:
            for seg, _ in segments:
                seg.model, seg.server = model_name, server.server.label
        tracker, suggester = prepared_understanding(store, options.guide)
        for seg, role in segments:
            if role == OBSERVER:
                seg.question = tracker.current
            else:
                annotate(seg, tracker, suggester)
        final_tracks = {_stem(name): path for name, path in tracks.items()}
        for path in list(staging.iterdir()):
            if path not in final_tracks.values():
                path.unlink()
        for stem, path in final_tracks.items():
            if options.link:
                # The original stays where it is: the session's folder holds a link to it, by
                # which review plays it and re-transcription reads it.
                original = job.files[0] if stem in (INTERVIEWER, MIXED) else job.files[1]
                path.unlink()
                (staging / f"{stem}{original.suffix.lower()}").symlink_to(original.resolve())
            else:
                path.rename(staging / f"{stem}.flac")
        title = options.title or (job.files[0].stem if len(job.files) == 1 else
                                  f"{job.files[0].stem} / {job.files[1].stem}")
        with store.atomic():
            session_id = store.create_session(options.guide, origin="import", status="imported",
                                              respondent=options.respondent, case_name=options.case_name,
                                              title=title, model=model_name)
            for seg, _ in segments:
                store.add_segment(session_id, seg)
            folder = root / str(session_id)
            if folder.exists():
                raise UserError(f"{folder}: a folder of that session's name is in the way; move it and import again")
            store.set_session_audio_dir(session_id, folder)
            store.end_session(session_id, "imported", duration=round(seconds, 1))
            add_sources(store, session_id, sources, staged=token, linked=options.link)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Stored: from here the staging folder is the session's audio; if the rename does not happen
    # (a kill, a failure), the next import moves it into place (tidy_staging).
    os.replace(staging, folder)
    say("stored", 1.0)
    return Imported(session_id, layout, seconds, len(segments), notes)


def _stem(name: str) -> str:
    return {"0": INTERVIEWER, "1": RESPONDENT}.get(name, name)


def _decode(job: Job, staging: Path, say: Progress) -> tuple[dict[str, Path], list[Decoded], str, list[str]]:
    def progress(share_from: float, share: float):
        def report(done: float, declared: float | None) -> None:
            if declared:
                say("decoding", share_from + share * min(1.0, done / declared))
        return report

    if job.layout == "tracks":
        first = decode_to_tracks(job.files[0], staging, names={"mix": INTERVIEWER}, stereo=False,
                                 on_progress=progress(0.0, 0.05))
        second = decode_to_tracks(job.files[1], staging, names={"mix": RESPONDENT}, stereo=False,
                                  on_progress=progress(0.05, 0.05))
        check_lengths(first, second)
        tracks = {INTERVIEWER: first.tracks["mix"], RESPONDENT: second.tracks["mix"]}
        return tracks, [first, second], "two files", [
            f"interviewer: {job.files[0].name}; respondent: {job.files[1].name}"]
    path = job.files[0]
    stereo = {SPLIT: True, MIX: False, None: None}[job.channels if job.transcript is None else MIX]
    names = {"mix": MIXED} if stereo is False else {"mix": MIXED, "0": "channel-0", "1": "channel-1"}
    decoded = decode_to_tracks(path, staging, names=names, stereo=stereo, on_progress=progress(0.0, 0.1))
    notes = []
    split = decoded.channels == 2 and (stereo is True or (stereo is None and decoded.share.one_speaker_each))
    if stereo is None and decoded.channels == 2:
        share = decoded.share
        if split:
            notes.append(f"stereo with one speaker per channel ({share.apart:.0%} of the speech in one "
                         "channel only); each channel is a track (--channels mix to read it as one mix)")
        elif min(share.left, share.right) == 0 and max(share.left, share.right) > 0:
            side = "right" if share.left else "left"
            notes.append(f"stereo with the {side} channel empty; read as one track (--channels split if each "
                         "channel is one speaker)")
        else:
            notes.append(f"stereo, both channels hold the same speech ({share.apart:.0%} in one channel "
                         "only); read as one mix (--channels split if each channel is one speaker)")
    if split:
        return {"0": decoded.tracks["0"], "1": decoded.tracks["1"]}, [decoded], "stereo", notes
    layout = "mixed with transcript" if job.transcript is not None else "mixed"
    return {MIXED: decoded.tracks["mix"]}, [decoded], layout, notes


def _check_transcript_times(parsed: ImportedTranscript, transcript: Path, audio: Path, seconds: float) -> None:
    last = max((t.end if t.end is not None else t.start) or 0.0 for t in parsed.turns)
    if last > seconds + TRANSCRIPT_SLACK:
        from core.audio.decoding import _clock

        raise UserError(f"{transcript}: its turns run to {_clock(last)}, but {audio} lasts {_clock(seconds)}: "
                        "it is not this recording's transcript, or the recording is cut short")


def _stereo_roles(tracks: dict[str, Path], heard: dict[str, list[Word]], guide: Guide):
    """Channel 0 is the interviewer's, unless the speaker of channel 1 asks the guide's questions."""
    turns = [(name, _join(group)) for name in ("0", "1") for group in _groups(heard[name])]
    guess = find_interviewer(turns, guide)
    if guess is not None and guess.speaker == "1":
        return ({"0": tracks["1"], "1": tracks["0"]}, {"0": heard["1"], "1": heard["0"]},
                f"interviewer: the right channel ({guess.reason}; sureness {guess.sureness:.2f})")
    why = f" ({guess.reason})" if guess is not None else ""
    return tracks, heard, f"interviewer: the left channel{why}"


def _join(words: list[Word]) -> str:
    return " ".join("".join(w.text for w in words).split())


def _groups(words: list[Word], pause: float = SEGMENT_PAUSE) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for w in words:
        if groups and w.start - groups[-1][-1].end < pause and w.end - groups[-1][0].start < SEGMENT_MAX:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups


def _segment(speaker: str, words: list[Word], label: str | None = None) -> NewSegment:
    return NewSegment(speaker=speaker, text=_join(words), start=round(words[0].start, 2), end=round(words[-1].end, 2),
                      speaker_label=label, origin="asr")


def _segments(layout: str, heard: dict[str, list[Word]], parsed: ImportedTranscript | None, job: Job,
              options: Options) -> tuple[list[tuple[NewSegment, str]], list[str]]:
    """The segments in time order, each with its role (interviewer, respondent or observer)."""
    notes: list[str] = []
    out: list[tuple[NewSegment, str]] = []
    if layout in ("two files", "stereo"):
        for name, words in heard.items():
            role = INTERVIEWER if name in ("0", INTERVIEWER) else RESPONDENT
            out += [(_segment(role, g), role) for g in _groups(words)]
    elif parsed is not None:
        roles, note = _transcript_roles(parsed, options)
        notes.append(note)
        for label, words in _by_turn(heard[MIXED], parsed):
            role = roles.of(label)
            for g in _groups(words):
                out.append((_segment(RESPONDENT if role == RESPONDENT else INTERVIEWER, g, label), role))
    else:
        groups = _groups(heard[MIXED], MIXED_PAUSE)
        texts = [_join(g) for g in groups]
        proposed = propose_roles(texts, options.guide, starts=[g[0].start for g in groups],
                                 ends=[g[-1].end for g in groups])
        for g, p in zip(groups, proposed):
            role = INTERVIEWER if p.interviewer else RESPONDENT
            out.append((_segment(role, g), role))
        unsure = sum(1 for p in proposed if p.sureness < 0.8)
        notes.append(f"one mixed track: who spoke each of the {len(groups)} segments is proposed "
                     f"({sum(p.interviewer for p in proposed)} the interviewer's; {unsure} unsure); "
                     "confirm them in `fieldnote review` (t changes a segment's speaker, T every segment up to the "
                     "next question)")
    out.sort(key=lambda item: (item[0].start, item[0].speaker != INTERVIEWER))
    return out, notes


def _transcript_roles(parsed: ImportedTranscript, options: Options):
    """The transcript's names as interviewer and respondents, as a text import maps them."""
    roles = speaker_roles(parsed, options.interviewer, None, options.guide)
    if roles.guess is not None:
        g = roles.guess
        return roles, f"interviewer: {g.speaker}, {g.sureness:.0%} sure ({g.reason}); --interviewer names another"
    taken = ", ".join(c for c, r in roles.roles.items() if r == INTERVIEWER)
    return roles, f"interviewer: {taken}" + (" (as given)" if options.interviewer else "")


def _by_turn(words: list[Word], parsed: ImportedTranscript) -> list[tuple[str, list[Word]]]:
    """The words in runs of one speaker: each word the speaker of the turn it falls in, or of
    the nearest turn when it falls between two."""
    import bisect

    turns = [t for t in parsed.turns if t.start is not None]
    turns.sort(key=lambda t: t.start)
    starts = [t.start for t in turns]

    def end_of(i: int) -> float:
        t = turns[i]
        if t.end is not None:
            return t.end
        return turns[i + 1].start if i + 1 < len(turns) else float("inf")

    runs: list[tuple[str, list[Word]]] = []
    for w in words:
        mid = w.middle
        i = bisect.bisect_right(starts, mid) - 1
        candidates = [k for k in (i, i + 1) if 0 <= k < len(turns)]
        best = min(candidates, key=lambda k: 0.0 if turns[k].start <= mid <= end_of(k)
                   else min(abs(mid - turns[k].start), abs(mid - end_of(k))))
        label = turns[best].speaker
        if runs and runs[-1][0] == label:
            runs[-1][1].append(w)
        else:
            runs.append((label, [w]))
    return runs
