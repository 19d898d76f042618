"""The optimizer race: every optimizer from every start point on toy surfaces, one program.

A *lane* is one optimizer on one surface. `race_program(lanes, steps)` returns one function
that runs all lanes together: each lane is vmapped over learning rates and start points, and
a single `lax.scan` advances every lane by one step per iteration. Points that leave a box ten
times the plot range (or become non-finite) are frozen there. `score_lane` turns a lane's
paths into the race's measures: steps until arrival at a minimum (or escape from a saddle),
final loss, divergence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse import optim
from jaxcourse.race.surfaces import Surface


@dataclass(frozen=True)
class Lane:
    """One optimizer (with its label) on one surface."""

    label: str
    optimizer: optim.OptimizerConfig
    surface: Surface


def _lane_step(lane: Lane) -> tuple[Callable, Callable]:
    """(init, step) for one point of `lane`, the learning rate an argument (vmappable)."""
    grad = jax.grad(lambda p: lane.surface(p))
    lo, hi = (jnp.asarray(c, jnp.float32) for c in lane.surface.box())

    def init(lr, p0):
        return optim.build(lane.optimizer, learning_rate=lr).init(p0)

    def step(lr, p, state, alive):
        tx = optim.build(lane.optimizer, learning_rate=lr)
        updates, state = tx.update(grad(p), state, p)
        moved = p + updates
        ok = alive & jnp.all(jnp.isfinite(moved)) & jnp.all((moved >= lo) & (moved <= hi))
        return jnp.where(ok, moved, p), state, ok

    return init, step


def race_program(lanes: list[Lane], steps: int, unroll: int = 1) -> Callable:
    """`run(lrs, starts) -> (paths, alive)` for all lanes in one scan of `steps` steps.

    lrs[i]: (L,) learning rates of lane i; starts[i]: (S, 2) its start points.
    paths[i]: (steps + 1, L, S, 2) positions, start included; alive[i]: (steps + 1, L, S).
    """
    fns = []
    for lane in lanes:
        init, step = _lane_step(lane)
        # step counters (integer leaves) are the same for every point: keep them unbatched,
        # so that Adam's bias corrections are computed once per step, not once per point
        axes = jax.tree.map(
            lambda leaf: None if jnp.issubdtype(leaf.dtype, jnp.integer) else 0,
            jax.eval_shape(init, 1.0, jnp.zeros(2, jnp.float32)),
        )
        fns.append(
            (
                jax.vmap(jax.vmap(init, (None, 0), axes), (0, None), axes),
                jax.vmap(
                    jax.vmap(step, (None, 0, axes, 0), (0, axes, 0)), (0, 0, axes, 0), (0, axes, 0)
                ),
            )
        )

    def run(lrs, starts):
        carry, shapes = [], []
        for (init, _), lr, s0 in zip(fns, lrs, starts, strict=True):
            p0 = jnp.broadcast_to(s0, (lr.shape[0], *s0.shape))
            carry.append((p0, init(lr, s0), jnp.ones(p0.shape[:2], bool)))
            shapes.append(p0.shape)

        def body(carry, _):
            new = [
                step(lr, p, state, alive)
                for (_, step), lr, (p, state, alive) in zip(fns, lrs, carry, strict=True)
            ]
            # one output per step: writing a slice per lane costs more than the steps do
            return new, jnp.concatenate([p.reshape(-1) for p, _, _ in new])

        lived0 = [jnp.zeros(s[:2], jnp.int32) for s in shapes]

        def count(state, _):  # steps each point stayed alive, alongside the race itself
            carry, lived = state
            carry, positions = body(carry, None)
            return (carry, [n + a for n, (_, _, a) in zip(lived, carry, strict=True)]), positions

        (_, lived), out = jax.lax.scan(count, (carry, lived0), None, length=steps, unroll=unroll)
        paths, alive, offset = [], [], 0
        ticks = jnp.arange(steps + 1)[:, None, None]
        for (p0, _, _), shape, n in zip(carry, shapes, lived, strict=True):
            size = int(np.prod(shape))
            path = out[:, offset : offset + size].reshape(steps, *shape)
            offset += size
            paths.append(jnp.concatenate([p0[None], path]))
            alive.append(ticks <= n[None])
        return paths, alive

    return run


@dataclass(frozen=True)
class LaneScore:
    """The race's measures for one lane at one learning rate, per start point."""

    steps: np.ndarray  # (S,) steps to arrive (minimum) / escape (saddle); inf: never
    final_loss: np.ndarray  # (S,) f at the end, minus the minimum value for minimum surfaces
    final_distance: np.ndarray  # (S,) distance to the nearest minimum / escape distance
    diverged: np.ndarray  # (S,) bool: left the box or became non-finite (before escaping)

    def key(self) -> tuple:
        """Sort key, smaller is better: median steps, divergences, median final loss."""
        return (
            float(np.median(self.steps)),
            int(self.diverged.sum()),
            float(np.median(self.final_loss)),
        )


def score_lane(surface: Surface, path: np.ndarray, alive: np.ndarray) -> LaneScore:
    """Measures of paths (T+1, S, 2) with alive flags (T+1, S) on `surface`."""
    dist = surface.distance(path)  # (T+1, S)
    if surface.is_saddle:
        hit = dist >= surface.tolerance
        diverged = ~alive[-1] & ~hit.any(0)  # left the box without escaping
    else:
        close = dist <= surface.tolerance
        # arrived at t: within tolerance from t to the end
        hit = np.flip(np.logical_and.accumulate(np.flip(close, 0), axis=0), 0)
        diverged = ~alive[-1]
    steps = np.where(hit.any(0), hit.argmax(0), np.inf).astype(np.float64)
    steps[diverged] = np.inf
    end = path[-1].astype(np.float64)
    loss = surface(end) - (0.0 if surface.is_saddle else surface.min_value)
    loss = np.where(diverged, np.inf, loss)
    return LaneScore(steps, loss, dist[-1], diverged)


def learning_rate_grid(low: float, high: float, num: int) -> np.ndarray:
    """`num` learning rates spaced logarithmically from `low` to `high`."""
    return np.geomspace(low, high, num).astype(np.float32)
