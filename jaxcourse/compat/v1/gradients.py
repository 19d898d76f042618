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
    """TF1's `tf.gradients(ys, xs)`: one tensor per x (None where ys do not depend on x)."""
    ys = [convert_to_tensor(y) for y in (ys if isinstance(ys, list | tuple) else [ys])]
    xs = [convert_to_tensor(x) for x in (xs if isinstance(xs, list | tuple) else [xs])]
    out: list[Tensor | None] = []
    for x in xs:
        if not depends_on(ys, x):
            out.append(None)
            continue
        out.append(
            make_op(
                "Gradient",
                lambda ev, x=x: grad_values(ev, ys, [x])[0],
                (),
                f"{name}/{x.op.name}_grad",
                shape=x.shape,
                dtype=x.dtype,
                captures=[*ys, x],
            )
        )
    return out
