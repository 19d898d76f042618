"""Periodic actions around the training loop (TensorBoard, reports, plots), kept out of its body.

Each experiment builds its hooks as an explicit, ordered list in one place
(`jaxcourse.runners.hooks`); the loop calls them in that order. A hook sees one run (one
variant of a stacked sweep): the step, that run's train state and its metrics row, and returns
what it changes, never the loop itself. Checkpoints and resuming are not hooks: the loop
resumes before any hook starts and saves right after a row's hooks ran (see
`jaxcourse.engine.loop`).
"""

from __future__ import annotations

from typing import Any


def crossed(every: int | None, step: int, n: int) -> bool:
    """Is it time? Whether the last `n` steps (step-n+1 .. step) passed a multiple of `every`."""
    return bool(every) and step // every > (step - n) // every


class Hook:
    """Base class: every method is optional and does nothing by default."""

    def on_start(self, step: int, state: Any) -> None:
        """Before the first step of this process (`step` > 0 when resumed)."""

    def on_call(self, step: int, state: Any, metrics: dict) -> None:
        """After each compiled call (and the row and checkpoint of `step`, if it has them):
        `metrics` are the call's per-step metrics, still on the device ({name: (steps,)})."""

    def on_row(self, step: int, state: Any, row: dict) -> None:
        """After the metrics row of `step` was written (before its checkpoint is saved)."""

    def on_end(self, step: int, state: Any, summary: dict) -> dict | None:
        """After training; returns entries to add to summary.json (or None)."""
        return None

    def on_interrupt(self, step: int) -> None:
        """Training was stopped by an exception (Ctrl-C, a crash) after `step` steps: make
        what was written so far durable (on_end is not called)."""

    @classmethod
    def overrides(cls, name: str) -> bool:
        """Whether this hook class does something in method `name` (the loop skips no-ops)."""
        return getattr(cls, name) is not getattr(Hook, name)
