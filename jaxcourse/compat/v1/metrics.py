"""`tf.metrics`: streaming metrics, each a (value, update_op) pair over local variables.

A metric keeps running totals in local variables (`accuracy/total`, `accuracy/count`, ...,
initialised by `tf.local_variables_initializer()`); running `update_op` adds a batch to them
and returns the updated metric, `value` reads the metric from the totals so far.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxcourse.compat.v1 import dtypes, ops, variables
from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, get_default_graph, make_op
from jaxcourse.compat.v1.layer_scope import layer_scope

METRIC_VARIABLES = "metric_variables"


def _counter(name: str) -> variables.Variable:
    return variables.Variable(
        ops.zeros([], dtypes.float32),
        trainable=False,
        name=name,
        collections=[variables.LOCAL_VARIABLES, METRIC_VARIABLES],
    )


def _ratio(numerator: Tensor, denominator: Tensor, name: str) -> Tensor:
    """numerator / denominator, 0 where the denominator is 0 (TF's div_no_nan)."""
    return make_op(
        "DivNoNan",
        lambda ev, a, b: jnp.where(b == 0, jnp.zeros_like(a), a / jnp.where(b == 0, 1, b)),
        [numerator, denominator],
        name,
    )


def _collect(value, update, metrics_collections, updates_collections):
    graph = get_default_graph()
    for key in metrics_collections or []:
        graph.add_to_collection(key, value)
    for key in updates_collections or []:
        graph.add_to_collection(key, update)
    return value, update


def _weighted(values: Tensor, weights) -> tuple[Tensor, Tensor]:
    """(values × weights broadcast to them, the sum of those weights); weights None: 1 each."""
    if weights is None:
        count = ops._unary("Size", lambda v: jnp.asarray(v.size, jnp.float32), values)
        return values, count
    weights = ops.cast(convert_to_tensor(weights), dtypes.float32)

    def full(ev, v, w):
        if w.ndim == v.ndim + 1 and w.shape[-1] == 1:
            w = w[..., 0]
        return jnp.broadcast_to(w, v.shape)

    full_weights = make_op("BroadcastWeights", full, [values, weights])
    return ops.multiply(values, full_weights), ops.reduce_sum(full_weights)


def mean(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The (weighted) mean of all values seen: total / count."""
    with layer_scope(name, "mean"):
        values = ops.cast(convert_to_tensor(values), dtypes.float32)
        total, count = _counter("total"), _counter("count")
        weighted, num = _weighted(values, weights)
        update_total = variables.assign_add(total, ops.reduce_sum(weighted))
        update_count = variables.assign_add(count, num)
        value = _ratio(total, count, "value")
        update = _ratio(update_total, update_count, "update_op")
    return _collect(value, update, metrics_collections, updates_collections)


def accuracy(
    labels,
    predictions,
    weights=None,
    metrics_collections=None,
    updates_collections=None,
    name=None,
):
    """The (weighted) fraction of predictions equal to labels."""
    labels, predictions = convert_to_tensor(labels), convert_to_tensor(predictions)
    if predictions.dtype != labels.dtype:
        predictions = ops.cast(predictions, labels.dtype)
    correct = ops.cast(ops.equal(predictions, labels), dtypes.float32)
    return mean(correct, weights, metrics_collections, updates_collections, name or "accuracy")


def mean_squared_error(
    labels,
    predictions,
    weights=None,
    metrics_collections=None,
    updates_collections=None,
    name=None,
):
    errors = ops.squared_difference(*_floats(labels, predictions))
    return mean(
        errors, weights, metrics_collections, updates_collections, name or "mean_squared_error"
    )


def mean_absolute_error(
    labels,
    predictions,
    weights=None,
    metrics_collections=None,
    updates_collections=None,
    name=None,
):
    labels, predictions = _floats(labels, predictions)
    return mean(
        ops.abs(predictions - labels),
        weights,
        metrics_collections,
        updates_collections,
        name or "mean_absolute_error",
    )


def root_mean_squared_error(
    labels,
    predictions,
    weights=None,
    metrics_collections=None,
    updates_collections=None,
    name=None,
):
    errors = ops.squared_difference(*_floats(labels, predictions))
    mse, update = mean(errors, weights, None, None, name or "root_mean_squared_error")
    return _collect(ops.sqrt(mse), ops.sqrt(update), metrics_collections, updates_collections)


def _floats(labels, predictions) -> tuple[Tensor, Tensor]:
    return (
        ops.cast(convert_to_tensor(labels), dtypes.float32),
        ops.cast(convert_to_tensor(predictions), dtypes.float32),
    )


def _count(condition: Tensor, weights, name, default: str) -> tuple[Tensor, Tensor]:
    """(count so far, update) of the (weighted) true entries of `condition`."""
    with layer_scope(name, default):
        counter = _counter("count")
        weighted, _ = _weighted(ops.cast(condition, dtypes.float32), weights)
        update = variables.assign_add(counter, ops.reduce_sum(weighted))
        return ops.identity(counter, name="value"), update


def _booleans(labels, predictions) -> tuple[Tensor, Tensor]:
    return (
        ops.cast(convert_to_tensor(labels), dtypes.bool_),
        ops.cast(convert_to_tensor(predictions), dtypes.bool_),
    )


_CONDITIONS = {
    "true_positives": lambda y, p: ops.logical_and(y, p),
    "false_positives": lambda y, p: ops.logical_and(ops.logical_not(y), p),
    "false_negatives": lambda y, p: ops.logical_and(y, ops.logical_not(p)),
    "true_negatives": lambda y, p: ops.logical_and(ops.logical_not(y), ops.logical_not(p)),
}


def _condition_metric(kind: str):
    def metric(
        labels,
        predictions,
        weights=None,
        metrics_collections=None,
        updates_collections=None,
        name=None,
    ):
        y, p = _booleans(labels, predictions)
        value, update = _count(_CONDITIONS[kind](y, p), weights, name, kind)
        return _collect(value, update, metrics_collections, updates_collections)

    metric.__name__ = metric.__qualname__ = kind
    metric.__doc__ = (
        f"The (weighted) number of {kind.replace('_', ' ')} (labels, predictions as bools)."
    )
    return metric


true_positives = _condition_metric("true_positives")
false_positives = _condition_metric("false_positives")
false_negatives = _condition_metric("false_negatives")
true_negatives = _condition_metric("true_negatives")


def _fraction(
    default_name,
    other,
    labels,
    predictions,
    weights,
    metrics_collections,
    updates_collections,
    name,
):
    with layer_scope(name, default_name):
        y, p = _booleans(labels, predictions)
        tp, tp_update = _count(_CONDITIONS["true_positives"](y, p), weights, None, "true_positives")
        wrong, wrong_update = _count(_CONDITIONS[other](y, p), weights, None, other)
        value = _ratio(tp, tp + wrong, "value")
        update = _ratio(tp_update, tp_update + wrong_update, "update_op")
    return _collect(value, update, metrics_collections, updates_collections)


def _fraction_metric(kind: str, other: str, doc: str):
    def metric(
        labels,
        predictions,
        weights=None,
        metrics_collections=None,
        updates_collections=None,
        name=None,
    ):
        return _fraction(
            kind,
            other,
            labels,
            predictions,
            weights,
            metrics_collections,
            updates_collections,
            name,
        )

    metric.__name__ = metric.__qualname__ = kind
    metric.__doc__ = doc
    return metric


precision = _fraction_metric(
    "precision",
    "false_positives",
    "true positives / (true positives + false positives), 0 when there is no positive.",
)
recall = _fraction_metric(
    "recall", "false_negatives", "true positives / (true positives + false negatives)."
)


__getattr__ = missing_names(
    "tf.metrics",
    globals(),
    {"auc": "precision", "mean_iou": "accuracy", "mean_per_class_accuracy": "accuracy"},
)
