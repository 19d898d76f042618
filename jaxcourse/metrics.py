"""Task metrics: per-batch means inside the compiled steps, and whole-split confusion counts."""

import jax.numpy as jnp
import numpy as np


def classification_metrics(logits, labels) -> dict:
    """Accuracy of the arg-max class; `labels` are integer classes or one-hot rows."""
    if labels.ndim == logits.ndim:
        labels = jnp.argmax(labels, axis=-1)
    return {"accuracy": jnp.mean(jnp.argmax(logits, axis=-1) == labels)}


def regression_metrics(outputs, targets) -> dict:
    return {"mse": jnp.mean(jnp.square(outputs - targets))}


def for_task(task: str):
    """The metrics function of a dataset's task ('classification' or 'regression')."""
    return {"classification": classification_metrics, "regression": regression_metrics}[task]


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, -1)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Fraction of each true class predicted correctly (the recall); NaN for absent classes."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(matrix) / totals
