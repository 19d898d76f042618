"""`max_pool_2x2`: the course CNNs' 2×2 max-pooling (stride 2, NHWC, odd edges cropped), by
oneDNN on CPU or by XLA, per `perf.conv_backend` (the rule of `kernels.conv.conv2d`).

Both backends send each window's gradient to its first maximum in row-major order, as
TensorFlow's `MaxPoolGrad` and PyTorch do: oneDNN's backward pass reads the argmax its forward
pass stored (`kernels.onednn_pool`); XLA's (`max_pool_2x2_first`) finds it again in one
elementwise pass. JAX's generic gradient of a max splits it evenly between tied maxima, which
takes extra passes (a count and a division). Away from ties the rules agree; at ties both pass
the same total on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcourse.kernels import conv, onednn, onednn_pool


def _windows(x: jnp.ndarray) -> jnp.ndarray:
    """(N, H, W, C) cropped to even sides, as (N, H/2, 2, W/2, 2, C) 2×2 windows."""
    n, h, w, c = x.shape
    return x[:, : h - h % 2, : w - w % 2, :].reshape(n, h // 2, 2, w // 2, 2, c)


@jax.custom_vjp
def max_pool_2x2_first(x: jnp.ndarray) -> jnp.ndarray:
    """2×2 max-pooling, stride 2, NHWC (odd edges cropped) by XLA; gradient to each window's
    first max. Written as a reshape and a max (on CPU much faster than `reduce_window`, whose
    gradient is a slow `select_and_scatter`)."""
    return _windows(x).max(axis=(2, 4))


def _pool_fwd(x):
    y = max_pool_2x2_first(x)
    return y, (x, y)


def _pool_bwd(residuals, g):
    x, y = residuals
    win = _windows(x)
    taken = jnp.zeros(y.shape, bool)
    rows = []
    for i in (0, 1):
        cols = []
        for j in (0, 1):
            hit = (win[:, :, i, :, j, :] == y) & ~taken
            taken = taken | hit
            cols.append(jnp.where(hit, g, jnp.zeros_like(g)))
        rows.append(jnp.stack(cols, axis=3))
    n, h, w, c = x.shape
    dx = jnp.stack(rows, axis=2).reshape(n, h - h % 2, w - w % 2, c)
    return (jnp.pad(dx, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))),)


max_pool_2x2_first.defvjp(_pool_fwd, _pool_bwd)


def _onednn_unsuitable(x) -> str:
    """Why oneDNN cannot pool `x` here ('' when it can)."""
    why_not = onednn.usable_for(x)
    if why_not:
        return why_not
    if x.ndim != 4 or min(x.shape[1:3]) < 2:
        return f"expected NHWC images of at least 2×2 pixels, got shape {x.shape}"
    return ""


def max_pool_2x2(x: jnp.ndarray, *, backend_name: str | None = None) -> jnp.ndarray:
    """2×2 max-pooling with stride 2 of an NHWC batch (odd edges cropped), gradient to each
    window's first max, by the backend `backend_name` (default: `kernels.conv.backend()`)."""
    name = conv.chosen_backend(backend_name, "max_pool_2x2")
    if name != "xla":
        why_not = _onednn_unsuitable(x)
        if not why_not:
            return onednn_pool.max_pool_onednn(x, (2, 2), (2, 2), "VALID")
        if name == "onednn":
            raise ValueError(f"max_pool_2x2 backend 'onednn' cannot run this pooling: {why_not}")
    return max_pool_2x2_first(x)
