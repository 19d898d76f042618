"""`tf.gradients`: derivatives of graph tensors by `jax.grad` over the subgraph between them."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_op
from jaxcourse.compat.v1.session import Evaluation, execution_order


def depends_on(ys: Sequence[Tensor], x: Tensor) -> bool:
    """Whether any of `ys` is computed from `x`."""
    return any(op.id == x.op.id for op in execution_order([y.op for y in ys], set()))


def grad_values(ev: Evaluation, ys: Sequence[Tensor], xs: Sequence[Tensor]) -> list:
    """d(sum of all ys)/dx for every x, at the run's current values (traced)."""
    primals = [ev.value(x) for x in xs]

    def objective(values):
        sub = ev.fork({})
        sub.use_static = False  # ops folded from a constant x must see the varied x
        for x, value in zip(xs, values, strict=True):
            sub.values[x.ref] = value  # x is held fixed, like a fed tensor
        return sum(jnp.sum(sub.value(y)).astype(jnp.float32) for y in ys)

    return list(jax.grad(objective)(primals))


def gradients(ys, xs, name: str = "gradients") -> list[Tensor | None]:
    """TF1's `tf.gradients(ys, xs)`: one tensor per x (None where ys do not depend on x).

    All of them come from one op (`gradients:0`, `gradients:1`, ...) that takes one backward
    pass (h15lib: one op per x traced and ran the backward pass once per x).
    """
    ys = [convert_to_tensor(y) for y in (ys if isinstance(ys, list | tuple) else [ys])]
    xs = [convert_to_tensor(x) for x in (xs if isinstance(xs, list | tuple) else [xs])]
    wanted = [x for x in xs if depends_on(ys, x)]
    if not wanted:
        return [None] * len(xs)
    shapes, types = [x.shape for x in wanted], [x.dtype for x in wanted]
    if len(wanted) == 1:
        grads = [
            make_op(
                "Gradient",
                lambda ev: grad_values(ev, ys, wanted)[0],
                (),
                name,
                shape=shapes[0],
                dtype=types[0],
                captures=[*ys, *wanted],
            )
        ]
    else:
        grads = make_op(
            "Gradients",
            lambda ev: tuple(grad_values(ev, ys, wanted)),
            (),
            name,
            shape=shapes,
            dtype=types,
            outputs=len(wanted),
            captures=[*ys, *wanted],
        )
    by_x = dict(zip((id(x) for x in wanted), grads, strict=True))
    return [by_x.get(id(x)) for x in xs]
