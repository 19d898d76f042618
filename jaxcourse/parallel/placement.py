"""Data-parallel training over several devices (and hosts): the `parallel:` config section.

Every device trains on an equal slice of each global batch and all devices keep the same
parameters, so a run on n devices takes the same steps as one on a single device (up to the
order of floating-point sums). Two ways to get there:

* `sharding` (jax.jit over a `Mesh`): the batch is split along a `data` axis, parameters and
  optimizer state are replicated (or, with `fsdp: true`, split along their largest dimension
  that divides evenly); XLA inserts the gradient all-reduce itself.
* `pmap`: one program per device; gradients, loss and metrics are averaged explicitly with
  `lax.pmean` over the device axis.

Placements implement the interface of `runners.supervised.Placement` (put_data, put_state,
indexed_step, compile). With several processes each trains on its own rows of the training
split (`process_rows`, `localize`), which live on its devices; the mesh is hosts × devices, so
the gather of a batch never crosses hosts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from pydantic import Field, PositiveInt

from jaxcourse import train
from jaxcourse.config import Section
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.engine.hooks import HOOK_FACTORIES, Hook
from jaxcourse.errors import ConfigError
from jaxcourse.parallel.distributed import DistributedConfig

AXIS = "data"  # the pmap axis name that gradients are averaged over
HOSTS, DEVICES = "hosts", "devices"  # mesh axes: processes × devices of each process
BATCH = (HOSTS, DEVICES)  # the batch is split over both


class ParallelConfig(Section):
    """How a run spreads over devices and hosts (the only section that changes between a
    laptop, a multi-GPU machine and a cluster)."""

    mode: Literal["auto", "single", "sharding", "pmap"] = Field(
        "auto",
        description="auto = sharding when more than one device is used, else single; single = "
        "one device; sharding = jit over a device mesh (batch split, params replicated); "
        "pmap = one program per device with explicit gradient averaging (one host only).",
    )
    devices: PositiveInt | None = Field(
        None, description="Devices of each process to use (the first N); null = all of them."
    )
    fsdp: bool = Field(
        False,
        description="sharding mode: split parameters and optimizer state over the devices "
        "(each array along its largest dimension that divides evenly) instead of replicating.",
    )
    fsdp_min_size: PositiveInt = Field(
        16384, description="fsdp: arrays with fewer elements than this stay replicated."
    )
    distributed: DistributedConfig = Field(
        default_factory=DistributedConfig,
        description="Joining a multi-process (multi-host) run (jax.distributed).",
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    """The resolved layout of a run: mode, and the devices of every process in a grid."""

    mode: Literal["single", "sharding", "pmap"]
    grid: tuple[tuple[Any, ...], ...]  # grid[p][d]: device d of process p
    fsdp: bool = False
    fsdp_min_size: int = 16384

    @property
    def num_processes(self) -> int:
        return len(self.grid)

    @property
    def num_devices(self) -> int:
        return sum(len(row) for row in self.grid)

    @property
    def axis_name(self) -> str | None:
        """The named axis the train step averages over (pmap only)."""
        return AXIS if self.mode == "pmap" else None

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "devices": self.num_devices,
            "processes": self.num_processes,
            "fsdp": self.fsdp if self.mode == "sharding" else False,
        }

    def place(self, training, train_cfg) -> tuple[Any, Any]:
        """(training with this process's share of each batch, placement) for `training`."""
        check_batch(train_cfg.batch_size, training.dataset.size("train"), self)
        if self.mode == "single":
            return training, None
        training = localize(training, self.num_processes)
        if self.mode == "pmap":
            return training, PmapPlacement(self.grid[0])
        return training, ShardedPlacement(self.grid, self.fsdp, self.fsdp_min_size)


def make_plan(cfg: ParallelConfig) -> Plan:
    """Resolve `cfg` against the devices JAX sees (after `distributed.initialize`)."""
    num_processes = jax.process_count()
    local = jax.local_devices()
    count = cfg.devices or len(local)
    if count > len(local):
        raise ConfigError(
            f"config key 'parallel.devices': expected at most {len(local)} (the devices this "
            f"process has: {local[0].platform}), got {count}"
        )
    by_process = {}
    for device in sorted(jax.devices(), key=lambda d: (d.process_index, d.id)):
        by_process.setdefault(device.process_index, []).append(device)
    grid = tuple(tuple(by_process[p][:count]) for p in range(num_processes))
    mode = cfg.mode
    if mode == "auto":
        mode = "single" if len(grid) * count == 1 else "sharding"
    if mode == "single" and num_processes > 1:
        raise ConfigError(
            f"config key 'parallel.mode': 'single' cannot run in {num_processes} processes; "
            "use auto or sharding"
        )
    if mode == "pmap" and num_processes > 1:
        raise ConfigError(
            f"config key 'parallel.mode': pmap here runs on one host; with {num_processes} "
            "processes use auto or sharding"
        )
    if mode == "single":
        grid = ((local[0],),)
    return Plan(mode, grid, cfg.fsdp, cfg.fsdp_min_size)


def check_batch(batch_size: int | None, num_examples: int, plan: Plan) -> None:
    """A clear error unless the global batch splits evenly over every device."""
    n = plan.num_devices
    batch = num_examples if batch_size is None else batch_size
    if batch % n:
        given = f"{batch_size}" if batch_size is not None else f"null (all {num_examples})"
        raise ConfigError(
            f"config key 'train.batch_size': the global batch must split evenly over the "
            f"{n} devices ({plan.num_processes} process(es)); got {given}, which leaves "
            f"{batch % n} over (use a multiple of {n}, or set parallel.devices)"
        )


def process_rows(num_examples: int, process: int, num_processes: int) -> np.ndarray:
    """The training rows process p of P trains on: p, p+P, p+2P, ... (as many on each)."""
    per_process = num_examples // num_processes
    return np.arange(process, per_process * num_processes, num_processes)


def localize(training, num_processes: int):
    """`training` whose schedule draws this process's share of each global batch.

    With P processes, each trains on batch_size / P examples per step from its own rows
    (`process_rows`); together they make up the global batch. The dataset itself stays
    whole (evaluation sees every example); `ShardedPlacement.put_data` keeps only the rows.
    """
    if num_processes == 1:
        return training
    old = training.schedule
    per_process = old.num_examples // num_processes
    batch = None if old.full_batch else old.batch_size // num_processes
    schedule = BatchSchedule(per_process, batch, old.seed, old.shuffle)
    return dataclasses.replace(training, schedule=schedule)


def _leaf_spec(shape: tuple[int, ...], n: int, min_size: int) -> P:
    """FSDP: split the largest dimension that `n` divides; small or indivisible: replicate."""
    if not shape or int(np.prod(shape)) < min_size:
        return P()
    dims = [d for d in np.argsort(shape)[::-1] if shape[d] % n == 0]
    if not dims:
        return P()
    spec = [None] * len(shape)
    spec[int(dims[0])] = BATCH
    return P(*spec)


class ShardedPlacement:
    """jit over a (hosts × devices) mesh: batch split, state replicated or FSDP-sharded."""

    def __init__(self, grid, fsdp: bool = False, fsdp_min_size: int = 16384):
        self.mesh = Mesh(
            np.array(grid, dtype=object), (HOSTS, DEVICES), axis_types=(AxisType.Auto,) * 2
        )
        self.fsdp, self.fsdp_min_size = fsdp, fsdp_min_size
        self.replicated = NamedSharding(self.mesh, P())

    def state_sharding(self, state):
        if not self.fsdp:
            return jax.tree_util.tree_map(lambda _: self.replicated, state)
        n = self.mesh.size
        return jax.tree_util.tree_map(
            lambda a: NamedSharding(self.mesh, _leaf_spec(np.shape(a), n, self.fsdp_min_size)),
            state,
        )

    def put_state(self, state):
        """Every leaf replicated (or FSDP-split) over the mesh, from wherever it lives."""
        shardings = self.state_sharding(state)
        return jax.tree_util.tree_map(
            lambda a, s: a if getattr(a, "sharding", None) == s else _to_global(a, s),
            state,
            shardings,
        )

    def fetch(self, tree):
        """`tree` as host numpy arrays; leaves split over several processes are gathered
        (a collective: every process calls it at the same point)."""
        from jax.experimental import multihost_utils

        def to_host(a):
            if isinstance(a, jax.Array) and not a.is_fully_addressable:
                return np.asarray(multihost_utils.process_allgather(a, tiled=True))
            return jax.device_get(a)

        return jax.tree_util.tree_map(to_host, tree)

    def put_data(self, arrays: dict[str, np.ndarray]):
        """This process's training rows, whole on each of its devices, as (hosts, rows, ...)."""
        sharding = NamedSharding(self.mesh, P(HOSTS))
        if jax.process_count() > 1:
            rows = process_rows(len(arrays["x"]), jax.process_index(), jax.process_count())
            arrays = {k: np.asarray(v)[rows] for k, v in arrays.items()}
        return {
            k: jax.make_array_from_process_local_data(sharding, np.asarray(v)[None])
            for k, v in arrays.items()
        }

    def put_indices(self, idx: np.ndarray):
        """This process's (batch,) or (k, batch) indices as a global (hosts, ...) array."""
        spec = P(HOSTS, DEVICES) if idx.ndim == 1 else P(HOSTS, None, DEVICES)
        return jax.make_array_from_process_local_data(
            NamedSharding(self.mesh, spec), np.asarray(idx)[None]
        )

    def indexed_step(self, train_step, steps_per_call: int, unroll):
        """`step(state, data, idx)`: gather each device's examples locally, then train."""
        fused = train.fuse_steps(train_step, unroll) if steps_per_call > 1 else train_step
        batch_axes = P(BATCH) if steps_per_call == 1 else P(None, BATCH)

        def gather(a, idx):  # a: (hosts, rows, ...), idx: (hosts, [k,] local batch)
            taken = jax.vmap(lambda rows, i: jnp.take(rows, i, axis=0))(a, idx)
            if steps_per_call > 1:  # (hosts, k, b, ...) -> (k, hosts, b, ...)
                taken = jnp.moveaxis(taken, 1, 0)
                lead = taken.shape[:1]
            else:
                lead = ()
            flat = taken.reshape(lead + (-1,) + taken.shape[len(lead) + 2 :])
            return jax.lax.with_sharding_constraint(flat, NamedSharding(self.mesh, batch_axes))

        def step(state, data, idx):
            return fused(state, jax.tree_util.tree_map(lambda a: gather(a, idx), data))

        return step

    def compile(self, fn, state, data, idx):
        state_sh = self.state_sharding(state)
        compiled = (
            jax.jit(fn, out_shardings=(state_sh, self.replicated), donate_argnums=0)
            .lower(state, data, self.put_indices(idx))
            .compile()
        )
        return lambda state, data, idx: compiled(state, data, self.put_indices(idx))


class PmapPlacement:
    """`jax.pmap` over one host's devices; the loop sees the state as one replicated copy."""

    def __init__(self, devices):
        self.devices = list(devices)
        self.mesh = Mesh(np.array(self.devices), (AXIS,), axis_types=(AxisType.Auto,))
        self.replicated = NamedSharding(self.mesh, P())

    def put_state(self, state):
        return jax.device_put(state, self.replicated)

    def fetch(self, tree):
        return jax.device_get(tree)

    def put_data(self, arrays: dict[str, np.ndarray]):
        return jax.device_put(arrays, self.replicated)

    def indexed_step(self, train_step, steps_per_call: int, unroll):
        """`step(state, data, idx)` over the whole batch: split it, pmap, take one replica."""
        n = len(self.devices)
        per_device = train.make_indexed_step(train_step, steps_per_call, unroll)
        mapped = jax.pmap(per_device, axis_name=AXIS, in_axes=(0, None, 0), devices=self.devices)

        def step(state, data, idx):
            # idx: (batch,) or (k, batch) -> (n, [k,] batch / n): device d gets slice d
            split = idx.reshape(idx.shape[:-1] + (n, -1))
            split = jnp.moveaxis(split, -2, 0)
            stacked = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), state)
            new_state, metrics = mapped(stacked, data, split)
            return jax.tree_util.tree_map(lambda a: a[0], (new_state, metrics))

        return step

    def compile(self, fn, state, data, idx):
        compiled = (
            jax.jit(fn, out_shardings=self.replicated, donate_argnums=0)
            .lower(state, data, idx)
            .compile()
        )
        return compiled


def _to_global(a, sharding: NamedSharding):
    """A value (the same on every process) as a global array with `sharding`."""
    if jax.process_count() == 1:
        return jax.device_put(a, sharding)
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):  # keys travel as their raw bits
        impl = jax.random.key_impl(a)
        bits = _to_global(jax.random.key_data(a), sharding)
        return jax.random.wrap_key_data(bits, impl=impl)
    host = np.asarray(jax.device_get(a))
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


class ParallelSummary(Hook):
    """Adds the parallel layout (mode, devices, processes) to summary.json; with several
    processes, counts the examples of all of them in `examples_per_s`."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def on_end(self, loop, summary: dict) -> None:
        summary["parallel"] = self.plan.describe()
        if summary.get("examples_per_s") and self.plan.num_processes > 1:
            summary["examples_per_s"] *= self.plan.num_processes


def _summary_hook(config, rundir, training):
    cfg = getattr(config, "parallel", None)
    return ParallelSummary(make_plan(cfg)) if cfg is not None else None


HOOK_FACTORIES.append(_summary_hook)
