"""Experiments by name, and `run_experiment`, the one entry point that runs any of them.

Importing this package registers every experiment (and, through them, every model, dataset,
optimizer and loss), so that configs can be validated.
"""

from __future__ import annotations

from pathlib import Path

from jaxcourse import classification_report  # noqa: F401  (registers its hook)
from jaxcourse import config as config_lib
from jaxcourse.config import EXPERIMENTS
from jaxcourse.engine.rundir import RunDir
from jaxcourse.kernels import conv
from jaxcourse.runners import (  # noqa: F401  (register their experiments)
    compare,
    multitask,
    race,
    supervised,
    transfer,
)


def default_workdir(config_path: str | Path | None, config) -> Path:
    """`workdir` from the config, else runs/<config file stem> (or runs/<experiment>)."""
    if config.workdir:
        return Path(config.workdir)
    stem = Path(config_path).stem if config_path else config.experiment
    return Path("runs") / stem


def run_experiment(
    config, workdir: str | Path | None = None, config_path: str | Path | None = None
) -> dict:
    """Run a validated config; write config.yaml, metrics.jsonl, plots and summary.json."""
    conv.set_backend(config.perf.conv_backend)  # before any model is traced
    rundir = RunDir(workdir or default_workdir(config_path, config))
    parallel = getattr(config, "parallel", None)
    if parallel is not None:  # join a multi-process run first; only process 0 writes files
        from jaxcourse.parallel import distributed

        distributed.initialize(parallel.distributed)
        if not distributed.is_primary():
            rundir = distributed.SilentRunDir(rundir.path)
    rundir.start(config_lib.dump_yaml(config))
    try:
        return EXPERIMENTS.get(config.experiment)(config, rundir)
    finally:
        rundir.close()
