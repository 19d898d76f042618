"""After a classification run: confusion matrix and per-class accuracy on the test split.

A hook (see `jaxcourse.engine.hooks`): at the end of training it predicts the whole evaluation split
with the final parameters, adds `confusion_matrix` and `per_class_accuracy` to summary.json
and draws `confusion.png`.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxcourse import metrics, plots
from jaxcourse.engine.hooks import HOOK_FACTORIES, Hook


def predict_classes(apply_fn, params, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Arg-max class of every example of `x`, predicted in batches with dropout off."""
    predict = jax.jit(lambda p, xb: apply_fn({"params": p}, xb, train=False).argmax(-1))
    out = [np.asarray(predict(params, x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def class_report(labels, predictions, class_names: list[str]) -> dict:
    """{'confusion_matrix': {...}, 'per_class_accuracy': {class: accuracy}} for a split."""
    labels = np.asarray(labels)
    if labels.ndim == 2:  # one-hot rows
        labels = labels.argmax(-1)
    matrix = metrics.confusion_matrix(labels, predictions, len(class_names))
    recall = metrics.per_class_accuracy(matrix)
    return {
        "confusion_matrix": {
            "classes": list(class_names),
            "rows": "true class",
            "columns": "predicted class",
            "counts": matrix.tolist(),
        },
        "per_class_accuracy": {
            name: None if np.isnan(r) else round(float(r), 6)
            for name, r in zip(class_names, recall, strict=True)
        },
    }


class ClassReportHook(Hook):
    """Adds the test split's confusion matrix and per-class accuracy to the summary."""

    def __init__(self, split: str, plot: bool):
        self.split, self.plot = split, plot

    def on_end(self, loop, summary: dict) -> None:
        tr = loop.training
        data = tr.dataset.splits[self.split]
        names = list(tr.dataset.spec.class_names) or [
            str(i) for i in range(tr.dataset.spec.num_outputs)
        ]
        predictions = predict_classes(
            tr.model.apply, loop.state.params, data["x"], loop.cfg.eval_batch_size
        )
        report = class_report(data["y"], predictions, names)
        summary.update({"class_report_split": self.split, **report})
        if self.plot:
            counts = np.asarray(report["confusion_matrix"]["counts"])
            accuracy = np.trace(counts) / max(counts.sum(), 1)
            plots.confusion_matrix(
                counts,
                names,
                loop.rundir.file("confusion.png"),
                f"{self.split} split: accuracy {accuracy:.4f}",
            )


def class_report_hook(config, rundir, training) -> Hook | None:
    """Enabled for classification datasets that have a test (else validation) split."""
    if training.dataset.spec.task != "classification":
        return None
    split = next((s for s in ("test", "validation") if s in training.dataset.splits), None)
    if split is None:
        return None
    return ClassReportHook(split, bool(getattr(config, "plots", True)))


HOOK_FACTORIES.append(class_report_hook)
