"""The optional compiled oneDNN extension (csrc/): loading it and calling its XLA FFI handlers.

`AVAILABLE` is False when `jaxcourse.kernels._onednn` was not built (no compiler or oneDNN at
install time) or cannot be loaded; `UNAVAILABLE_REASON` then says why. Its handlers are
registered for the CPU platform on import.
"""

from __future__ import annotations

import os

import jax

# oneDNN's OpenMP threads spin briefly between parallel regions, then sleep: the LSTM primitive
# runs many short regions (28 time steps, forward and backward), and waking sleeping threads for
# each cost it 2-3x (docs/performance.md); a bounded spin leaves the cores to XLA's own threads
# between calls. libgomp reads these once, when the extension loads it; users' values win.
os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

try:
    from jaxcourse.kernels import _onednn as extension
except ImportError as error:
    extension = None
    UNAVAILABLE_REASON = f"the oneDNN extension is not available ({error})"
else:
    UNAVAILABLE_REASON = ""
    for _name, _capsule in extension.targets().items():
        jax.ffi.register_ffi_target(_name, _capsule, platform="cpu")

AVAILABLE = extension is not None
VERSION = extension.version() if AVAILABLE else None


def ffi_call(target: str, results, *args, **attrs):
    """Call the extension's handler `target` (vmapped: one call per batch element)."""
    return jax.ffi.ffi_call(target, results, vmap_method="sequential")(*args, **attrs)


def usable_for(*arrays) -> str:
    """Why oneDNN cannot compute on `arrays` here ('' when it can): the extension, the
    platform (the CPU) and the dtype (float32) decide."""
    if not AVAILABLE:
        return UNAVAILABLE_REASON
    if jax.default_backend() != "cpu":
        return f"the default JAX backend is {jax.default_backend()!r}, not the CPU"
    if any(jax.numpy.result_type(a) != jax.numpy.float32 for a in arrays):
        return "only float32 computations go to oneDNN"
    return ""
