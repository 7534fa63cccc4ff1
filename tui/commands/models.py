"""`fieldnote models`: the Whisper models on this machine, their speed here, and which one each
command takes; `fieldnote models get NAME` fetches one (the only network use fieldnote has)."""

from __future__ import annotations

import sys
import time

from core.base.errors import UserError


class _Bar:
    """Bytes of each file on stderr: a bar redrawn in place on a terminal, a line per file otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.current = None
        self.last = 0.0
        self.shown = (None, 0, None)

    def __call__(self, name: str, done: int, total: int | None) -> None:
        if name != self.current:
            self.end()
            self.current = name
        self.shown = (name, done, total)
        now = time.monotonic()
        if not self.tty or (now - self.last < 0.2 and done != total):
            return
        self.last = now
        width = 30
        fraction = done / total if total else 0.0
        bar = "█" * int(width * fraction) + "░" * (width - int(width * fraction))
        of = f" of {total / 1e6:.1f} MB" if total else " MB"
        self.stream.write(f"\r{name:<24.24} {bar} {fraction:4.0%}  {done / 1e6:.1f}{of}   ")
        self.stream.flush()

    def end(self) -> None:
        name, done, total = self.shown
        if name is None:
            return
        if self.tty:
            self.stream.write("\n")
        else:
            print(f"{name}: {done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else ""), file=self.stream)
        self.stream.flush()
        self.shown = (None, 0, None)


def _measure(ref) -> float | None:
    from core.speech.choice import measure_speed, save_speed

    print(f"measuring {ref.name} on this machine ...", file=sys.stderr, flush=True)
    try:
        rtf = measure_speed(ref)
    except UserError as exc:
        print(f"warning: {ref.name} cannot be measured: {exc}", file=sys.stderr)
        return None
    try:
        save_speed(ref, rtf)
    except OSError as exc:
        print(f"warning: cannot keep the speed in the models folder ({exc.strerror or exc}); it is measured "
              "again next time", file=sys.stderr)
    return rtf


def cmd_models(args) -> int:
    from core.speech.choice import AFTER, LIVE, LIVE_RTF, RULE, choose_model, installed_models, measured_speeds

    found = installed_models()
    speeds = measured_speeds([ref for ref, _ in found])
    for ref, _ in found:
        if args.measure or ref.name not in speeds:
            rtf = _measure(ref)
            if rtf is not None:
                speeds[ref.name] = rtf
    if not found:
        print("no Whisper model here; `fieldnote models get NAME` fetches one (`fieldnote models get --help`)")
        return 0
    print(f"{'model':<16} {'kind':<13} {'size':>8}  {'speed here':<26} {'from':<14} path")
    for ref, m in found:
        kind = "multilingual" if ref.multilingual else "English only"
        rtf = speeds.get(ref.name)
        speed = f"RTF {rtf:.2f}, " + ("keeps up live" if rtf <= LIVE_RTF else "too slow live") if rtf is not None else "not measured"
        print(f"{ref.name:<16} {kind:<13} {m.size / 1e6:>5.0f} MB  {speed:<26} {ref.origin:<14} {ref.path}")
    print()
    print(f"RTF: seconds of computing per second of speech here; {RULE}.")
    installed = [m for _, m in found]
    for language, label in (("en", "English"), (None, "other languages")):
        live = choose_model(installed, speeds, LIVE, language)[1]
        after = choose_model(installed, speeds, AFTER, language)[1]
        print(f"{label}: live (record, demo) {live}; after the interview (transcribe) {after}")
    print("--model NAME_OR_PATH on any of them takes that model instead.")
    return 0


def cmd_models_get(args) -> int:
    from core.base import paths
    from core.speech import download
    from core.speech.models import is_bundled, resolve_model

    name = args.name
    if args.source is None and name not in download.known_names():
        raise UserError(f"no faster-whisper model named {name!r}; the names are: {', '.join(download.known_names())}; "
                        "a model of another name comes with --from FOLDER")
    if name == "base" and is_bundled(name):
        raise UserError("base is installed already (bundled with fieldnote); `fieldnote models` lists it")
    if name == "tiny.en" and not args.force and is_bundled(name):
        raise UserError("tiny.en is installed already (bundled with fieldnote); --force fetches it into the models "
                        "folder all the same")
    if args.source is not None:
        files = download.folder_files(args.source)
        origin = args.source
    else:
        print(f"asking the model hub ({download.hub_endpoint()}) for {name} ...", file=sys.stderr, flush=True)
        files = download.hub_files(name)
        origin = "the model hub"
    total = sum(f.size or 0 for f in files)
    print(f"{name}: {len(files)} files, {total / 1e6:.1f} MB, into {paths.models_dir() / name}", file=sys.stderr)
    bar = _Bar()
    try:
        target = download.get_model(name, files, origin=origin, force=args.force, on_progress=bar)
    except KeyboardInterrupt:
        bar.end()
        raise UserError(f"stopped; nothing was installed; `fieldnote models get {name}"
                        f"{' --from ' + args.source if args.source else ''}` goes on from where it stopped") from None
    finally:
        bar.end()
    ref = resolve_model(str(target))
    kind = "multilingual" if ref.multilingual else "English only"
    print(f"installed {name} ({kind}, {total / 1e6:.1f} MB) in {target}")
    rtf = None if args.no_measure else _measure(ref)
    if rtf is not None:
        from core.speech.choice import LIVE_RTF

        print(f"{name}: real-time factor {rtf:.2f} here, "
              + ("keeps up live" if rtf <= LIVE_RTF else "too slow to keep up live; used after the interview"))
    return 0


def register(sub) -> None:
    from core.speech.choice import RULE

    p = sub.add_parser("models", help="the Whisper models on this machine, their speed here; `models get` fetches one",
                       description="List the Whisper models fieldnote can load without a network, with each "
                       f"one's speed measured on this machine and which model each command takes. {RULE.capitalize()}. Live "
                       "(record, demo) takes the largest that keeps up; after the interview (transcribe) the "
                       "largest installed (multilingual unless the study is in English).")
    p.add_argument("--measure", action="store_true", help="measure every model's speed again (each is measured "
                   "once and remembered in the models folder)")
    p.set_defaults(func=cmd_models)
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")
    actions.required = False
    get = actions.add_parser(
        "get", help="fetch a faster-whisper model (the only network use fieldnote has)",
        description="Fetch a faster-whisper model into fieldnote's models folder: from faster-whisper's model hub "
        "by faster-whisper's name for it (tiny, tiny.en, base, base.en, small, small.en, medium, medium.en, "
        "large-v1, large-v2, large-v3, turbo, distil-large-v3, ...), or with --from from a model folder copied "
        "from elsewhere. Resumable (run it again after a stop), every file checked, installed whole or not at all.")
    get.add_argument("name", metavar="NAME", help="the model's name (with --from, any name you choose)")
    get.add_argument("--from", dest="source", metavar="FOLDER_OR_URL",
                     help="copy the model from a folder on this machine (or a file:// URL) instead of the hub")
    get.add_argument("--force", action="store_true", help="fetch it again and replace the installed one")
    get.add_argument("--no-measure", action="store_true", help="do not measure its speed here afterwards")
    get.set_defaults(func=cmd_models_get)
