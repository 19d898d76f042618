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
from jaxcourse.engine.checkpoint import CheckpointConfig
from jaxcourse.engine.hooks import make_hooks
from jaxcourse.engine.progress import progress_bar
from jaxcourse.engine.rundir import RunDir
from jaxcourse.errors import ConfigError, NonFiniteLossError
from jaxcourse.parallel import placement as parallel_lib
from jaxcourse.tensorboard.hook import LoggingConfig


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
    grad_norm: bool = Field(
        True,
        description="Log the gradient's global norm (an extra pass over all gradients: "
        "about 10 % of a CNN step on CPU, see docs/performance.md).",
    )
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
    progress: bool | Literal["auto"] = Field(
        "auto", description="Progress bar: true, false, or auto = only on an interactive terminal."
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
    logging: LoggingConfig = Field(
        default_factory=LoggingConfig,
        description="TensorBoard / JSON-lines summaries (see docs/tensorboard.md).",
    )
    parallel: parallel_lib.ParallelConfig = Field(
        default_factory=parallel_lib.ParallelConfig,
        description="Devices and hosts the run spreads over (see docs/multi_device.md).",
    )
    checkpoint: CheckpointConfig = Field(
        CheckpointConfig(), description="Orbax checkpoints in <workdir>/ckpt and resuming."
    )


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


def build(
    config: SupervisedConfig,
    axis_name: str | None = None,
    tx: optax.GradientTransformation | None = None,
) -> Training:
    """Dataset, model, optimizer, initial state and pure steps for `config`.

    `axis_name`: the train step runs inside `pmap` and averages over that axis.
    `tx`: use this optimizer instead of the one `config.optimizer` describes.
    """
    dataset = data_lib.load(config.data, config.seed)
    if "train" not in dataset.splits:
        raise ConfigError(
            f"config key 'data.name': dataset '{config.data.name}' has no train split"
        )
    model = models.build(config.model, dataset.spec)
    tx = optim.build(config.optimizer) if tx is None else tx
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
        train_step=train.make_train_step(
            model.apply, loss_fn, tx, metrics_fn, axis_name, grad_norm=config.train.grad_norm
        ),
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


class Placement:
    """Where data and state live and how steps are compiled: one device, by default."""

    def put_data(self, arrays: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        return jax.device_put(arrays)

    def put_state(self, state: train.TrainState) -> train.TrainState:
        return state

    def fetch(self, tree):
        """`tree` as host arrays (on several hosts: gathered from all of them)."""
        return jax.device_get(tree)

    def indexed_step(self, train_step, steps_per_call: int, unroll):
        """The pure `step(state, data, idx)` doing `steps_per_call` fused steps."""
        return train.make_indexed_step(train_step, steps_per_call, unroll)

    def compile(self, fn, state, data, idx):
        return jax.jit(fn, donate_argnums=0).lower(state, data, idx).compile()


class TrainLoop:
    """The imperative shell around the pure step: batches, logging, evaluation, hooks."""

    def __init__(
        self,
        config: SupervisedConfig,
        rundir: RunDir,
        training: Training,
        placement: Placement | None = None,
    ):
        self.config, self.rundir, self.training = config, rundir, training
        self.placement = placement or Placement()
        self.cfg = config.train
        self.total = total_steps(self.cfg, training.schedule.steps_per_epoch)
        self.state = training.state
        self.step = 0
        self.rows: list[dict] = []
        self.last_metrics: dict | None = None  # the last call's per-step metrics, on device
        self.hooks = make_hooks(config, rundir, training)
        self._compiled: dict[int, Any] = {}

    def _step_fn(self, k: int, data):
        """The compiled call doing k fused steps (compiled once per k)."""
        if k not in self._compiled:
            tr = self.training
            fn = self.placement.indexed_step(tr.train_step, k, self.cfg.unroll)
            self._compiled[k] = self.placement.compile(fn, self.state, data, self._indices(0, k))
        return self._compiled[k]

    def _indices(self, step: int, n: int) -> np.ndarray:
        schedule = self.training.schedule
        return schedule.indices_for(step, n) if n > 1 else schedule.indices(step)

    def run(self) -> dict:
        """Train to `total` steps, evaluating and logging as configured; returns the summary."""
        t_start = time.perf_counter()
        cfg, tr = self.cfg, self.training
        data = self.placement.put_data(tr.dataset.splits["train"])
        eval_fn = jax.jit(tr.eval_step)
        eval_splits = [s for s in cfg.eval_splits if s in tr.dataset.splits]
        for hook in self.hooks:
            hook.on_start(self)
        self.state = self.placement.put_state(self.state)
        self.step = int(self.state.step)
        k = min(cfg.steps_per_call, self.total)
        t_compile = time.perf_counter()
        self._step_fn(k, data)
        compile_s = time.perf_counter() - t_compile

        pending: list[tuple[int, Any]] = []
        t_first = first_steps = None
        with progress_bar(self.total, cfg.progress, "train") as bar:
            bar.update(self.step)
            while self.step < self.total:
                n = k if self.total - self.step >= k else 1  # a short tail runs step by step
                self.state, m = self._step_fn(n, data)(
                    self.state, data, self._indices(self.step, n)
                )
                pending.append(
                    (self.step, m if n > 1 else jax.tree_util.tree_map(lambda a: a[None], m))
                )
                self.last_metrics = pending[-1][1]
                self.step += n
                bar.update(n)
                if t_first is None:
                    jax.block_until_ready(self.state)
                    t_first, first_steps = time.perf_counter(), self.step
                for hook in self.hooks:
                    hook.after_call(self)
                crossed = lambda every, n=n: (
                    bool(every)
                    and (  # noqa: E731
                        self.step // every > (self.step - n) // every
                    )
                )
                evaluate_now = crossed(cfg.eval_every) or self.step == self.total
                if not (crossed(cfg.log_every) or evaluate_now):
                    continue
                last, bad = _drain(pending)
                if bad is not None:
                    if cfg.nan_policy == "stop":
                        self._finish(
                            f"stopped: non-finite loss at step {bad[0]}",
                            last,
                            t_start,
                            compile_s,
                            None,
                        )
                        raise NonFiniteLossError(*bad)
                    warnings.warn(f"loss became {bad[1]} at step {bad[0]}", stacklevel=1)
                row = {"step": self.step, **last, **models.describe_params(self.state.params)}
                if evaluate_now:
                    for split in eval_splits:
                        ev = evaluate(
                            eval_fn,
                            self.state.params,
                            tr.dataset.splits[split],
                            cfg.eval_batch_size,
                        )
                        row.update({f"{split}_{key}": v for key, v in ev.items()})
                row["time_s"] = round(time.perf_counter() - t_start, 3)
                self.rundir.log(row)
                self.rows.append(row)
                for hook in self.hooks:
                    hook.after_log(self, row)
                bar.set_postfix(loss=f"{last['loss']:.4g}")
        jax.block_until_ready(self.state)
        timed = self.step - (first_steps or self.step)
        steps_per_s = timed / (time.perf_counter() - t_first) if timed else None
        final = self.rows[-1] if self.rows else {}
        return self._finish("completed", final, t_start, compile_s, steps_per_s)

    def _finish(self, status, final, t_start, compile_s, steps_per_s) -> dict:
        """Write plots and summary.json; return the summary."""
        params = self.placement.fetch(self.state.params)
        if self.config.plots and self.rows:
            _write_plots(self.rundir, self.training, params, self.rows)
        device = jax.devices()[0]
        summary = {
            "experiment": self.config.experiment,
            "status": status,
            "steps": self.step,
            "final": {**final, **models.describe_params(params)},
            "wall_time_s": round(time.perf_counter() - t_start, 3),
            "compile_time_s": round(compile_s, 3),
            "steps_per_s": steps_per_s,
            "examples_per_s": steps_per_s * self.training.schedule.batch_size
            if steps_per_s
            else None,
            "device": {
                "platform": device.platform,
                "kind": device.device_kind,
                "count": jax.device_count(),
            },
            "jax_version": jax.__version__,
        }
        for hook in self.hooks:
            hook.on_end(self, summary)
        self.rundir.write_summary(summary)
        return summary


def run(config: SupervisedConfig, rundir: RunDir) -> dict:
    """Train, evaluate and write metrics, plots and the summary; returns the summary."""
    plan = parallel_lib.make_plan(config.parallel)
    training, placement = plan.place(build(config, plan.axis_name), config.train)
    return TrainLoop(config, rundir, training, placement).run()


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
        plots.regression_fit(
            x,
            train_split["y"],
            grid,
            pred,
            rundir.file("fit.png"),
            f"{tr.dataset.spec.task}: final loss {rows[-1]['loss']:.3g}",
        )


EXPERIMENTS.register("supervised", SupervisedConfig)(run)
