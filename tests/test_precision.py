"""Mixed precision (`train.precision: bf16`): bfloat16 compute, float32 parameters and
optimizer state, against a float64 NumPy reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcourse import losses, train
from jaxcourse.models.dense import MLP
from jaxcourse.models.precision import cast_floating, in_precision

BF16_EPS = 2.0**-8  # bfloat16 keeps 8 significant bits


def numpy_mlp(params, x):
    h = np.tanh(x @ params["hidden1"]["kernel"] + params["hidden1"]["bias"])
    return h @ params["output"]["kernel"] + params["output"]["bias"]


def test_bf16_forward_is_float32_out_and_within_bfloat16_rounding():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 20)).astype(np.float32)
    model = MLP(hidden=(32,), features=5, activation="tanh")
    variables = model.init(jax.random.key(0), x)
    out = jax.jit(in_precision(model.apply, "bf16"))(variables, x)
    assert out.dtype == jnp.float32
    want = numpy_mlp(jax.tree_util.tree_map(np.float64, variables["params"]), x.astype(np.float64))
    error = np.abs(np.asarray(out, np.float64) - want).max() / np.abs(want).max()
    assert error < 8 * BF16_EPS, error  # a few roundings of inputs, weights and the hidden layer
    assert error > 0  # it really computed in bfloat16: float32 would agree to ~1e-7
    float32 = jax.jit(in_precision(model.apply, "float32"))(variables, x)
    np.testing.assert_allclose(float32, want, rtol=1e-5, atol=1e-5)


def test_bf16_train_step_keeps_float32_state_and_follows_the_float32_step():
    rng = np.random.default_rng(1)
    batch = {"x": rng.standard_normal((64, 10)).astype(np.float32), "y": rng.integers(0, 3, 64)}
    model, tx = MLP(hidden=(16,), features=3, activation="tanh"), optax.adam(1e-2)
    loss = losses.LOSSES.get("softmax_cross_entropy")
    states = {}
    for precision in ("float32", "bf16"):
        state = train.create_train_state(jax.random.key(0), model, tx, batch["x"][:1])
        step = jax.jit(train.make_train_step(in_precision(model.apply, precision), loss, tx))
        for _ in range(20):
            state, metrics = step(state, batch)
        states[precision] = (state, float(metrics["loss"]))
    (s32, loss32), (s16, loss16) = states["float32"], states["bf16"]
    for leaf in jax.tree_util.tree_leaves((s16.params, s16.opt_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
    assert loss16 == pytest.approx(loss32, rel=0.05)
    diff = jax.tree_util.tree_map(
        lambda a, b: float(jnp.max(jnp.abs(a - b))), s16.params, s32.params
    )
    assert 0 < max(jax.tree_util.tree_leaves(diff)) < 0.05


def test_cast_floating_leaves_integers_and_keys_alone():
    tree = {"w": jnp.ones(2), "i": jnp.arange(2), "k": jax.random.key(0)}
    cast = cast_floating(tree, jnp.bfloat16)
    assert cast["w"].dtype == jnp.bfloat16 and cast["i"].dtype == tree["i"].dtype
    assert jax.dtypes.issubdtype(cast["k"].dtype, jax.dtypes.prng_key)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision: expected one of float32, bf16"):
        in_precision(lambda v, x: x, "fp16")


@pytest.mark.parametrize("model", ["cnn", "lstm"])
def test_bf16_course_models_run_on_xla_kernels(model):
    """oneDNN's kernels are float32 only: under `auto` a bf16 CNN or LSTM takes XLA's."""
    from jaxcourse import models
    from jaxcourse.config import validate_component
    from jaxcourse.data.spec import DataSpec

    spec = DataSpec((28, 28, 1), "classification", 10)
    net = models.build(validate_component(models.MODELS, {"name": model}, "model"), spec)
    x = np.random.default_rng(2).random((4, 784)).astype(np.float32)
    variables = net.init(jax.random.key(0), x)
    apply = jax.jit(in_precision(net.apply, "bf16"))
    hlo = apply.lower(variables, x).as_text()
    assert "jaxcourse_onednn" not in hlo and "bf16" in hlo
    out32 = net.apply(variables, x)
    np.testing.assert_allclose(apply(variables, x), out32, atol=0.05 * float(jnp.abs(out32).max()))
