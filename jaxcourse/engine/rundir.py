"""A run's working directory: resolved config, metrics log, summary and plots.

Nothing is written before the run really starts: `start` only remembers the config, and the
first write (or `begin`) creates the directory and writes `config.yaml`, so a run that fails
its checks leaves an existing run directory as it was. Files are written so that an
interrupted or failed run never leaves a half-written file: `config.yaml` and `summary.json`
are replaced atomically, `metrics.jsonl` gets whole lines, flushed as they are written (a
torn last line, from a power loss or a full disk, is dropped with a warning on resume).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jaxcourse.errors import JaxcourseError


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` to `path` via a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value: Any) -> Any:
    """Numbers as plain floats/ints (NaN/Inf as strings, since JSON has none)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsFileError(JaxcourseError):
    """A run's metrics.jsonl is damaged in a way that cannot be repaired by itself."""

    exit_code = 4


class RunDir:
    """The files of one run under `path`."""

    writes_files = True  # False where another process of a multi-host run writes them

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._metrics = None
        self._config_yaml: str | None = None
        self.begun = False
        self._closers: list[Callable[[], None]] = []

    def start(self, config_yaml: str) -> None:
        """Remember the run's `config.yaml`; it is written by `begin`, not now."""
        self._config_yaml = config_yaml

    def begin(self) -> None:
        """The run really starts: create the directory and write `config.yaml` (once)."""
        if self.begun:
            return
        self.begun = True
        self.path.mkdir(parents=True, exist_ok=True)
        if self._config_yaml is not None:
            write_atomic(self.path / "config.yaml", self._config_yaml)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call `closer` when the run ends, however it ends (first registered, last called)."""
        self._closers.append(closer)

    def log(self, row: dict) -> None:
        """Append one JSON line to `metrics.jsonl` (a fresh file for the run's first row).

        For rows that are not training steps (the optimizer race's lanes); the training loop
        writes its rows through `engine.writers.JsonlWriter`, in the same flat shape."""
        self.begin()
        if self._metrics is None:
            self._metrics = open(self.path / "metrics.jsonl", "w", buffering=1)
        self._metrics.write(json.dumps(_json_safe(row)) + "\n")

    def write_summary(self, summary: dict) -> None:
        self.begin()
        write_atomic(self.path / "summary.json", json.dumps(_json_safe(summary), indent=2) + "\n")

    def write_json(self, name: str, data: Any) -> None:
        self.begin()
        write_atomic(self.path / name, json.dumps(_json_safe(data), indent=2) + "\n")

    def file(self, name: str) -> Path:
        """The path of a file the caller is about to write in the run directory."""
        self.begin()
        return self.path / name

    def close(self) -> None:
        """Run the `on_close` callbacks, then close `metrics.jsonl`."""
        try:
            while self._closers:
                self._closers.pop()()
        finally:
            self._close_metrics()

    def _close_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a run's `metrics.jsonl` (`path` is the run dir or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    lines = path.read_bytes().split(b"\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if any(rest.strip() for rest in lines[number:]):
                raise MetricsFileError(
                    f"'{path}' line {number} is not a JSON metrics row; fix or delete that line"
                ) from None
            warnings.warn(
                f"dropped the torn last line of '{path}' ({len(line)} bytes, an interrupted "
                "write); the run goes on from the rows before it",
                stacklevel=2,
            )
    return rows
