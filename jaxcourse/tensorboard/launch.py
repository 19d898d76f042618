"""`jaxcourse tensorboard RUN_DIR`: start the real TensorBoard on a run (or a folder of runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from jaxcourse.errors import JaxcourseError


class TensorBoardError(JaxcourseError):
    """TensorBoard cannot be started on the given directory."""


def event_files(logdir: Path) -> list[Path]:
    return sorted(logdir.rglob("events.out.tfevents.*"))


def check_logdir(run_dir: str | Path) -> Path:
    """`run_dir` if it holds TensorBoard event files (at any depth), else a clear error."""
    path = Path(run_dir)
    if not path.is_dir():
        raise TensorBoardError(f"run directory '{path}' does not exist")
    if not event_files(path):
        raise TensorBoardError(
            f"no TensorBoard event files under '{path}'; train with logging.tensorboard=true "
            "(e.g. jaxcourse run configs/tensorboard_mnist.yaml)"
        )
    return path


def command(logdir: str | Path, host: str = "127.0.0.1", port: int = 6006) -> list[str]:
    """The argv that serves `logdir` with this Python's tensorboard package."""
    return [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        host,
        "--port",
        str(port),
        "--load_fast",
        "false",
    ]


def launch(run_dir: str | Path, host: str, port: int) -> NoReturn:
    """Replace this process by TensorBoard serving `run_dir` (Ctrl-C stops it)."""
    logdir = check_logdir(run_dir)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise TensorBoardError(
            "the tensorboard package is not installed: pip install 'jaxcourse[tensorboard]'"
        ) from None
    print(f"TensorBoard on {logdir}: http://{host}:{port}/", file=sys.stderr, flush=True)
    sys.stdout.flush()
    argv = command(logdir, host, port)
    os.execv(argv[0], argv)
