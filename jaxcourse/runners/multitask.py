"""The `multitask` experiment: one shared CNN trunk, softmax heads per task and character.

Each task reads its own record files through a `RecordPipeline`. Two modes:

- ``joint``: every step takes a batch of every task and minimises the weighted sum of the
  task losses; a task's loss is itself the sum of its heads' cross-entropies (the CAPTCHA
  model: one head per character, trained together).
- ``alternating``: step n trains only the task ``schedule[n % len(schedule)]``, with that
  task's own optimizer state, updating the shared trunk and that task's heads (the course's
  "alternate training": one optimizer per loss over shared variables).

The steps are `jaxcourse.train.make_train_step` over batches {'x', 'y'}; this module is the
shell around them: pipelines, logging, evaluation, the summary and the saved parameters.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from jaxcourse import optim, plots, train
from jaxcourse.config import EXPERIMENTS, ExperimentConfig, RegistryRef, Section, to_dict
from jaxcourse.engine.checkpoint import CheckpointConfig, RunCheckpoints
from jaxcourse.engine.progress import progress_bar
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
    progress: Literal["auto", "on", "off"] = Field("auto", description="Progress bar.")


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
        "test_<task>_string_accuracy).",
    )
    plots: bool = Field(True, description="Write loss and accuracy plots at the end.")

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


def run(config: MultitaskConfig, rundir: RunDir) -> dict:
    """Train, evaluate each task on its eval split, write metrics, plots, params, summary."""
    t_start = time.perf_counter()
    tr = build(config)
    cfg = config.train
    eval_data = {
        t.name: load_split(t.data, t.data.eval_split)
        for t in config.tasks
        if t.data.eval_split is not None
    }
    step_fns = {k: jax.jit(f, donate_argnums=0) for k, f in tr.train_steps.items()}
    eval_fns = {t: jax.jit(f) for t, f in tr.eval_steps.items()}
    checkpoints = None
    state, rows, start = tr.state, [], 0
    if config.checkpoint.enabled:
        config_dict = to_dict(config)
        meta = {"config": config_dict, "model": config_dict["model"]}
        checkpoints = RunCheckpoints(config.checkpoint, rundir, meta)
        state, resumed_rows = checkpoints.resume(state)
        rows, start = resumed_rows or [], int(state.step)
    pending, t_first = [], None
    device_prefetch = min(t.data.device_prefetch for t in config.tasks)
    batches = prefetch_to_device(_task_batches(config, tr, start, cfg.steps), device_prefetch)
    with progress_bar(cfg.steps, cfg.progress, "train") as bar:
        bar.update(start)
        for step, (key, batch) in enumerate(batches, start=start + 1):
            state, metrics = step_fns[key](state, batch)
            pending.append(metrics)
            bar.update(1)
            if t_first is None:
                jax.block_until_ready(state)
                t_first = time.perf_counter()
            evaluate_now = step == cfg.steps or bool(cfg.eval_every and step % cfg.eval_every == 0)
            save_now = checkpoints is not None and (
                step % config.checkpoint.every == 0 or step == cfg.steps
            )
            if step % cfg.log_every and not evaluate_now:
                if save_now:
                    checkpoints.save(step, state, None)
                continue
            row = {"step": step, **_mean_metrics(pending)}
            pending.clear()
            if evaluate_now:
                for t, split in eval_data.items():
                    ev = evaluate(eval_fns[t], state.params, split, cfg.eval_batch_size)
                    row.update({f"test_{t}_{k}": v for k, v in ev.items()})
            row["time_s"] = round(time.perf_counter() - t_start, 3)
            rundir.log(row)
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}")
            if save_now:
                checkpoints.save(step, state, row)
    jax.block_until_ready(state)
    train_s = time.perf_counter() - t_first if t_first is not None else None
    params = jax.device_get(state.params)
    rundir.file(PARAMS_FILE).write_bytes(serialization.to_bytes(params))
    rundir.write_json(TASKS_FILE, tr.heads)
    if config.plots and rows:
        _write_plots(rundir, rows)
    summary = {
        "experiment": config.experiment,
        "status": "completed",
        "steps": cfg.steps,
        "final": rows[-1],
        "wall_time_s": round(time.perf_counter() - t_start, 3),
        "steps_per_s": (cfg.steps - start - 1) / train_s
        if train_s and cfg.steps - start > 1
        else None,
        "bad_records": {t: p.bad_records for t, p in tr.pipelines.items()},
        "device": {"platform": jax.devices()[0].platform, "count": jax.device_count()},
        "jax_version": jax.__version__,
    }
    if checkpoints is not None:
        summary["checkpoint"] = checkpoints.close()
    rundir.write_summary(summary)
    return summary


def _mean_metrics(pending: list[dict]) -> dict:
    """Mean of each metric over the steps since the last row (a task's keys where it ran)."""
    fetched = jax.device_get(pending)
    keys = {k for m in fetched for k in m}
    return {k: float(np.mean([m[k] for m in fetched if k in m])) for k in sorted(keys)}


def _write_plots(rundir: RunDir, rows: list[dict]) -> None:
    plots.metric_curves(rows, ["loss"], rundir.file("loss.png"), "loss", log_y=True)
    acc = [k for k in rows[-1] if k.endswith("char_accuracy") or k.endswith("string_accuracy")]
    if acc:
        plots.metric_curves(rows, acc, rundir.file("accuracy.png"), "accuracy")


EXPERIMENTS.register("multitask", MultitaskConfig)(run)
