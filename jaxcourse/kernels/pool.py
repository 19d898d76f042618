"""`max_pool_tiled`: max-pooling over non-overlapping windows (stride = window, NHWC), such as
the course CNNs' 2×2 pool (`max_pool_2x2`) and the TF1 shim's tiled `tf.nn.max_pool`, by
oneDNN on CPU or by XLA, per `perf.conv_backend` (the rule of `kernels.conv.conv2d`).

Both backends send each window's gradient to its first maximum in row-major order, as
TensorFlow's `MaxPoolGrad` and PyTorch do: oneDNN's backward pass reads the argmax its forward
pass stored (`kernels.onednn_pool`); XLA's (`max_pool_tiled_first`) finds it again in one
elementwise pass. JAX's generic gradient of a max splits it evenly between tied maxima, which
takes extra passes (a count and a division). Away from ties the rules agree; at ties both pass
the same total on.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxcourse.kernels import conv, onednn, onednn_pool


def _windows(x: jnp.ndarray, window: tuple[int, int]) -> jnp.ndarray:
    """(N, H, W, C) cropped to multiples of the window, as (N, H/kh, kh, W/kw, kw, C) tiles."""
    (kh, kw), (n, h, w, c) = window, x.shape
    return x[:, : h - h % kh, : w - w % kw, :].reshape(n, h // kh, kh, w // kw, kw, c)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool_tiled_first(x: jnp.ndarray, window: tuple[int, int] = (2, 2)) -> jnp.ndarray:
    """Max-pooling over non-overlapping (kh, kw) tiles (stride = window, NHWC, edges that do
    not fill a tile cropped) by XLA; gradient to each tile's first max. Written as a reshape
    and a max (on CPU much faster than `reduce_window`, whose gradient is a slow
    `select_and_scatter`)."""
    return _windows(x, window).max(axis=(2, 4))


def _pool_fwd(x, window):
    y = max_pool_tiled_first(x, window)
    return y, (x, y)


def _pool_bwd(window, residuals, g):
    x, y = residuals
    tiles = _windows(x, window)
    taken = jnp.zeros(y.shape, bool)
    rows = []
    for i in range(window[0]):
        cols = []
        for j in range(window[1]):
            hit = (tiles[:, :, i, :, j, :] == y) & ~taken
            taken = taken | hit
            cols.append(jnp.where(hit, g, jnp.zeros_like(g)))
        rows.append(jnp.stack(cols, axis=3))
    (kh, kw), (n, h, w, c) = window, x.shape
    dx = jnp.stack(rows, axis=2).reshape(n, h - h % kh, w - w % kw, c)
    return (jnp.pad(dx, ((0, 0), (0, h % kh), (0, w % kw), (0, 0))),)


max_pool_tiled_first.defvjp(_pool_fwd, _pool_bwd)


def _onednn_unsuitable(x, window) -> str:
    """Why oneDNN cannot pool `x` here ('' when it can)."""
    why_not = onednn.usable_for(x)
    if why_not:
        return why_not
    if x.ndim != 4 or x.shape[1] < window[0] or x.shape[2] < window[1]:
        return f"expected NHWC images of at least {window[0]}×{window[1]} pixels, got {x.shape}"
    return ""


def max_pool_tiled(
    x: jnp.ndarray, window: tuple[int, int], *, backend_name: str | None = None
) -> jnp.ndarray:
    """Max-pooling of an NHWC batch over non-overlapping (kh, kw) tiles (stride = window,
    edges that do not fill a tile cropped), gradient to each tile's first max, by the backend
    `backend_name` (default: `kernels.conv.backend()`)."""
    window = (int(window[0]), int(window[1]))
    name = conv.chosen_backend(backend_name, "max_pool")
    if name != "xla":
        why_not = _onednn_unsuitable(x, window)
        if not why_not:
            return onednn_pool.max_pool_onednn(x, window, window, "VALID")
        if name == "onednn":
            raise ValueError(f"max_pool backend 'onednn' cannot run this pooling: {why_not}")
    return max_pool_tiled_first(x, window)


def max_pool_2x2(x: jnp.ndarray, *, backend_name: str | None = None) -> jnp.ndarray:
    """2×2 max-pooling with stride 2 of an NHWC batch (odd edges cropped): `max_pool_tiled`."""
    return max_pool_tiled(x, (2, 2), backend_name=backend_name)
