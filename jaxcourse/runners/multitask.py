"""The `multitask` experiment: one shared CNN trunk, softmax heads per task and character.

Each task reads its own record files through a `RecordPipeline`. Two modes:

- ``joint``: every step takes a batch of every task and minimises the weighted sum of the
  task losses; a task's loss is itself the sum of its heads' cross-entropies (the CAPTCHA
  model: one head per character, trained together).
- ``alternating``: step n trains only the task ``schedule[n % len(schedule)]``, with that
  task's own optimizer state, updating the shared trunk and that task's heads (the course's
  "alternate training": one optimizer per loss over shared variables).

The steps are `jaxcourse.train.make_train_step` over batches {'x', 'y'}; `MultitaskProgram`
hands them to the engine (`jaxcourse.engine.loop`) with the record pipelines as batch source,
so logging, TensorBoard, checkpoints, NaN policy and plots work as in supervised runs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from jaxcourse import optim, train
from jaxcourse.config import ExperimentConfig, RegistryRef, Section
from jaxcourse.engine.checkpoint import CheckpointConfig, run_checkpoints
from jaxcourse.engine.hooks import Hook
from jaxcourse.engine.loop import Run, Schedule
from jaxcourse.engine.loop import train as train_loop
from jaxcourse.engine.rundir import RunDir
from jaxcourse.errors import ConfigError
from jaxcourse.models.multihead import MultiHeadCNN, MultiHeadCNNConfig, build_multihead
from jaxcourse.records import RecordFilesError, SchemaError
from jaxcourse.records.pipeline import (
    PipelineConfig,
    RecordPipeline,
    load_split,
    prefetch_to_device,
)
from jaxcourse.runners.hooks import multitask_hooks
from jaxcourse.runners.registry import EXPERIMENTS
from jaxcourse.tensorboard.hook import LoggingConfig

PARAMS_FILE = "params.msgpack"
TASKS_FILE = "tasks.json"


class TaskConfig(Section):
    """One task: its records, input pipeline and weight in the joint loss."""

    name: str = Field(description="Task name: names its heads and prefixes its metrics.")
    data: PipelineConfig = Field(description="The task's record files and input pipeline.")
    loss_weight: PositiveFloat = Field(1.0, description="Weight of this task's loss (joint).")


class MultitaskTrainConfig(Section):
    """Length, logging and evaluation of a multi-task run."""

    steps: PositiveInt = Field(description="Number of gradient steps.")
    log_every: PositiveInt = Field(100, description="Write a metrics row every N steps.")
    eval_every: PositiveInt | None = Field(
        None, description="Evaluate every N steps; null = only at the end."
    )
    eval_batch_size: PositiveInt = Field(500, description="Examples per evaluation call.")
    nan_policy: Literal["stop", "warn"] = Field(
        "stop", description="On a NaN/Inf loss: stop the run (exit 3) or warn and go on."
    )
    progress: bool | Literal["auto"] = Field(
        "auto", description="Progress bar: true, false, or auto = only on an interactive terminal."
    )


class MultitaskConfig(ExperimentConfig):
    """A shared-trunk model trained on one or more classification tasks."""

    experiment: Literal["multitask"] = Field(description="Which experiment this config runs.")
    tasks: list[TaskConfig] = Field(min_length=1, description="The tasks (at least one).")
    mode: Literal["joint", "alternating"] = Field(
        "joint",
        description="joint = sum of all task losses each step; alternating = one task "
        "per step following `schedule`.",
    )
    schedule: list[str] | None = Field(
        None,
        description="Alternating mode: task names cycled step by step, e.g. "
        "[captcha, captcha, digits]; null = each task in turn.",
    )
    model: MultiHeadCNNConfig = Field(description="The shared trunk (its heads follow the tasks).")
    optimizer: Annotated[optim.OptimizerConfig, RegistryRef(optim.OPTIMIZERS)] = Field(
        description="The optimizer (one state per task in alternating mode)."
    )
    train: MultitaskTrainConfig = Field(description="Length, logging and evaluation.")
    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig,
        description="Orbax checkpoints of the train state; a run started again on the same "
        "workdir resumes from the latest (keep_best ranks by a row key, e.g. "
        "test/<task>_string_accuracy).",
    )
    plots: bool = Field(True, description="Write loss and accuracy plots at the end.")
    logging: LoggingConfig = Field(
        default_factory=LoggingConfig,
        description="TensorBoard / JSON-lines summaries (see docs/tensorboard.md); pictures, "
        "projector and graph are for supervised runs.",
    )

    @model_validator(mode="after")
    def _tasks_consistent(self):
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be distinct, got {names}")
        if self.schedule is not None and self.mode != "alternating":
            raise ValueError("schedule is for mode: alternating (joint trains every task)")
        for name in self.schedule or []:
            if name not in names:
                raise ValueError(f"schedule names unknown task '{name}'; tasks: {names}")
        return self

    @property
    def cycle(self) -> list[str]:
        """Alternating mode: the task of each step, repeated (default: each task in turn)."""
        return self.schedule or [t.name for t in self.tasks]


# --------------------------------------------------------------------- the functional core


def head_loss(logits, labels):
    """Sum over heads of the mean softmax cross-entropy: (batch, heads, classes), (batch, heads)."""
    per_head = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(axis=0)
    return per_head.sum()


def head_metrics(logits, labels) -> dict:
    """Accuracy of every head, their mean (per character), and all heads right (whole string)."""
    correct = jnp.argmax(logits, axis=-1) == labels
    out = {f"head{i + 1}_accuracy": correct[:, i].mean() for i in range(correct.shape[1])}
    out["char_accuracy"] = correct.mean()
    out["string_accuracy"] = correct.all(axis=1).mean()
    return out


def task_metrics(task: str, logits, labels) -> dict:
    """`head_metrics` and the loss of one task, keys prefixed with the task's name."""
    metrics = {"loss": head_loss(logits, labels), **head_metrics(logits, labels)}
    return {f"{task}_{k}": v for k, v in metrics.items()}


def task_tx(tx: optax.GradientTransformation, params, task: str):
    """`tx` restricted to the trunk and `task`'s heads (other parameters: no update)."""
    mask = jax.tree_util.tree_map_with_path(lambda path, _: _owner(path) in ("trunk", task), params)
    return optax.masked(tx, mask)


def _owner(path) -> str:
    top = str(getattr(path[0], "key", path[0]))
    return "trunk" if top == "trunk" else top.rsplit("_head", 1)[0]


def per_task_state_tx(txs: dict[str, optax.GradientTransformation], task: str):
    """A transformation over {task: state} that updates only `task`'s optimizer state."""

    def init(params):
        return {name: t.init(params) for name, t in txs.items()}

    def update(grads, state, params=None):
        updates, new = txs[task].update(grads, state[task], params)
        return updates, {**state, task: new}

    return optax.GradientTransformation(init, update)


def joint_apply(model: MultiHeadCNN, tasks: list[str]):
    """apply_fn over {task: x} giving {task: logits}: every task's heads on one trunk."""

    def apply(variables, x, train=False, rngs=None):
        return {t: model.apply(variables, x[t], train=train, rngs=rngs, task=t) for t in tasks}

    return apply


@dataclass
class MultitaskTraining:
    """Model, initial state and the pure steps of a multi-task run."""

    heads: list[dict]  # per task: name, num_heads, num_classes, class_names, image
    model: MultiHeadCNN
    state: train.TrainState
    train_steps: dict[str, Any]  # task (or "joint") -> train_step
    eval_steps: dict[str, Any]  # task -> eval_step
    pipelines: dict[str, RecordPipeline]


def build(config: MultitaskConfig) -> MultitaskTraining:
    pipelines = {}
    for i, t in enumerate(config.tasks):
        try:
            pipelines[t.name] = RecordPipeline(t.data, config.seed + i)
        except (RecordFilesError, SchemaError) as err:
            raise ConfigError(f"config key 'tasks.{i}.data.path': {err}") from None
    heads = []
    for i, t in enumerate(config.tasks):
        schema = pipelines[t.name].schema
        spec = (schema.metadata or {}).get("spec", {})
        label_shape = schema[pipelines[t.name].decoder.y_name].shape
        if not spec.get("num_outputs"):
            raise ConfigError(
                f"config key 'tasks.{i}.data.path': records in '{t.data.path}' have no "
                "dataset spec in schema.json (write them with `jaxcourse data convert`)"
            )
        heads.append(
            {
                "name": t.name,
                "num_heads": int(np.prod(label_shape)) if label_shape else 1,
                "num_classes": spec["num_outputs"],
                "class_names": spec.get("class_names", []),
                "image": t.data.image.model_dump(mode="json"),
            }
        )
    shapes = {pipelines[t].decoder.output_shape for t in pipelines}
    if len(shapes) > 1:
        raise ConfigError(
            f"tasks give images of different shapes {sorted(shapes)}; set the same "
            "data.image.size for every task (the trunk is shared)"
        )
    model = build_multihead(
        config.model, [(h["name"], h["num_heads"], h["num_classes"]) for h in heads]
    )
    sample = np.zeros((1, *shapes.pop()), np.uint8)
    base_tx = optim.build(config.optimizer)
    names = [t.name for t in config.tasks]
    weights = {t.name: t.loss_weight for t in config.tasks}
    if config.mode == "joint":
        tx = base_tx
        state = train.create_train_state(jax.random.key(config.seed), model, tx, sample)

        def loss_fn(outputs, labels):
            return sum(weights[t] * head_loss(outputs[t], labels[t]) for t in names)

        def metrics_fn(outputs, labels):
            return {k: v for t in names for k, v in task_metrics(t, outputs[t], labels[t]).items()}

        steps = {"joint": train.make_train_step(joint_apply(model, names), loss_fn, tx, metrics_fn)}
    else:
        params = model.init({"params": jax.random.key(0)}, sample, train=False)["params"]
        txs = {t: task_tx(base_tx, params, t) for t in names}
        tx = per_task_state_tx(txs, names[0])
        state = train.create_train_state(jax.random.key(config.seed), model, tx, sample)
        steps = {}
        for t in names:
            apply_t = functools.partial(model.apply, task=t)
            steps[t] = train.make_train_step(
                apply_t, head_loss, per_task_state_tx(txs, t), functools.partial(task_metrics, t)
            )
    evals = {
        t: train.make_eval_step(functools.partial(model.apply, task=t), head_loss, head_metrics)
        for t in names
    }
    return MultitaskTraining(heads, model, state, steps, evals, pipelines)


# --------------------------------------------------------------------- the imperative shell


def _task_batches(config: MultitaskConfig, tr: MultitaskTraining, start: int, total: int):
    """Per step: (task key, batch), batches from each task's pipeline in schedule order."""
    if config.mode == "joint":
        iters = {t: p.batches(start, total - start) for t, p in tr.pipelines.items()}
        for _ in range(start, total):
            batches = {t: next(it) for t, it in iters.items()}
            yield (
                "joint",
                {
                    "x": {t: b["x"] for t, b in batches.items()},
                    "y": {t: b["y"] for t, b in batches.items()},
                },
            )
        return
    # alternating: task t's k-th turn reads that task's k-th batch
    cycle = config.cycle
    counts = {t: 0 for t in cycle}
    for n in range(start):
        counts[cycle[n % len(cycle)]] += 1
    iters = {t: tr.pipelines[t].batches(counts[t]) for t in set(cycle)}
    for n in range(start, total):
        t = cycle[n % len(cycle)]
        yield t, next(iters[t])


def evaluate(eval_step, params, split: dict[str, np.ndarray], batch_size: int) -> dict:
    n = len(split["x"])
    totals: dict[str, float] = {}
    for start in range(0, n, batch_size):
        batch = {k: v[start : start + batch_size] for k, v in split.items()}
        for key, value in jax.device_get(eval_step(params, batch)).items():
            totals[key] = totals.get(key, 0.0) + float(value) * len(batch["x"])
    return {key: value / n for key, value in totals.items()}


class MultitaskProgram:
    """A multi-task run as the engine's `Program`: batches streamed from record pipelines,
    one jitted step per task key ("joint", or the task of the step in alternating mode)."""

    variants = 1

    def __init__(self, config: MultitaskConfig, tr: MultitaskTraining):
        self.config, self.tr = config, tr
        sizes = {t.name: t.data.batch_size for t in config.tasks}
        self.batch_size = (
            sum(sizes.values())
            if config.mode == "joint"
            else round(np.mean([sizes[t] for t in config.cycle]))
        )
        self.eval_data = {
            t.name: load_split(t.data, t.data.eval_split)
            for t in config.tasks
            if t.data.eval_split is not None
        }
        self._steps = {k: jax.jit(f, donate_argnums=0) for k, f in tr.train_steps.items()}
        self._evals = {t: jax.jit(f) for t, f in tr.eval_steps.items()}
        self._batches = None

    def initial_states(self) -> list:
        return [self.tr.state]

    def place(self, states: list):
        return states[0]

    def compile(self, state, n: int) -> None:
        """Nothing ahead: each task's step is compiled at its first call (jax.jit)."""

    def call(self, state, step: int, n: int):
        if self._batches is None:  # the batch source starts where the run starts (or resumes)
            prefetch = min(t.data.device_prefetch for t in self.config.tasks)
            batches = _task_batches(self.config, self.tr, step, self.config.train.steps)
            self._batches = prefetch_to_device(batches, prefetch)
        key, batch = next(self._batches)
        state, metrics = self._steps[key](state, batch)
        return state, jax.tree_util.tree_map(lambda a: a[None], metrics)

    def evaluate(self, state) -> list[dict]:
        size = self.config.train.eval_batch_size
        test = {}
        for t, split in self.eval_data.items():
            ev = evaluate(self._evals[t], state.params, split, size)
            test.update({f"{t}_{k}": v for k, v in ev.items()})
        return [{"test": test} if test else {}]

    def variant(self, state, v: int):
        return state

    def describe(self, state) -> list[dict]:
        return [{}]


class TaskFiles(Hook):
    """At the end: the parameters (params.msgpack), the heads (tasks.json) for
    `jaxcourse captcha-predict`, and the pipelines' bad-record counts for summary.json."""

    def __init__(self, rundir: RunDir, tr: MultitaskTraining):
        self.rundir, self.tr = rundir, tr

    def on_end(self, step, state, summary) -> dict:
        params = jax.device_get(state.params)
        self.rundir.file(PARAMS_FILE).write_bytes(serialization.to_bytes(params))
        self.rundir.write_json(TASKS_FILE, self.tr.heads)
        return {"bad_records": {t: p.bad_records for t, p in self.tr.pipelines.items()}}


def run(config: MultitaskConfig, rundir: RunDir, extra_hooks: Sequence[Hook] = ()) -> dict:
    """Train, evaluate each task on its eval split, write metrics, plots, params, summary."""
    tr = build(config)
    cfg = config.train
    this_run = Run(
        rundir,
        config.experiment,
        hooks=[*multitask_hooks(config, rundir), TaskFiles(rundir, tr), *extra_hooks],
        checkpoints=run_checkpoints(config, rundir),
    )
    schedule = Schedule(
        total=cfg.steps,
        log_every=cfg.log_every,
        eval_every=cfg.eval_every,
        nan_policy=cfg.nan_policy,
        progress=cfg.progress,
    )
    (summary,), _ = train_loop(MultitaskProgram(config, tr), schedule, [this_run])
    return summary


EXPERIMENTS.register("multitask", MultitaskConfig)(run)
