"""`lstm_layer`: a whole LSTM sequence with the matmuls that do not depend on time out of the loop.

Per time step an LSTM needs only `h @ W_h` (and, going back, `dz @ W_h.T`) inside the loop;
everything else is one large matmul over all steps at once:

- forward: the input projection of every step, `x @ W_x + b`, before the loop;
- backward (a `jax.custom_vjp`): the loop only carries the state gradients and emits each
  step's gate gradients `dz`; the weight gradients (`h_prev.T @ dz`, `x.T @ dz`), the bias
  gradient and the input gradient are then single matmuls/sums over all steps, instead of the
  per-step accumulations JAX's automatic transpose of the loop would make.

The four gates (order i, f, g, o, as Flax's `LSTMCell`) are one fused (U, 4U) matmul.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax


def _gates(z):
    i, f, g, o = jnp.split(z, 4, axis=-1)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _run(xs, w_x, w_h, b, unroll):
    """Time-major forward pass: hidden states, cell states and activated gates of every step."""
    n, units = xs.shape[1], w_h.shape[0]
    projected = xs @ w_x + b  # (T, N, 4U): every step's input projection at once

    def step(carry, xp):
        h, c = carry
        i, f, g, o = _gates(xp + h @ w_h)
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), (h, c, jnp.concatenate([i, f, g, o], axis=-1))

    zeros = jnp.zeros((n, units), projected.dtype)
    _, (hs, cs, gates) = lax.scan(step, (zeros, zeros), projected, unroll=unroll)
    return hs, cs, gates


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def lstm_layer(xs, w_x, w_h, b, unroll: int | bool = 1):
    """Hidden states (N, T, U) of an LSTM (zero initial state) over xs (N, T, D); `w_x` (D, 4U),
    `w_h` (U, 4U), `b` (4U,) hold the gates i, f, g, o side by side; `unroll`: time steps per
    loop iteration (True: all)."""
    return jnp.swapaxes(_run(jnp.swapaxes(xs, 0, 1), w_x, w_h, b, unroll)[0], 0, 1)


def _fwd(xs, w_x, w_h, b, unroll):
    xs_t = jnp.swapaxes(xs, 0, 1)
    hs, cs, gates = _run(xs_t, w_x, w_h, b, unroll)
    return jnp.swapaxes(hs, 0, 1), (xs_t, w_x, w_h, hs, cs, gates)


def _bwd(unroll, residuals, dhs):
    xs_t, w_x, w_h, hs, cs, gates = residuals
    first = jnp.zeros_like(hs[:1])
    h_prev = jnp.concatenate([first, hs[:-1]])
    c_prev = jnp.concatenate([first, cs[:-1]])

    def step(carry, inputs):
        dh_next, dc_next = carry
        dh_out, c, c_before, gate = inputs
        i, f, g, o = jnp.split(gate, 4, axis=-1)
        dh = dh_out + dh_next
        tanh_c = jnp.tanh(c)
        dc = dc_next + dh * o * (1 - tanh_c**2)
        dz = jnp.concatenate(
            [
                dc * g * i * (1 - i),
                dc * c_before * f * (1 - f),
                dc * i * (1 - g**2),
                dh * tanh_c * o * (1 - o),
            ],
            axis=-1,
        )
        return (dz @ w_h.T, dc * f), dz

    zeros = jnp.zeros_like(hs[0])
    inputs = (jnp.swapaxes(dhs, 0, 1), cs, c_prev, gates)
    _, dz = lax.scan(step, (zeros, zeros), inputs, reverse=True, unroll=unroll)
    d_w_h = jnp.einsum("tnu,tnk->uk", h_prev, dz)
    d_w_x = jnp.einsum("tnd,tnk->dk", xs_t, dz)
    d_xs = jnp.swapaxes(dz @ w_x.T, 0, 1)
    return d_xs, d_w_x, d_w_h, dz.sum(axis=(0, 1))


lstm_layer.defvjp(_fwd, _bwd)
