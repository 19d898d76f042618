"""`tf.nn`: activations, dropout, cross-entropies, convolution and pooling (NHWC, as TF)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import ops
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_op, name_scope
from jaxcourse.compat.v1.namespace import module_getattr
from jaxcourse.kernels import conv as kernels_conv
from jaxcourse.kernels.pool import max_pool_tiled


def relu(features, name=None) -> Tensor:
    return ops._unary("Relu", jax.nn.relu, features, name)


def relu6(features, name=None) -> Tensor:
    return ops._unary("Relu6", jax.nn.relu6, features, name)


def elu(features, name=None) -> Tensor:
    return ops._unary("Elu", jax.nn.elu, features, name)


def softplus(features, name=None) -> Tensor:
    return ops._unary("Softplus", jax.nn.softplus, features, name)


sigmoid = ops.sigmoid
tanh = ops.tanh


def softmax(logits, axis=-1, name=None, dim=None) -> Tensor:
    ax = axis if dim is None else dim
    return ops._unary("Softmax", lambda x: jax.nn.softmax(x, axis=ax), logits, name)


def log_softmax(logits, axis=-1, name=None) -> Tensor:
    return ops._unary("LogSoftmax", lambda x: jax.nn.log_softmax(x, axis=axis), logits, name)


def bias_add(value, bias, name=None) -> Tensor:
    return ops._binary("BiasAdd", jnp.add, value, bias, name)


def l2_loss(t, name=None) -> Tensor:
    """sum(t²) / 2."""
    return ops._unary("L2Loss", lambda x: jnp.sum(jnp.square(x)) / 2, t, name)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None) -> Tensor:
    """Zero each element with probability 1 - keep_prob and scale the rest by 1/keep_prob.

    Give `keep_prob` (TF1) or `rate` = 1 - keep_prob (TF2); either may be a placeholder fed
    1.0 at test time. The mask is fresh on every run.
    """
    if (keep_prob is None) == (rate is None):
        raise ValueError("tf.nn.dropout: give exactly one of keep_prob and rate")
    x = convert_to_tensor(x)
    keep = (
        ops.subtract(1.0, ops.cast(rate, x.dtype) if isinstance(rate, Tensor) else float(rate))
        if rate is not None
        else keep_prob
    )
    keep = ops.cast(keep, x.dtype) if isinstance(keep, Tensor) else ops.constant(keep, x.dtype)
    shape = None if noise_shape is None else tuple(int(d) for d in noise_shape)

    def compute(ev, value, k):
        mask = jax.random.uniform(ev.key(), shape or value.shape, value.dtype) < k
        return jnp.where(mask, value / k, jnp.zeros_like(value))

    seed_ = None if seed is None else (1 << 30) + int(seed)
    return make_op("Dropout", compute, [x, keep], name, shape=x.shape, dtype=x.dtype, seed=seed_)


def _keyword_only(op: str, labels, logits):
    if labels is None or logits is None:
        raise ValueError(f"{op} needs keyword arguments labels=... and logits=...")


def softmax_cross_entropy_with_logits(
    _sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None
) -> Tensor:
    """Per-example -Σ labels · log softmax(logits) (labels are a distribution per row)."""
    if _sentinel is not None:
        raise ValueError("softmax_cross_entropy_with_logits takes labels=... and logits=...")
    _keyword_only("softmax_cross_entropy_with_logits", labels, logits)
    ax = dim if axis is None else axis
    return ops._binary(
        "SoftmaxCrossEntropyWithLogits",
        lambda y, z: -jnp.sum(y * jax.nn.log_softmax(z, axis=ax), axis=ax),
        labels,
        logits,
        name,
    )


def softmax_cross_entropy_with_logits_v2(
    _sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None
) -> Tensor:
    """Like `softmax_cross_entropy_with_logits`, with gradients into labels too (as TF)."""
    return softmax_cross_entropy_with_logits(
        _sentinel, labels=labels, logits=logits, dim=dim, name=name, axis=axis
    )


def sparse_softmax_cross_entropy_with_logits(
    _sentinel=None, labels=None, logits=None, name=None
) -> Tensor:
    """Per-example cross-entropy with integer class labels."""
    _keyword_only("sparse_softmax_cross_entropy_with_logits", labels, logits)

    def compute(ev, y, z):
        logp = jax.nn.log_softmax(z, axis=-1)
        return -jnp.take_along_axis(logp, y[..., None].astype(jnp.int32), axis=-1)[..., 0]

    return make_op("SparseSoftmaxCrossEntropyWithLogits", compute, [labels, logits], name)


def sigmoid_cross_entropy_with_logits(
    _sentinel=None, labels=None, logits=None, name=None
) -> Tensor:
    """Element-wise max(z, 0) - z·y + log(1 + exp(-|z|)) (TF's stable form)."""
    _keyword_only("sigmoid_cross_entropy_with_logits", labels, logits)
    return ops._binary(
        "SigmoidCrossEntropyWithLogits",
        lambda y, z: jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))),
        labels,
        logits,
        name,
    )


def _window(values, what: str) -> tuple[int, int]:
    values = [int(v) for v in values]
    if len(values) != 4 or values[0] != 1 or values[3] != 1:
        raise ValueError(f"{what} must be [1, h, w, 1] (NHWC), got {values}")
    return values[1], values[2]


def conv2d(
    input,
    filter=None,
    strides=None,
    padding=None,
    use_cudnn_on_gpu=True,  # noqa: A002
    data_format="NHWC",
    dilations=None,
    name=None,
    filters=None,
) -> Tensor:
    """2-D convolution of NHWC `input` with an HWIO `filter`; padding 'SAME' or 'VALID'."""
    kernel = filter if filter is not None else filters
    if data_format != "NHWC":
        raise ValueError(f"conv2d: only data_format='NHWC' is supported, got {data_format!r}")
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"conv2d: padding must be 'SAME' or 'VALID', got {padding!r}")
    stride = _window(strides, "conv2d strides")
    dilation = _window(dilations, "conv2d dilations") if dilations is not None else (1, 1)
    x, w = ops._pair(input, kernel, "Conv2D")

    def compute(ev, a, k):
        if dilation == (1, 1):  # oneDNN's kernels where perf.conv_backend allows (kernels.conv)
            return kernels_conv.conv2d(a, k, stride, padding)
        return jax.lax.conv_general_dilated(
            a,
            k,
            stride,
            padding,
            rhs_dilation=dilation,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )

    return make_op("Conv2D", compute, [x, w], name)


def _pool(op_type: str, reducer, init, value, ksize, strides, padding, name) -> Tensor:
    window = _window(ksize, f"{op_type} ksize")
    stride = _window(strides, f"{op_type} strides")
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"{op_type}: padding must be 'SAME' or 'VALID', got {padding!r}")

    def compute(ev, x):
        dims, steps = (1, *window, 1), (1, *stride, 1)
        h, w = x.shape[1:3]
        divisible = h % window[0] == 0 and w % window[1] == 0
        tiled = op_type == "MaxPool" and window == stride and (padding == "VALID" or divisible)
        if tiled:  # oneDNN's where perf.conv_backend allows, else a reshape-max; TF's tie rule
            return max_pool_tiled(x, window)
        out = jax.lax.reduce_window(x, init(x.dtype), reducer, dims, steps, padding)
        if op_type == "AvgPool":  # average over the window's real (unpadded) elements
            ones = jnp.ones(x.shape[1:3], x.dtype)[None, :, :, None]
            counts = jax.lax.reduce_window(ones, 0.0, jax.lax.add, dims, steps, padding)
            out = out / counts
        return out

    return make_op(op_type, compute, [value], name)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None) -> Tensor:
    """Max pooling over NHWC windows."""
    return _pool(
        "MaxPool",
        jax.lax.max,
        lambda d: np.array(-np.inf, d),  # a NumPy constant: JAX sees the monoid, can differentiate
        value,
        ksize,
        strides,
        padding,
        name,
    )


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None) -> Tensor:
    return _pool(
        "AvgPool", jax.lax.add, lambda d: np.zeros((), d), value, ksize, strides, padding, name
    )


# h15lib: embeddings and RNNs (tf.nn.rnn_cell, dynamic_rnn, static_rnn, bidirectional_...)
def embedding_lookup(
    params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None
) -> Tensor:
    """The rows `ids` of `params` (a tensor, or a list holding one: sharded tables are not
    supported)."""
    if isinstance(params, list | tuple):
        if len(params) != 1:
            raise NotImplementedError(
                f"tf.nn.embedding_lookup of {len(params)} sharded tables; concatenate them "
                "into one tensor (tf.concat(params, 0)) and look that up"
            )
        params = params[0]
    if max_norm is not None:
        raise NotImplementedError("tf.nn.embedding_lookup(max_norm=...); clip the rows after it")
    return ops.gather(params, ids, name=name or "embedding_lookup")


from jaxcourse.compat.v1 import rnn_cell  # noqa: E402, F401
from jaxcourse.compat.v1.rnn import (  # noqa: E402, F401
    bidirectional_dynamic_rnn,
    dynamic_rnn,
    static_rnn,
)

# h15core: more of tf.nn that tutorials use ----------------------------------------------------


def leaky_relu(features, alpha=0.2, name=None) -> Tensor:
    return ops._unary("LeakyRelu", lambda x: jax.nn.leaky_relu(x, alpha), features, name)


def selu(features, name=None) -> Tensor:
    return ops._unary("Selu", jax.nn.selu, features, name)


def softsign(features, name=None) -> Tensor:
    return ops._unary("Softsign", jax.nn.soft_sign, features, name)


def xw_plus_b(x, weights, biases, name=None) -> Tensor:
    """matmul(x, weights) + biases."""
    return bias_add(ops.matmul(x, weights), biases, name=name or "xw_plus_b")


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None) -> list[Tensor]:
    """(mean, variance) of `x` over `axes` (TF's two tensors, `moments/mean`, `.../variance`)."""
    keep = bool(keepdims if keepdims is not None else keep_dims)
    ax = tuple(int(a) for a in axes)
    with name_scope(name or "moments"):
        mean = ops.reduce_mean(x, ax, keepdims=True, name="mean")
        variance = ops.reduce_mean(
            ops.squared_difference(x, ops.stop_gradient(mean)), ax, keepdims=True, name="variance"
        )
        if not keep:
            mean, variance = ops.squeeze(mean, ax), ops.squeeze(variance, ax)
    return [mean, variance]


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None) -> Tensor:
    """(x - mean) * scale / sqrt(variance + epsilon) + offset (offset, scale may be None)."""
    x = convert_to_tensor(x)
    tensors = [x, mean, variance] + [t for t in (offset, scale) if t is not None]
    has_offset, has_scale = offset is not None, scale is not None

    def compute(ev, a, m, v, *rest):
        rest = list(rest)
        b = rest.pop(0) if has_offset else 0.0
        g = rest.pop(0) if has_scale else 1.0
        inv = jax.lax.rsqrt(v + variance_epsilon) * g
        return (a * inv + (b - m * inv)).astype(a.dtype)

    return make_op("batchnorm", compute, tensors, name, shape=x.shape, dtype=x.dtype)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None) -> Tensor:
    """x / sqrt(max(sum(x²), epsilon)) along `axis`."""
    ax = dim if axis is None else axis
    ax = tuple(ax) if isinstance(ax, list | tuple) else ax

    def compute(a):
        square_sum = jnp.sum(jnp.square(a), axis=ax, keepdims=True)
        return a * jax.lax.rsqrt(jnp.maximum(square_sum, epsilon))

    return ops._unary("l2_normalize", compute, x, name)


def local_response_normalization(
    input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, name=None
) -> Tensor:  # noqa: A002
    """TF's LRN over the channel axis of NHWC input: x / (bias + alpha·Σ x²)^beta over the
    2·depth_radius + 1 neighbouring channels."""
    r = int(depth_radius)

    def compute(a):
        squared = jnp.square(a)
        padded = jnp.pad(squared, [(0, 0)] * (a.ndim - 1) + [(r, r)])
        window = sum(padded[..., i : i + a.shape[-1]] for i in range(2 * r + 1))
        return a / jnp.power(bias + alpha * window, beta)

    return ops._unary("LRN", compute, input, name)


lrn = local_response_normalization


def conv2d_transpose(
    value,
    filter=None,
    output_shape=None,
    strides=None,
    padding="SAME",
    data_format="NHWC",
    name=None,
    filters=None,
    dilations=None,
) -> Tensor:  # noqa: A002
    """The gradient of conv2d with respect to its input (DCGAN's "deconvolution"): NHWC
    `value`, an HWOI `filter` [h, w, out_channels, in_channels], TF's `output_shape`."""
    kernel = filter if filter is not None else filters
    if data_format != "NHWC":
        raise ValueError(f"conv2d_transpose: only NHWC is supported, got {data_format!r}")
    stride = _window(strides, "conv2d_transpose strides")
    x, w = ops._pair(value, kernel, "Conv2DBackpropInput")
    shape_t, static = ops.shape_argument(output_shape, "conv2d_transpose output_shape")

    def compute(ev, a, k, *s):
        out = ops.concrete_shape(s[0], "conv2d_transpose") if s else static
        lhs = jax.ShapeDtypeStruct(out, a.dtype)

        def forward(y):
            return jax.lax.conv_general_dilated(
                y, k, stride, padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
            )

        _, pullback = jax.vjp(forward, jnp.zeros(lhs.shape, lhs.dtype))
        return pullback(a)[0]

    inputs = [x, w] + ([shape_t] if shape_t is not None else [])
    return make_op(
        "conv2d_transpose", compute, inputs, name, shape=static, dtype=x.dtype, infer_shape=False
    )


def weighted_cross_entropy_with_logits(
    labels=None, logits=None, pos_weight=None, name=None, targets=None
) -> Tensor:
    """Sigmoid cross-entropy with the positive term weighted by `pos_weight`, TF's stable
    form: (1 - z)·x + (1 + (q - 1)·z)·(log1p(exp(-|x|)) + max(-x, 0))."""
    labels = labels if labels is not None else targets
    q = float(pos_weight)

    def compute(z, x):
        weight = 1 + (q - 1) * z
        return (1 - z) * x + weight * (jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(-x, 0))

    return ops._binary("weighted_cross_entropy", compute, labels, logits, name)


__getattr__ = module_getattr("tf.nn", globals())
