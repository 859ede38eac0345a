"""trainer.cpu_allocator: `keep` stops glibc from handing large freed blocks back to the kernel after every
use (so the next step reuses them instead of faulting fresh pages in); `auto` does so on CPU only."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framework.engine.allocator import apply_cpu_allocator, glibc
from framework.engine.config import TrainerConfig
from framework.errors import ConfigValueError

# page faults while a 40 MiB buffer (above glibc's largest adaptive mmap threshold, 32 MiB) is made, filled and
# freed, five times; numpy allocates through malloc as torch's CPU tensors do, without torch's own start-up
FAULTS = """
import resource, sys
import numpy as np
from framework.engine.allocator import apply_cpu_allocator
print(apply_cpu_allocator(sys.argv[1], "cpu").kept, file=sys.stderr)
np.ones(10 << 20, dtype=np.float32)  # the first one faults its pages in whatever the setting
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    np.ones(10 << 20, dtype=np.float32)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(setting: str) -> int:
    done = subprocess.run([sys.executable, "-c", FAULTS, setting], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(glibc() is None, reason="mallopt thresholds are glibc's")
def test_keep_reuses_freed_blocks_instead_of_faulting_pages_again() -> None:
    system, keep = faults("system"), faults("keep")
    assert keep * 4 < system, (keep, system)  # system: every tensor's pages again; keep: the heap's, reused


def test_auto_keeps_on_cpu_only_and_system_changes_nothing() -> None:
    assert not apply_cpu_allocator("system", "cpu").kept
    assert not apply_cpu_allocator("auto", "cuda").kept
    assert "cuda" in apply_cpu_allocator("auto", "cuda").reason


def test_unknown_setting_names_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigValueError, match=r"cpu_allocator=fast: use one of auto, keep, system"):
        TrainerConfig(cpu_allocator="fast").validate()
