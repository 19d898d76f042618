"""Train several variants of one supervised config at once: one compiled program, vmapped.

Variants may differ only in `seed` and numeric optimizer options (learning rate, momentum,
weight decay, ...). The optimizer is built with `optax.inject_hyperparams`, so those options
are arrays in the optimizer state rather than constants in the program; the train states of
all variants are stacked on a leading axis and one `vmap`ped step advances them all. Each
variant still gets its own run directory (config.yaml, metrics.jsonl, summary.json) with the
same rows a separate run would write.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxcourse import config as config_lib
from jaxcourse import optim, train
from jaxcourse.engine.rundir import RunDir
from jaxcourse.runners.supervised import SupervisedConfig, Training, build, total_steps


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


def train_stacked(stacked: Stack, rundirs: list[RunDir]) -> tuple[list[dict], Any]:
    """Train all variants together; write each one's files; return (summaries, final state)."""
    t_start = time.perf_counter()
    configs, trainings = stacked.configs, stacked.trainings
    cfg = configs[0].train
    schedules = [t.schedule for t in trainings]
    total = total_steps(cfg, schedules[0].steps_per_epoch)
    data_axis = None if stacked.shared_data else 0
    data = jax.device_put(stacked.split("train"))
    state = stack([t.state for t in trainings])
    step_fn = trainings[0].train_step
    eval_fn = jax.jit(jax.vmap(trainings[0].eval_step, in_axes=(0, data_axis)))
    eval_splits = [s for s in cfg.eval_splits if s in trainings[0].dataset.splits]

    compiled: dict[int, Any] = {}

    def indices(step: int, n: int) -> np.ndarray:
        if n == 1:
            return np.stack([s.indices(step) for s in schedules])
        return np.stack([s.indices_for(step, n) for s in schedules])

    def program(n: int):
        if n not in compiled:
            fn = jax.vmap(train.make_indexed_step(step_fn, n, cfg.unroll), (0, data_axis, 0))
            compiled[n] = jax.jit(fn, donate_argnums=0).lower(state, data, indices(0, n)).compile()
        return compiled[n]

    k = min(cfg.steps_per_call, total)
    t_compile = time.perf_counter()
    program(k)
    compile_s = time.perf_counter() - t_compile

    rows: list[list[dict]] = [[] for _ in configs]
    stopped: list[tuple[int, float] | None] = [None] * len(configs)
    finals: list[dict] = [{} for _ in configs]
    pending: list[tuple[int, Any]] = []
    step, t_first, first_steps = 0, None, 0
    while step < total:
        n = k if total - step >= k else 1
        state, m = program(n)(state, data, indices(step, n))
        pending.append((step, m))
        step += n
        if t_first is None:
            jax.block_until_ready(state)
            t_first, first_steps = time.perf_counter(), step
        evaluate_now = _crossed(cfg.eval_every, step, n) or step == total
        if not (_crossed(cfg.log_every, step, n) or evaluate_now):
            continue
        fetched = [  # per call: {metric: (variants, steps of the call)}
            {key: np.asarray(a).reshape(len(configs), -1) for key, a in mm.items()}
            for mm in jax.device_get([mm for _, mm in pending])
        ]
        evals = {}
        if evaluate_now:
            for split_name in eval_splits:
                evals[split_name] = _evaluate(
                    eval_fn, state.params, stacked.split(split_name), data_axis, cfg
                )
        scalars = _scalar_params(state.params)
        for v, config in enumerate(configs):
            if stopped[v] is not None and config.train.nan_policy == "stop":
                continue
            last = {key: float(a[v, -1]) for key, a in fetched[-1].items()}
            bad = _first_nonfinite(pending, fetched, v)
            if bad is not None and stopped[v] is None:
                stopped[v] = bad
                if config.train.nan_policy == "stop":
                    finals[v] = last
                    continue
                warnings.warn(f"variant {v}: loss became {bad[1]} at step {bad[0]}", stacklevel=1)
            row = {"step": step, **last, **{name: float(a[v]) for name, a in scalars.items()}}
            for split_name, ev in evals.items():
                row.update({f"{split_name}_{key}": float(a[v]) for key, a in ev.items()})
            row["time_s"] = round(time.perf_counter() - t_start, 3)
            rundirs[v].log(row)
            rows[v].append(row)
            finals[v] = row
        pending.clear()
    jax.block_until_ready(state)
    timed = step - first_steps
    steps_per_s = timed / (time.perf_counter() - t_first) if timed else None
    device = jax.devices()[0]
    summaries = []
    for v, config in enumerate(configs):
        bad = stopped[v]
        summary = {
            "experiment": config.experiment,
            "status": "completed" if bad is None else f"stopped: non-finite loss at step {bad[0]}",
            "steps": step,
            "final": finals[v],
            "wall_time_s": round(time.perf_counter() - t_start, 3),
            "compile_time_s": round(compile_s, 3),
            "steps_per_s": steps_per_s,
            "examples_per_s": steps_per_s * schedules[v].batch_size if steps_per_s else None,
            "device": {"platform": device.platform, "kind": device.device_kind, "count": 1},
            "jax_version": jax.__version__,
            "stacked": {"variants": len(configs), "index": v},
        }
        rundirs[v].write_summary(summary)
        summaries.append(summary)
    return summaries, state


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


def _crossed(every: int | None, step: int, n: int) -> bool:
    """Whether the last call (steps step-n+1 .. step) passed a multiple of `every`."""
    return bool(every) and step // every > (step - n) // every


def _first_nonfinite(pending, fetched, v: int) -> tuple[int, float] | None:
    """(step, value) of variant v's first non-finite loss among the fetched calls, if any."""
    for (first, _), metrics in zip(pending, fetched, strict=True):
        losses = np.asarray(metrics["loss"][v])
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            return first + int(bad[0]) + 1, float(losses[bad[0]])
    return None


def _scalar_params(params) -> dict[str, np.ndarray]:
    """Per-variant values of every parameter that holds one number (stacked: shape (V,))."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if np.size(leaf) == leaf.shape[0]:
            name = "/".join(str(getattr(p, "key", p)) for p in path)
            out[name] = np.asarray(jax.device_get(leaf)).reshape(-1)
    return out
