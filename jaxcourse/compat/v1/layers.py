"""`tf.layers`: TF1's functional layers (dense, conv2d, pooling, dropout, flatten, batch norm).

Each call opens the layer's variable scope (`dense`, `dense_1`, ..., or `name`) and creates
TF's variables there (`dense/kernel`, `dense/bias`, `conv2d/kernel`,
`batch_normalization/moving_mean`, ...), with TF's default initialisers: Glorot-uniform
kernels, zero biases. `training` may be a Python bool or a bool tensor (a placeholder).
Regularizers' losses go to the `regularization_losses` collection (`tf.losses.
get_regularization_loss()`), batch norm's moving-average updates to `update_ops`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxcourse.compat.v1 import dtypes, nn, ops, variables
from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, get_default_graph, make_op
from jaxcourse.compat.v1.layer_scope import layer_scope

REGULARIZATION_LOSSES = "regularization_losses"
UPDATE_OPS = "update_ops"


def _pair(value, what: str) -> tuple[int, int]:
    values = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return values


def _padding(padding: str, what: str) -> str:
    upper = str(padding).upper()
    if upper not in ("SAME", "VALID"):
        raise ValueError(f"{what}: padding must be 'same' or 'valid', got {padding!r}")
    return upper


def _channels_last(data_format: str, what: str) -> None:
    if data_format not in ("channels_last", "NHWC"):
        raise NotImplementedError(
            f"{what}: data_format={data_format!r} is not supported; use 'channels_last' (NHWC)"
        )


def _weight(name, shape, dtype, initializer, regularizer, trainable):
    var = variables.get_variable(
        name, shape=shape, dtype=dtype, initializer=initializer, trainable=trainable
    )
    if regularizer is not None:
        with get_default_graph().name_scope(f"{name}/Regularizer"):
            penalty = regularizer(var)
        if penalty is not None:
            get_default_graph().add_to_collection(REGULARIZATION_LOSSES, penalty)
    return var


def _finish(out: Tensor, bias: Tensor | None, activation) -> Tensor:
    if bias is not None:
        out = nn.bias_add(out, bias)
    return activation(out) if activation is not None else out


def _input(inputs, what: str, rank: int | None = None) -> Tensor:
    x = convert_to_tensor(inputs)
    if x.shape is None or (rank is not None and len(x.shape) != rank) or x.shape[-1] is None:
        want = f"rank {rank}" if rank is not None else "a known rank"
        raise ValueError(
            f"{what} needs inputs of {want} with a known last dimension, got {x.describe()}"
        )
    return x


def dense(
    inputs,
    units: int,
    activation=None,
    use_bias: bool = True,
    kernel_initializer=None,
    bias_initializer=None,
    kernel_regularizer=None,
    bias_regularizer=None,
    activity_regularizer=None,
    kernel_constraint=None,
    bias_constraint=None,
    trainable: bool = True,
    name: str | None = None,
    reuse=None,
    *,
    default_name: str = "dense",
    kernel_name: str = "kernel",
    bias_name: str = "bias",
) -> Tensor:
    """activation(inputs @ kernel + bias) over the last axis (kernel [depth, units]).

    The keyword-only names are for `tf.contrib.layers.fully_connected`, whose scope and
    variables are `fully_connected/weights`, `fully_connected/biases`.
    """
    x = _input(inputs, f"tf.layers.{default_name}")
    with layer_scope(name, default_name, reuse):
        kernel = _weight(
            kernel_name,
            [x.shape[-1], int(units)],
            x.dtype,
            kernel_initializer,
            kernel_regularizer,
            trainable,
        )
        bias = (
            _weight(
                bias_name,
                [int(units)],
                x.dtype,
                bias_initializer or variables.zeros_initializer(),
                bias_regularizer,
                trainable,
            )
            if use_bias
            else None
        )
        if len(x.shape) == 2:
            out = ops.matmul(x, kernel, name="MatMul")
        else:
            out = make_op("Tensordot", lambda ev, a, k: jnp.tensordot(a, k, 1), [x, kernel])
        return _activity(_finish(out, bias, activation), activity_regularizer)


def _activity(out: Tensor, regularizer) -> Tensor:
    if regularizer is not None:
        get_default_graph().add_to_collection(REGULARIZATION_LOSSES, regularizer(out))
    return out


def conv2d(
    inputs,
    filters: int,
    kernel_size,
    strides=(1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate=(1, 1),
    activation=None,
    use_bias: bool = True,
    kernel_initializer=None,
    bias_initializer=None,
    kernel_regularizer=None,
    bias_regularizer=None,
    activity_regularizer=None,
    kernel_constraint=None,
    bias_constraint=None,
    trainable: bool = True,
    name: str | None = None,
    reuse=None,
) -> Tensor:
    """2-D convolution of NHWC inputs with a [kh, kw, in, filters] kernel, plus bias."""
    _channels_last(data_format, "tf.layers.conv2d")
    x = _input(inputs, "tf.layers.conv2d", rank=4)
    kh, kw = _pair(kernel_size, "conv2d kernel_size")
    sh, sw = _pair(strides, "conv2d strides")
    dh, dw = _pair(dilation_rate, "conv2d dilation_rate")
    pad = _padding(padding, "tf.layers.conv2d")
    with layer_scope(name, "conv2d", reuse):
        kernel = _weight(
            "kernel",
            [kh, kw, x.shape[-1], int(filters)],
            x.dtype,
            kernel_initializer,
            kernel_regularizer,
            trainable,
        )
        bias = (
            _weight(
                "bias",
                [int(filters)],
                x.dtype,
                bias_initializer or variables.zeros_initializer(),
                bias_regularizer,
                trainable,
            )
            if use_bias
            else None
        )
        out = nn.conv2d(x, kernel, [1, sh, sw, 1], pad, dilations=[1, dh, dw, 1], name="Conv2D")
        return _activity(_finish(out, bias, activation), activity_regularizer)


def _pooling(pool, default_name, inputs, pool_size, strides, padding, data_format, name):
    _channels_last(data_format, f"tf.layers.{default_name}")
    x = _input(inputs, f"tf.layers.{default_name}", rank=4)
    ph, pw = _pair(pool_size, f"{default_name} pool_size")
    sh, sw = _pair(strides, f"{default_name} strides")
    with layer_scope(name, default_name):
        return pool(x, [1, ph, pw, 1], [1, sh, sw, 1], _padding(padding, default_name))


def max_pooling2d(
    inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None
) -> Tensor:
    return _pooling(
        nn.max_pool, "max_pooling2d", inputs, pool_size, strides, padding, data_format, name
    )


def average_pooling2d(
    inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None
) -> Tensor:
    return _pooling(
        nn.avg_pool, "average_pooling2d", inputs, pool_size, strides, padding, data_format, name
    )


def flatten(inputs, name: str | None = None, data_format: str = "channels_last") -> Tensor:
    """[batch, ...] -> [batch, product of the rest]."""
    x = _input(inputs, "tf.layers.flatten")
    rest = x.shape[1:]
    if any(d is None for d in rest):
        raise ValueError(f"tf.layers.flatten: the non-batch sizes of {x.describe()} must be known")
    with layer_scope(name, "flatten"):
        return ops.reshape(x, [-1, math.prod(rest)])


def _training_flag(training) -> Tensor:
    if isinstance(training, Tensor):
        if training.dtype != dtypes.bool_:
            raise TypeError(
                f"training must be a Python bool or a bool tensor, got {training.describe()}"
            )
        return training
    return ops.constant(bool(training), dtypes.bool_)


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None) -> Tensor:
    """Dropout with drop probability `rate` when `training` is true; the inputs otherwise."""
    x = convert_to_tensor(inputs)
    if training is False:
        with layer_scope(name, "dropout"):
            return ops.identity(x)
    rate_t = ops.cast(rate, x.dtype) if isinstance(rate, Tensor) else ops.constant(rate, x.dtype)
    flag = _training_flag(training)
    shape = None if noise_shape is None else tuple(int(d) for d in noise_shape)

    def compute(ev, value, r, on):
        keep = 1 - r
        mask = jax.random.uniform(ev.key(), shape or value.shape, value.dtype) < keep
        dropped = jnp.where(mask, value / keep, jnp.zeros_like(value))
        return jnp.where(on, dropped, value)

    op_seed = None if seed is None else (1 << 30) + int(seed)
    with layer_scope(name, "dropout"):
        return make_op(
            "Dropout",
            compute,
            [x, rate_t, flag],
            "dropout",
            shape=x.shape,
            dtype=x.dtype,
            seed=op_seed,
        )


def batch_normalization(
    inputs,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    center: bool = True,
    scale: bool = True,
    beta_initializer=None,
    gamma_initializer=None,
    moving_mean_initializer=None,
    moving_variance_initializer=None,
    beta_regularizer=None,
    gamma_regularizer=None,
    beta_constraint=None,
    gamma_constraint=None,
    training=False,
    trainable: bool = True,
    name: str | None = None,
    reuse=None,
    renorm=False,
    renorm_clipping=None,
    renorm_momentum=0.99,
    fused=None,
    virtual_batch_size=None,
    adjustment=None,
) -> Tensor:
    """Normalise over all axes but `axis`: batch statistics when training (their moving
    averages are updated by ops in the `update_ops` collection), moving averages otherwise."""
    if renorm or virtual_batch_size is not None or adjustment is not None:
        raise NotImplementedError(
            "tf.layers.batch_normalization: renorm, virtual_batch_size and adjustment are not "
            "supported"
        )
    x = _input(inputs, "tf.layers.batch_normalization")
    rank = len(x.shape)
    ax = int(axis) % rank
    depth = x.shape[ax]
    if depth is None:
        raise ValueError(f"batch_normalization: axis {axis} of {x.describe()} must be known")
    reduce_axes = tuple(i for i in range(rank) if i != ax)
    flag = _training_flag(training)
    dtype = x.dtype
    with layer_scope(name, "batch_normalization", reuse):
        gamma = (
            _weight(
                "gamma",
                [depth],
                dtype,
                gamma_initializer or variables.ones_initializer(),
                gamma_regularizer,
                trainable,
            )
            if scale
            else None
        )
        beta = (
            _weight(
                "beta",
                [depth],
                dtype,
                beta_initializer or variables.zeros_initializer(),
                beta_regularizer,
                trainable,
            )
            if center
            else None
        )
        moving_mean = _weight(
            "moving_mean",
            [depth],
            dtype,
            moving_mean_initializer or variables.zeros_initializer(),
            None,
            False,
        )
        moving_var = _weight(
            "moving_variance",
            [depth],
            dtype,
            moving_variance_initializer or variables.ones_initializer(),
            None,
            False,
        )
        shape = [1] * rank
        shape[ax] = depth

        def statistics(value):
            return jnp.mean(value, reduce_axes), jnp.var(value, reduce_axes)

        def compute(ev, value, on, mean_avg, var_avg, *affine):
            mean, var = statistics(value)
            mean, var = jnp.where(on, mean, mean_avg), jnp.where(on, var, var_avg)
            out = (value - mean.reshape(shape)) * jax.lax.rsqrt(var.reshape(shape) + epsilon)
            affine = list(affine)
            if scale:
                out = out * affine.pop(0).reshape(shape)
            if center:
                out = out + affine.pop(0).reshape(shape)
            return out

        affine = [t for t in (gamma, beta) if t is not None]
        out = make_op(
            "FusedBatchNorm",
            compute,
            [x, flag, moving_mean, moving_var, *affine],
            "batchnorm",
            shape=x.shape,
            dtype=dtype,
        )
        if training is False:
            return out
        # TF's fused kernel (4-D inputs, channels axis) moves the variance with the unbiased
        # batch variance, n / (n - 1) times the one it normalises with
        fused_path = fused is not False and rank == 4 and ax in (1, 3)

        for variable, index in ((moving_mean, 0), (moving_var, 1)):

            def moved(ev, value, on, average, index=index):
                batch = statistics(value)[index]
                if index == 1 and fused_path:
                    n = value.size // value.shape[ax]
                    batch = batch * (n / max(n - 1, 1))
                new = average - (average - batch) * (1 - momentum)
                return jnp.where(on, new, average)

            target = make_op(
                "AssignMovingAvg",
                moved,
                [x, flag, variable],
                f"{variable.op.name.split('/')[-1]}_update",
                shape=variable.shape,
                dtype=dtype,
            )
            update = variables.assign(variable, target)
            get_default_graph().add_to_collection(UPDATE_OPS, update)
        return out


__getattr__ = missing_names(
    "tf.layers",
    globals(),
    {
        "Dense": "dense",
        "Conv2D": "conv2d",
        "conv1d": "conv2d",
        "conv2d_transpose": "conv2d",
        "separable_conv2d": "conv2d",
        "max_pooling1d": "max_pooling2d",
        "average_pooling1d": "average_pooling2d",
        "BatchNormalization": "batch_normalization",
        "Dropout": "dropout",
        "Flatten": "flatten",
    },
)
