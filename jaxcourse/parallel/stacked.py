"""Train several variants of one supervised config at once: one compiled program, vmapped.

Variants may differ only in `seed` and numeric optimizer options (learning rate, momentum,
weight decay, ...). The optimizer is built with `optax.inject_hyperparams`, so those options
are arrays in the optimizer state rather than constants in the program; the train states of
all variants are stacked on a leading axis and one `vmap`ped step advances them all. Each
variant still gets its own run directory with everything a separate run writes there
(metrics.jsonl with the same rows, summary.json, TensorBoard events, checkpoints, plots):
the engine (`jaxcourse.engine.loop`) gives each variant its own hooks and checkpoints.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxcourse import config as config_lib
from jaxcourse import models, optim, train
from jaxcourse.engine.checkpoint import run_checkpoints
from jaxcourse.engine.hooks import Hook
from jaxcourse.engine.loop import Run
from jaxcourse.engine.loop import train as train_loop
from jaxcourse.engine.rundir import RunDir
from jaxcourse.runners.hooks import supervised_hooks
from jaxcourse.runners.supervised import SupervisedConfig, Training, build, schedule_of


def varying_options(configs: list[SupervisedConfig]) -> list[str]:
    """Optimizer options whose values differ between `configs`."""
    dumps = [config_lib.to_dict(c.optimizer) for c in configs]
    return sorted(k for k in dumps[0] if any(d.get(k) != dumps[0][k] for d in dumps))


def injectable(cfg: optim.OptimizerConfig, names: list[str]) -> optax.GradientTransformation:
    """The optimizer `cfg` describes, with the options `names` held as data in its state.

    A coupled `weight_decay` (λ·W added to the gradient first) is applied here, so that its
    value is never tested in Python and every variant has the same optimizer-state layout.
    """
    own_decay = "weight_decay" in names and not getattr(cfg, "decoupled_weight_decay", False)

    def factory(**values):
        if not own_decay:
            return optim.build(cfg.model_copy(update=values))
        decay = values.pop("weight_decay")
        inner = optim.build(cfg.model_copy(update={**values, "weight_decay": 0.0}))
        return optax.chain(optax.add_decayed_weights(decay), inner)

    params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names]
    factory.__signature__ = inspect.Signature(params)
    return optax.inject_hyperparams(factory)(**{n: getattr(cfg, n) for n in names})


@jax.jit
def stack(trees: list) -> Any:
    """Pytrees of the same structure, stacked leaf by leaf on a new leading axis."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _same_arrays(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[s].keys() == b[s].keys() and all(np.array_equal(a[s][k], b[s][k]) for k in a[s])
        for s in a
    )


@dataclasses.dataclass
class Stack:
    """The variants' trainings, and whether their datasets are one shared dataset."""

    configs: list[SupervisedConfig]
    trainings: list[Training]
    shared_data: bool

    def split(self, name: str):
        """Split `name` of every variant: one dict of arrays, or stacked when they differ."""
        splits = [t.dataset.splits[name] for t in self.trainings]
        return splits[0] if self.shared_data else stack([dict(s) for s in splits])


def prepare(configs: list[SupervisedConfig]) -> Stack:
    """Build every variant with the injectable optimizer; check that they can be stacked."""
    names = varying_options(configs)
    by_seed: dict[int, Training] = {}  # variants that differ only in the optimizer's options
    trainings = []
    for config in configs:
        tx = injectable(config.optimizer, names)
        if config.seed not in by_seed:
            by_seed[config.seed] = build(config, tx=tx)
        same_seed = by_seed[config.seed]
        state = same_seed.state.replace(opt_state=tx.init(same_seed.state.params))
        trainings.append(dataclasses.replace(same_seed, tx=tx, state=state))
    first = trainings[0].dataset.splits
    shared = all(_same_arrays(first, t.dataset.splits) for t in trainings[1:])
    if not shared and any(t.dataset.spec != trainings[0].dataset.spec for t in trainings):
        raise ValueError("the variants' datasets have different shapes")
    # trace one vmapped step now, so that an optimizer that cannot take its options as data
    # fails here, before anything is written
    sample = {k: v[:2] for k, v in first["train"].items()}
    jax.eval_shape(
        jax.vmap(trainings[0].train_step, (0, None)), stack([t.state for t in trainings]), sample
    )
    return Stack(configs, trainings, shared)


class StackedProgram:
    """V variants as the engine's `Program`: one vmapped indexed step advances them all."""

    def __init__(self, stacked: Stack):
        self.stacked = stacked
        trainings = stacked.trainings
        self.variants = len(trainings)
        self.cfg = stacked.configs[0].train
        self.schedules = [t.schedule for t in trainings]
        self.batch_size = self.schedules[0].batch_size
        self.data_axis = None if stacked.shared_data else 0
        self.eval_splits = [s for s in self.cfg.eval_splits if s in trainings[0].dataset.splits]
        self._eval_fn = jax.jit(jax.vmap(trainings[0].eval_step, in_axes=(0, self.data_axis)))
        self._compiled: dict[int, Any] = {}
        self.data = None

    def initial_states(self) -> list:
        return [t.state for t in self.stacked.trainings]

    def place(self, states: list):
        self.data = jax.device_put(self.stacked.split("train"))
        return stack(states)

    def _indices(self, step: int, n: int) -> np.ndarray:
        if n == 1:
            return np.stack([s.indices(step) for s in self.schedules])
        return np.stack([s.indices_for(step, n) for s in self.schedules])

    def compile(self, state, n: int) -> None:
        if n not in self._compiled:
            step_fn = self.stacked.trainings[0].train_step
            fn = jax.vmap(
                train.make_indexed_step(step_fn, n, self.cfg.unroll), (0, self.data_axis, 0)
            )
            lowered = jax.jit(fn, donate_argnums=0).lower(state, self.data, self._indices(0, n))
            self._compiled[n] = lowered.compile()

    def call(self, state, step: int, n: int):
        self.compile(state, n)
        return self._compiled[n](state, self.data, self._indices(step, n))

    def evaluate(self, state) -> list[dict]:
        evals = {
            name: _evaluate(
                self._eval_fn, state.params, self.stacked.split(name), self.data_axis, self.cfg
            )
            for name in self.eval_splits
        }
        return [
            {name: {k: float(a[v]) for k, a in ev.items()} for name, ev in evals.items()}
            for v in range(self.variants)
        ]

    def variant(self, state, v: int):
        return jax.tree_util.tree_map(lambda a: a[v], state)

    def describe(self, state) -> list[dict]:
        return [models.describe_params(self.variant(state, v).params) for v in range(self.variants)]


def train_stacked(
    stacked: Stack, rundirs: list[RunDir], extra_hooks: Sequence[Hook] = ()
) -> tuple[list[dict], Any]:
    """Train all variants together, each with its own hooks, checkpoints and files; return
    (summaries, final stacked state)."""
    runs = [
        Run(
            rundir,
            config.experiment,
            hooks=[*supervised_hooks(config, rundir, training), *extra_hooks],
            checkpoints=run_checkpoints(config, rundir, training.dataset.spec),
            summary_extra={"stacked": {"variants": len(rundirs), "index": v}},
        )
        for v, (config, training, rundir) in enumerate(
            zip(stacked.configs, stacked.trainings, rundirs, strict=True)
        )
    ]
    schedule = schedule_of(stacked.configs[0].train, stacked.trainings[0].schedule.steps_per_epoch)
    return train_loop(StackedProgram(stacked), schedule, runs)


def _evaluate(eval_fn, params, split: dict, data_axis, cfg) -> dict[str, np.ndarray]:
    """Example-weighted mean of every variant's eval metrics over a whole split: (V,) each."""
    n = len(split["x"]) if data_axis is None else split["x"].shape[1]
    totals: dict[str, np.ndarray] = {}
    for start in range(0, n, cfg.eval_batch_size):
        if data_axis is None:
            batch = {k: v[start : start + cfg.eval_batch_size] for k, v in split.items()}
            size = len(batch["x"])
        else:
            batch = {k: v[:, start : start + cfg.eval_batch_size] for k, v in split.items()}
            size = batch["x"].shape[1]
        for key, value in jax.device_get(eval_fn(params, batch)).items():
            totals[key] = totals.get(key, 0.0) + np.asarray(value, np.float64) * size
    return {key: value / n for key, value in totals.items()}
