"""The course's `variable_summaries`, for every parameter of a Flax model at once.

TF1 wrapped each variable in `variable_summaries(var)`: mean, stddev, max, min and a histogram
under `<layer>/<variable>/summaries/`. Here the tags follow the parameter's module path
(`hidden1/kernel/summaries/mean`, ...), and all statistics are computed in one compiled call on
the device, so only a few numbers per parameter travel to the host.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.engine.writers import Histogram, widen_range

STATISTICS = ("mean", "stddev", "max", "min")


def param_tag(path) -> str:
    """'hidden1/kernel' for the key path of params['hidden1']['kernel']."""
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


@functools.partial(jax.jit, static_argnames="bins")
def _statistics(leaves: list, bins: int):
    def one(x):
        x = jnp.ravel(x).astype(jnp.float32)
        mean = jnp.mean(x)
        lo, hi = jnp.min(x), jnp.max(x)
        out = {
            "mean": mean,
            "stddev": jnp.sqrt(jnp.mean(jnp.square(x - mean))),
            "max": hi,
            "min": lo,
        }
        if bins:
            # equal-width buckets over [min, max]; a constant array gets [v - 0.5, v + 0.5]
            flat = hi <= lo
            lo_, hi_ = jnp.where(flat, lo - 0.5, lo), jnp.where(flat, hi + 0.5, hi)
            idx = jnp.floor((x - lo_) / (hi_ - lo_) * bins).astype(jnp.int32)
            out["counts"] = jnp.bincount(jnp.clip(idx, 0, bins - 1), length=bins)
            out["sum"] = jnp.sum(x)
            out["sum_squares"] = jnp.sum(jnp.square(x))
            out["num"] = jnp.asarray(x.size, jnp.float32)
        return out

    return [one(x) for x in leaves]


def variable_summaries(params, histogram_bins: int = 0) -> tuple[dict, dict]:
    """(scalars, histograms) of every parameter array in `params`.

    scalars: `{'<path>/summaries/mean': ..., '/stddev', '/max', '/min'}` (population stddev,
    as in the course); histograms (only when `histogram_bins` > 0):
    `{'<path>/summaries/histogram': Histogram}` with that many equal-width buckets.
    """
    paths, leaves = zip(*jax.tree_util.tree_leaves_with_path(params), strict=True)
    stats = jax.device_get(_statistics(list(leaves), int(histogram_bins)))
    scalars, histograms = {}, {}
    for path, s in zip(paths, stats, strict=True):
        prefix = f"{param_tag(path)}/summaries"
        for name in STATISTICS:
            scalars[f"{prefix}/{name}"] = float(s[name])
        if histogram_bins:
            histograms[f"{prefix}/histogram"] = Histogram(
                np.linspace(*widen_range(float(s["min"]), float(s["max"])), histogram_bins + 1),
                np.asarray(s["counts"]),
                s["min"],
                s["max"],
                s["num"],
                s["sum"],
                s["sum_squares"],
            )
    return scalars, histograms
