"""Small timing helpers shared by the trainers and the benchmark scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable


def best_rate(fn: Callable[[], object], flops: float, repeats: int) -> float:
    """GFLOP/s of the fastest of `repeats` calls of `fn` (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def rerun_with_xla_flags(module: str, xla_flags: str, argv: list[str]) -> int:
    """`python -m module *argv` in a child process with exactly `xla_flags` as XLA_FLAGS
    (jaxcourse's own flags switched off): XLA reads its flags once per process."""
    env = dict(os.environ, XLA_FLAGS=xla_flags, JAXCOURSE_XLA_TUNING="0")
    return subprocess.run([sys.executable, "-m", module, *argv], env=env).returncode


def use_jaxcourse_xla_flags() -> None:
    """Add jaxcourse's XLA CPU flags (those the environment does not set) and print them."""
    from jaxcourse import perf

    perf.configure_xla_flags()
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
