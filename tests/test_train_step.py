"""The pure train step against hand-computed float64 gradient steps, and its determinism."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from jaxcourse import losses, train
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.models.dense import MLP, Linear


def test_linear_sgd_step_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.random((100, 1)).astype(np.float32)
    y = (0.1 * x + 0.2).astype(np.float32)
    model, tx = Linear(features=1), optax.sgd(0.2)
    state = train.create_train_state(jax.random.key(0), model, tx, x[:1])
    step = jax.jit(train.make_train_step(model.apply, losses.mse, tx))

    k, b = 0.0, 0.0
    xs, ys = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    for _ in range(5):
        state, metrics = step(state, {"x": x, "y": y})
        residual = k * xs + b - ys
        expected_loss = np.mean(residual**2)
        k, b = k - 0.2 * np.mean(2 * residual * xs), b - 0.2 * np.mean(2 * residual)
        np.testing.assert_allclose(float(metrics["loss"]), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(float(state.params["k"][0, 0]), k, rtol=1e-5)
    np.testing.assert_allclose(float(state.params["b"][0]), b, rtol=1e-5)
    assert int(state.step) == 5


def test_tanh_mlp_step_matches_numpy_backprop():
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 0.5, (32, 1)).astype(np.float32)
    y = (x**2).astype(np.float32)
    model, lr = MLP(hidden=(10,), features=1), 0.1
    tx = optax.sgd(lr)
    state = train.create_train_state(jax.random.key(3), model, tx, x[:1])
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), state.params)
    w1, b1 = p["hidden1"]["kernel"], p["hidden1"]["bias"]
    w2, b2 = p["output"]["kernel"], p["output"]["bias"]

    # forward and backward by hand, float64
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    h = np.tanh(xd @ w1 + b1)
    out = h @ w2 + b2
    d_out = 2 * (out - yd) / out.size
    g_w2, g_b2 = h.T @ d_out, d_out.sum(0)
    d_h = (d_out @ w2.T) * (1 - h**2)
    g_w1, g_b1 = xd.T @ d_h, d_h.sum(0)

    new_state, metrics = jax.jit(train.make_train_step(model.apply, losses.mse, tx))(
        state, {"x": x, "y": y}
    )
    np.testing.assert_allclose(float(metrics["loss"]), np.mean((out - yd) ** 2), rtol=1e-5)
    new = new_state.params
    for got, old, grad in [
        (new["hidden1"]["kernel"], w1, g_w1),
        (new["hidden1"]["bias"], b1, g_b1),
        (new["output"]["kernel"], w2, g_w2),
        (new["output"]["bias"], b2, g_b2),
    ]:
        np.testing.assert_allclose(np.asarray(got), old - lr * grad, rtol=1e-5, atol=1e-7)
    grad_norm = np.sqrt(sum(np.sum(g**2) for g in (g_w1, g_b1, g_w2, g_b2)))
    np.testing.assert_allclose(float(metrics["grad_norm"]), grad_norm, rtol=1e-5)


def _dropout_setup():
    rng = np.random.default_rng(2)
    data = {
        "x": jnp.asarray(rng.normal(size=(64, 5)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, 3, 64), jnp.int32),
    }
    model = MLP(hidden=(16,), features=3, activation="relu", dropout=0.5)
    tx = optax.adam(1e-2)
    state = train.create_train_state(jax.random.key(0), model, tx, data["x"][:1])
    step = train.make_train_step(model.apply, losses.softmax_cross_entropy, tx)
    return data, state, step


def test_fused_steps_equal_single_steps_with_dropout():
    data, state, step = _dropout_setup()
    idx = np.stack([np.arange(i * 16, i * 16 + 16) % 64 for i in range(4)]).astype(np.int32)
    single = jax.jit(train.make_indexed_step(step))
    s1 = state
    losses_single = []
    for i in range(4):
        s1, m = single(s1, data, idx[i])
        losses_single.append(float(m["loss"]))
    fused = jax.jit(train.make_indexed_step(step, steps_per_call=4, unroll=True))
    s4, m4 = fused(state, data, idx)
    np.testing.assert_allclose(np.asarray(m4["loss"]), losses_single, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s4), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_step_rng_depends_on_step_only():
    data, state, step = _dropout_setup()
    batch = {k: v[:16] for k, v in data.items()}
    jstep = jax.jit(step)
    _, m_a = jstep(state, batch)
    _, m_b = jstep(state, batch)
    assert float(m_a["loss"]) == float(m_b["loss"])  # same step, same dropout mask
    later = state.replace(step=state.step + 1)
    _, m_c = jstep(later, batch)
    assert float(m_c["loss"]) != float(m_a["loss"])  # next step, another mask


def test_batch_schedule_is_a_function_of_seed_and_step():
    a = BatchSchedule(10, 3, seed=7)
    b = BatchSchedule(10, 3, seed=7)
    assert a.steps_per_epoch == 3
    epoch0 = np.concatenate([a.indices(i) for i in range(3)])
    assert len(set(epoch0.tolist())) == 9  # no example twice within an epoch
    np.testing.assert_array_equal(b.indices(4), a.indices(4))  # random access agrees
    assert not np.array_equal(a.indices(0), a.indices(3))  # reshuffled next epoch
    np.testing.assert_array_equal(a.indices_for(2, 2), np.stack([a.indices(2), a.indices(3)]))


def test_init_params_matches_op_by_op_init_and_compiles_once_per_equal_model():
    from jaxcourse import models
    from jaxcourse.data.spec import DataSpec
    from jaxcourse.models.dense import MLPConfig

    spec = DataSpec(input_shape=(28, 28, 1), num_outputs=10, task="classification")
    cfg = MLPConfig(name="mlp", hidden=[32], kernel_init="truncated_normal", init_scale=0.1)
    first, second = models.build(cfg, spec), models.build(cfg, spec)
    assert first == second and hash(first) == hash(second)  # equal configs, equal modules
    x = np.zeros((1, 28, 28, 1), np.float32)
    rng = jax.random.key(3)
    reference = first.init({"params": rng}, x, train=False)["params"]
    params = train.init_params(first, rng, x)
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
    assert float(jnp.std(params["hidden1"]["kernel"])) > 0.05  # really drawn, not zeros
    misses = train._jit_init()._cache_size()
    train.init_params(second, jax.random.key(4), x)
    assert train._jit_init()._cache_size() == misses  # the equal module reused the program
    # inside a traced function, and for a module that cannot be hashed
    traced = jax.jit(lambda r: train.init_params(first, r, x))(rng)
    np.testing.assert_allclose(traced["output"]["kernel"], params["output"]["kernel"], rtol=1e-6)

    class ListWidths(nn.Module):
        widths: list  # a list field makes the module unhashable

        @nn.compact
        def __call__(self, x, train=False):
            return nn.Dense(self.widths[0])(x.reshape(x.shape[0], -1))

    odd = ListWidths(widths=[3])
    got = train.init_params(odd, rng, x)["Dense_0"]["kernel"]
    np.testing.assert_allclose(got, odd.init(rng, x)["params"]["Dense_0"]["kernel"], rtol=1e-6)
