"""Before and during a recorded call: the setup screen, the consent question, the recording screen.

The setup screen picks the microphone (the interviewer) and the system output Teams plays into
(the respondent), shows a live level for each, records a short test and plays it back, and
remembers the choice. Recording starts only after the interviewer confirms the respondent's
consent. The recording screen is the live screen with the recording's own controls: muting a
track, the capture's warnings, and an end that keeps every word already captured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.message import Message
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Input, Label, Select, Static

from core.audio.capture import CaptureEvent, LiveSource, capture_for
from core.audio.devices import (
    Device,
    DeviceStream,
    level_db,
    list_devices,
    open_devices,
    play,
    save_device_choice,
)
from core.base.errors import UserError
from core.study.guide import Guide, available_guides, load_guide
from core.pipeline.recording import LiveRecording, start_recording
from core.store.database import Store
from core.speech.transcriber import Transcriber

from tui.app import FieldnoteApp
from tui.screens.live import LiveScreen
from tui.widgets.live import StatusBar

TEST_SECONDS = 5.0


@dataclass
class RecordingPlan:
    """What the command line said about the session to record."""

    guide: str | None = None
    respondent: str | None = None
    case_name: str | None = None
    model: str | None = None
    threads: int = 2
    resume: int | None = None
    headphones: bool = False
    duration: float | None = None


class LevelMeter(Static):
    """A track's level in dBFS as a bar; set `level` at most a few times a second."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.level = -100.0

    def set_level(self, db: float) -> None:
        self.level = db
        width = 40
        filled = int(round(width * max(0.0, min(1.0, (db + 60) / 60))))
        style = "red" if db > -3 else "yellow" if db > -12 else "green"
        bar = Text("█" * filled, style=style)
        bar.append("░" * (width - filled), style="dim")
        bar.append(f"  {db:6.1f} dB" if db > -100 else "  silent")
        self.update(bar)


class ConsentDialog(ModalScreen[bool]):
    """The respondent's consent, confirmed by the interviewer before anything is recorded."""

    BINDINGS = [
        Binding("y", "yes", "Consent given: record"),
        Binding("n,escape", "no", "Not (yet): do not record"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="consent-box"):
            yield Label("Has the respondent consented to this interview being recorded and transcribed?",
                        classes="consent-title")
            yield Static("fieldnote stores the consent with the session and its time. "
                         "Nothing is recorded without it.", classes="consent-hint")
            yield Static("y: yes, start recording · n: no", classes="consent-keys")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class SetupScreen(Screen[None]):
    CSS_PATH = "setup.tcss"
    BINDINGS = [
        Binding("t", "test", "Record a test and play it"),
        Binding("s", "start", "Start recording"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        store: Store,
        plan: RecordingPlan,
        *,
        mic: str,
        system: str,
        devices: list[Device],
        streams: Callable[[str, str], list[DeviceStream]],
        transcriber_factory: Callable[[Guide], Transcriber],
    ) -> None:
        super().__init__()
        self.store = store
        self.plan = plan
        self.devices = devices
        self.streams = streams
        self.transcriber_factory = transcriber_factory
        self.mic = mic
        self.system = system
        self._monitor: LiveSource | None = None
        self._levels: dict[str, float] = {}
        self._busy = False

    def _options(self, kind: str, chosen: str) -> list[tuple[str, str]]:
        options = [(f"{'* ' if d.default else ''}{d.name}  [{d.id}]", d.id) for d in self.devices if d.kind == kind]
        if chosen not in {value for _, value in options}:
            options.insert(0, (f"{chosen} (last used; not found now)", chosen))
        return options

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="setup-body"):
            yield Label("Microphone: the interviewer", classes="setup-label")
            yield Select(self._options("input", self.mic), value=self.mic, allow_blank=False, id="mic")
            yield LevelMeter(id="mic-level", classes="meter")
            yield Label("System output: the respondent (what Teams plays into)", classes="setup-label")
            yield Select(self._options("loopback", self.system), value=self.system, allow_blank=False, id="system")
            yield LevelMeter(id="system-level", classes="meter")
            if self.plan.resume is None:
                guides = available_guides()
                chosen = self.plan.guide or (guides[0] if guides else None)
                if chosen and chosen not in guides:
                    guides = [chosen, *guides]
                yield Label("Guide", classes="setup-label")
                yield Select([(g, g) for g in guides], value=chosen if chosen else Select.BLANK, id="guide")
                with Horizontal(id="setup-who"):
                    yield Input(self.plan.respondent or "", placeholder="respondent", id="respondent")
                    yield Input(self.plan.case_name or "", placeholder="case", id="case")
            else:
                yield Label(f"Resuming session {self.plan.resume}", classes="setup-label")
            yield Static("t: record a test and hear it back · s: start recording", id="setup-hint")
            yield Static("", id="setup-message")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = "set up the recording"
        self.set_interval(0.1, self._show_levels)
        self._watch_levels()

    def _say(self, message: str, error: bool = False) -> None:
        widget = self.query_one("#setup-message", Static)
        widget.update(message)
        widget.set_class(error, "error")

    # levels ----------------------------------------------------------------------------------

    def _show_levels(self) -> None:
        # Coalesced: the capture thread keeps the loudest recent level, the screen shows it here.
        for track, meter_id in (("interviewer", "#mic-level"), ("respondent", "#system-level")):
            self.query_one(meter_id, LevelMeter).set_level(self._levels.pop(track, -100.0))

    @work(thread=True, exclusive=True, group="levels")
    def _watch_levels(self) -> None:
        try:
            source = LiveSource(self.streams(self.mic, self.system))
            source.start()
        except UserError as exc:
            self.app.call_from_thread(self._say, str(exc), True)
            return
        self._monitor = source
        self.app.call_from_thread(self._say, "")
        for chunk in source.chunks():
            level = level_db(chunk.samples)
            self._levels[chunk.track] = max(level, self._levels.get(chunk.track, -100.0))

    def _stop_levels(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.close()

    @on(Select.Changed, "#mic")
    def _mic_changed(self, event: Select.Changed) -> None:
        if event.value != self.mic:
            self.mic = str(event.value)
            self._restart_levels()

    @on(Select.Changed, "#system")
    def _system_changed(self, event: Select.Changed) -> None:
        if event.value != self.system:
            self.system = str(event.value)
            self._restart_levels()

    def _restart_levels(self) -> None:
        if not self._busy:
            self._stop_levels()
            self._watch_levels()

    # test and start --------------------------------------------------------------------------

    def action_test(self) -> None:
        if self._busy:
            return
        self._busy = True
        self._stop_levels()
        self._say(f"Recording a {TEST_SECONDS:g}-second test: speak, and play something in Teams…")
        self._record_test()

    @work(thread=True, exclusive=True, group="test")
    def _record_test(self) -> None:
        try:
            audio = capture_for(self.streams(self.mic, self.system), TEST_SECONDS)
            for track, what in (("interviewer", "the microphone"), ("respondent", "the system output")):
                self.app.call_from_thread(self._say, f"Playing back {what}…")
                play(audio[track])
            self.app.call_from_thread(self._say, "Test done.")
        except UserError as exc:
            self.app.call_from_thread(self._say, str(exc), True)
        finally:
            self.app.call_from_thread(self._test_done)

    def _test_done(self) -> None:
        self._busy = False
        self._watch_levels()

    def action_start(self) -> None:
        if self._busy:
            return
        guide = None
        if self.plan.resume is None:
            value = self.query_one("#guide", Select).value
            if value is Select.BLANK:
                self._say("Choose a guide first.", True)
                return
            guide = str(value)
        self.app.push_screen(ConsentDialog(), lambda yes: self._consented(bool(yes), guide))

    def _consented(self, yes: bool, guide: str | None) -> None:
        if not yes:
            self._say("Not recording: the respondent's consent is needed first.", True)
            return
        self._busy = True
        self._stop_levels()
        if self.plan.resume is None:
            self.plan.respondent = self.query_one("#respondent", Input).value.strip() or None
            self.plan.case_name = self.query_one("#case", Input).value.strip() or None
        self._say("Loading the model and opening the devices…")
        guide = load_guide(guide) if guide else self.store.session_guide(self.plan.resume)
        self._load_model(guide)

    @work(thread=True, exclusive=True, group="start")
    def _load_model(self, guide: Guide) -> None:
        try:
            transcriber = self.transcriber_factory(guide)
        except UserError as exc:
            self.app.call_from_thread(self.failed, str(exc))
            return
        self.app.call_from_thread(self._record, guide, transcriber)

    def _record(self, guide: Guide, transcriber: Transcriber) -> None:
        # On the screen's thread, which owns the store: the session is created here.
        screen: RecordingScreen | None = None

        def on_event(event: CaptureEvent) -> None:
            # From the capture thread, and never waiting for the screen (which may be waiting for it).
            if screen is not None:
                screen.post_message(RecordingScreen.Captured(event))

        try:
            rec = start_recording(
                self.store, guide, transcriber, mic=self.mic, system=self.system, respondent=self.plan.respondent,
                case_name=self.plan.case_name, consent=True, resume=self.plan.resume,
                bleed=not self.plan.headphones, on_event=on_event, streams=self.streams(self.mic, self.system),
            )
        except UserError as exc:
            self.failed(str(exc))
            return
        unsaved = save_device_choice(self.mic, self.system)
        screen = RecordingScreen(self.store, rec, duration=self.plan.duration)
        self.app.switch_screen(screen)
        if unsaved:
            self.app.notify(unsaved, severity="warning")

    def failed(self, message: str) -> None:
        """Starting did not work (a device, the model): say so and let the user fix it."""
        self._busy = False
        self._say(message, True)
        self._watch_levels()

    def action_cancel(self) -> None:
        self._stop_levels()
        self.app.exit(None)

    def on_unmount(self) -> None:
        self._stop_levels()


class RecordingScreen(LiveScreen):
    """The live screen over a recording: mute a track, see the capture's warnings, and end
    by stopping the devices first, so what they captured is still transcribed and stored."""

    BINDINGS = [
        Binding("1", "mute('interviewer')", "Mute/unmute microphone"),
        Binding("2", "mute('respondent')", "Mute/unmute system output"),
    ]

    def __init__(self, store: Store, recording: LiveRecording, *, duration: float | None = None) -> None:
        super().__init__(store, recording.session_id, recording.pipeline, state="recording")
        self.recording = recording
        self.duration = duration
        self._ending = False

    def on_mount(self) -> None:
        super().on_mount()
        self._show_muted()
        if self.duration:
            self.set_timer(self.duration, self.action_end_session)

    def _show_muted(self) -> None:
        muted = sorted(self.pipeline.muted)
        base = f"session {self.session_id} · {self.guide.title}"
        self.sub_title = base + (f" · MUTED: {', '.join(muted)}" if muted else "")

    def action_mute(self, track: str) -> None:
        if track in self.pipeline.muted:
            self.pipeline.muted.discard(track)
            self.notify(f"{track.capitalize()} track recording again.", timeout=3)
        else:
            self.pipeline.muted.add(track)
            self.notify(f"{track.capitalize()} track muted: silence is recorded in its place.", timeout=3)
        self._show_muted()

    class Captured(Message):
        """Something the capture reports: a device lost or back, the disk filling up."""

        def __init__(self, event: CaptureEvent) -> None:
            super().__init__()
            self.event = event

    def on_recording_screen_captured(self, message: "RecordingScreen.Captured") -> None:
        event = message.event
        if event.kind in ("device-lost", "disk-low", "disk-full"):
            self.notify(event.message, severity="error" if event.kind == "disk-full" else "warning", timeout=15)
        elif event.kind == "device-back":
            self.notify(event.message, timeout=8)

    def action_end_session(self) -> None:
        if self.finished.is_set():
            self._close_session()
            return
        self._ending = True
        self.recording.stop()
        self.query_one(StatusBar).state = "stopping"

    def pipeline_finished(self) -> None:
        if self._ending:
            self._close_session()
            return
        self.query_one(StatusBar).state = "finished"
        if self.recording.source.stop_reason == "disk-full":
            self.notify("The recording stopped because the disk is nearly full; everything until then is "
                        "saved. Press q to close the session.", severity="error", timeout=30)
        else:
            super().pipeline_finished()

    def _close_session(self) -> None:
        self.recording.source.close()
        if self.store.session(self.session_id)["status"] == "recording":
            # The session lasts as long as its audio, not as long as the last words took to transcribe.
            self.store.end_session(self.session_id, "completed", duration=round(self.recording.duration, 1))
        self.app.exit(self.session_id)


class RecordApp(App[int | None]):
    """The app for `fieldnote record`: the setup screen first, then the recording screen.
    It returns the id of the session recorded, or None when nothing was."""

    CSS_PATH = FieldnoteApp.CSS_PATH
    TITLE = FieldnoteApp.TITLE

    def __init__(self, store: Store, setup: SetupScreen) -> None:
        super().__init__()
        self.store = store
        self._setup = setup

    def on_mount(self) -> None:
        self.push_screen(self._setup)


def make_record_app(
    store: Store,
    plan: RecordingPlan,
    *,
    mic: str,
    system: str,
    devices: list[Device] | None = None,
    streams: Callable[[str, str], list[DeviceStream]] = open_devices,
    transcriber_factory: Callable[[Guide], Transcriber] | None = None,
) -> RecordApp:
    """The recording app over `store`. Tests pass fake device streams and a scripted transcriber."""
    if transcriber_factory is None:
        model = plan.model or (store.session(plan.resume)["model"] if plan.resume is not None else None)

        def transcriber_factory(guide: Guide) -> Transcriber:
            from core.pipeline.demo import open_transcriber

            return open_transcriber(model, guide, threads=plan.threads)

    setup = SetupScreen(store, plan, mic=mic, system=system,
                        devices=devices if devices is not None else list_devices(),
                        streams=streams, transcriber_factory=transcriber_factory)
    return RecordApp(store, setup)
