"""The LSTM layers (kernels.lstm hoisted, kernels.onednn_lstm) against Flax's
OptimizedLSTMCell, JAX's own differentiation and a NumPy LSTM."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcourse.kernels import lstm as lstm_module
from jaxcourse.kernels import onednn
from jaxcourse.kernels.lstm import lstm_layer
from jaxcourse.kernels.onednn_lstm import lstm_onednn
from jaxcourse.models.recurrent import RowLSTM


def numpy_lstm(xs, w_x, w_h, b):
    """float64 LSTM, gates i, f, g, o; returns every hidden state (N, T, U)."""
    sig = lambda z: 1 / (1 + np.exp(-z))
    n, units = xs.shape[0], w_h.shape[0]
    h, c, out = np.zeros((n, units)), np.zeros((n, units)), []
    for t in range(xs.shape[1]):
        i, f, g, o = np.split(xs[:, t] @ w_x + h @ w_h + b, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


REQUIRED = os.environ.get("JAXCOURSE_REQUIRE_ONEDNN") == "1"
LAYERS = {
    "hoisted": lambda *a: lstm_layer(*a, 1),
    "hoisted, unroll 3": lambda *a: lstm_layer(*a, 3),
    "onednn": pytest.param(
        lstm_onednn,
        marks=pytest.mark.skipif(
            not onednn.AVAILABLE and not REQUIRED, reason=onednn.UNAVAILABLE_REASON
        ),
    ),
}


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
# (37, ...): oneDNN splits a batch this large over the XLA pool's threads (unequal parts)
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 28, 28, 16), (37, 9, 5, 8)])
def test_lstm_layer_forward_and_gradients(layer, shape):
    rng = np.random.default_rng(0)
    n, t, d, u = shape
    args = [rng.standard_normal(s) * 0.5 for s in [(n, t, d), (d, 4 * u), (u, 4 * u), (4 * u,)]]
    got = jax.jit(layer)(*[jnp.asarray(a, jnp.float32) for a in args])
    np.testing.assert_allclose(got, numpy_lstm(*args), rtol=1e-5, atol=1e-5)

    weights = jnp.asarray(rng.standard_normal((n, t, u)), jnp.float32)

    def loss(fn, *a):
        return jnp.sum(jnp.sin(fn(*a)) * weights)

    f32 = [jnp.asarray(a, jnp.float32) for a in args]
    ours = jax.jit(jax.grad(lambda *a: loss(layer, *a), (0, 1, 2, 3)))(*f32)

    # JAX's own differentiation of the same forward pass (no custom_vjp) as the reference
    def plain(xs, w_x, w_h, b):
        hs = lstm_module._run(jnp.swapaxes(xs, 0, 1), w_x, w_h, b, 1)[0]
        return jnp.swapaxes(hs, 0, 1)

    want = jax.grad(lambda *a: loss(plain, *a), (0, 1, 2, 3))(*f32)
    for a, b in zip(ours, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(b))))


def test_lstm_implementations_share_parameters_and_results():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((4, 7, 6)), jnp.float32)
    results = {}
    for implementation in ("flax", "hoisted") + (("onednn",) if onednn.AVAILABLE else ()):
        model = RowLSTM(16, 10, implementation, unroll=2)
        params = model.init(jax.random.key(1), x)
        loss = lambda p, m=model: jnp.sum(jnp.sin(m.apply(p, x)))
        results[implementation] = (params, jax.value_and_grad(loss)(params))
    for implementation, result in results.items():
        assert jax.tree.structure(result) == jax.tree.structure(results["flax"]), implementation
        for a, b in zip(jax.tree.leaves(result), jax.tree.leaves(results["flax"]), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_onednn_lstm_refused_where_it_cannot_run(monkeypatch):
    monkeypatch.setattr(onednn, "AVAILABLE", False)
    monkeypatch.setattr(onednn, "UNAVAILABLE_REASON", "the oneDNN extension is not built")
    x = jnp.ones((2, 3, 4))
    auto = RowLSTM(8, 10)  # falls back to Flax's cell
    assert "lstm" in auto.init(jax.random.key(0), x)["params"]
    with pytest.raises(ValueError, match="'onednn' cannot run here: the oneDNN extension is not"):
        RowLSTM(8, 10, "onednn").init(jax.random.key(0), x)
