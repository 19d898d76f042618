"""Which hooks a run has, in the order they run: the one place where hooks are chosen.

Order matters only where one hook reads what another wrote; here none does, and the order
is that of the files they write: TensorBoard summaries first, then what adds to
summary.json (class report, parallel layout), then the plots drawn from metrics.jsonl.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxcourse import plots
from jaxcourse.classification_report import class_report_hook
from jaxcourse.engine.hooks import Hook
from jaxcourse.engine.rundir import RunDir, read_metrics
from jaxcourse.parallel.placement import ParallelSummary
from jaxcourse.tensorboard.hook import summary_hook


class CurvesHook(Hook):
    """At the end: loss.png and accuracy.png from the run's metrics.jsonl (all its rows, also
    those written before a resume), and a supervised 1-D regression's fit.png."""

    def __init__(self, rundir: RunDir, training=None):
        self.rundir, self.training = rundir, training

    def on_end(self, step, state, summary) -> None:
        path = self.rundir.file("metrics.jsonl")
        rows = read_metrics(path) if self.rundir.writes_files and path.is_file() else []
        if not rows:
            return
        keys = list(dict.fromkeys(k for row in rows for k in row))
        loss_keys = [k for k in keys if k.endswith("/loss")]
        plots.metric_curves(rows, loss_keys, self.rundir.file("loss.png"), "loss", log_y=True)
        acc_keys = [k for k in keys if k.endswith("accuracy")]
        if acc_keys:
            plots.metric_curves(rows, acc_keys, self.rundir.file("accuracy.png"), "accuracy")
        if self.training is not None:
            self._fit(state.params, rows)

    def _fit(self, params, rows: list[dict]) -> None:
        tr = self.training
        spec, split = tr.dataset.spec, tr.dataset.splits["train"]
        if not (spec.task == "regression" and spec.input_shape == (1,) and spec.num_outputs == 1):
            return
        x = split["x"]
        grid = np.linspace(x.min(), x.max(), 200, dtype=np.float32)[:, None]
        pred = np.asarray(tr.model.apply({"params": params}, jnp.asarray(grid), train=False))
        final = rows[-1].get("train/loss", float("nan"))
        title = f"{spec.task}: final loss {final:.3g}"
        plots.regression_fit(x, split["y"], grid, pred, self.rundir.file("fit.png"), title)


def supervised_hooks(config, rundir: RunDir, training, plan=None) -> list[Hook]:
    """A supervised or transfer run's hooks (also each variant's in a stacked sweep)."""
    hooks = [
        summary_hook(config, rundir, training),
        class_report_hook(config, rundir, training),
        ParallelSummary(plan) if plan is not None else None,
        CurvesHook(rundir, training) if config.plots else None,
    ]
    return [h for h in hooks if h is not None]


def multitask_hooks(config, rundir: RunDir) -> list[Hook]:
    """A multi-task run's hooks: the same summaries (without pictures) and curves."""
    hooks = [summary_hook(config, rundir), CurvesHook(rundir) if config.plots else None]
    return [h for h in hooks if h is not None]
