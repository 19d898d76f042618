"""The gradient ops of TF1 training graphs (`Conv2DBackprop*`, `MaxPoolGrad`, `ReluGrad`, ...),
as the vector-Jacobian products of the forward converters, and `SoftmaxCrossEntropyWithLogits`
(loss and its gradient, TF's two outputs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcourse.compat.v1.converters import nn_ops, register


def _vjp(forward, at, cotangent):
    _, pullback = jax.vjp(forward, at)
    return pullback(cotangent)[0]


def _sizes(shape) -> tuple[int, ...]:
    return tuple(int(d) for d in shape)


@register("Conv2DBackpropInput", "Conv2DBackpropFilter")
def _conv_grad(node):
    """(input_sizes, filter, grad) -> d input; (input, filter_sizes, grad) -> d filter."""
    conv = nn_ops._conv(node, False)
    if node.op == "Conv2DBackpropInput":
        return lambda sizes, k, g: _vjp(lambda x: conv(x, k), jnp.zeros(_sizes(sizes), g.dtype), g)
    return lambda x, sizes, g: _vjp(lambda k: conv(x, k), jnp.zeros(_sizes(sizes), g.dtype), g)


@register("MaxPoolGrad", "AvgPoolGrad")
def _pool_grad(node):
    average = node.op == "AvgPoolGrad"
    pool = nn_ops._pool(node, average)
    if average:  # AvgPoolGrad(orig_input_shape, grad)
        return lambda shape, grad: _vjp(pool, jnp.zeros(_sizes(shape), grad.dtype), grad)
    return lambda x, _output, grad: _vjp(pool, x, grad)


register("ReluGrad")(lambda node: lambda grad, x: jnp.where(x > 0, grad, 0).astype(grad.dtype))
register("Relu6Grad")(
    lambda node: lambda grad, x: jnp.where((x > 0) & (x < 6), grad, 0).astype(grad.dtype)
)
register("TanhGrad")(lambda node: lambda y, grad: grad * (1 - y * y))
register("SigmoidGrad")(lambda node: lambda y, grad: grad * y * (1 - y))


@register("BiasAddGrad")
def _bias_add_grad(node):
    channel = -1 if node.attr("data_format", "NHWC") == "NHWC" else 1

    def compute(grad):
        axes = tuple(a for a in range(grad.ndim) if a != channel % grad.ndim)
        return grad.sum(axis=axes)

    return compute


@register("SoftmaxCrossEntropyWithLogits", outputs=2)
def _softmax_cross_entropy(node):
    def compute(logits, labels):
        log_p = jax.nn.log_softmax(logits, axis=-1)
        return -(labels * log_p).sum(axis=-1), jnp.exp(log_p) - labels

    return compute


@register("SparseSoftmaxCrossEntropyWithLogits", outputs=2)
def _sparse_softmax_cross_entropy(node):
    def compute(logits, labels):
        log_p = jax.nn.log_softmax(logits, axis=-1)
        one_hot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
        return -(one_hot * log_p).sum(axis=-1), jnp.exp(log_p) - one_hot

    return compute
