"""Mixed precision (`train.precision`): compute in bfloat16, keep float32 master weights.

`in_precision(apply_fn, "bf16")` wraps a Flax `apply`: the floating parameters and inputs
are cast to bfloat16 for the forward pass and the outputs back to float32, so the loss, the
gradients (the casts' transposes bring them back to float32), the optimizer state and the
parameters all stay float32. bfloat16 has float32's exponent range, so no loss scaling is
needed. Where it pays: GPUs, TPUs and CPUs with bf16 matrix units (Intel AMX); on other CPUs
XLA emulates it and it is slower (docs/performance.md). oneDNN's kernels are float32 only:
under `perf.conv_backend: auto` a bf16 model runs on XLA's kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

Precision = Literal["float32", "bf16"]
COMPUTE_DTYPES = {"float32": jnp.float32, "bf16": jnp.bfloat16}


def cast_floating(tree, dtype):
    """`tree` with its floating-point arrays cast to `dtype` (integers, keys untouched)."""

    def cast(leaf):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.astype(dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


def in_precision(apply_fn: Callable, precision: str) -> Callable:
    """`apply_fn(variables, x, ...)` computed in `precision` ('float32': unchanged), its
    outputs as float32."""
    if precision not in COMPUTE_DTYPES:
        raise ValueError(
            f"precision: expected one of {', '.join(COMPUTE_DTYPES)}, got {precision!r}"
        )
    dtype = COMPUTE_DTYPES[precision]
    if dtype == jnp.float32:
        return apply_fn

    def apply(variables, x, *args, **kwargs):
        outputs = apply_fn(
            cast_floating(variables, dtype), cast_floating(x, dtype), *args, **kwargs
        )
        return cast_floating(outputs, jnp.float32)

    return apply
