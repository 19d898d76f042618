"""The oneDNN max-pooling (XLA FFI) against `lax.reduce_window` and a numpy first-max
reference, the 2×2 pool's backend switch and the fallback path."""

from __future__ import annotations

import os

import jax
import jax.ad_checkpoint
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcourse.kernels import conv, onednn, pool
from jaxcourse.kernels.onednn_pool import max_pool_onednn

# CI builds the extension and sets this, so that a failed build fails the tests, not skips them.
REQUIRED = os.environ.get("JAXCOURSE_REQUIRE_ONEDNN") == "1"
needs_onednn = pytest.mark.skipif(
    not onednn.AVAILABLE and not REQUIRED, reason=onednn.UNAVAILABLE_REASON
)


def explicit(x_shape, window, strides, padding):
    if isinstance(padding, str):
        return lax.padtype_to_pads(x_shape[1:3], window, strides, padding)
    return padding


def reduce_window(x, window, strides, padding):
    """XLA's max-pool: `lax.reduce_window` over NHWC."""
    if not isinstance(padding, str):
        padding = ((0, 0), *padding, (0, 0))
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1), padding)


def numpy_pool(x, g, window, strides, pads):
    """float64 max-pool of x and, for the output gradient g, the gradient that sends each
    window's g to the window's first maximum in row-major order (numpy's argmax)."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = window, strides, pads
    n, h, w, c = x.shape
    padded = np.full((n, h + pt + pb, w + pl + pr, c), -np.inf)
    padded[:, pt : pt + h, pl : pl + w] = x
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    y, dx = np.empty((n, oh, ow, c)), np.zeros_like(padded)
    batch, channel = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    for i in range(oh):
        for j in range(ow):
            win = padded[:, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(n, kh * kw, c)
            y[:, i, j] = win.max(axis=1)
            first = win.argmax(axis=1)
            rows, cols = i * sh + first // kw, j * sw + first % kw
            np.add.at(dx, (batch, rows, cols, channel), g[:, i, j])
    return y, dx[:, pt : pt + h, pl : pl + w]


CASES = [
    # (N, H, W, C) image, window, strides, padding
    ((1, 7, 5, 3), (2, 2), (2, 2), "VALID"),  # odd sides cropped, batch 1
    # batch 9: split over the XLA pool's threads in unequal parts; one of oneDNN's channel blocks
    ((9, 6, 8, 16), (2, 2), (2, 2), "VALID"),
    ((2, 9, 9, 32), (3, 3), (2, 2), "VALID"),
    ((3, 8, 7, 17), (3, 3), (1, 1), "SAME"),  # overlapping windows, channels off the blocks
    ((2, 6, 6, 64), (2, 2), (1, 1), "VALID"),
    ((2, 7, 9, 5), (3, 2), (2, 1), ((1, 0), (0, 1))),
    ((9, 28, 28, 1), (2, 2), (2, 2), "VALID"),  # the course CNN's first pool, one channel
]


def inputs(shape, window, strides, padding, ties: bool):
    """x (integers 0..2 when `ties`: many tied maxima) and a random output gradient."""
    rng = np.random.default_rng(abs(hash((shape, window, strides))) % 2**32)
    x = rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)
    y_shape = jax.eval_shape(
        lambda x: reduce_window(x, window, strides, padding), jax.ShapeDtypeStruct(shape, float)
    ).shape
    return jnp.asarray(x, jnp.float32), jnp.asarray(rng.standard_normal(y_shape), jnp.float32)


@needs_onednn
@pytest.mark.parametrize("shape, window, strides, padding", CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_forward_and_first_max_gradient_match_references(shape, window, strides, padding, ties):
    x, g = inputs(shape, window, strides, padding, ties)

    @jax.jit
    def value_and_grad(x, g):
        y, vjp = jax.vjp(lambda x: max_pool_onednn(x, window, strides, padding), x)
        return y, vjp(g)[0]

    y, dx = value_and_grad(x, g)
    y_ref, dx_ref = numpy_pool(x, g, window, strides, explicit(shape, window, strides, padding))
    np.testing.assert_array_equal(y, reduce_window(x, window, strides, padding))
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-6)


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 7, 5, 3), (9, 28, 28, 32), (2, 14, 13, 64)])
def test_2x2_pool_is_the_same_on_both_backends_with_ties(shape):
    x, g = inputs(shape, (2, 2), (2, 2), "VALID", ties=True)

    def run(name):
        y, vjp = jax.vjp(lambda x: pool.max_pool_2x2(x, backend_name=name), x)
        return y, vjp(g)[0]

    (y, dx), (y_xla, dx_xla) = jax.jit(lambda: run("onednn"))(), jax.jit(lambda: run("xla"))()
    np.testing.assert_array_equal(y, y_xla)
    np.testing.assert_array_equal(dx, dx_xla)


@needs_onednn
def test_under_vmap_matches_xla():
    rng = np.random.default_rng(2)
    xs = jnp.asarray(rng.integers(0, 3, (3, 2, 7, 6, 4)), jnp.float32)
    gs = jnp.asarray(rng.standard_normal((3, 2, 3, 3, 4)), jnp.float32)

    def batched(name):
        def one(x, g):
            y, vjp = jax.vjp(lambda x: pool.max_pool_2x2(x, backend_name=name), x)
            return y, vjp(g)[0]

        return jax.jit(jax.vmap(one))(xs, gs)

    for a, b in zip(batched("onednn"), batched("xla"), strict=True):
        np.testing.assert_array_equal(a, b)


@needs_onednn
def test_forward_saves_only_the_workspace(capsys):
    x = jnp.ones((2, 6, 6, 3))
    jax.ad_checkpoint.print_saved_residuals(lambda x: max_pool_onednn(x, (2, 2), (2, 2)), x)
    (saved,) = capsys.readouterr().out.splitlines()
    assert saved.startswith("u8[54] output of ffi_call"), saved  # a byte per output


@needs_onednn
def test_backends_pick_the_kernel_they_name():
    x = jnp.ones((2, 6, 6, 3))

    def hlo(name, x=x):
        return jax.jit(lambda x: pool.max_pool_2x2(x, backend_name=name)).lower(x).as_text()

    assert "jaxcourse_onednn_max_pool_forward" in hlo("onednn")
    assert "jaxcourse_onednn_max_pool_forward" in hlo("auto")
    assert "jaxcourse_onednn" not in hlo("xla")
    # what oneDNN does not cover goes to XLA under `auto`, and is refused under `onednn`
    half = x.astype(jnp.bfloat16)
    assert "jaxcourse_onednn" not in hlo("auto", half)
    with pytest.raises(ValueError, match="'onednn' cannot run this pooling: only float32"):
        pool.max_pool_2x2(half, backend_name="onednn")
    with pytest.raises(ValueError, match="at least 2×2 pixels"):
        pool.max_pool_2x2(jnp.ones((2, 1, 6, 3)), backend_name="onednn")
    with pytest.raises(ValueError, match="max_pool backend: expected one of .* got 'mkl'"):
        pool.max_pool_2x2(x, backend_name="mkl")


def test_without_the_extension_xla_pools(monkeypatch):
    """The fallback path: no extension → XLA's first-max pool under `auto`, and a clear error
    when `onednn` is asked for."""
    monkeypatch.setattr(onednn, "AVAILABLE", False)
    monkeypatch.setattr(onednn, "UNAVAILABLE_REASON", "the oneDNN extension is not built")
    monkeypatch.setitem(conv._state, "backend", "auto")
    x, g = inputs((2, 9, 8, 3), (2, 2), (2, 2), "VALID", ties=True)

    def value_and_grad(x, g):
        y, vjp = jax.vjp(pool.max_pool_2x2, x)
        return y, vjp(g)[0]

    assert "jaxcourse_onednn" not in jax.jit(value_and_grad).lower(x, g).as_text()
    y, dx = value_and_grad(x, g)
    y_ref, dx_ref = numpy_pool(x, g, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="'onednn' cannot run .*extension is not built"):
        pool.max_pool_2x2(x, backend_name="onednn")


def test_the_conv_backend_switch_applies_to_pooling():
    x = jnp.ones((1, 4, 4, 2))
    with conv.using_backend("xla"):
        lowered = jax.jit(pool.max_pool_2x2).lower(x).as_text()
    assert "jaxcourse_onednn" not in lowered


@pytest.mark.parametrize("backend", ["xla", pytest.param("onednn", marks=needs_onednn)])
@pytest.mark.parametrize(
    "shape, window", [((3, 9, 9, 4), (3, 3)), ((2, 8, 7, 5), (2, 3)), ((9, 13, 12, 2), (4, 4))]
)
def test_tiled_pool_sends_tied_gradients_to_the_first_max(shape, window, backend):
    """`max_pool_tiled` (the shim's tiled tf.nn.max_pool) keeps TF's tie rule on both backends."""
    x, g = inputs(shape, window, window, "VALID", ties=True)
    y, vjp = jax.vjp(lambda x: pool.max_pool_tiled(x, window, backend_name=backend), x)
    y_ref, dx_ref = numpy_pool(x, g, window, window, explicit(shape, window, window, "VALID"))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(vjp(g)[0], dx_ref)
