"""The oneDNN convolution (XLA FFI) against XLA's, its backend switch and the fallback path."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcourse.kernels import conv, onednn, onednn_conv
from jaxcourse.models.conv import CNN
from jaxcourse.models.fast_conv import FastCNN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CI builds the extension and sets this, so that a failed build fails the tests, not skips them.
REQUIRED = os.environ.get("JAXCOURSE_REQUIRE_ONEDNN") == "1"
needs_onednn = pytest.mark.skipif(
    not onednn.AVAILABLE and not REQUIRED, reason=onednn.UNAVAILABLE_REASON
)


def reference(x, kernel, bias, strides, padding, relu):
    y = lax.conv_general_dilated(
        x,
        kernel,
        strides,
        padding,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=lax.Precision.HIGHEST,
    )
    y = y if bias is None else y + bias
    return jax.nn.relu(y) if relu else y


def values_and_grads(fn, x, kernel, bias):
    """fn's output and the gradients of a non-linear function of it w.r.t. every input."""
    argnums = (0, 1) if bias is None else (0, 1, 2)

    def loss(x, kernel, bias):
        return jnp.sum(jnp.sin(fn(x, kernel, bias)))

    return jax.jit(fn)(x, kernel, bias), jax.jit(jax.grad(loss, argnums))(x, kernel, bias)


CASES = [
    # (N, H, W, C) image, (KH, KW, C, O) kernel, strides, padding
    ((2, 9, 7, 3), (3, 3, 3, 5), (1, 1), "SAME"),
    ((2, 10, 10, 4), (5, 5, 4, 6), (2, 2), "SAME"),
    ((3, 8, 11, 2), (3, 2, 2, 4), (2, 1), "VALID"),
    ((2, 7, 7, 3), (3, 3, 3, 4), (1, 2), ((1, 2), (0, 1))),
    ((4, 28, 28, 1), (5, 5, 1, 8), (1, 1), "SAME"),  # the course CNN's first layer, smaller
    ((2, 14, 14, 32), (5, 5, 32, 16), (1, 1), "SAME"),  # its second, fewer outputs
    ((2, 6, 6, 17), (1, 1, 17, 19), (1, 1), "VALID"),  # channels off oneDNN's blocks of 16
    # batches oneDNN splits over the XLA pool's threads (unequal parts; gradients summed)
    ((9, 14, 14, 8), (5, 5, 8, 16), (1, 1), "SAME"),
    ((13, 9, 8, 3), (3, 3, 3, 5), (2, 2), "VALID"),
]


@needs_onednn
@pytest.mark.parametrize("x_shape, k_shape, strides, padding", CASES)
@pytest.mark.parametrize("fusion", ["none", "bias", "bias+relu"])
def test_onednn_matches_xla_forward_and_gradients(x_shape, k_shape, strides, padding, fusion):
    rng = np.random.default_rng(abs(hash((x_shape, k_shape))) % 2**32)
    x = jnp.asarray(rng.standard_normal(x_shape), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal(k_shape) / np.sqrt(np.prod(k_shape[:3])), jnp.float32)
    bias = None if fusion == "none" else jnp.asarray(rng.standard_normal(k_shape[-1]), jnp.float32)
    relu = fusion == "bias+relu"

    def ours(x, k, b):
        return conv.conv2d(x, k, strides, padding, bias=b, relu=relu, backend_name="onednn")

    def xla(x, k, b):
        return reference(x, k, b, strides, padding, relu)

    got, want = values_and_grads(ours, x, kernel, bias), values_and_grads(xla, x, kernel, bias)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape
        scale = float(jnp.max(jnp.abs(b))) or 1.0
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5 * scale)


@needs_onednn
def test_onednn_blocked_layout_matches_nhwc():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 9, 9, 20)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 20, 18)) * 0.1, jnp.float32)
    pads = ((1, 1), (1, 1))

    def run(blocked):
        def f(x, k):
            return onednn_conv.conv2d_onednn(x, k, None, (1, 1), pads, False, blocked)

        y, vjp = jax.vjp(f, x, kernel)
        return y, vjp(jnp.cos(y))

    for a, b in zip(jax.tree.leaves(run(True)), jax.tree.leaves(run(False)), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_backends_pick_the_kernel_they_name():
    x, kernel = jnp.ones((1, 6, 6, 2)), jnp.ones((3, 3, 2, 4))

    def hlo(name):
        return jax.jit(lambda x, k: conv.conv2d(x, k, backend_name=name)).lower(x, kernel).as_text()

    assert "jaxcourse_onednn_conv_forward" in hlo("onednn")
    assert "jaxcourse_onednn_conv_forward" in hlo("auto")
    assert "jaxcourse_onednn_conv_forward" not in hlo("xla")
    assert "convolution" in hlo("xla")
    # what oneDNN does not cover goes to XLA under `auto`, and is refused under `onednn`
    half, half_k = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
    lowered = jax.jit(lambda x, k: conv.conv2d(x, k)).lower(half, half_k).as_text()
    assert "jaxcourse_onednn" not in lowered
    with pytest.raises(ValueError, match="'onednn' cannot run this convolution: only float32"):
        conv.conv2d(half, half_k, backend_name="onednn")


@needs_onednn
def test_onednn_under_vmap_matches_xla():
    rng = np.random.default_rng(2)
    xs = jnp.asarray(rng.standard_normal((3, 2, 6, 6, 2)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 2, 4)), jnp.float32)

    def batched(name):
        return jax.vmap(lambda x: conv.conv2d(x, kernel, backend_name=name))(xs)

    np.testing.assert_allclose(batched("onednn"), batched("xla"), rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("module", [CNN, FastCNN], ids=["cnn", "fast_cnn"])
def test_course_cnn_same_logits_and_gradients_on_both_backends(module):
    """Convolutions and pools by oneDNN or all by XLA: the same loss and gradients, also
    where blank borders tie the pooled values (both pools send the gradient to the first
    maximum)."""
    model = module(conv_features=(4, 8), kernel_size=5, dense=16, features=10, dropout=0.0)
    x = np.random.default_rng(3).standard_normal((3, 28, 28, 1)).astype(np.float32)
    x[:, :6], x[:, :, -5:] = 0.0, 0.0
    x = jnp.asarray(x.reshape(3, 784))  # read as 28×28×1
    params = model.init(jax.random.key(0), x)

    def loss(params, x):
        return jnp.mean(model.apply(params, x) ** 2)

    results = {}
    for name in ("xla", "onednn"):
        with conv.using_backend(name):
            step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
            hlo = step.lower(params, x).as_text()
            results[name] = step(params, x)
        assert ("jaxcourse_onednn_max_pool_backward" in hlo) == (name == "onednn")
    for a, b in zip(
        jax.tree.leaves(results["onednn"]), jax.tree.leaves(results["xla"]), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="expected one of xla, onednn, auto, got 'mkl'"):
        conv.set_backend("mkl")
    with pytest.raises(ValueError, match="got 'cudnn'"):
        conv.conv2d(jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1)), backend_name="cudnn")


def test_without_the_extension_xla_runs_and_says_so_once(monkeypatch, caplog):
    """The fallback path: no extension → XLA's convolution under `auto`, one log line at
    start-up, and a clear error when `onednn` is asked for."""
    monkeypatch.setattr(onednn, "AVAILABLE", False)
    monkeypatch.setattr(onednn, "UNAVAILABLE_REASON", "the oneDNN extension is not built")
    monkeypatch.setitem(conv._state, "told", False)
    monkeypatch.setitem(conv._state, "backend", "auto")
    with caplog.at_level(logging.WARNING, logger="jaxcourse"):
        conv.set_backend("auto")
        conv.set_backend("auto")
    said = [r.getMessage() for r in caplog.records if "oneDNN" in r.getMessage()]
    assert said == ["convolutions run on XLA's kernels: the oneDNN extension is not built"]
    x = jnp.asarray(np.random.default_rng(4).standard_normal((2, 8, 8, 3)), jnp.float32)
    kernel = jnp.asarray(np.random.default_rng(5).standard_normal((3, 3, 3, 4)), jnp.float32)
    lowered = jax.jit(lambda x, k: conv.conv2d(x, k, (2, 2))).lower(x, kernel).as_text()
    assert "jaxcourse_onednn" not in lowered
    np.testing.assert_allclose(
        conv.conv2d(x, kernel, (2, 2)),
        reference(x, kernel, None, (2, 2), "SAME", False),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="'onednn' cannot run .*extension is not built"):
        conv.conv2d(x, kernel, backend_name="onednn")


def test_a_missing_extension_is_reported_not_raised():
    """Importing the kernels without the compiled module (as after an install without a
    compiler) works and says why oneDNN is off."""
    code = (
        "import sys; sys.modules['jaxcourse.kernels._onednn'] = None\n"
        "from jaxcourse.kernels import onednn\n"
        "print(onednn.AVAILABLE, '|', onednn.UNAVAILABLE_REASON)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("False | the oneDNN extension is not available")


def test_config_key_is_validated():
    from jaxcourse.errors import ConfigError
    from jaxcourse.runners import load_config

    path = os.path.join(REPO, "configs", "linear_regression.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["perf.conv_backend=mkl"])
    (problem,) = info.value.problems
    assert "'perf.conv_backend'" in problem and "'mkl'" in problem
    assert load_config(path, []).perf.conv_backend == "auto"
    assert load_config(path, ["perf.conv_backend=xla"]).perf.conv_backend == "xla"
