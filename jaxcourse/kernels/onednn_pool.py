"""Max-pooling through oneDNN on CPU, called from compiled JAX programs via XLA's FFI.

`max_pool_onednn(x, window, strides, padding)` max-pools float32 NHWC images over
(kh, kw) windows with a `jax.custom_vjp` whose backward pass is oneDNN's too. The forward pass
hands that pass oneDNN's workspace (each window's argmax, one byte an output for windows of
fewer than 256 positions) instead of x. The gradient goes to the window's first maximum in
row-major order, TensorFlow's `MaxPoolGrad` rule. The handlers live in the optional compiled
extension (`kernels.onednn`, csrc/onednn_pool.cc).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcourse.kernels import onednn

Pads = tuple[tuple[int, int], tuple[int, int]]


def _attrs(window, strides, pads: Pads) -> dict:
    (pt, pb), (pl, pr) = pads
    values = {
        "window_h": window[0],
        "window_w": window[1],
        "stride_h": strides[0],
        "stride_w": strides[1],
        "pad_top": pt,
        "pad_bottom": pb,
        "pad_left": pl,
        "pad_right": pr,
    }
    return {name: np.int64(v) for name, v in values.items()}


def _out_shape(x_shape, window, strides, pads: Pads) -> tuple[int, int, int, int]:
    n, h, w, c = x_shape
    (pt, pb), (pl, pr) = pads
    oh = (h + pt + pb - window[0]) // strides[0] + 1
    ow = (w + pl + pr - window[1]) // strides[1] + 1
    return n, oh, ow, c


def _forward(x, window, strides, pads):
    y = jax.ShapeDtypeStruct(_out_shape(x.shape, window, strides, pads), jnp.float32)
    size = onednn.extension.pool_workspace_bytes(x.shape, window, strides, pads)
    workspace = jax.ShapeDtypeStruct((size,), jnp.uint8)
    attrs = _attrs(window, strides, pads)
    return onednn.ffi_call("jaxcourse_onednn_max_pool_forward", (y, workspace), x, **attrs)


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool(x, window, strides, pads: Pads):
    return _forward(x, window, strides, pads)[0]


def _fwd(x, window, strides, pads):
    y, workspace = _forward(x, window, strides, pads)
    return y, (workspace, x.shape)


def _bwd(window, strides, pads, residuals, dy):
    workspace, x_shape = residuals
    dx = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    attrs = _attrs(window, strides, pads)
    return (onednn.ffi_call("jaxcourse_onednn_max_pool_backward", dx, dy, workspace, **attrs),)


_max_pool.defvjp(_fwd, _bwd)


def max_pool_onednn(x, window, strides, padding="VALID"):
    """Max over (kh, kw) windows of float32 NHWC images, by oneDNN; `padding` is 'VALID',
    'SAME' or explicit ((top, bottom), (left, right)) (padded positions are never the max)."""
    window, strides = tuple(int(k) for k in window), tuple(int(s) for s in strides)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:3], window, strides, padding)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    return _max_pool(x, window, strides, pads)
