"""2-D convolution through oneDNN on CPU, called from compiled JAX programs via XLA's FFI.

`conv2d_onednn(x, kernel, bias, strides, padding, relu)` is a float32 NHWC × HWIO convolution
(optionally + bias, + ReLU, fused into oneDNN's forward call) with a `jax.custom_vjp`: the
input gradient and the weight (and bias) gradient are oneDNN calls too. The handlers live in
the optional compiled extension (`kernels.onednn`, csrc/onednn_conv.cc).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.kernels.onednn import ffi_call

Pads = tuple[tuple[int, int], tuple[int, int]]


def _attrs(strides: tuple[int, int], pads: Pads, blocked: bool) -> dict:
    (pt, pb), (pl, pr) = pads
    return {
        "blocked": blocked,
        "stride_h": np.int64(strides[0]),
        "stride_w": np.int64(strides[1]),
        "pad_top": np.int64(pt),
        "pad_bottom": np.int64(pb),
        "pad_left": np.int64(pl),
        "pad_right": np.int64(pr),
    }


def _out_shape(x_shape, k_shape, strides, pads) -> tuple[int, int, int, int]:
    n, h, w, _ = x_shape
    kh, kw, _, o = k_shape
    (pt, pb), (pl, pr) = pads
    return (n, (h + pt + pb - kh) // strides[0] + 1, (w + pl + pr - kw) // strides[1] + 1, o)


_call = ffi_call


def _f32(shape) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(tuple(shape), jnp.float32)


def _forward(x, kernel, bias, strides, pads, relu, blocked):
    y = _f32(_out_shape(x.shape, kernel.shape, strides, pads))
    attrs = _attrs(strides, pads, blocked)
    if bias is None:
        return _call("jaxcourse_onednn_conv_forward", y, x, kernel, **attrs)
    return _call("jaxcourse_onednn_conv_forward_bias", y, x, kernel, bias, relu=relu, **attrs)


def input_grad(dy, kernel, x_shape, strides, pads, blocked=False):
    """d(loss)/d(x) of the convolution, from d(loss)/d(y)."""
    attrs = _attrs(strides, pads, blocked)
    return _call("jaxcourse_onednn_conv_input_grad", _f32(x_shape), dy, kernel, **attrs)


def weight_grad(x, dy, kernel_shape, strides, pads, with_bias: bool, blocked=False):
    """d(loss)/d(kernel) (and d(loss)/d(bias) when `with_bias`), from x and d(loss)/d(y)."""
    attrs = _attrs(strides, pads, blocked)
    if not with_bias:
        dw = _call("jaxcourse_onednn_conv_weight_grad", _f32(kernel_shape), x, dy, **attrs)
        return dw, None
    results = (_f32(kernel_shape), _f32(kernel_shape[-1:]))
    return tuple(_call("jaxcourse_onednn_conv_weight_bias_grad", results, x, dy, **attrs))


@partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6))
def conv2d_onednn(x, kernel, bias, strides, pads: Pads, relu: bool, blocked: bool = False):
    """NHWC × HWIO float32 convolution (+ bias, + ReLU when asked) by oneDNN; `bias` may be
    None (then `relu` must be False); `pads` are explicit ((top, bottom), (left, right)).
    `blocked`: let oneDNN compute in its own (channel-blocked) layout, reordering the
    activations from and to NHWC around each call, instead of directly on NHWC."""
    return _forward(x, kernel, bias, strides, pads, relu, blocked)


def _conv_fwd(x, kernel, bias, strides, pads, relu, blocked):
    y = _forward(x, kernel, bias, strides, pads, relu, blocked)
    return y, (x, kernel, bias, y if relu else None)


def _conv_bwd(strides, pads, relu, blocked, residuals, dy):
    x, kernel, bias, y = residuals
    if relu:
        dy = jnp.where(y > 0, dy, jnp.zeros_like(dy))
    dx = input_grad(dy, kernel, x.shape, strides, pads, blocked)
    dw, db = weight_grad(x, dy, kernel.shape, strides, pads, bias is not None, blocked)
    return dx, dw, db


conv2d_onednn.defvjp(_conv_fwd, _conv_bwd)
