"""Element-wise math, comparisons, reductions, matrix products and casts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.converters import (
    array_module,
    register,
    shapes,
    static_ints,
    static_shape,
)


def _elementwise(name: str):
    """`fn(*xs)` calling `name` from NumPy or jax.numpy (NumPy when all inputs are known)."""

    def compute(*xs):
        xp = array_module(*xs)
        return _keep_dtype(getattr(xp, name)(*xs), xs)

    return compute


def _keep_dtype(out, xs):
    """NumPy turns float32 scalars into float64 with Python numbers; TF keeps the inputs'."""
    if np.ndim(out) == 0 and isinstance(out, float | int | np.generic):
        return np.asarray(out, dtype=np.result_type(*xs))
    return out


_ELEMENTWISE = {
    "Add": "add",
    "AddV2": "add",
    "Sub": "subtract",
    "Mul": "multiply",
    "Maximum": "maximum",
    "Minimum": "minimum",
    "Pow": "power",
    "Neg": "negative",
    "Abs": "abs",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Square": "square",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "round",
    "Sign": "sign",
    "Less": "less",
    "LessEqual": "less_equal",
    "Greater": "greater",
    "GreaterEqual": "greater_equal",
    "Equal": "equal",
    "NotEqual": "not_equal",
    "LogicalAnd": "logical_and",
    "LogicalOr": "logical_or",
    "LogicalNot": "logical_not",
    "FloorMod": "mod",
}


_UNARY = {"Neg", "Abs", "Exp", "Log", "Sqrt", "Square", "Floor", "Ceil", "Round", "Sign"}
_PREDICATES = {
    "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual", "LogicalAnd",
    "LogicalOr", "LogicalNot",
}  # fmt: skip


def _register_elementwise() -> None:
    for op_type, name in _ELEMENTWISE.items():
        rule = (
            shapes.comparison
            if op_type in _PREDICATES
            else shapes.same_as_input
            if op_type in _UNARY
            else shapes.broadcast
        )
        register(op_type, shape=rule)(lambda node, name=name: _elementwise(name))


_register_elementwise()


@register("RealDiv", "Div", shape=shapes.broadcast)
def _div(node):
    def compute(x, y):
        xp = array_module(x, y)
        if np.dtype(x.dtype).kind in "iu":  # TF's Div on integers: C division (toward zero)
            q = xp.abs(x) // xp.abs(y)
            return (xp.sign(x) * xp.sign(y) * q).astype(x.dtype)
        return _keep_dtype(xp.divide(x, y), (x, y))

    return compute


@register("FloorDiv", shape=shapes.broadcast)
def _floordiv(node):
    return _elementwise("floor_divide")


@register("SquaredDifference", shape=shapes.broadcast)
def _squared_difference(node):
    return lambda x, y: array_module(x, y).square(x - y)


@register("Rsqrt", shape=shapes.same_as_input)
def _rsqrt(node):
    return lambda x: jax.lax.rsqrt(x)


@register("Reciprocal", "Inv", shape=shapes.same_as_input)
def _reciprocal(node):
    return lambda x: 1 / x


@register("AddN")
def _add_n(node):
    def compute(*xs):
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    return compute


@register("Select")
def _select(node):
    """TF1's Select: a vector condition picks whole rows of higher-rank operands."""

    def compute(cond, x, y):
        if cond.ndim == 1 and x.ndim > 1:
            cond = cond.reshape(cond.shape + (1,) * (x.ndim - 1))
        return array_module(cond, x, y).where(cond, x, y)

    return compute


@register("SelectV2")
def _select_v2(node):
    return lambda cond, x, y: array_module(cond, x, y).where(cond, x, y)


@register("Cast", shape=shapes.cast)
def _cast(node):
    dtype = node.require("DstT")

    def compute(x):
        xp = array_module(x)
        return xp.asarray(x).astype(jax.dtypes.canonicalize_dtype(dtype))

    return compute


# ---------------------------------------------------------------------------------------------
# reductions


def _reduction(name: str):
    def convert(node):
        keep = bool(node.attr("keep_dims", False))

        def compute(x, axis):
            axes = tuple(a % max(x.ndim, 1) for a in static_ints(node, axis, "axis"))
            xp = array_module(x)
            out = getattr(xp, name)(x, axis=axes, keepdims=keep)
            if name == "mean" and np.dtype(x.dtype).kind in "iu":
                out = xp.trunc(out)
            return xp.asarray(out).astype(x.dtype)

        return compute

    return convert


for _op, _name in {
    "Mean": "mean",
    "Sum": "sum",
    "Max": "max",
    "Min": "min",
    "Prod": "prod",
    "All": "all",
    "Any": "any",
}.items():
    register(_op, shape=shapes.reduction)(_reduction(_name))


def _arg_reduction(fn):
    def convert(node):
        dtype = node.attr("output_type", np.dtype("int64"))

        def compute(x, axis):
            (a,) = static_ints(node, axis, "dimension")
            return fn(x, axis=a).astype(jax.dtypes.canonicalize_dtype(dtype))

        return compute

    return convert


register("ArgMax")(_arg_reduction(jnp.argmax))
register("ArgMin")(_arg_reduction(jnp.argmin))


# ---------------------------------------------------------------------------------------------
# matrix products


@register("MatMul", shape=shapes.matmul)
def _matmul(node):
    ta, tb = node.attr("transpose_a", False), node.attr("transpose_b", False)

    def compute(a, b):
        a = a.T if ta else a
        b = b.T if tb else b
        return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)

    return compute


@register("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(node):
    adj_x, adj_y = node.attr("adj_x", False), node.attr("adj_y", False)
    out_dtype = node.attr("Tout")

    def compute(x, y):
        x = jnp.conj(jnp.swapaxes(x, -1, -2)) if adj_x else x
        y = jnp.conj(jnp.swapaxes(y, -1, -2)) if adj_y else y
        out = jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST)
        return out if out_dtype is None else out.astype(out_dtype)

    return compute


# ---------------------------------------------------------------------------------------------
# random numbers (JAX's generator: the same distributions as TF, not TF's numbers)


@register("RandomUniform", random=True)
def _random_uniform(node):
    dtype = jax.dtypes.canonicalize_dtype(node.require("dtype"))
    return lambda key, shape: jax.random.uniform(key, static_shape(node, shape, "shape"), dtype)


@register("RandomStandardNormal", random=True)
def _random_normal(node):
    dtype = jax.dtypes.canonicalize_dtype(node.require("dtype"))
    return lambda key, shape: jax.random.normal(key, static_shape(node, shape, "shape"), dtype)


@register("TruncatedNormal", random=True)
def _truncated_normal(node):
    dtype = jax.dtypes.canonicalize_dtype(node.require("dtype"))
    return lambda key, shape: jax.random.truncated_normal(
        key, -2.0, 2.0, static_shape(node, shape, "shape"), dtype
    )
