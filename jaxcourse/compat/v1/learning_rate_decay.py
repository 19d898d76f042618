"""`tf.train.*_decay`: learning rates computed in the graph from the global step, with TF1's
formulas (the step is cast to the learning rate's float dtype, as TF does)."""

from __future__ import annotations

import math

import jax.numpy as jnp

from jaxcourse.compat.v1 import ops
from jaxcourse.compat.v1.graph import convert_to_tensor, make_op


def _float_inputs(learning_rate, global_step, *numbers):
    lr = convert_to_tensor(learning_rate, dtype=None if hasattr(learning_rate, "op") else "float32")
    if global_step is None:
        raise ValueError("global_step is required for a learning-rate decay")
    step = ops.cast(global_step, lr.dtype)
    return lr, step, [ops.constant(n, dtype=lr.dtype) for n in numbers]


def _decay(op_type: str, fn, learning_rate, global_step, numbers, name):
    lr, step, constants = _float_inputs(learning_rate, global_step, *numbers)
    return make_op(
        op_type, lambda ev, *values: fn(*values), [lr, step, *constants], name or op_type
    )


def exponential_decay(
    learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None
):
    """lr · decay_rate ^ (step / decay_steps) (the exponent floored with `staircase`)."""

    def fn(lr, step, steps, rate):
        p = step / steps
        return lr * jnp.power(rate, jnp.floor(p) if staircase else p)

    return _decay(
        "ExponentialDecay", fn, learning_rate, global_step, (decay_steps, decay_rate), name
    )


def natural_exp_decay(
    learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None
):
    """lr · exp(-decay_rate · step / decay_steps)."""

    def fn(lr, step, steps, rate):
        p = step / steps
        return lr * jnp.exp(-rate * (jnp.floor(p) if staircase else p))

    return _decay(
        "NaturalExpDecay", fn, learning_rate, global_step, (decay_steps, decay_rate), name
    )


def inverse_time_decay(
    learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None
):
    """lr / (1 + decay_rate · step / decay_steps)."""

    def fn(lr, step, steps, rate):
        p = step / steps
        return lr / (1 + rate * (jnp.floor(p) if staircase else p))

    return _decay(
        "InverseTimeDecay", fn, learning_rate, global_step, (decay_steps, decay_rate), name
    )


def polynomial_decay(
    learning_rate,
    global_step,
    decay_steps,
    end_learning_rate=0.0001,
    power=1.0,
    cycle=False,
    name=None,
):
    """(lr - end) · (1 - step / decay_steps)^power + end, the step capped at decay_steps (or
    decay_steps stretched to the next multiple above the step with `cycle`)."""

    def fn(lr, step, steps, end, exponent):
        if cycle:
            steps = steps * jnp.maximum(jnp.ceil(step / steps), 1.0)
        else:
            step = jnp.minimum(step, steps)
        return (lr - end) * jnp.power(1 - step / steps, exponent) + end

    numbers = (decay_steps, end_learning_rate, power)
    return _decay("PolynomialDecay", fn, learning_rate, global_step, numbers, name)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None):
    """lr · ((1 - alpha) · (1 + cos(π · min(step, decay_steps) / decay_steps)) / 2 + alpha)."""

    def fn(lr, step, steps, a):
        fraction = jnp.minimum(step, steps) / steps
        return lr * ((1 - a) * 0.5 * (1 + jnp.cos(math.pi * fraction)) + a)

    return _decay("CosineDecay", fn, learning_rate, global_step, (decay_steps, alpha), name)


def piecewise_constant(x, boundaries, values, name=None):
    """values[i] where boundaries[i-1] < x <= boundaries[i] (values[0] up to the first)."""
    x = convert_to_tensor(x)
    if len(values) != len(boundaries) + 1:
        raise ValueError("piecewise_constant needs one more value than boundaries")
    bounds = ops.constant(list(boundaries), dtype=x.dtype)
    table = ops.constant(list(values))

    def compute(ev, step, b, v):
        return jnp.asarray(v)[jnp.searchsorted(b, step, side="left")]

    return make_op("PiecewiseConstant", compute, [x, bounds, table], name or "PiecewiseConstant")
