"""`conv2d`: the models' 2-D convolution, by oneDNN on CPU or by XLA, per `perf.conv_backend`.

Backends (`set_backend`, from the config key `perf.conv_backend`):

- `xla`: `lax.conv_general_dilated` everywhere;
- `onednn`: oneDNN through XLA's FFI (`jaxcourse.kernels.onednn_conv`) for float32 NHWC
  convolutions on CPU; an error when the extension is missing or the program is not compiled
  for the CPU;
- `auto` (default): oneDNN where it can run (extension built, CPU, float32, no dilation or
  negative padding), XLA otherwise.

The models' max-pooling (`kernels.pool.max_pool_2x2`) follows the same backend. It is read
when a model is traced, so set it before the first step is compiled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
from jax import lax

from jaxcourse.kernels import onednn, onednn_conv

Backend = Literal["xla", "onednn", "auto"]
BACKENDS: tuple[str, ...] = ("xla", "onednn", "auto")
_state = {"backend": "auto", "told": False}
log = logging.getLogger("jaxcourse")


def set_backend(name: str) -> None:
    """Use `name` (one of BACKENDS) for the convolutions traced from now on; says once when
    oneDNN was asked for (`auto`, `onednn`) but is not available."""
    if name not in BACKENDS:
        raise ValueError(f"perf.conv_backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    _state["backend"] = name
    if name != "xla" and not onednn.AVAILABLE and not _state["told"]:
        _state["told"] = True
        log.warning("convolutions run on XLA's kernels: %s", onednn.UNAVAILABLE_REASON)


def backend() -> str:
    """The backend set by `set_backend` (default `auto`)."""
    return _state["backend"]


def chosen_backend(backend_name: str | None, caller: str) -> str:
    """`backend_name`, checked, or `backend()` when it is None; `caller` names the kernel in
    the error."""
    name = backend_name or backend()
    if name not in BACKENDS:
        raise ValueError(f"{caller} backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    return name


@contextlib.contextmanager
def using_backend(name: str) -> Iterator[None]:
    """`set_backend(name)` inside the block, the previous backend after it."""
    previous = backend()
    set_backend(name)
    try:
        yield
    finally:
        _state["backend"] = previous


def explicit_pads(x_shape, k_shape, strides, padding) -> tuple[tuple[int, int], ...]:
    """`padding` ('SAME', 'VALID' or ((top, bottom), (left, right))) as explicit pairs."""
    if isinstance(padding, str):
        return tuple(lax.padtype_to_pads(x_shape[1:3], k_shape[:2], strides, padding))
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def _onednn_unsuitable(x, kernel, bias, pads) -> str:
    """Why oneDNN cannot run this convolution here ('' when it can)."""
    why_not = onednn.usable_for(x, kernel, *([] if bias is None else [bias]))
    if why_not:
        return why_not
    if x.ndim != 4 or kernel.ndim != 4 or x.shape[-1] != kernel.shape[2]:
        return f"expected NHWC images and an HWIO kernel, got {x.shape} and {kernel.shape}"
    if any(p < 0 for pair in pads for p in pair):
        return "negative padding"
    return ""


def conv2d(
    x: jnp.ndarray,
    kernel: jnp.ndarray,
    strides: Sequence[int] = (1, 1),
    padding="SAME",
    *,
    bias: jnp.ndarray | None = None,
    relu: bool = False,
    backend_name: str | None = None,
) -> jnp.ndarray:
    """NHWC images × HWIO kernel → NHWC, then `+ bias` and `relu` if given, by the backend
    `backend_name` (default: `backend()`)."""
    strides = tuple(int(s) for s in strides)
    pads = explicit_pads(x.shape, kernel.shape, strides, padding)
    name = chosen_backend(backend_name, "conv2d")
    if name != "xla":
        why_not = _onednn_unsuitable(x, kernel, bias, pads)
        if not why_not:
            return onednn_conv.conv2d_onednn(x, kernel, bias, strides, pads, relu)
        if name == "onednn":
            raise ValueError(f"conv2d backend 'onednn' cannot run this convolution: {why_not}")
    y = lax.conv_general_dilated(
        x, kernel, strides, pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    if bias is not None:
        y = y + bias
    return jax.nn.relu(y) if relu else y
