"""TF op types as JAX functions: one converter per op type, looked up when a GraphDef is imported.

A converter gets the node (its name, its attributes with TF's defaults filled in) and returns
a function of the node's input values; the function returns the node's output (a tuple for
ops with several outputs). Inputs that TF needs to know while building a graph (shapes, axes,
paddings) arrive as NumPy arrays whenever they are known when the graph is traced: `Const`
values and `Shape` of a traced array are NumPy, and ops whose inputs are all NumPy compute
with NumPy (`array_module`), so `Reshape(x, Pack(Shape(x)[0], -1))` traces.

Register a converter with `@register("OpType", ...)`; an op that must build graph nodes
itself (variables, assignments) registers a builder with `@register_builder`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.errors import InvalidArgumentError

CONVERTERS: dict[str, Callable] = {}
BUILDERS: dict[str, Callable] = {}
HOST_OPS: set[str] = set()
RANDOM_OPS: set[str] = set()
OUTPUTS: dict[str, int | Callable] = {}
SIGNATURES: dict[str, Callable] = {}
SHAPE_RULES: dict[str, Callable] = {}


def register(
    *op_types: str,
    outputs: int | Callable = 1,
    signature=None,
    host: bool = False,
    random: bool = False,
    shape: Callable | None = None,
):
    """Decorator: `fn(node) -> compute(*inputs)` converts nodes of `op_types`.

    `outputs`: how many outputs the op has (or `outputs(node)`); `compute` returns a tuple of
    that many values when it is not 1, None when it is 0. `signature(node) -> (shapes, dtypes)`
    declares the outputs instead of inferring them by tracing `compute`. `host=True`: the op
    runs in NumPy on the host before the compiled part of a run (it decodes fed bytes, say);
    it needs a signature. `random=True`: `compute(key, *inputs)` gets a random key, fresh
    for every op and every run. `shape(node, inputs) -> (shape, dtype) | None` gives the
    output's shape from the input tensors without tracing (see `shapes`).
    """

    def decorate(fn):
        for op_type in op_types:
            CONVERTERS[op_type] = fn
            OUTPUTS[op_type] = outputs
            if signature is not None:
                SIGNATURES[op_type] = signature
            if host:
                HOST_OPS.add(op_type)
            if random:
                RANDOM_OPS.add(op_type)
            if shape is not None:
                SHAPE_RULES[op_type] = shape
        return fn

    return decorate


def output_count(node) -> int:
    count = OUTPUTS.get(node.op, 1)
    return count(node) if callable(count) else count


def register_builder(*op_types: str):
    """Decorator: `fn(node, inputs: list[Tensor], name: str) -> Tensor | list[Tensor] |
    Operation` builds the node's graph op itself, named `name` (the imported node's name)."""

    def decorate(fn):
        for op_type in op_types:
            BUILDERS[op_type] = fn
        return fn

    return decorate


def supported_op_types() -> list[str]:
    _load()
    return sorted(set(CONVERTERS) | set(BUILDERS) | set(CONTROL_FLOW_OPS))


# v1 while-loop ops: not converted one by one, a loop's frame becomes one `lax.while_loop`
CONTROL_FLOW_OPS = ("Enter", "Exit", "LoopCond", "Merge", "NextIteration", "Switch")


def _load() -> None:
    from jaxcourse.compat.v1.converters import (  # noqa: F401  (they register themselves)
        array_ops,
        image_ops,
        math_ops,
        nn_grad_ops,  # h18ckpt
        nn_ops,
        state_ops,  # h18ckpt
        tensor_array_ops,
    )


def unknown_op_error(op_type: str, node_name: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"GraphDef node '{node_name}' has op type '{op_type}', which has no JAX converter; "
        f"supported op types: {', '.join(supported_op_types())}"
    )


def converter_for(op_type: str, node_name: str) -> Callable | None:
    """The converter of `op_type` (None for an op with a builder); an error naming the node if
    there is neither."""
    _load()
    if op_type in BUILDERS:
        return None
    try:
        return CONVERTERS[op_type]
    except KeyError:
        raise unknown_op_error(op_type, node_name) from None


# ---------------------------------------------------------------------------------------------
# helpers for converters


class NotStaticError(InvalidArgumentError):
    """An argument that must be known while tracing (a shape, an axis) depends on data."""


def is_static(x) -> bool:
    """True for values known while tracing (NumPy values, concrete JAX arrays)."""
    return isinstance(x, np.ndarray | np.generic | int | float | bool | jax.Array) and not (
        isinstance(x, jax.core.Tracer)
    )


def array_module(*xs):
    """NumPy when every value is known while tracing (shape arithmetic), else jax.numpy."""
    return np if all(is_static(x) for x in xs) else jnp


def static(node, x, what: str) -> np.ndarray:
    """`x` as a NumPy array; an error naming the node if it depends on a fed value."""
    if not is_static(x):
        raise NotStaticError(
            f"op '{node.name}' ({node.op}): its {what} must be known when the graph is traced "
            "(a constant or computed from shapes), but it depends on a fed value or variable"
        )
    return np.asarray(x)


def static_ints(node, x, what: str) -> list[int]:
    return [int(v) for v in static(node, x, what).reshape(-1)]


def static_shape(node, x, what: str) -> tuple:
    """A shape vector known while tracing as a tuple of sizes (symbolic sizes, from `Shape`
    of an array with a symbolic batch, are kept)."""
    values = static(node, x, what).reshape(-1)
    return tuple(v if values.dtype == object else int(v) for v in values)
