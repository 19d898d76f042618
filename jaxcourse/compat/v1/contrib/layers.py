"""`tf.contrib.layers`: the initializers, regularizers and layers TF1 tutorials import."""

from __future__ import annotations

import math

from jaxcourse.compat.v1 import dtypes, nn, ops, variables
from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.layers import dense
from jaxcourse.compat.v1.layers import flatten as _flatten

_ZEROS = variables.zeros_initializer()


def xavier_initializer(uniform: bool = True, seed=None, dtype=dtypes.float32):
    """Glorot: U(±sqrt(6 / (fan_in + fan_out))), or a truncated normal of that variance."""
    if uniform:
        return variables.glorot_uniform_initializer(seed, dtype)

    def init(shape, dtype=dtype):
        fan_in, fan_out = variables.fans(shape)
        stddev = math.sqrt(1.3 * 2.0 / max(1, fan_in + fan_out))  # 1.3: the truncation
        return ops.truncated_normal(shape, 0.0, stddev, dtype, seed)

    return init


xavier_initializer_conv2d = xavier_initializer


def l2_regularizer(scale: float, scope=None):
    """w -> scale · sum(w²) / 2."""
    if float(scale) < 0:
        raise ValueError(f"l2_regularizer: scale must be >= 0, got {scale}")
    return lambda weights: ops.multiply(nn.l2_loss(weights), float(scale)) if scale else None


def l1_regularizer(scale: float, scope=None):
    """w -> scale · sum(|w|)."""
    if float(scale) < 0:
        raise ValueError(f"l1_regularizer: scale must be >= 0, got {scale}")
    return lambda weights: ops.multiply(ops.reduce_sum(ops.abs(weights)), float(scale))


def fully_connected(
    inputs,
    num_outputs: int,
    activation_fn=nn.relu,
    normalizer_fn=None,
    normalizer_params=None,
    weights_initializer=None,
    weights_regularizer=None,
    biases_initializer=_ZEROS,
    biases_regularizer=None,
    reuse=None,
    variables_collections=None,
    outputs_collections=None,
    trainable=True,
    scope=None,
):
    """activation_fn(inputs @ weights + biases), variables `fully_connected/weights|biases`."""
    if normalizer_fn is not None:
        raise NotImplementedError("fully_connected(normalizer_fn=...); apply it to the output")
    return dense(
        inputs,
        num_outputs,
        activation=activation_fn,
        use_bias=biases_initializer is not None,
        kernel_initializer=weights_initializer or xavier_initializer(),
        bias_initializer=biases_initializer,
        kernel_regularizer=weights_regularizer,
        bias_regularizer=biases_regularizer,
        trainable=trainable,
        name=scope,
        reuse=reuse,
        default_name="fully_connected",
        kernel_name="weights",
        bias_name="biases",
    )


def flatten(inputs, outputs_collections=None, scope=None):
    return _flatten(inputs, name=scope or "Flatten")


__getattr__ = missing_names(
    "tf.contrib.layers", globals(), {"batch_norm": "fully_connected", "conv2d": "fully_connected"}
)
