"""TensorFlow 1 update rules that Optax has no exact counterpart for.

`adam`: TF1 adds its epsilon ("epsilon hat") to the *uncorrected* root √v and folds both bias
corrections into the step size. It returns updates to add to the parameters (already negated),
like every Optax optimizer. (TF1's other optimizers are Optax ones with TF1's settings.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


def _rate(learning_rate, count):
    return learning_rate(count) if callable(learning_rate) else learning_rate


class AdamState(NamedTuple):
    count: jax.Array
    m: Any
    v: Any


def adam(learning_rate, b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """tf.train.AdamOptimizer (training_ops ApplyAdam), with epsilon hat."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        lr_t = _rate(learning_rate, state.count) * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
        updates = jax.tree.map(lambda m, v: -lr_t * m / (jnp.sqrt(v) + eps), m, v)
        return updates, AdamState(count, m, v)

    return optax.GradientTransformation(init, update)
