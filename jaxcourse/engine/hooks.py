"""Periodic actions around the training loop (logging, checkpoints, ...), kept out of its body.

A hook overrides any of the methods below. Features add themselves by appending a factory to
`HOOK_FACTORIES`: `factory(config, rundir, training) -> Hook | None` (None = not enabled).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """Base class: every method is optional and does nothing by default."""

    def on_start(self, loop: Any) -> None:
        """Before the first step; may replace `loop.state` (e.g. to resume)."""

    def after_call(self, loop: Any) -> None:
        """After each compiled call; `loop.step` steps are done, `loop.state` is current."""

    def after_log(self, loop: Any, row: dict) -> None:
        """After a metrics row was written."""

    def on_end(self, loop: Any, summary: dict) -> None:
        """After training, before summary.json is written (may add to `summary`)."""


HOOK_FACTORIES: list[Callable[..., Hook | None]] = []


def make_hooks(config, rundir, training) -> list[Hook]:
    """The hooks that `config` enables."""
    hooks = (factory(config, rundir, training) for factory in HOOK_FACTORIES)
    return [h for h in hooks if h is not None]
