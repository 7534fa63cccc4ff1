"""`fieldnote delete` and `fieldnote doctor`: looking after the study database and this machine."""

from __future__ import annotations

import sys
from pathlib import Path

from core.base import paths
from core.base.errors import UserError
from tui.commands.args import session_id as _session_id


def _db_path(args) -> Path:
    return Path(args.db) if args.db else paths.default_db()


def _size(n: int) -> str:
    from core.doctor import _size as size

    return size(n)


def _describe(d, *, done: bool) -> list[str]:
    lines = [f"  {table:<18} {n:>7} row{'s' if n != 1 else ''}" for table, n in d.rows.items()]
    lines.append(f"  {'full-text index':<18} {d.index_entries:>7} entr{'ies' if d.index_entries != 1 else 'y'}")
    if d.audio_dir is None:
        lines.append(f"  {'audio':<18} none recorded")
    elif d.audio_kept:
        lines.append(f"  {'audio':<18} {d.audio_dir} {'was' if done else 'is'} left in place: {d.audio_kept}")
    else:
        lines.append(f"  {'audio':<18} {d.audio_dir} ({d.audio_files} file{'s' if d.audio_files != 1 else ''}, "
                     f"{_size(d.audio_bytes)})")
    return lines


def cmd_delete(args) -> int:
    from core.store.deletion import delete_session, plan_deletion
    from core.store.database import Store

    store = Store(_db_path(args))
    try:
        plan = plan_deletion(store, args.session)
        if not args.yes:
            print(f"Session {plan.session_id} ({plan.title}) and everything that belongs to it:")
            print("\n".join(_describe(plan, done=False)))
            if not sys.stdin.isatty():
                raise UserError("nothing deleted: add --yes to delete without being asked")
            answer = input("Delete all of this for good? It cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing deleted.")
                return 1
        done = delete_session(store, args.session)
    finally:
        store.close()
    print(f"Deleted session {done.session_id} ({done.title}): {done.total_rows} rows in {len(done.rows)} tables.")
    print("\n".join(_describe(done, done=True)))
    if not done.wal_emptied:
        print("Another fieldnote has the database open: its write-ahead log keeps old pages until that one closes.")
    return 0


def cmd_doctor(args) -> int:
    from core.doctor import FAIL, WARN, exit_status, run_checks

    db = _db_path(args)
    print(f"fieldnote doctor: data in {paths.home()}, database {db}")
    checks = run_checks(db, model=args.model, threads=args.threads, audio_test=args.audio_test,
                        check_model_speed=not args.no_model)
    for c in checks:
        print(f"  {c.status:<5} {c.area:<9} {c.summary}")
        if c.fix:
            print(f"  {'':<5} {'':<9} -> {c.fix}")
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    if fails:
        print(f"{fails} problem{'s' if fails != 1 else ''} to fix before recording" + (f", {warns} to look at." if warns else "."))
    elif warns:
        print(f"Ready, with {warns} thing{'s' if warns != 1 else ''} to look at.")
    else:
        print("All checks passed.")
    return exit_status(checks)


def register(sub) -> None:
    p = sub.add_parser("delete", help="delete a session: its transcript, codes, memos and audio",
                       description="Delete one session for good: its rows in every table (segments, suggestions, "
                       "codings, memos, question events and the rest), its full-text index entries, and its "
                       "recorded audio. Says what it removed.")
    p.add_argument("session", type=_session_id, metavar="SESSION", help="session id, as `fieldnote sessions` shows")
    p.add_argument("--yes", action="store_true", help="do not ask first")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("doctor", help="check audio devices, the model, disk space and the database",
                       description="Check what an interview needs: audio devices, the Whisper model (and its "
                       "speed on this machine), free disk space, the database (integrity, schema, size), "
                       "file permissions, and recordings cut off by a crash. Exit status 1 when something "
                       "must be fixed.")
    p.add_argument("--model", metavar="NAME_OR_PATH", help="the model to check (default: base, bundled)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the speed test (default 2)")
    p.add_argument("--audio-test", action="store_true",
                   help="also play a short tone and record both devices meanwhile")
    p.add_argument("--no-model", action="store_true", help="skip loading the model and its speed test")
    p.set_defaults(func=cmd_doctor)
