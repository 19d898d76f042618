"""Several processes (hosts) training one model with JAX's own runtime.

`initialize(cfg)` calls `jax.distributed.initialize` once, before anything touches a device,
with the coordinator address, process count and process id taken from (first found wins) the
`parallel.distributed` config section, `JAXCOURSE_*` environment variables, or a cluster
scheduler JAX recognises (SLURM, Open MPI, Kubernetes, TPU pods), which fills in what is left.
Afterwards every process sees all devices of all processes; process 0 is the primary: only it
writes the run's files (`SilentRunDir` stands in for the run directory elsewhere).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from jaxcourse.config import Section
from jaxcourse.engine.rundir import RunDir
from jaxcourse.errors import ConfigError

ENV_COORDINATOR = "JAXCOURSE_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAXCOURSE_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXCOURSE_PROCESS_ID"


class DistributedConfig(Section):
    """How this process joins a multi-process (multi-host) run."""

    initialize: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Call jax.distributed.initialize: auto = when more than one process is "
        "configured (here, in JAXCOURSE_* variables or by a cluster scheduler such as SLURM); "
        "on = always (JAX detects the cluster); off = never (single process).",
    )
    coordinator_address: str | None = Field(
        None,
        description="host:port of process 0's coordinator service; null = "
        f"${ENV_COORDINATOR} or the cluster's first node.",
    )
    num_processes: PositiveInt | None = Field(
        None, description=f"How many processes take part; null = ${ENV_NUM_PROCESSES} or cluster."
    )
    process_id: NonNegativeInt | None = Field(
        None, description=f"This process's rank (0 = primary); null = ${ENV_PROCESS_ID} or cluster."
    )
    local_device_ids: list[NonNegativeInt] | None = Field(
        None, description="Devices of this host this process uses; null = all (or the cluster's)."
    )
    timeout_s: PositiveInt = Field(
        300, description="Seconds to wait for all processes to connect to the coordinator."
    )


# The cluster schedulers JAX detects by itself, and a variable that gives each one away.
CLUSTER_MARKERS = {
    "slurm": ("SLURM_JOB_ID", "SLURM_NTASKS"),
    "open_mpi": ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"),
}


@dataclass(frozen=True)
class Launch:
    """What `initialize` will pass to `jax.distributed.initialize` (None = JAX detects it)."""

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    local_device_ids: list[int] | None
    source: str  # 'config', 'environment' or the detected cluster's name


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}: expected an integer, got {text!r}"
        ) from None


def _detected_cluster(environ: Mapping[str, str]) -> tuple[str, int] | None:
    """(name, number of tasks) of a multi-task cluster job this process runs in, if any."""
    for name, (marker, size_var) in CLUSTER_MARKERS.items():
        if marker in environ:
            size = _env_int(environ, size_var) or 1
            if size > 1:
                return name, size
    return None


def resolve(cfg: DistributedConfig, environ: Mapping[str, str] = os.environ) -> Launch | None:
    """The launch parameters for this process, or None when it runs alone."""
    if cfg.initialize == "off":
        return None
    address = cfg.coordinator_address or environ.get(ENV_COORDINATOR) or None
    count = cfg.num_processes or _env_int(environ, ENV_NUM_PROCESSES)
    rank = cfg.process_id if cfg.process_id is not None else _env_int(environ, ENV_PROCESS_ID)
    cluster = _detected_cluster(environ)
    explicit = any(v is not None for v in (cfg.coordinator_address, cfg.num_processes))
    source = "config" if explicit else ("environment" if count or address else None)
    if count is None and cluster is None:
        if cfg.initialize == "on":
            return Launch(address, None, rank, cfg.local_device_ids, "jax auto-detection")
        if address is not None:
            raise ConfigError(
                "config key 'parallel.distributed.num_processes': a coordinator address is "
                f"set but not how many processes take part (set it or ${ENV_NUM_PROCESSES})"
            )
        return None
    if count == 1 and cfg.initialize == "auto":
        return None
    if count is not None and cluster is None:
        problems = []
        if address is None:
            problems.append(
                "config key 'parallel.distributed.coordinator_address': expected host:port of "
                f"process 0 (or ${ENV_COORDINATOR}) for a run of {count} processes, got nothing"
            )
        if rank is None:
            problems.append(
                "config key 'parallel.distributed.process_id': expected this process's rank "
                f"0..{count - 1} (or ${ENV_PROCESS_ID}), got nothing"
            )
        if problems:
            raise ConfigError(problems)
    if count is not None and rank is not None and rank >= count:
        raise ConfigError(
            f"config key 'parallel.distributed.process_id': expected 0..{count - 1} for "
            f"{count} processes, got {rank}"
        )
    return Launch(address, count, rank, cfg.local_device_ids, source or cluster[0])


def initialize(cfg: DistributedConfig, environ: Mapping[str, str] = os.environ) -> Launch | None:
    """Join the multi-process run `cfg` and the environment describe (once per process)."""
    import jax

    launch = resolve(cfg, environ)
    if launch is None or jax.distributed.is_initialized():
        return launch
    jax.distributed.initialize(
        coordinator_address=launch.coordinator_address,
        num_processes=launch.num_processes,
        process_id=launch.process_id,
        local_device_ids=launch.local_device_ids,
        initialization_timeout=cfg.timeout_s,
    )
    return launch


def is_primary() -> bool:
    """Whether this is process 0, the one that writes logs, summaries and plots."""
    import jax

    return jax.process_index() == 0


class SilentRunDir(RunDir):
    """The run directory as seen by a non-primary process: it reads but never writes there.

    Metrics rows, summaries and JSON files are dropped; files asked for by name (plots) go to
    a private temporary directory that is removed on `close`.
    """

    writes_files = False

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._scratch = tempfile.TemporaryDirectory(prefix="jaxcourse-secondary-")

    def start(self, config_yaml: str) -> None:
        pass

    def log(self, row: dict) -> None:
        pass

    def write_summary(self, summary: dict) -> None:
        pass

    def write_json(self, name: str, data) -> None:
        pass

    def file(self, name: str) -> Path:
        return Path(self._scratch.name) / name

    def close(self) -> None:
        self._scratch.cleanup()
