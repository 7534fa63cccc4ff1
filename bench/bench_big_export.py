"""Big exports and long turns: the Word export of a session of many turns, and the import of a
transcript with one long turn and one long word, against a small reference measured in the
same run.

    python bench/bench_big_export.py                  # docx at 1,000 and 8,000 turns; import at 10 kB and 200 kB
    python bench/bench_big_export.py --turns 1000 100000 --kb 10 1000

Each row prints the size, the seconds and the ratio of seconds to the reference row's (the
first size), next to the ratio of sizes: work that grows linearly keeps the two close, work
that grows with the square makes the first the square of the second. The sessions are built
in an in-memory store from the demo's lines; every third turn is coded, so the export writes
shading and Word comments as a coded study does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.interchange.exporters import ExportOptions, render  # noqa: E402
from core.pipeline.importing import import_transcript, read_transcript  # noqa: E402
from core.store.database import NewSegment, Store  # noqa: E402
from core.study.guide import load_guide  # noqa: E402

GUIDE = "koers-en-kansen"
LINES = [
    "En hoe verliep de samenwerking met het wijkteam?",
    "We delen informatie met elkaar, maar het vertrouwen moest groeien in de tijd.",
    "Wat maakte dat het vertrouwen groeide?",
    "Dat we elkaar vaker zagen, en dat afspraken werden nagekomen door alle partners.",
]


def docx_seconds(turns: int) -> float:
    store = Store(memory_name=f"bench-docx-{turns}")
    guide = load_guide(GUIDE)
    sid = store.create_session(guide, origin="import", status="imported", title=f"{turns} turns")
    dims = guide.dimensions
    with store.db.atomic():
        for n in range(turns):
            text = LINES[n % len(LINES)]
            seg = store.add_segment(sid, NewSegment("interviewer" if n % 2 == 0 else "respondent", text, None, None,
                                                    speaker_label="X" if n % 2 == 0 else "Y", origin="import"))
            if n % 3 == 1:
                d = dims[n % len(dims)]
                store.add_coding(seg, d.id, d.indicators[0].id, start_offset=3, end_offset=20)
    started = time.perf_counter()
    files = render(store, [sid], "docx", ExportOptions())
    took = time.perf_counter() - started
    assert files[0].data[:2] == b"PK"
    store.close()
    return took


def import_seconds(kb: int, folder: Path) -> float:
    cues = " ".join(LINES)
    turn = ((cues + " ") * (kb * 1000 // len(cues) + 1))[: kb * 1000]
    word = "qx" * (kb * 1000 // 20)
    path = folder / f"long-{kb}.txt"
    path.write_text(f"Interviewer: {turn}?\nRespondent: {turn} {word}\n", encoding="utf-8")
    store = Store(memory_name=f"bench-import-{kb}")
    guide = load_guide(GUIDE)
    started = time.perf_counter()
    import_transcript(store, read_transcript(path), guide, interviewer=["Interviewer"])
    took = time.perf_counter() - started
    store.close()
    return took


def table(title: str, unit: str, sizes: list[int], measure) -> None:
    print(title)
    print(f"  {unit:>10} {'seconds':>9} {'time ratio':>11} {'size ratio':>11}")
    ref = None
    for size in sizes:
        s = measure(size)
        ref = ref or (size, s)
        print(f"  {size:>10,} {s:>9.2f} {s / ref[1]:>11.1f} {size / ref[0]:>11.1f}")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, nargs="+", default=[1000, 8000], help="session sizes for the docx export")
    ap.add_argument("--kb", type=int, nargs="+", default=[10, 200],
                    help="kilobytes of the long turn (the long word is a tenth of it)")
    args = ap.parse_args(argv)
    table("docx export of one session", "turns", args.turns, docx_seconds)
    with tempfile.TemporaryDirectory() as tmp:
        table("import of a transcript with one long turn each side and a long word", "kB per turn", args.kb,
              lambda kb: import_seconds(kb, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
