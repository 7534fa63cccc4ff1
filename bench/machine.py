"""The machine a benchmark ran on, in one line, printed with its figures.

What Whisper hears depends on more than fieldnote's code. CTranslate2 does its int8 matrix
products through Intel MKL on an Intel CPU and through oneDNN on others (AMD's), and oneDNN
picks its kernels by the CPU's instruction sets; other kernels round otherwise. On an AMD EPYC,
`bench_decoding.py --interviews 1,5 '{}'` heard WER 0.266 / 0.375 (interviewer / respondent) as
it came, and 0.270 / 0.384 with oneDNN held to AVX2 (no VNNI; see the README), and
the prompts, guide tracking and suggestions that follow move with what is heard. The line names
the CPU (whose maker decides the library), the instruction sets oneDNN chooses among, and the
versions of the libraries that do the hearing.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# The instruction sets oneDNN chooses CTranslate2's int8 kernels by, as /proc/cpuinfo names them.
_ISA = (("avx512_vnni", "AVX-512 VNNI"), ("avx512f", "AVX-512"), ("avx_vnni", "AVX-VNNI"), ("avx2", "AVX2"),
        ("neon", "NEON"), ("asimd", "NEON"))


def cpu(info: str | None = None) -> tuple[str, list[str]]:
    """The CPU's name and the instruction sets among `_ISA` it has, from /proc/cpuinfo (or its
    text given); on a system without it (Windows, macOS), the platform's name and none."""
    if info is None:
        try:
            info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return platform.processor() or platform.machine(), []
    # Each processor repeats its lines: the first of each is the machine's.
    first: dict[str, str] = {}
    for line in info.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            first.setdefault(key.strip().lower(), value.strip())
    name = first.get("model name") or first.get("hardware") or platform.machine()
    flags = set((first.get("flags") or first.get("features") or "").split())
    return name, list(dict.fromkeys(label for flag, label in _ISA if flag in flags))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_line() -> str:
    """"machine: AMD EPYC, 2 cores (AVX-512 VNNI, AVX-512, AVX2); ctranslate2 4.8.5, ..."""
    name, isa = cpu()
    cores = os.cpu_count() or 0
    sets = f" ({', '.join(isa)})" if isa else ""
    libraries = ", ".join(f"{p} {_version(p)}" for p in ("ctranslate2", "faster-whisper", "onnxruntime"))
    return f"machine: {name}, {cores} cores{sets}; {libraries}"


if __name__ == "__main__":
    print(machine_line())
