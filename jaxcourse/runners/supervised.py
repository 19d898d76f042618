"""The `supervised` experiment: train a model on a dataset with a loss and an optimizer.

`build(config)` assembles the functional pieces (dataset, model, optimizer, state, steps);
`run(config, rundir)` is the imperative shell: the loop, evaluation, logs, plots, summary.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from jaxcourse import data as data_lib
from jaxcourse import losses, metrics, models, optim, plots, train
from jaxcourse.config import EXPERIMENTS, ExperimentConfig, RegistryName, RegistryRef, Section
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.errors import ConfigError, NonFiniteLossError
from jaxcourse.progress import progress_bar
from jaxcourse.rundir import RunDir


class TrainConfig(Section):
    """How long and how to train (give exactly one of `steps` and `epochs`)."""

    steps: PositiveInt | None = Field(None, description="Number of gradient steps.")
    epochs: PositiveFloat | None = Field(
        None, description="Number of passes over the training split (converted to steps)."
    )
    batch_size: PositiveInt | None = Field(
        None, description="Examples per step; null = the whole training split (full batch)."
    )
    shuffle: bool = Field(True, description="Reshuffle the training split every epoch.")
    steps_per_call: PositiveInt = Field(
        1, description="Gradient steps fused into one compiled call (lax.scan)."
    )
    unroll: bool | PositiveInt = Field(
        1, description="Unrolling of the fused scan: true = fully (fastest for CNNs on CPU)."
    )
    log_every: PositiveInt = Field(100, description="Write a metrics row every N steps.")
    eval_every: PositiveInt | None = Field(
        None, description="Evaluate on eval_splits every N steps; null = only at the end."
    )
    eval_splits: list[str] = Field(
        ["test"], description="Splits to evaluate (those the dataset lacks are skipped)."
    )
    eval_batch_size: PositiveInt = Field(1000, description="Examples per evaluation call.")
    nan_policy: Literal["stop", "warn"] = Field(
        "stop", description="On a NaN/Inf loss: stop the run (exit 3) or warn and go on."
    )
    progress: Literal["auto", "on", "off"] = Field(
        "auto", description="Progress bar: auto = only on an interactive terminal."
    )

    @model_validator(mode="after")
    def _one_length(self):
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of train.steps and train.epochs")
        return self


class SupervisedConfig(ExperimentConfig):
    """Train `model` on `data` by minimising `loss` with `optimizer`."""

    experiment: Literal["supervised"] = Field(description="Which experiment this config runs.")
    data: Annotated[data_lib.DataConfig, RegistryRef(data_lib.DATASETS)] = Field(
        description="The dataset (`name` picks it; other keys are its options)."
    )
    model: Annotated[models.ModelConfig, RegistryRef(models.MODELS)] = Field(
        description="The model (`name` picks it; other keys are its options)."
    )
    loss: Annotated[str, RegistryName(losses.LOSSES)] = Field(
        "mse", description="The loss to minimise."
    )
    optimizer: Annotated[optim.OptimizerConfig, RegistryRef(optim.OPTIMIZERS)] = Field(
        description="The optimizer (`name` picks it; other keys are its options)."
    )
    train: TrainConfig = Field(description="Length, batching, logging and evaluation.")
    plots: bool = Field(True, description="Write PNG plots (loss curve, fitted curve) at the end.")


@dataclass
class Training:
    """The functional pieces of a supervised run, before any step is taken."""

    dataset: data_lib.Dataset
    model: Any
    tx: optax.GradientTransformation
    state: train.TrainState
    train_step: Any
    eval_step: Any
    schedule: BatchSchedule


def build(config: SupervisedConfig) -> Training:
    """Dataset, model, optimizer, initial state and pure steps for `config`."""
    dataset = data_lib.load(config.data, config.seed)
    if "train" not in dataset.splits:
        raise ConfigError(f"config key 'data.name': dataset '{config.data.name}' has no train split")
    model = models.build(config.model, dataset.spec)
    tx = optim.build(config.optimizer)
    loss_fn = losses.LOSSES.get(config.loss)
    metrics_fn = metrics.for_task(dataset.spec.task)
    sample_x = dataset.splits["train"]["x"][:1]
    state = train.create_train_state(jax.random.key(config.seed), model, tx, sample_x)
    try:
        schedule = BatchSchedule(
            dataset.size("train"), config.train.batch_size, config.seed, config.train.shuffle
        )
    except ValueError as err:
        raise ConfigError(f"config key 'train.batch_size': {err}") from None
    return Training(
        dataset=dataset,
        model=model,
        tx=tx,
        state=state,
        train_step=train.make_train_step(model.apply, loss_fn, tx, metrics_fn),
        eval_step=train.make_eval_step(model.apply, loss_fn, metrics_fn),
        schedule=schedule,
    )


def total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    return cfg.steps if cfg.steps is not None else max(1, round(cfg.epochs * steps_per_epoch))


def evaluate(eval_step, params, split: dict[str, np.ndarray], batch_size: int) -> dict:
    """Example-weighted mean of `eval_step`'s metrics over a whole split."""
    n = len(split["x"])
    totals: dict[str, float] = {}
    for start in range(0, n, batch_size):
        batch = {k: v[start : start + batch_size] for k, v in split.items()}
        m = jax.device_get(eval_step(params, batch))
        for key, value in m.items():
            totals[key] = totals.get(key, 0.0) + float(value) * len(batch["x"])
    return {key: value / n for key, value in totals.items()}


def run(config: SupervisedConfig, rundir: RunDir) -> dict:
    """Train, evaluate and write metrics, plots and the summary; returns the summary."""
    t_start = time.perf_counter()
    tr = build(config)
    cfg = config.train
    total = total_steps(cfg, tr.schedule.steps_per_epoch)
    k = min(cfg.steps_per_call, total)
    data = jax.device_put(tr.dataset.splits["train"])
    eval_fn = jax.jit(tr.eval_step)
    eval_splits = [s for s in cfg.eval_splits if s in tr.dataset.splits]

    t_compile = time.perf_counter()
    step_fn = _compile(train.make_indexed_step(tr.train_step, k, cfg.unroll), tr, data, k)
    single_fn = step_fn if k == 1 else None
    compile_s = time.perf_counter() - t_compile

    state, step, rows, last = tr.state, 0, [], {}
    status = "completed"
    pending: list[tuple[int, Any]] = []
    t_loop = time.perf_counter()
    t_after_first = None
    with progress_bar(total, cfg.progress, "train") as bar:
        while step < total:
            if total - step >= k:
                fn, n = step_fn, k
            else:  # a tail shorter than steps_per_call runs one step at a time
                single_fn = single_fn or _compile(train.make_indexed_step(tr.train_step), tr,
                                                  data, 1)
                fn, n = single_fn, 1
            idx = tr.schedule.indices_for(step, n) if n > 1 else tr.schedule.indices(step)
            state, m = fn(state, data, idx)
            pending.append((step, m if n > 1 else jax.tree_util.tree_map(lambda a: a[None], m)))
            step += n
            bar.update(n)
            if t_after_first is None:
                jax.block_until_ready(state)
                t_after_first = time.perf_counter()
                first_steps = step
            crossed = lambda every: every and (step // every) > ((step - n) // every)  # noqa: E731
            if not (crossed(cfg.log_every) or step == total or crossed(cfg.eval_every)):
                continue
            last, bad_step = _drain(pending)
            if bad_step is not None:
                if cfg.nan_policy == "stop":
                    status = f"stopped: non-finite loss at step {bad_step[0]}"
                    _finish(rundir, config, tr, state, rows, last, status, step, t_start,
                            compile_s, None)
                    raise NonFiniteLossError(*bad_step)
                warnings.warn(f"loss became {bad_step[1]} at step {bad_step[0]}", stacklevel=1)
            row = {"step": step, **last, **models.describe_params(state.params)}
            if crossed(cfg.eval_every) or step == total:
                for split in eval_splits:
                    ev = evaluate(eval_fn, state.params, tr.dataset.splits[split],
                                  cfg.eval_batch_size)
                    row.update({f"{split}_{key}": v for key, v in ev.items()})
            row["time_s"] = round(time.perf_counter() - t_start, 3)
            rundir.log(row)
            rows.append(row)
            bar.set_postfix(loss=f"{last['loss']:.4g}")
    jax.block_until_ready(state)
    t_end = time.perf_counter()
    timed_steps = step - first_steps
    steps_per_s = timed_steps / (t_end - t_after_first) if timed_steps else total / (t_end - t_loop)
    return _finish(rundir, config, tr, state, rows, rows[-1], status, step, t_start, compile_s,
                   steps_per_s)


def _compile(fn, tr: Training, data, k: int):
    idx = tr.schedule.indices_for(0, k) if k > 1 else tr.schedule.indices(0)
    return jax.jit(fn, donate_argnums=0).lower(tr.state, data, idx).compile()


def _drain(pending: list) -> tuple[dict, tuple[int, float] | None]:
    """Fetch pending per-step metrics; return the last step's and the first non-finite loss."""
    fetched = jax.device_get([m for _, m in pending])
    bad = None
    for (first, _), m in zip(pending, fetched, strict=True):
        losses_ = np.asarray(m["loss"])
        nonfinite = np.flatnonzero(~np.isfinite(losses_))
        if nonfinite.size and bad is None:
            bad = (first + int(nonfinite[0]) + 1, float(losses_[nonfinite[0]]))
    pending.clear()
    last = {key: float(np.asarray(v)[-1]) for key, v in fetched[-1].items()}
    return last, bad


def _finish(rundir, config, tr, state, rows, final, status, step, t_start, compile_s,
            steps_per_s) -> dict:
    """Write plots and summary.json; return the summary."""
    params = jax.device_get(state.params)
    if config.plots and rows:
        _write_plots(rundir, tr, params, rows)
    device = jax.devices()[0]
    summary = {
        "experiment": config.experiment,
        "status": status,
        "steps": step,
        "final": {**final, **models.describe_params(params)},
        "wall_time_s": round(time.perf_counter() - t_start, 3),
        "compile_time_s": round(compile_s, 3),
        "steps_per_s": steps_per_s,
        "examples_per_s": steps_per_s * tr.schedule.batch_size if steps_per_s else None,
        "device": {"platform": device.platform, "kind": device.device_kind,
                   "count": jax.device_count()},
        "jax_version": jax.__version__,
    }
    rundir.write_summary(summary)
    return summary


def _write_plots(rundir: RunDir, tr: Training, params, rows: list[dict]) -> None:
    loss_keys = [k for k in rows[-1] if k == "loss" or k.endswith("_loss")]
    plots.metric_curves(rows, loss_keys, rundir.file("loss.png"), "loss", log_y=True)
    acc_keys = [k for k in rows[-1] if k.endswith("accuracy")]
    if acc_keys:
        plots.metric_curves(rows, acc_keys, rundir.file("accuracy.png"), "accuracy")
    spec, train_split = tr.dataset.spec, tr.dataset.splits["train"]
    if spec.task == "regression" and spec.input_shape == (1,) and spec.num_outputs == 1:
        x = train_split["x"]
        grid = np.linspace(x.min(), x.max(), 200, dtype=np.float32)[:, None]
        pred = np.asarray(tr.model.apply({"params": params}, jnp.asarray(grid), train=False))
        plots.regression_fit(x, train_split["y"], grid, pred, rundir.file("fit.png"),
                             f"{tr.dataset.spec.task}: final loss {rows[-1]['loss']:.3g}")


EXPERIMENTS.register("supervised", SupervisedConfig)(run)
