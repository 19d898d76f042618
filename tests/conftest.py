"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# tests write only into tmp_path: no persistent compilation cache in ~/.cache
os.environ.setdefault("JAXCOURSE_COMPILATION_CACHE", "off")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m jaxcourse ARGS...` in a fresh process; returns the completed process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "jaxcourse", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def fresh_tf_graph():
    """An empty default graph of jaxcourse.compat.v1 for the test, and again after it."""
    from jaxcourse.compat.v1 import reset_default_graph

    reset_default_graph()
    yield
    reset_default_graph()
