"""The C engine built with AddressSanitizer and UBSan, fed a million mutated packets: zero
findings (issue 11 §4).

The module is compiled here from geodns/answer/_native*.c (as setup.py lists them; the
signed draws' RRSIG lookup is _native_signed.c) into a temporary directory, with
-fsanitize=address,undefined and no recovery (the first finding aborts), and loaded by
tests/native_fuzz.py in a Python whose allocator is plain malloc (PYTHONMALLOC=malloc:
pymalloc's arenas would hide an overrun of a small block from ASan) with ASan's runtime
preloaded. Leak detection is off: the interpreter itself keeps memory at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    ROOT / "geodns" / "answer" / name
    for name in ("_native.c", "_native_defences.c", "_native_rrl.c", "_native_signed.c")
]
DRIVER = ROOT / "tests" / "native_fuzz.py"
PACKETS = 1_000_000
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def compile_sanitized(out: Path) -> Path:
    module = out / "_native_sanitized.so"
    command = [
        "gcc",
        "-shared",
        "-fPIC",
        "-std=gnu11",
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        *SANITIZERS,
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-missing-field-initializers",
        f"-I{sysconfig.get_paths()['include']}",
        *[str(source) for source in SOURCES],
        "-o",
        str(module),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return module


def test_a_million_mutated_packets_through_the_sanitized_engine_find_nothing(tmp_path):
    module = compile_sanitized(tmp_path)
    runtime = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], check=True, capture_output=True, text=True
    ).stdout.strip()
    env = {
        **os.environ,
        "LD_PRELOAD": runtime,
        "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "PYTHONMALLOC": "malloc",
    }
    result = subprocess.run(
        [sys.executable, str(DRIVER), str(module), str(PACKETS), "20261203"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1200,
    )
    findings = [
        line
        for line in result.stderr.splitlines()
        if "AddressSanitizer" in line or "runtime error:" in line or "LeakSanitizer" in line
    ]
    assert (result.returncode, findings) == (0, []), result.stderr[-4000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["packets"] >= PACKETS
    # the run went where it was meant to: C's hits and draws, misses, evictions, refusals
    hits, misses = (
        counts["hits"] + counts["signed_hits"],
        counts["misses"] + counts["signed_misses"],
    )
    assert hits > 0.2 * PACKETS and misses > 0.4 * PACKETS
    assert counts["through_socket"] >= 0.09 * PACKETS
    assert counts["evictions"] > 0 and counts["resets"] > 0
    assert counts["bad_specs_refused"] > 10_000
    assert counts["denied"] > 0.1 * PACKETS  # the access lists and the refusal in C
    assert counts["bad_access_refused"] > 1000
    assert counts["rrl_limited"] > 1000  # a table of 64 buckets, full and evicting
    assert counts["bad_rrl_refused"] > 1000
    # signed draws: C appended their RRSIGs, and missed to Python for sets not signed yet
    assert counts["signed_hits"] > 0.01 * PACKETS and counts["signed_misses"] > 0
