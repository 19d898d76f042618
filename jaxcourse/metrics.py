"""Task metrics computed inside the compiled steps (per batch, mean over examples)."""

import jax.numpy as jnp


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
