"""`fieldnote devices`, `fieldnote record` and `fieldnote recover`: recording a real call."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from core.base import paths
from core.base.errors import UserError
from tui.commands.args import EXIT_USER_ERROR, open_store as _store, session_id as _session_id


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _say(message: str) -> None:
    sys.stderr.write(f"fieldnote: {message}\n")
    sys.stderr.flush()


def _offer(found) -> None:
    """Tell about interrupted sessions and what can be done with them."""
    from core.interchange.export import clock

    for s in found:
        verb = "was interrupted" if s.recovered_now else "is still interrupted"
        if s.origin == "demo":
            _say(f"demo session {s.session_id} (started {s.started_at[:16]}, {s.segments} segments) {verb}; "
                 f"close it as it is with `fieldnote recover --close {s.session_id}`")
            continue
        _say(
            f"session {s.session_id} (started {s.started_at[:16]}, {clock(s.duration)} recorded, "
            f"{s.segments} segments) {verb}; its audio is repaired in {s.folder}. Resume it with "
            f"`fieldnote record --resume {s.session_id}` or close it with `fieldnote recover --close {s.session_id}`"
        )


# commands ------------------------------------------------------------------------------------


def cmd_devices(args) -> int:
    from core.audio.devices import list_devices, load_device_choice

    devices = list_devices()
    last = load_device_choice()
    for kind, title, flag, key in (("input", "Microphone (the interviewer)", "--mic", "mic"),
                                   ("loopback", "System output (the respondent, what Teams plays)", "--system", "system")):
        print(f"{title}: pass the id with {flag}")
        rows = [d for d in devices if d.kind == kind]
        width = max([len(d.id) for d in rows] + [2])
        for d in rows:
            mark = "*" if d.default else " "
            extra = [d.note] if d.note else []
            if last.get(key) == d.id:
                extra.append("last used")
            print(f"  {mark} {d.id:<{width}}  {d.name}" + (f"  [{'; '.join(extra)}]" if extra else ""))
        if not rows and kind == "loopback":
            print("    none found. On Linux, the system output is captured through PulseAudio or PipeWire: start your\n"
                  "    desktop's sound server. On macOS, install a virtual device such as BlackHole, set it as Teams'\n"
                  "    speaker, and pass it with --system.")
        print()
    print("* marks the default.")
    return 0


def cmd_record(args) -> int:
    from core.audio.devices import load_device_choice
    from core.pipeline.recording import recover_interrupted

    store = _store(args)
    _offer([s for s in recover_interrupted(store) if s.recovered_now])
    remembered = load_device_choice()
    mic = args.mic or remembered.get("mic") or "default"
    system = args.system or remembered.get("system") or "default"
    if args.resume is None and not args.guide:
        from core.base.settings import last_guide

        args.guide = last_guide()  # the guide used last: --guide only to change it
    if not args.no_ui:
        return _record_with_screen(store, args, mic, system)
    return _record_headless(store, args, mic, system)


def _record_with_screen(store, args, mic: str, system: str) -> int:
    from tui.screens.setup import RecordingPlan, make_record_app

    from core.pipeline.demo import open_transcriber
    from core.speech.choice import LIVE, pick_model

    plan = RecordingPlan(guide=args.guide, respondent=args.respondent, case_name=args.case, model=args.model,
                         threads=args.threads, resume=args.resume, headphones=args.headphones, duration=args.duration)
    given = args.model or (store.session(args.resume)["model"] if args.resume is not None else None)
    reasons = []
    live = []
    allowed = _server_for_screen(store, args) if args.server else None

    def transcriber_factory(guide):
        # The guide is known only once chosen on the setup screen; the line is said when it closes.
        model, reason = pick_model(given, LIVE, guide.language)
        reasons.append(reason if args.resume is None or args.model else f"model {model}: the one the session began with")
        transcriber = open_transcriber(model, guide, threads=args.threads)
        if allowed is not None:
            from tui.commands.servers import notify_fallbacks, screen_transcriber

            row, guide_id = allowed
            if guide.id != guide_id:
                raise UserError(f"server {row.name} is allowed for study {guide_id} here, not {guide.id}: run "
                                f"`fieldnote record --server {row.name} --guide {guide.id}` to be asked for it")
            transcriber = screen_transcriber(args, row, guide, transcriber)
            notify_fallbacks(app, transcriber)
            live.append(transcriber)
        return transcriber

    app = make_record_app(store, plan, mic=mic, system=system, transcriber_factory=transcriber_factory)
    session_id = app.run()
    for reason in reasons[-1:]:
        _say(reason)
    if session_id is not None and live:
        from tui.commands.servers import after_live_session

        after_live_session(store, session_id, live[-1])
    if session_id is not None:
        _say(f"session {session_id}")
        if args.resume is None:
            from core.base.settings import remember_guide

            # The guide given, or the one chosen on the setup screen (by its name).
            unsaved = remember_guide(args.guide or store.session(session_id)["guide_id"])
            if unsaved:
                _say(f"warning: {unsaved}")
    return 0


def _server_for_screen(store, args):
    """`record --server NAME` with the setup screen: the server, and the study it is allowed for,
    settled on the terminal before the screen opens (the screen cannot ask)."""
    from core.study.guide import load_guide
    from core.store.servers import server
    from tui.commands.servers import allow_for_guide

    row = server(store, args.server)
    if args.resume is not None:
        guide = store.session_guide(args.resume)
    elif args.guide:
        guide = load_guide(args.guide)
    else:
        raise UserError("record --server needs the guide with --guide NAME: the server is allowed per study, "
                        "asked before the setup screen opens")
    allow_for_guide(store, row, guide, args.yes)
    return row, guide.id


def _record_headless(store, args, mic: str, system: str) -> int:
    from core.audio.devices import save_device_choice
    from core.study.guide import load_guide
    from core.pipeline.recording import resumable, start_recording
    from core.pipeline.demo import open_transcriber, run_headless

    if args.resume is not None:
        row = resumable(store, args.resume)
        guide = store.session_guide(args.resume)
        model = args.model or row["model"]
    else:
        if not args.guide:
            raise UserError("give the interview guide with --guide NAME_OR_PATH (see `fieldnote guides`)")
        if not args.consent:
            raise UserError("recording needs the respondent's consent: ask for it, then confirm with --consent")
        guide = load_guide(args.guide)
        from core.speech.choice import LIVE, pick_model

        model, reason = pick_model(args.model, LIVE, guide.language)
        _say(reason)
    transcriber = open_transcriber(model, guide, threads=args.threads)
    if args.server:
        from tui.commands.servers import live_transcriber

        transcriber = live_transcriber(args, store, guide, transcriber)

    def on_event(event) -> None:
        if event.kind in ("device-lost", "disk-low", "disk-full"):
            _say(f"warning: {event.message}")
        elif event.kind != "stopped":
            _say(event.message)

    rec = start_recording(
        store, guide, transcriber, mic=mic, system=system, respondent=args.respondent, case_name=args.case,
        consent=args.consent, resume=args.resume, bleed=not args.headphones, on_event=on_event,
        hearing=args.hearing,
    )
    unsaved = save_device_choice(mic, system)
    if unsaved:
        _say(f"warning: {unsaved}")
    if args.resume is None:
        from core.base.settings import remember_guide

        unsaved = remember_guide(args.guide)
        if unsaved:
            _say(f"warning: {unsaved}")
    _say(f"recording session {rec.session_id} into {rec.folder} (interviewer: {rec.source.labels['interviewer']}; "
         f"respondent: {rec.source.labels['respondent']}); Ctrl-C ends it")

    interrupts = 0

    def stop(signum, frame) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        rec.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    timer = None
    if args.duration:
        timer = threading.Timer(args.duration, rec.stop)
        timer.daemon = True
        timer.start()
    try:
        run_headless(store, rec.session_id, rec.pipeline, out=sys.stdout)
    finally:
        if timer is not None:
            timer.cancel()
            # Its thread holds the recording, the model with it: were it the last to let go, the
            # model would be freed on that thread as the interpreter exits, which aborts it.
            timer.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        rec.source.close()
    # The session lasts as long as its audio (the clock ran on while the last words were transcribed).
    store.end_session(rec.session_id, "completed", duration=round(rec.duration, 1))
    if args.server:
        from tui.commands.servers import after_live_session

        after_live_session(store, rec.session_id, transcriber)
    _say(f"session {rec.session_id}")
    if rec.source.stop_reason == "disk-full":
        _say("error: the recording stopped early because the disk is nearly full; everything until then is saved")
        return EXIT_USER_ERROR
    return 0


def cmd_recover(args) -> int:
    from core.pipeline.recording import close_interrupted, recover_interrupted

    store = _store(args)
    found = recover_interrupted(store)
    if args.close is not None:
        ids = [s.session_id for s in found] if args.close == "all" else [_session_id(args.close)]
        for session_id in ids:
            close_interrupted(store, session_id)
            _say(f"session {session_id} closed as it is")
        found = recover_interrupted(store)
    if not found:
        print("No interrupted recordings.")
        return 0
    _offer(found)
    return 0


def register(sub) -> None:
    p = sub.add_parser("devices", help="list the microphones and system outputs fieldnote can record",
                       description="List input devices (for --mic) and system-output loopbacks (for --system), "
                       "with the ids to pass to `fieldnote record`. * marks the defaults.")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser(
        "record", help="record a call (microphone and system output) and transcribe it live",
        description="Record the interviewer's microphone and the system output that Teams plays into as two "
        "tracks, transcribe both live, and store the session. Without --no-ui a setup screen picks the devices "
        f"first. The audio is written to {paths.sessions_dir(None)}/ID next to the database as it is recorded.",
    )
    p.add_argument("--no-ui", action="store_true", help="no screen: print each stored segment as a JSON line")
    p.add_argument("--mic", metavar="ID", help="the interviewer's microphone (see `fieldnote devices`; default: last used, "
                   "else the system default)")
    p.add_argument("--system", metavar="ID", help="the system output Teams plays into (see `fieldnote devices`; "
                   "default: last used, else the default output's loopback)")
    p.add_argument("--guide", metavar="NAME_OR_PATH", help="the interview guide (see `fieldnote guides`); "
                   "remembered, so needed only to change it (import remembers it too)")
    p.add_argument("--respondent", metavar="ID", help="the respondent's number or code")
    p.add_argument("--case", metavar="NAME", help="the case the interview belongs to")
    p.add_argument("--model", metavar="NAME_OR_PATH", help="Whisper model (default: the largest installed that "
                   "keeps up live here, see `fieldnote models`)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for transcription (default 2)")
    from tui.commands.servers import add_live_arguments

    add_live_arguments(p)
    p.add_argument("--duration", type=_seconds, metavar="SECONDS", help="stop by itself after this many seconds")
    p.add_argument("--consent", action="store_true",
                   help="confirm that the respondent consented to being recorded (required to start)")
    p.add_argument("--resume", type=_session_id, metavar="ID", help="go on recording an interrupted session")
    p.add_argument("--headphones", action="store_true",
                   help="the interviewer wears headphones: do not look for the respondent's voice in the microphone")
    from tui.commands.args import add_hearing_argument

    add_hearing_argument(p)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("recover", help="repair recordings cut off by a crash; resume or close them",
                       description="Find sessions whose recording process is gone, repair their audio files so they "
                       "play, and mark them interrupted (their stored segments stay). Resume one with "
                       "`fieldnote record --resume ID`, or close it as it is with --close.")
    p.add_argument("--close", metavar="ID|all", help="close an interrupted session (or all of them) as it is")
    p.set_defaults(func=cmd_recover)
