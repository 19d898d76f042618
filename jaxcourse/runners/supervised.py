"""The `supervised` experiment: train a model on a dataset with a loss and an optimizer.

`build(config)` assembles the functional pieces (dataset, model, optimizer, state, steps);
`run(config, rundir)` hands them to the engine (`jaxcourse.engine.loop`) as a `Program`,
with the hooks of `jaxcourse.runners.hooks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jax
import numpy as np
import optax
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from jaxcourse import data as data_lib
from jaxcourse import losses, metrics, models, optim, train
from jaxcourse.config import ExperimentConfig, RegistryName, RegistryRef, Section
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.engine.checkpoint import CheckpointConfig, run_checkpoints
from jaxcourse.engine.hooks import Hook
from jaxcourse.engine.loop import Run, Schedule
from jaxcourse.engine.loop import train as train_loop
from jaxcourse.engine.rundir import RunDir
from jaxcourse.errors import ConfigError
from jaxcourse.models.precision import Precision, in_precision
from jaxcourse.parallel import placement as parallel_lib
from jaxcourse.runners.hooks import supervised_hooks
from jaxcourse.runners.registry import EXPERIMENTS
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
    precision: Precision = Field(
        "float32",
        description="Compute precision of the forward and backward passes: float32, or bf16 = "
        "bfloat16 compute with float32 parameters, gradients and optimizer state "
        "(jaxcourse.models.precision; fast on GPUs, TPUs and CPUs with AMX, slower elsewhere).",
    )
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
    apply = in_precision(model.apply, config.train.precision)
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
            apply, loss_fn, tx, metrics_fn, axis_name, grad_norm=config.train.grad_norm
        ),
        eval_step=train.make_eval_step(apply, loss_fn, metrics_fn),
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


class SupervisedProgram:
    """One supervised run as the engine's `Program`: device-resident data, indexed steps."""

    variants = 1

    def __init__(self, training: Training, cfg: TrainConfig, placement: Placement | None = None):
        self.training, self.cfg = training, cfg
        self.placement = placement or Placement()
        self.batch_size = training.schedule.batch_size
        self.eval_splits = [s for s in cfg.eval_splits if s in training.dataset.splits]
        self._eval_fn = jax.jit(training.eval_step)
        self._compiled: dict[int, Any] = {}
        self.data = None

    def initial_states(self) -> list:
        return [self.training.state]

    def place(self, states: list):
        self.data = self.placement.put_data(self.training.dataset.splits["train"])
        return self.placement.put_state(states[0])

    def _indices(self, step: int, n: int) -> np.ndarray:
        schedule = self.training.schedule
        return schedule.indices_for(step, n) if n > 1 else schedule.indices(step)

    def compile(self, state, n: int) -> None:
        if n not in self._compiled:
            fn = self.placement.indexed_step(self.training.train_step, n, self.cfg.unroll)
            self._compiled[n] = self.placement.compile(fn, state, self.data, self._indices(0, n))

    def call(self, state, step: int, n: int):
        self.compile(state, n)
        state, m = self._compiled[n](state, self.data, self._indices(step, n))
        return state, m if n > 1 else jax.tree_util.tree_map(lambda a: a[None], m)

    def evaluate(self, state) -> list[dict]:
        splits = self.training.dataset.splits
        return [
            {
                split: evaluate(
                    self._eval_fn, state.params, splits[split], self.cfg.eval_batch_size
                )
                for split in self.eval_splits
            }
        ]

    def variant(self, state, v: int):
        return state

    def describe(self, state) -> list[dict]:
        return [models.describe_params(state.params)]


def schedule_of(cfg: TrainConfig, steps_per_epoch: int) -> Schedule:
    """The engine's schedule for a `train:` section."""
    return Schedule(
        total=total_steps(cfg, steps_per_epoch),
        steps_per_call=cfg.steps_per_call,
        log_every=cfg.log_every,
        eval_every=cfg.eval_every,
        nan_policy=cfg.nan_policy,
        progress=cfg.progress,
    )


def fit(
    config: SupervisedConfig,
    rundir: RunDir,
    training: Training,
    placement: Placement | None = None,
    plan: parallel_lib.Plan | None = None,
    extra_hooks: Sequence[Hook] = (),
) -> tuple[dict, Any]:
    """Train one supervised (or transfer) run; returns (summary, final train state)."""
    program = SupervisedProgram(training, config.train, placement)
    run = Run(
        rundir,
        config.experiment,
        hooks=[*supervised_hooks(config, rundir, training, plan), *extra_hooks],
        checkpoints=run_checkpoints(config, rundir, training.dataset.spec),
    )
    schedule = schedule_of(config.train, training.schedule.steps_per_epoch)
    (summary,), state = train_loop(program, schedule, [run])
    return summary, state


def run(config: SupervisedConfig, rundir: RunDir, extra_hooks: Sequence[Hook] = ()) -> dict:
    """Train, evaluate and write metrics, plots and the summary; returns the summary."""
    plan = parallel_lib.make_plan(config.parallel)
    training, placement = plan.place(build(config, plan.axis_name), config.train)
    return fit(config, rundir, training, placement, plan, extra_hooks)[0]


EXPERIMENTS.register("supervised", SupervisedConfig)(run)
