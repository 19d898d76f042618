"""Small timing helpers shared by the trainers."""

from __future__ import annotations

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
