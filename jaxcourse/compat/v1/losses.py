"""`tf.losses`: TF1's losses with their weights and reductions, and the `losses` collection.

Every loss is `compute_weighted_loss(per-element losses, weights, reduction)`: the losses are
multiplied by `weights` (broadcast to them), then reduced — by default summed and divided by
the number of non-zero weights (`Reduction.SUM_BY_NONZERO_WEIGHTS`; 0 when all are zero) —
and added to the `losses` collection that `get_total_loss()` sums (with the
`regularization_losses` of `tf.layers`' regularizers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcourse.compat.v1 import dtypes, ops
from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, get_default_graph, make_op
from jaxcourse.compat.v1.layers import REGULARIZATION_LOSSES

LOSSES = "losses"


class Reduction:
    """How a weighted loss is reduced (TF's `tf.losses.Reduction`)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key: str) -> None:
        if key not in cls.all():
            raise ValueError(f"invalid reduction {key!r}; expected one of {cls.all()}")


def _reduce(weighted, weights_full, reduction: str):
    if reduction == Reduction.NONE:
        return weighted
    total = jnp.sum(weighted)
    if reduction == Reduction.SUM:
        return total
    if reduction == Reduction.MEAN:
        count = jnp.sum(weights_full)
    elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
        count = jnp.asarray(weighted.size, weighted.dtype)
    else:
        count = jnp.sum((weights_full != 0).astype(weighted.dtype))
    return jnp.where(count == 0, jnp.zeros_like(total), total / jnp.where(count == 0, 1, count))


def add_loss(loss, loss_collection: str | None = LOSSES) -> None:
    """Add `loss` to `loss_collection` (nothing when it is None)."""
    if loss_collection:
        get_default_graph().add_to_collection(loss_collection, loss)


def compute_weighted_loss(
    losses,
    weights=1.0,
    scope=None,
    loss_collection=LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """`losses` × `weights` (broadcast to the losses' shape), reduced by `reduction`."""
    Reduction.validate(reduction)
    losses = ops.cast(convert_to_tensor(losses), dtypes.float32)
    weights = ops.cast(convert_to_tensor(weights, name="weights"), dtypes.float32)
    if losses.shape is not None and weights.shape is not None:
        try:
            jnp.broadcast_shapes(
                tuple(1 if d is None else d for d in weights.shape),
                tuple(1 if d is None else d for d in losses.shape),
            )
        except ValueError:
            raise ValueError(
                f"weights {weights.describe()} cannot be broadcast to the losses "
                f"{losses.describe()}"
            ) from None

    def compute(ev, value, w):
        full = jnp.broadcast_to(w, value.shape)
        return _reduce(value * full, full, reduction)

    with get_default_graph().name_scope(scope or "weighted_loss"):
        loss = make_op("WeightedLoss", compute, [losses, weights], "value")
    add_loss(loss, loss_collection)
    return loss


def _squeezed_weights(weights, losses: Tensor):
    """Weights of shape [..., 1] for losses of one rank less lose that axis (as in TF)."""
    if isinstance(weights, Tensor) or hasattr(weights, "shape"):
        shape = getattr(weights, "shape", None)
        if shape is not None and losses.shape is not None and len(shape) == len(losses.shape) + 1:
            if shape[-1] == 1:
                return ops.squeeze(weights, [-1])
    return weights


def _loss(op_type: str, fn, a, b, weights, scope, loss_collection, reduction, name) -> Tensor:
    with get_default_graph().name_scope(scope or name):
        a = ops.cast(convert_to_tensor(a), dtypes.float32)
        b = ops.cast(convert_to_tensor(b), dtypes.float32)
        per_element = ops._binary(op_type, fn, a, b)
        return compute_weighted_loss(
            per_element, weights, None, loss_collection, reduction=reduction
        )


def softmax_cross_entropy(
    onehot_labels,
    logits,
    weights=1.0,
    label_smoothing=0,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Cross-entropy of softmax(logits) per example; labels smoothed towards 1/classes."""
    smoothing = float(label_smoothing)

    def fn(labels, z):
        if smoothing > 0:
            labels = labels * (1 - smoothing) + smoothing / labels.shape[-1]
        labels = jax.lax.stop_gradient(labels)
        return -jnp.sum(labels * jax.nn.log_softmax(z, axis=-1), axis=-1)

    return _loss(
        "SoftmaxCrossEntropyWithLogits",
        fn,
        onehot_labels,
        logits,
        weights,
        scope,
        loss_collection,
        reduction,
        "softmax_cross_entropy_loss",
    )


def sparse_softmax_cross_entropy(
    labels,
    logits,
    weights=1.0,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Cross-entropy of softmax(logits) per example, for integer class labels."""
    with get_default_graph().name_scope(scope or "sparse_softmax_cross_entropy_loss"):
        labels = convert_to_tensor(labels)
        logits = ops.cast(convert_to_tensor(logits), dtypes.float32)
        if labels.dtype.kind not in "iu":
            raise TypeError(
                f"sparse_softmax_cross_entropy: labels must be integer class ids, "
                f"got {labels.describe()}"
            )

        def compute(ev, y, z):
            logp = jax.nn.log_softmax(z, axis=-1)
            return -jnp.take_along_axis(logp, y[..., None].astype(jnp.int32), axis=-1)[..., 0]

        losses = make_op("SparseSoftmaxCrossEntropyWithLogits", compute, [labels, logits])
        weights = _squeezed_weights(weights, losses)
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction=reduction)


def sigmoid_cross_entropy(
    multi_class_labels,
    logits,
    weights=1.0,
    label_smoothing=0,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Element-wise sigmoid cross-entropy; labels smoothed towards 1/2."""
    smoothing = float(label_smoothing)

    def fn(labels, z):
        if smoothing > 0:
            labels = labels * (1 - smoothing) + 0.5 * smoothing
        return jnp.maximum(z, 0) - z * labels + jnp.log1p(jnp.exp(-jnp.abs(z)))

    return _loss(
        "SigmoidCrossEntropyWithLogits",
        fn,
        multi_class_labels,
        logits,
        weights,
        scope,
        loss_collection,
        reduction,
        "sigmoid_cross_entropy_loss",
    )


def _elementwise(op_type: str, fn, default_scope: str, doc: str):
    """A loss `(labels, predictions, weights, scope, loss_collection, reduction)` of the
    element-wise `fn(labels, predictions)`."""

    def loss(
        labels,
        predictions,
        weights=1.0,
        scope=None,
        loss_collection=LOSSES,
        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
    ) -> Tensor:
        return _loss(
            op_type,
            fn,
            labels,
            predictions,
            weights,
            scope,
            loss_collection,
            reduction,
            default_scope,
        )

    loss.__name__ = loss.__qualname__ = default_scope
    loss.__doc__ = doc
    return loss


mean_squared_error = _elementwise(
    "SquaredDifference",
    lambda y, p: jnp.square(p - y),
    "mean_squared_error",
    "(predictions − labels)², weighted and reduced.",
)
absolute_difference = _elementwise(
    "Abs",
    lambda y, p: jnp.abs(p - y),
    "absolute_difference",
    "|predictions − labels|, weighted and reduced.",
)


def huber_loss(
    labels,
    predictions,
    weights=1.0,
    delta=1.0,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """0.5·e² for |e| ≤ delta, delta·(|e| − delta/2) beyond, with e = predictions − labels."""

    def fn(y, p):
        error = jnp.abs(p - y)
        quadratic = jnp.minimum(error, delta)
        return 0.5 * quadratic * quadratic + delta * (error - quadratic)

    return _loss(
        "Huber",
        fn,
        labels,
        predictions,
        weights,
        scope,
        loss_collection,
        reduction,
        "huber_loss",
    )


def log_loss(
    labels,
    predictions,
    weights=1.0,
    epsilon=1e-7,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """−y·log(p + ε) − (1 − y)·log(1 − p + ε)."""

    def fn(y, p):
        return -y * jnp.log(p + epsilon) - (1 - y) * jnp.log(1 - p + epsilon)

    return _loss(
        "LogLoss",
        fn,
        labels,
        predictions,
        weights,
        scope,
        loss_collection,
        reduction,
        "log_loss",
    )


def hinge_loss(
    labels,
    logits,
    weights=1.0,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """max(0, 1 − (2y − 1)·logits) for labels y in {0, 1}."""
    return _loss(
        "Hinge",
        lambda y, z: jax.nn.relu(1 - (2 * y - 1) * z),
        labels,
        logits,
        weights,
        scope,
        loss_collection,
        reduction,
        "hinge_loss",
    )


def cosine_distance(
    labels,
    predictions,
    axis=None,
    weights=1.0,
    scope=None,
    loss_collection=LOSSES,
    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
    dim=None,
) -> Tensor:
    """1 − Σ labels·predictions over `axis` (both unit-normalised by the caller, as in TF)."""
    ax = dim if axis is None else axis
    if ax is None:
        raise ValueError("cosine_distance needs axis=")
    return _loss(
        "CosineDistance",
        lambda y, p: 1 - jnp.sum(y * p, axis=int(ax), keepdims=True),
        labels,
        predictions,
        weights,
        scope,
        loss_collection,
        reduction,
        "cosine_distance_loss",
    )


def get_losses(scope=None, loss_collection=LOSSES) -> list:
    return get_default_graph().get_collection(loss_collection, scope)


def get_regularization_losses(scope=None) -> list:
    return get_default_graph().get_collection(REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name: str = "total_regularization_loss") -> Tensor:
    """The sum of the regularization losses (0.0 when there is none)."""
    losses = get_regularization_losses(scope)
    return ops.add_n(losses, name=name) if losses else ops.constant(0.0, name=name)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None) -> Tensor:
    """The sum of the `losses` collection (and the regularization losses)."""
    losses = get_losses(scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope)
    if not losses:
        raise ValueError("get_total_loss: no losses were added (tf.losses.* or tf.losses.add_loss)")
    return ops.add_n(losses, name=name)


__getattr__ = missing_names(
    "tf.losses", globals(), {"mean_pairwise_squared_error": "mean_squared_error"}
)
