"""A run's working directory: resolved config, metrics log, summary and plots.

Files are written so that an interrupted or failed run never leaves a half-written file:
`config.yaml` and `summary.json` are replaced atomically, `metrics.jsonl` gets whole lines,
flushed as they are written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
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


class RunDir:
    """The files of one run under `path`."""

    writes_files = True  # False where another process of a multi-host run writes them

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._metrics = None

    def start(self, config_yaml: str) -> None:
        """Create the directory and write `config.yaml` (metrics.jsonl starts at the first row)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / "config.yaml", config_yaml)

    def log(self, row: dict) -> None:
        """Append one JSON line to `metrics.jsonl` (a fresh file for the run's first row).

        For rows that are not training steps (the optimizer race's lanes); the training loop
        writes its rows through `engine.writers.JsonlWriter`, in the same flat shape."""
        if self._metrics is None:
            self._metrics = open(self.path / "metrics.jsonl", "w", buffering=1)
        self._metrics.write(json.dumps(_json_safe(row)) + "\n")

    def write_summary(self, summary: dict) -> None:
        write_atomic(self.path / "summary.json", json.dumps(_json_safe(summary), indent=2) + "\n")

    def write_json(self, name: str, data: Any) -> None:
        write_atomic(self.path / name, json.dumps(_json_safe(data), indent=2) + "\n")

    def file(self, name: str) -> Path:
        return self.path / name

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a run's `metrics.jsonl` (`path` is the run dir or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
