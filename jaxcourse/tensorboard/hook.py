"""TensorBoard (and JSON-lines) summaries of a supervised run, as a training hook.

Enabled by the config's `logging:` section (`logging.tensorboard: true`). During training it
writes, to `<run dir>/<logging.dir>`:
- scalars every `logging.every` steps: `train/loss`, `train/grad_norm`, `train/accuracy`,
  `train/learning_rate`, `train/steps_per_s`, and each evaluation's `<split>/<metric>`;
- the course's variable summaries of every parameter (`<module>/<param>/summaries/mean` ...)
  every `logging.every` steps, their histograms every `logging.histograms_every` steps;
- the train step's graph, sample inputs and the config as text, once at the start;
- misclassified examples and the confusion matrix (at the end, or every `images.every`);
- the embedding projector (last hidden layer and/or pixels of N examples) and the hparams
  (config and final metrics) at the end.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import jax
import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from jaxcourse import metrics
from jaxcourse.config import Section, to_dict
from jaxcourse.engine.hooks import HOOK_FACTORIES, Hook
from jaxcourse.engine.writers import JsonlWriter, MetricWriter, MultiWriter, TensorBoardWriter
from jaxcourse.graph import export as graph_export
from jaxcourse.tensorboard import images as image_summaries
from jaxcourse.tensorboard import projector
from jaxcourse.tensorboard.summaries import variable_summaries


class ImagesConfig(Section):
    """Pictures in the Images dashboard (classification datasets with image inputs)."""

    inputs: NonNegativeInt = Field(
        16, description="Training inputs shown once at the start as a grid (0 = none)."
    )
    misclassified: NonNegativeInt = Field(
        16, description="Misclassified examples shown with predicted and true label (0 = none)."
    )
    confusion_matrix: bool = Field(True, description="Draw the confusion matrix.")
    every: PositiveInt | None = Field(
        None,
        description="Redraw misclassified examples and the confusion matrix every N steps; "
        "null = only at the end of training.",
    )
    split: str = Field(
        "test", description="Split they are computed on (the train split if it is missing)."
    )
    eval_examples: PositiveInt | None = Field(
        1000, description="How many examples of that split to classify; null = all of them."
    )


class ProjectorConfig(Section):
    """The embedding projector, written at the end of training (classification datasets)."""

    enabled: bool = Field(True, description="Write the projector's embeddings.")
    samples: PositiveInt = Field(1000, description="How many examples of the split to embed.")
    sources: list[Literal["hidden", "pixels"]] = Field(
        ["hidden", "pixels"],
        min_length=1,
        description="Embeddings to write: hidden = the model's last hidden layer (the input "
        "of its last parameterised layer), pixels = the raw inputs, flattened.",
    )
    split: str = Field(
        "test", description="Split the examples come from (the train split if it is missing)."
    )
    sprite: bool = Field(
        True, description="Write a sprite of the examples' thumbnails (image inputs only)."
    )


class LoggingConfig(Section):
    """Summaries for TensorBoard and/or a JSON-lines file (metrics.jsonl is always written)."""

    tensorboard: bool = Field(
        False, description="Write TensorBoard event files to <run dir>/<logging.dir>."
    )
    jsonl: bool = Field(
        False,
        description="Also write the summaries (not the training rows, which metrics.jsonl "
        "has) to <run dir>/summaries.jsonl, images as PNG files in <run dir>/images.",
    )
    dir: str = Field("tensorboard", description="Event-file directory, relative to the run dir.")
    every: PositiveInt = Field(
        100, description="Write training scalars and variable summaries every N steps."
    )
    variable_summaries: bool = Field(
        True,
        description="The course's variable_summaries: mean, stddev, max, min of every "
        "parameter, tagged <module>/<param>/summaries/<stat>.",
    )
    histograms_every: NonNegativeInt = Field(
        1000, description="Write a histogram of every parameter every N steps (0 = never)."
    )
    histogram_bins: PositiveInt = Field(30, description="Buckets per histogram.")
    graph: bool = Field(True, description="Write the train step's graph (Graphs dashboard).")
    hparams: bool = Field(
        True, description="Write the config and final metrics for the HParams dashboard."
    )
    images: ImagesConfig = Field(
        default_factory=ImagesConfig, description="Sample inputs, misclassified, confusion."
    )
    projector: ProjectorConfig = Field(
        default_factory=ProjectorConfig, description="The embedding projector."
    )
    flush_secs: PositiveInt = Field(
        30, description="Flush event files at least this often (seconds)."
    )


class SummaryHook(Hook):
    """Writes the summaries that a `LoggingConfig` asks for, at the steps it asks for."""

    def __init__(self, cfg: LoggingConfig, config, rundir, training):
        self.cfg, self.config, self.rundir, self.training = cfg, config, rundir, training
        self.logdir = rundir.path / cfg.dir
        self.tensorboard: TensorBoardWriter | None = None
        self.writer = MultiWriter([])  # opened in on_start, once the start step is known
        spec = training.dataset.spec
        self.classification = spec.task == "classification"
        self.class_names = list(spec.class_names) or [str(i) for i in range(spec.num_outputs)]
        self.metric_tags: list[str] = []
        self._scalar_step = self._histogram_step = self._images_step = -1
        self._prev_step = 0
        self._rate_step, self._rate_time = 0, time.perf_counter()
        self._predict = self._schedule = None

    # ------------------------------------------------------------------ hook methods

    def on_start(self, loop) -> None:
        step = int(loop.state.step)  # > 0 when resumed from a checkpoint of that step
        self.writer = self._open_writers(step)
        self._prev_step = self._rate_step = step
        self._rate_time = time.perf_counter()
        if step > 0:  # the interrupted run wrote the start-of-run summaries, and step's own
            return
        self.writer.write_texts(step, {"config": _as_markdown(self.config)})
        if self.cfg.graph and self.tensorboard is not None:
            self._write_graph(loop)
        if self.cfg.images.inputs:
            x = self.training.dataset.splits["train"]["x"][: self.cfg.images.inputs]
            images = image_summaries.as_image_batch(x)
            if images is not None:
                picture = image_summaries.grid(images, scale=2 if images.shape[1] <= 64 else 1)
                self.writer.write_images(step, {"inputs": picture})
        self._write_variables(loop, step, histograms=self.cfg.histograms_every > 0)

    def after_call(self, loop) -> None:
        step, prev = loop.step, self._prev_step
        crossed = lambda every: bool(every) and step // every > prev // every
        if crossed(self.cfg.every):
            self._write_train_scalars(loop)
        if crossed(self.cfg.every) or crossed(self.cfg.histograms_every):
            self._write_variables(
                loop,
                step,
                histograms=crossed(self.cfg.histograms_every),
                scalars=crossed(self.cfg.every),
            )
        if crossed(self.cfg.images.every):
            self._write_eval_images(loop)
        self._prev_step = step

    def after_log(self, loop, row: dict) -> None:
        splits = [s for s in loop.cfg.eval_splits if s in self.training.dataset.splits]
        scalars = {}
        for key, value in row.items():
            split = next((s for s in splits if key.startswith(f"{s}_")), None)
            if split is not None and isinstance(value, int | float):
                scalars[f"{split}/{key[len(split) + 1 :]}"] = value
        self._note_tags(scalars)
        self.writer.write_scalars(row["step"], scalars)

    def on_end(self, loop, summary: dict) -> None:
        try:
            step = int(loop.step)
            scalars = self._scalar_step != step and loop.last_metrics is not None
            if scalars:
                self._write_train_scalars(loop)
            histograms = self.cfg.histograms_every > 0 and self._histogram_step != step
            if scalars or histograms:
                self._write_variables(loop, step, histograms, scalars)
            if self._images_step != step:
                self._write_eval_images(loop)
            if self.cfg.projector.enabled and self.tensorboard is not None:
                self._write_projector(loop)
            if self.cfg.hparams:
                status = "success" if summary.get("status") == "completed" else "failure"
                self.writer.write_hparams(_hparams(self.config), self.metric_tags, status)
        finally:
            self.writer.close()

    def _open_writers(self, step: int) -> MultiWriter:
        """Writers for a run that starts at `step`: what an earlier run in the same directory
        wrote after `step` (all of it, for a fresh run) is dropped from summaries.jsonl and
        hidden in TensorBoard (its purge), so that each step is shown once."""
        start = step + 1 if step > 0 else 0
        writers: list[MetricWriter] = []
        if self.cfg.tensorboard:
            self.tensorboard = TensorBoardWriter(self.logdir, self.cfg.flush_secs, start_step=start)
            writers.append(self.tensorboard)
        if self.cfg.jsonl:
            path, images = self.rundir.file("summaries.jsonl"), self.rundir.file("images")
            writers.append(JsonlWriter(path, images, start_step=start))
        return MultiWriter(writers)

    # ------------------------------------------------------------------ summaries

    def _note_tags(self, scalars: dict) -> None:
        self.metric_tags += [t for t in scalars if t not in self.metric_tags]

    def _write_train_scalars(self, loop) -> None:
        metrics = jax.device_get(loop.last_metrics)
        now = time.perf_counter()
        scalars = {f"train/{k}": float(np.asarray(v).reshape(-1)[-1]) for k, v in metrics.items()}
        lr = self._learning_rate(loop.step - 1)
        if lr is not None:
            scalars["train/learning_rate"] = lr
        if loop.step > self._rate_step:
            scalars["train/steps_per_s"] = (loop.step - self._rate_step) / (now - self._rate_time)
        self._rate_step, self._rate_time = loop.step, now
        self._note_tags({k: v for k, v in scalars.items() if k != "train/steps_per_s"})
        self.writer.write_scalars(loop.step, scalars)
        self._scalar_step = loop.step

    def _learning_rate(self, step: int) -> float | None:
        """The (scheduled) learning rate of update number `step` (0 = the first update)."""
        opt = self.config.optimizer
        rate = getattr(opt, "learning_rate", None)
        schedule = getattr(opt, "schedule", None)
        if rate is None or schedule is None:
            return None if rate is None else float(rate)
        if self._schedule is None:
            from jaxcourse.optim import schedules

            self._schedule = schedules.build(schedule, rate)
        return float(self._schedule(step))

    def _write_variables(self, loop, step: int, histograms: bool, scalars: bool = True) -> None:
        """Variable summaries (when on and `scalars`) and histograms (when `histograms`)."""
        scalars = scalars and self.cfg.variable_summaries
        if not (scalars or histograms):
            return
        bins = self.cfg.histogram_bins if histograms else 0
        stats, hists = variable_summaries(loop.state.params, bins)
        if scalars:
            self.writer.write_scalars(step, stats)
        if hists:
            self.writer.write_histograms(step, hists)
            self._histogram_step = step

    def _eval_split(self, name: str) -> dict[str, np.ndarray]:
        splits = self.training.dataset.splits
        return splits[name] if name in splits else splits["train"]

    def _predictions(self, params, x: np.ndarray) -> np.ndarray:
        if self._predict is None:
            model = self.training.model
            self._predict = jax.jit(lambda p, x: model.apply({"params": p}, x, train=False))
        size = self.config.train.eval_batch_size
        parts = [
            jax.device_get(self._predict(params, x[i : i + size])) for i in range(0, len(x), size)
        ]
        return np.argmax(np.concatenate(parts), axis=-1)

    def _write_eval_images(self, loop) -> None:
        icfg = self.cfg.images
        if not self.classification or not (icfg.misclassified or icfg.confusion_matrix):
            return
        split = self._eval_split(icfg.split)
        x, labels = split["x"][: icfg.eval_examples], _labels(split["y"][: icfg.eval_examples])
        predicted = self._predictions(loop.state.params, x)
        out = {}
        if icfg.confusion_matrix:
            counts = metrics.confusion_matrix(labels, predicted, len(self.class_names))
            accuracy = float(np.mean(predicted == labels))
            title = f"step {loop.step}: accuracy {accuracy:.4f} on {len(labels)} examples"
            out["confusion_matrix"] = image_summaries.confusion_matrix_image(
                counts, self.class_names, title
            )
        wrong = np.flatnonzero(predicted != labels)[: icfg.misclassified]
        images = image_summaries.as_image_batch(x[wrong]) if len(wrong) else None
        if icfg.misclassified and images is not None:
            name = lambda i: self.class_names[i] if i < len(self.class_names) else str(i)
            captions = [f"pred {name(predicted[i])} / true {name(labels[i])}" for i in wrong]
            out["misclassified"] = image_summaries.captioned_grid(images, captions)
        if out:
            self.writer.write_images(loop.step, out)
        self._images_step = loop.step

    def _write_projector(self, loop) -> None:
        pcfg = self.cfg.projector
        if not self.classification:
            return
        split = self._eval_split(pcfg.split)
        x, labels = split["x"][: pcfg.samples], _labels(split["y"][: pcfg.samples])
        hidden, outputs = projector.hidden_features(
            self.training.model, loop.state.params, x, self.config.train.eval_batch_size
        )
        embeddings = {}
        if "hidden" in pcfg.sources:
            embeddings["hidden"] = hidden
        if "pixels" in pcfg.sources:
            embeddings["pixels"] = np.asarray(x, np.float32).reshape(len(x), -1)
        images = image_summaries.as_image_batch(x) if pcfg.sprite else None
        projector.write_projector(
            self.logdir,
            embeddings,
            labels,
            self.class_names,
            images=images,
            predicted=np.argmax(outputs, axis=-1),
        )

    def _write_graph(self, loop) -> None:
        """The train step traced on one real batch: module scopes as groups, shapes on edges."""
        tr = self.training
        split = tr.dataset.splits["train"]
        batch = {key: value[: tr.schedule.batch_size] for key, value in split.items()}
        self.tensorboard.write_graph(graph_export.to_graph_def(tr.train_step, loop.state, batch))


def _labels(y: np.ndarray) -> np.ndarray:
    """Integer class labels from labels or one-hot rows."""
    y = np.asarray(y)
    return np.argmax(y, axis=-1) if y.ndim > 1 else y.astype(int)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def _hparams(config) -> dict[str, bool | int | float | str]:
    """The config as flat `section.key` hparams (lists as text; logging and paths left out)."""
    out = {}
    for key, value in _flatten(to_dict(config)).items():
        if key.startswith("logging.") or key in ("workdir",) or value is None:
            continue
        out[key] = value if isinstance(value, bool | int | float | str) else str(value)
    return out


def _as_markdown(config) -> str:
    from jaxcourse.config import dump_yaml

    return "```\n" + dump_yaml(config) + "```"


def make_summary_hook(config, rundir, training) -> SummaryHook | None:
    """The hook for `config.logging`, or None when neither TensorBoard nor JSONL is on."""
    cfg = getattr(config, "logging", None)
    if not isinstance(cfg, LoggingConfig) or not (cfg.tensorboard or cfg.jsonl):
        return None
    if not rundir.writes_files:  # only the primary process of a multi-host run logs
        return None
    return SummaryHook(cfg, config, rundir, training)


HOOK_FACTORIES.append(make_summary_hook)
