"""The optional compiled oneDNN extension (csrc/): loading it and calling its XLA FFI handlers.

`AVAILABLE` is False when `jaxcourse.kernels._onednn` was not built (no compiler or oneDNN at
install time) or cannot be loaded; `UNAVAILABLE_REASON` then says why. Its handlers are
registered for the CPU platform on import.
"""

from __future__ import annotations

import os

import jax

# oneDNN's OpenMP threads must not spin between calls: XLA's own threads need the cores then.
# libgomp reads this once, when the extension loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
