"""Loss functions by name: `loss(outputs, targets) -> scalar`, averaged over the batch.

Targets may be integer class labels or one-hot rows wherever the loss is a classification loss.
"""

import jax
import jax.numpy as jnp
import optax

from jaxcourse.registry import Registry

LOSSES = Registry("loss")


def _as_one_hot(targets, outputs):
    if targets.ndim == outputs.ndim - 1:
        return jax.nn.one_hot(targets, outputs.shape[-1], dtype=outputs.dtype)
    return targets


@LOSSES.register("mse")
def mse(outputs, targets):
    """Quadratic loss, the course's `reduce_mean(square(y - prediction))`: mean over entries."""
    return jnp.mean(jnp.square(outputs - _as_one_hot(targets, outputs)))


@LOSSES.register("softmax_mse")
def softmax_mse(logits, labels):
    """Quadratic loss on softmax probabilities against one-hot labels (the week-3 model)."""
    return mse(jax.nn.softmax(logits, axis=-1), labels)


@LOSSES.register("softmax_cross_entropy")
def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against the labels."""
    return jnp.mean(optax.softmax_cross_entropy(logits, _as_one_hot(labels, logits)))


@LOSSES.register("sigmoid_cross_entropy")
def sigmoid_cross_entropy(logits, labels):
    """Element-wise sigmoid cross-entropy (independent binary outputs), mean over entries."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, _as_one_hot(labels, logits)))
