"""Starting and running a session without a screen: the demo's setup and the headless loop.

A demo is a two-track recording replayed through the live pipeline as if it were a call: one of
the bundled samples (`load_demo`), or any recording of the researcher's own, one file per
speaker (`recording_demo`, `fieldnote demo --tracks`).
"""

from __future__ import annotations

import json
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from core.base import paths
from core.audio.sources import FileReplaySource
from core.base.errors import UserError
from core.study.guide import Guide, load_guide
from core.pipeline.live import LivePipeline, SegmentReady, hears_ahead
from core.speech.models import resolve_model
from core.understanding.hearing import LIVE_JOIN_TURNS, Hearing
from core.store.database import Store
from core.speech.transcriber import Transcriber, WhisperTranscriber


@dataclass(frozen=True)
class Demo:
    folder: Path | None  # where the tracks are kept for review; None: copy them into the session
    title: str
    guide: Guide
    respondent: str | None
    case_name: str | None
    tracks: dict[str, Path]


def demo_names() -> list[str]:
    root = paths.SAMPLE_SESSIONS
    return sorted(p.name.removeprefix("demo-") for p in root.glob("demo-*") if (p / "demo.toml").is_file())


def load_demo(language: str) -> Demo:
    folder = paths.SAMPLE_SESSIONS / f"demo-{language}"
    spec = folder / "demo.toml"
    if not spec.is_file():
        raise UserError(f"no demo in language {language!r} (available: {', '.join(demo_names()) or 'none'})")
    try:
        data = tomllib.loads(spec.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{spec}: cannot read the demo description ({exc})") from None
    guide_ref = str(data.get("guide", ""))
    guide_path = folder / guide_ref
    guide = load_guide(guide_path if guide_path.is_file() else guide_ref)
    tracks = {name: folder / f"{name}.flac" for name in ("interviewer", "respondent")}
    for path in tracks.values():
        if not path.is_file():
            raise UserError(f"{path}: the demo's audio is missing; regenerate it with sample_sessions/make_demo.py")
    return Demo(
        folder=folder,
        title=str(data.get("title") or f"Demo ({language})"),
        guide=guide,
        respondent=data.get("respondent"),
        case_name=data.get("case"),
        tracks=tracks,
    )


def recording_demo(interviewer: Path, respondent: Path, guide_ref: str, *, respondent_label: str | None = None,
                   case_name: str | None = None, title: str | None = None) -> Demo:
    """A recording of the researcher's own, one file per speaker, replayed like the samples.
    The start of each file is decoded here, so a missing file or one that is no audio is named
    before a model loads or a session starts."""
    from core.audio.sources import stream_audio

    guide = load_guide(guide_ref)
    tracks = {"interviewer": Path(interviewer), "respondent": Path(respondent)}
    for path in tracks.values():
        blocks = stream_audio(path)
        try:
            if next(blocks, None) is None:
                raise UserError(f"{path}: the file holds no audio")
        finally:
            blocks.close()
    return Demo(
        folder=None,
        title=title or f"{Path(interviewer).stem} / {Path(respondent).stem}",
        guide=guide,
        respondent=respondent_label,
        case_name=case_name,
        tracks=tracks,
    )


def open_transcriber(model: str | None, guide: Guide, *, threads: int = 2) -> Transcriber:
    return WhisperTranscriber(resolve_model(model), language=guide.language, threads=threads)


def replay_pipeline(demo: Demo, transcriber: Transcriber, *, realtime: bool, store: Store | None = None,
                    hearing: str | None = None) -> LivePipeline:
    """The demo's tracks through the live pipeline; with a store, suggestions start from what
    the researcher coded in earlier sessions of the same guide. `hearing`: how Whisper is told
    what to expect (core.understanding.hearing; default the live one)."""
    from core.pipeline.importing import prepared_understanding

    source = FileReplaySource(demo.tracks, realtime=realtime)
    tracker, suggester = prepared_understanding(store, demo.guide) if store is not None else (None, None)
    return LivePipeline(source, transcriber, demo.guide, clock=source.clock, tracker=tracker, suggester=suggester,
                        hearing=Hearing.live(demo.guide, (demo.case_name,), hearing), join_turns=LIVE_JOIN_TURNS,
                        ahead=hears_ahead(transcriber, realtime))


def run_headless(
    store: Store,
    session_id: int,
    pipeline: LivePipeline,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    on_stored: Callable[[int, SegmentReady], None] | None = None,
) -> None:
    """Run the pipeline in this thread, storing each segment as it comes (and printing it)."""
    from core.interchange.export import segment_records

    stop = stop or threading.Event()

    def store_segment(ready: SegmentReady) -> None:
        seg_id = store.add_segment(session_id, ready.segment)
        if on_stored is not None:
            on_stored(seg_id, ready)
        if out is not None:
            (record,) = segment_records(store, session_id, only=[seg_id])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()

    pipeline.run(store_segment, stop)
    store.end_session(session_id, "completed", duration=round(pipeline.clock.now(), 1))
