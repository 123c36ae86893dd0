"""pipeline.heap: memory a build frees goes back to the system, so resident memory follows the work
in flight rather than the corpus. Each case runs in a fresh interpreter (malloc settings are per
process): large blocks freed after glibc raised its mmap threshold stay resident by default and are
returned with the tuning on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, psutil
from pipeline import heap
print("tuned", heap.return_freed_memory())
big = bytearray(16 * 2**20); del big  # glibc now serves blocks below 16 MiB from its heap
rss0 = psutil.Process().memory_info().rss
blocks, pins = [], []
for _ in range(150):  # 300 MiB of 2 MiB blocks, each followed by a small block that stays
    blocks.append(bytearray(2 * 2**20))
    pins.append(bytearray(4096))
del blocks
print("kept_mb", (psutil.Process().memory_info().rss - rss0) / 2**20)
"""


def _kept(tuning: str) -> tuple[bool, float]:
    # glibc's own defaults: any MALLOC_*_ variable (a Dask Nanny started in this process sets
    # MALLOC_TRIM_THRESHOLD_ here for its workers) turns off glibc's dynamic mmap threshold
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(PMC_INSTRUCT_MALLOC_TUNING=tuning, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True).stdout
    lines = dict(line.split() for line in out.splitlines())
    return lines["tuned"] == "True", float(lines["kept_mb"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc tuning is for glibc on Linux")
def test_freed_large_blocks_leave_the_process_with_the_tuning_on():
    tuned, kept = _kept("1")
    if not tuned:
        pytest.skip("this libc has no mallopt(M_MMAP_THRESHOLD)")
    untuned, kept_default = _kept("0")
    assert not untuned
    assert kept_default > 200, kept_default  # the default keeps the freed blocks resident
    assert kept < 30, kept
