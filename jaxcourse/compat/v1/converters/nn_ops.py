"""Activations, softmax, convolutions, pooling and batch normalisation (NHWC and NCHW)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.converters import register, shapes
from jaxcourse.compat.v1.errors import InvalidArgumentError

_ACTIVATIONS = {
    "Relu": jax.nn.relu,
    "Relu6": jax.nn.relu6,
    "Elu": jax.nn.elu,
    "Selu": jax.nn.selu,
    "Tanh": jnp.tanh,
    "Sigmoid": jax.nn.sigmoid,
    "Softplus": jax.nn.softplus,
    "Softsign": jax.nn.soft_sign,
    "Erf": jax.scipy.special.erf,
    "Softmax": jax.nn.softmax,
    "LogSoftmax": jax.nn.log_softmax,
}

for _op, _fn in _ACTIVATIONS.items():
    register(_op, shape=shapes.same_as_input)(lambda node, fn=_fn: fn)


@register("LeakyRelu", shape=shapes.same_as_input)
def _leaky_relu(node):
    alpha = node.attr("alpha", 0.2)
    return lambda x: jax.nn.leaky_relu(x, alpha)


def _layout(node) -> str:
    data_format = node.attr("data_format", "NHWC")
    if data_format not in ("NHWC", "NCHW"):
        raise InvalidArgumentError(
            f"op '{node.name}' ({node.op}): data_format '{data_format}' is not supported "
            "(expected NHWC or NCHW)"
        )
    return data_format


def _spatial(values, layout: str) -> tuple[int, int]:
    """(H, W) entries of a 4-vector given in `layout` order (strides, ksize, dilations)."""
    values = list(values)
    return (values[1], values[2]) if layout == "NHWC" else (values[2], values[3])


def _padding(node, layout: str):
    padding = node.require("padding")
    if padding != "EXPLICIT":
        return padding
    pairs = list(zip(*[iter(node.attr("explicit_paddings"))] * 2, strict=True))
    return list(_spatial(pairs, layout))


@register("BiasAdd", "BiasAddV1", shape=shapes.same_as_input)
def _bias_add(node):
    layout = _layout(node)

    def compute(x, bias):
        if layout == "NCHW" and x.ndim > 2:
            bias = bias.reshape((-1,) + (1,) * (x.ndim - 2))
        return x + bias

    return compute


def _conv(node, groups_from_input: bool):
    layout = _layout(node)
    strides = _spatial(node.attr("strides"), layout)
    dilations = _spatial(node.attr("dilations", [1, 1, 1, 1]), layout)
    padding = _padding(node, layout)

    def compute(x, kernel):
        groups = 1
        if groups_from_input:  # depthwise: [H, W, in, multiplier] -> [H, W, 1, in * multiplier]
            h, w, c_in, mult = kernel.shape
            kernel = kernel.reshape(h, w, 1, c_in * mult)
            groups = c_in
        return jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=strides,
            padding=padding,
            rhs_dilation=dilations,
            dimension_numbers=(layout, "HWIO", layout),
            feature_group_count=groups,
            precision=jax.lax.Precision.HIGHEST,
        )

    return compute


register("Conv2D", shape=shapes.windowed)(lambda node: _conv(node, False))
register("DepthwiseConv2dNative", shape=shapes.windowed)(lambda node: _conv(node, True))


def _window_counts(size: int, window: int, stride: int, padding: str) -> np.ndarray:
    """How many of a padded window's positions lie inside the input, per output position."""
    if padding == "VALID":
        return np.full((size - window) // stride + 1, window)
    out = -(-size // stride)
    before = max((out - 1) * stride + window - size, 0) // 2
    starts = np.arange(out) * stride - before
    return np.minimum(starts + window, size) - np.maximum(starts, 0)


def _pool(node, average: bool):
    layout = _layout(node)
    ksize, strides = node.require("ksize"), node.require("strides")
    padding = node.require("padding")
    if padding not in ("SAME", "VALID"):
        raise InvalidArgumentError(
            f"op '{node.name}' ({node.op}): padding '{padding}' is not supported"
        )
    window, step = tuple(ksize), tuple(strides)

    def compute(x):
        if not average:
            return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, step, padding)
        total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, step, padding)
        # TF divides by the number of window positions inside the input (SAME: fewer at edges)
        h, w = (1, 2) if layout == "NHWC" else (2, 3)
        counts = np.outer(
            _window_counts(x.shape[h], window[h], step[h], padding),
            _window_counts(x.shape[w], window[w], step[w], padding),
        ).astype(np.float32)
        return total / (counts[:, :, None] if layout == "NHWC" else counts)

    return compute


register("MaxPool", shape=shapes.windowed)(lambda node: _pool(node, False))
register("AvgPool", shape=shapes.windowed)(lambda node: _pool(node, True))


def _channel_shape(layout: str, ndim: int) -> tuple:
    """Shape a per-channel vector takes to broadcast against an `ndim` tensor."""
    return (1, -1) + (1,) * (ndim - 2) if layout == "NCHW" else (-1,)


@register(
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
    outputs=lambda node: 6 if node.op == "FusedBatchNormV3" else 5,
)
def _fused_batch_norm(node):
    """Outputs y, batch mean, batch variance, and three reserve spaces (TF's order)."""
    layout = _layout(node)
    epsilon = node.attr("epsilon", 1e-4)
    training = node.attr("is_training", True)
    factor = node.attr("exponential_avg_factor", 1.0)

    def compute(x, scale, offset, mean, variance):
        shape = _channel_shape(layout, x.ndim)
        axes = tuple(i for i in range(x.ndim) if i != (1 if layout == "NCHW" else x.ndim - 1))
        xf = x.astype(jnp.float32)
        if training:
            batch_mean = jnp.mean(xf, axis=axes)
            batch_var = jnp.var(xf, axis=axes)
            n = xf.size // batch_mean.size
            unbiased = batch_var * n / max(n - 1, 1)
            use_mean, use_var = batch_mean, batch_var
            new_mean = (1 - factor) * mean + factor * batch_mean if mean.size else batch_mean
            new_var = (1 - factor) * variance + factor * unbiased if variance.size else unbiased
        else:
            use_mean, use_var, new_mean, new_var = mean, variance, mean, variance
        inv = jax.lax.rsqrt(use_var + epsilon) * scale
        y = (xf - use_mean.reshape(shape)) * inv.reshape(shape) + offset.reshape(shape)
        outs = (y.astype(x.dtype), new_mean, new_var, use_mean, use_var)
        return outs + (np.zeros((0,), np.float32),) if node.op == "FusedBatchNormV3" else outs

    return compute


@register("BatchNormWithGlobalNormalization", shape=shapes.same_as_input)
def _batch_norm_global(node):
    """Inception-v3's batch norm: inputs t, mean, variance, beta, gamma (last axis)."""
    epsilon = node.require("variance_epsilon")
    scale_after = node.require("scale_after_normalization")

    def compute(t, mean, variance, beta, gamma):
        inv = jax.lax.rsqrt(variance + epsilon)
        if scale_after:
            inv = inv * gamma
        return (t - mean) * inv + beta

    return compute


@register("LRN", shape=shapes.same_as_input)
def _lrn(node):
    radius = node.attr("depth_radius", 5)
    bias, alpha, beta = node.attr("bias", 1.0), node.attr("alpha", 1.0), node.attr("beta", 0.5)

    def compute(x):
        window = (1, 1, 1, 2 * radius + 1)
        sums = jax.lax.reduce_window(x * x, 0.0, jax.lax.add, window, (1,) * 4, "SAME")
        return x / (bias + alpha * sums) ** beta

    return compute
