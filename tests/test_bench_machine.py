"""The benchmarks print the machine they ran on with their figures (bench/machine.py): what
Whisper hears depends on the CPU's instruction sets, through CTranslate2's choice of kernels."""

from __future__ import annotations

import re

from benches import bench_module

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9B14
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512bw avx512_vnni
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
"""


def test_the_cpu_is_named_with_the_instruction_sets_that_choose_whispers_kernels():
    machine = bench_module("machine")
    assert machine.cpu(X86) == ("AMD EPYC 9B14", ["AVX-512 VNNI", "AVX-512", "AVX2"])
    name, sets = machine.cpu(ARM)
    assert sets == ["NEON"]
    assert name  # the platform's name where cpuinfo gives none
    assert machine.cpu("flags\t: fpu sse sse2\n")[1] == []


def test_the_line_names_the_libraries_that_do_the_hearing_with_their_versions():
    line = bench_module("machine").machine_line()
    assert line.startswith("machine: ")
    for package in ("ctranslate2", "faster-whisper", "onnxruntime"):
        assert re.search(rf"{package} \d+\.\d+", line), line
