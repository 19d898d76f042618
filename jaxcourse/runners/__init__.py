"""The experiments: `load_config` validates a config against its experiment's schema,
`run_experiment` runs any of them.

Importing this package registers every experiment (`runners.registry.EXPERIMENTS`) and,
through them, every model, dataset, optimizer and loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxcourse import config as config_lib
from jaxcourse.engine.hooks import Hook
from jaxcourse.engine.rundir import RunDir
from jaxcourse.kernels import conv
from jaxcourse.parallel import distributed
from jaxcourse.runners import (  # noqa: F401  (register their experiments)
    compare,
    multitask,
    race,
    supervised,
    transfer,
)
from jaxcourse.runners.registry import EXPERIMENTS


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), raw=None, source=None
):
    """Read `path` (or take `raw`, read from `source`), apply `key=value` overrides and
    validate it against the schema of its experiment; every problem is reported at once as
    one ConfigError."""
    return config_lib.load(EXPERIMENTS, path, list(overrides), raw, source)


def default_workdir(config_path: str | Path | None, config) -> Path:
    """`workdir` from the config, else runs/<config file stem> (or runs/<experiment>)."""
    if config.workdir:
        return Path(config.workdir)
    stem = Path(config_path).stem if config_path else config.experiment
    return Path("runs") / stem


def run_experiment(
    config,
    workdir: str | Path | None = None,
    config_path: str | Path | None = None,
    hooks: Sequence[Hook] = (),
) -> dict:
    """Run a validated config; write config.yaml, metrics.jsonl, plots and summary.json.

    config.yaml is written when the run really starts (the first file it writes), after the
    data, model, devices and checkpoints were checked; the run directory's resources
    (checkpoint manager, metrics file) are closed however the run ends."""
    conv.set_backend(config.perf.conv_backend)  # before any model is traced
    rundir = RunDir(workdir or default_workdir(config_path, config))
    parallel = getattr(config, "parallel", None)
    if parallel is not None:  # join a multi-process run first; only process 0 writes files
        distributed.initialize(parallel.distributed)
        if not distributed.is_primary():
            rundir = distributed.SilentRunDir(rundir.path)
    rundir.start(config_lib.dump_yaml(config))
    try:
        return EXPERIMENTS.get(config.experiment)(config, rundir, hooks)
    finally:
        rundir.close()
