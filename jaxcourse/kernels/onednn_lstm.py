"""A whole LSTM sequence through oneDNN's LSTM primitive on CPU (XLA FFI, csrc/onednn_lstm.cc).

`lstm_onednn(xs, w_x, w_h, b)` has the signature and results of `kernels.lstm.lstm_layer`
(zero initial state, gates i, f, g, o side by side) with a `jax.custom_vjp` whose backward
pass is oneDNN's too; the forward pass hands it oneDNN's workspace (the gates of every step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcourse.kernels import onednn


def _f32(shape):
    return jax.ShapeDtypeStruct(tuple(shape), jnp.float32)


def _forward(xs, w_x, w_h, b):
    n, t, c = xs.shape
    units = w_h.shape[0]
    workspace = jax.ShapeDtypeStruct(
        (onednn.extension.lstm_workspace_bytes(t, n, c, units),), jnp.uint8
    )
    return onednn.ffi_call(
        "jaxcourse_onednn_lstm_forward", (_f32((n, t, units)), workspace), xs, w_x, w_h, b
    )


@jax.custom_vjp
def lstm_onednn(xs, w_x, w_h, b):
    """Hidden states (N, T, U) of an LSTM over xs (N, T, D); float32, oneDNN on CPU."""
    return _forward(xs, w_x, w_h, b)[0]


def _fwd(xs, w_x, w_h, b):
    hs, workspace = _forward(xs, w_x, w_h, b)
    return hs, (xs, w_x, w_h, b, hs, workspace)


def _bwd(residuals, dhs):
    xs, w_x, w_h, b = residuals[:4]
    results = (_f32(xs.shape), _f32(w_x.shape), _f32(w_h.shape), _f32(b.shape))
    return tuple(onednn.ffi_call("jaxcourse_onednn_lstm_backward", results, *residuals, dhs))


lstm_onednn.defvjp(_fwd, _bwd)
