"""TF1's array, math and random ops, each a graph node computed by `jax.numpy`.

Binary ops follow TF1's typing: a Python number or array next to a tensor takes the tensor's
dtype; two tensors of different dtypes are an error (TF never promotes silently).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.graph import (
    Operation,
    Tensor,
    convert_to_tensor,
    install_operators,
    make_op,
)

# ---------------------------------------------------------------------------------------------
# sources


def constant(value, dtype=None, shape=None, name: str = "Const") -> Tensor:
    """A constant tensor; Python floats become float32 and ints int32, as in TF."""
    target = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_dtype(value)
    array = np.asarray(value)
    if array.dtype.kind == "f" and target.kind in "iub" and not np.all(np.mod(array, 1) == 0):
        raise TypeError(f"constant '{name}': cannot convert {value!r} to {target.name}")
    if array.dtype.kind in "OUS":
        raise TypeError(f"constant '{name}': unsupported value {value!r} (numbers only)")
    array = array.astype(jax.dtypes.canonicalize_dtype(target))
    if shape is not None:
        shape = tuple(shape)
        array = np.broadcast_to(array, shape) if array.size == 1 else array.reshape(shape)
    return make_op(
        "Const", lambda ev: jnp.asarray(array), (), name, shape=array.shape, dtype=array.dtype
    )


def placeholder(dtype, shape=None, name: str | None = None) -> Tensor:
    """A value fed at run time (`feed_dict`); `None` in `shape` accepts any size there."""
    shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)

    def compute(ev):
        raise AssertionError("placeholders are fed, never computed")

    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    return make_op("Placeholder", compute, (), name, shape=shape, dtype=dtype, infer_shape=False)


def zeros(shape, dtype=dtypes.float32, name: str | None = None) -> Tensor:
    return _filled(0, shape, dtype, name or "zeros")


def ones(shape, dtype=dtypes.float32, name: str | None = None) -> Tensor:
    return _filled(1, shape, dtype, name or "ones")


def fill(dims, value, name: str | None = None) -> Tensor:
    return _filled(value, dims, dtypes.default_dtype(value), name or "Fill")


def _filled(value, shape, dtype, name: str) -> Tensor:
    shape = tuple(int(d) for d in shape)
    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    return make_op("Fill", lambda ev: jnp.full(shape, value, dtype), (), name, shape=shape)


def zeros_like(tensor, dtype=None, name: str | None = None) -> Tensor:
    return _unary("ZerosLike", lambda x: jnp.zeros_like(x, dtype=dtype), tensor, name)


def ones_like(tensor, dtype=None, name: str | None = None) -> Tensor:
    return _unary("OnesLike", lambda x: jnp.ones_like(x, dtype=dtype), tensor, name)


def _random(op_type: str, sample, shape, dtype, seed, name) -> Tensor:
    """A random op: a fresh sample every run, from the session's seed and this op's seed."""
    shape = tuple(int(d) for d in shape)
    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    op_seed = None if seed is None else (1 << 30) + int(seed)  # apart from op ids
    return make_op(
        op_type,
        lambda ev: sample(ev.key(), shape, dtype),
        (),
        name,
        shape=shape,
        dtype=dtype,
        seed=op_seed,
    )


def random_normal(
    shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None
) -> Tensor:
    """Normal samples N(mean, stddev²), fresh on every run."""
    return _random(
        "RandomStandardNormal",
        lambda key, s, d: mean + stddev * jax.random.normal(key, s, d),
        shape,
        dtype,
        seed,
        name,
    )


def truncated_normal(
    shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None
) -> Tensor:
    """Normal samples re-drawn outside ±2 stddev (TF's truncated normal)."""
    return _random(
        "TruncatedNormal",
        lambda key, s, d: mean + stddev * jax.random.truncated_normal(key, -2.0, 2.0, s, d),
        shape,
        dtype,
        seed,
        name,
    )


def random_uniform(
    shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None
) -> Tensor:
    """Uniform samples in [minval, maxval) (maxval defaults to 1 for floats)."""
    dtype = dtypes.as_dtype(dtype)
    if maxval is None:
        if dtype.kind != "f":
            raise ValueError("random_uniform: maxval is required for integer dtypes")
        maxval = 1.0

    def sample(key, s, d):
        if np.dtype(d).kind == "f":
            return jax.random.uniform(key, s, d, minval, maxval)
        return jax.random.randint(key, s, minval, maxval, d)

    return _random("RandomUniform", sample, shape, dtype, seed, name)


# ---------------------------------------------------------------------------------------------
# element-wise math


def _unary(op_type: str, fn, x, name=None, **options) -> Tensor:
    return make_op(op_type, lambda ev, a: fn(a), [x], name, **options)


def _pair(x, y, op_type: str) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype; a non-tensor takes the tensor's dtype."""
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        y = constant(y, dtype=x.dtype, name="y")
    elif isinstance(y, Tensor) and not isinstance(x, Tensor):
        x = constant(x, dtype=y.dtype, name="x")
    x, y = convert_to_tensor(x), convert_to_tensor(y)
    if x.dtype != y.dtype:
        raise TypeError(
            f"{op_type}: operands have different dtypes, {x.describe()} and {y.describe()}; "
            "use tf.cast to convert one of them (TF never converts silently)"
        )
    return x, y


def _binary(op_type: str, fn, x, y, name=None, **options) -> Tensor:
    x, y = _pair(x, y, op_type)
    return make_op(op_type, lambda ev, a, b: fn(a, b), [x, y], name, **options)


def add(x, y, name=None):
    return _binary("Add", jnp.add, x, y, name)


def subtract(x, y, name=None):
    return _binary("Sub", jnp.subtract, x, y, name)


def multiply(x, y, name=None):
    return _binary("Mul", jnp.multiply, x, y, name)


def divide(x, y, name=None):
    """x / y; integer operands give their floored quotient, as TF1's `tf.div` does."""
    x, y = _pair(x, y, "RealDiv")
    fn = jnp.floor_divide if x.dtype.kind in "iu" else jnp.true_divide
    return make_op("RealDiv", lambda ev, a, b: fn(a, b), [x, y], name)


def truediv(x, y, name=None):
    return _binary("TrueDiv", jnp.true_divide, x, y, name)


def floordiv(x, y, name=None):
    return _binary("FloorDiv", jnp.floor_divide, x, y, name)


def mod(x, y, name=None):
    return _binary("FloorMod", jnp.mod, x, y, name)


def pow(x, y, name=None):  # noqa: A001  (TF's name)
    return _binary("Pow", jnp.power, x, y, name)


def maximum(x, y, name=None):
    return _binary("Maximum", jnp.maximum, x, y, name)


def minimum(x, y, name=None):
    return _binary("Minimum", jnp.minimum, x, y, name)


def squared_difference(x, y, name=None):
    return _binary("SquaredDifference", lambda a, b: jnp.square(a - b), x, y, name)


def equal(x, y, name=None):
    return _binary("Equal", jnp.equal, x, y, name, dtype=np.dtype(bool))


def not_equal(x, y, name=None):
    return _binary("NotEqual", jnp.not_equal, x, y, name, dtype=np.dtype(bool))


def less(x, y, name=None):
    return _binary("Less", jnp.less, x, y, name, dtype=np.dtype(bool))


def less_equal(x, y, name=None):
    return _binary("LessEqual", jnp.less_equal, x, y, name, dtype=np.dtype(bool))


def greater(x, y, name=None):
    return _binary("Greater", jnp.greater, x, y, name, dtype=np.dtype(bool))


def greater_equal(x, y, name=None):
    return _binary("GreaterEqual", jnp.greater_equal, x, y, name, dtype=np.dtype(bool))


def logical_and(x, y, name=None):
    return _binary("LogicalAnd", jnp.logical_and, x, y, name, dtype=np.dtype(bool))


def logical_or(x, y, name=None):
    return _binary("LogicalOr", jnp.logical_or, x, y, name, dtype=np.dtype(bool))


def logical_not(x, name=None):
    return _unary("LogicalNot", jnp.logical_not, x, name, dtype=np.dtype(bool))


def negative(x, name=None):
    return _unary("Neg", jnp.negative, x, name)


def abs(x, name=None):  # noqa: A001
    return _unary("Abs", jnp.abs, x, name)


def sign(x, name=None):
    return _unary("Sign", jnp.sign, x, name)


def square(x, name=None):
    return _unary("Square", jnp.square, x, name)


def sqrt(x, name=None):
    return _unary("Sqrt", jnp.sqrt, x, name)


def rsqrt(x, name=None):
    return _unary("Rsqrt", jax.lax.rsqrt, x, name)


def exp(x, name=None):
    return _unary("Exp", jnp.exp, x, name)


def log(x, name=None):
    return _unary("Log", jnp.log, x, name)


def tanh(x, name=None):
    return _unary("Tanh", jnp.tanh, x, name)


def sigmoid(x, name=None):
    return _unary("Sigmoid", jax.nn.sigmoid, x, name)


def identity(x, name=None):
    return _unary("Identity", lambda a: a, x, name)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    t = convert_to_tensor(t)
    lo, hi = (constant(v, dtype=t.dtype) for v in (clip_value_min, clip_value_max))
    return make_op("ClipByValue", lambda ev, a, b, c: jnp.clip(a, b, c), [t, lo, hi], name)


def add_n(inputs: Sequence, name=None):
    tensors = [convert_to_tensor(x) for x in inputs]
    return make_op("AddN", lambda ev, *xs: builtins.sum(xs[1:], xs[0]), tensors, name)


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    """Matrix product of two rank-2 (or batched) tensors of one dtype."""
    a, b = _pair(a, b, "MatMul")

    def compute(ev, x, y):
        x = jnp.swapaxes(x, -1, -2) if transpose_a else x
        y = jnp.swapaxes(y, -1, -2) if transpose_b else y
        return jnp.matmul(x, y)

    return make_op("MatMul", compute, [a, b], name)


def cast(x, dtype, name=None):
    target = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    return _unary("Cast", lambda a: a.astype(target), x, name, dtype=target)


# ---------------------------------------------------------------------------------------------
# reductions and shape ops


def _axis(axis, reduction_indices, op_type: str):
    if axis is not None and reduction_indices is not None:
        raise ValueError(f"{op_type}: give axis or reduction_indices, not both")
    axis = reduction_indices if axis is None else axis
    return tuple(int(a) for a in axis) if isinstance(axis, list | tuple) else axis


def _reduction(op_type, fn):
    def reduce(
        input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None
    ):
        ax = _axis(axis, reduction_indices, op_type)
        keep = bool(keepdims if keepdims is not None else keep_dims)
        return _unary(op_type, lambda a: fn(a, axis=ax, keepdims=keep), input_tensor, name)

    reduce.__name__ = reduce.__qualname__ = op_type
    reduce.__doc__ = f"TF1's {op_type} over `axis` (all axes when None)."
    return reduce


reduce_sum = _reduction("Sum", jnp.sum)
reduce_mean = _reduction("Mean", jnp.mean)
reduce_max = _reduction("Max", jnp.max)
reduce_min = _reduction("Min", jnp.min)
reduce_prod = _reduction("Prod", jnp.prod)
reduce_any = _reduction("Any", jnp.any)
reduce_all = _reduction("All", jnp.all)


def argmax(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    """Index of the largest entry along `axis` (TF's default axis is 0)."""
    ax = _axis(axis, dimension, "ArgMax") or 0
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(output_type))
    return _unary("ArgMax", lambda a: jnp.argmax(a, axis=ax).astype(out), input, name, dtype=out)


def argmin(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    ax = _axis(axis, dimension, "ArgMin") or 0
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(output_type))
    return _unary("ArgMin", lambda a: jnp.argmin(a, axis=ax).astype(out), input, name, dtype=out)


def reshape(tensor, shape, name=None):
    """Reshape; one -1 entry takes the remaining size."""
    shape = tuple(int(d) for d in shape)
    return _unary("Reshape", lambda a: jnp.reshape(a, shape), tensor, name)


def transpose(a, perm=None, name=None):
    perm = None if perm is None else tuple(int(p) for p in perm)
    return _unary("Transpose", lambda x: jnp.transpose(x, perm), a, name)


def expand_dims(input, axis, name=None):  # noqa: A002
    return _unary("ExpandDims", lambda a: jnp.expand_dims(a, int(axis)), input, name)


def squeeze(input, axis=None, name=None):  # noqa: A002
    ax = tuple(axis) if isinstance(axis, list | tuple) else axis
    return _unary("Squeeze", lambda a: jnp.squeeze(a, ax), input, name)


def concat(values: Sequence, axis: int, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    return make_op("ConcatV2", lambda ev, *xs: jnp.concatenate(xs, int(axis)), tensors, name)


def stack(values: Sequence, axis: int = 0, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    return make_op("Pack", lambda ev, *xs: jnp.stack(xs, int(axis)), tensors, name)


def one_hot(indices, depth: int, on_value=1.0, off_value=0.0, dtype=dtypes.float32, name=None):
    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))

    def compute(ev, i):
        hot = jax.nn.one_hot(i, int(depth), dtype=dtype)
        return hot * (on_value - off_value) + off_value

    return make_op("OneHot", compute, [indices], name)


def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The (static) shape of `input` as a 1-D tensor."""
    out = dtypes.as_dtype(out_type)
    return _unary("Shape", lambda a: jnp.asarray(a.shape, out), input, name)


def strided_slice(tensor: Tensor, index, name=None) -> Tensor:
    """`tensor[index]` with ints, slices, None and Ellipsis (static indices)."""
    if isinstance(index, Tensor) or (
        isinstance(index, tuple) and builtins.any(isinstance(i, Tensor) for i in index)
    ):
        raise TypeError("indexing with a tensor is not supported; use tf.gather")
    return _unary("StridedSlice", lambda a: a[index], tensor, name)


def gather(params, indices, axis=0, name=None):
    return make_op(
        "GatherV2", lambda ev, p, i: jnp.take(p, i, axis=int(axis)), [params, indices], name
    )


def where(condition, x=None, y=None, name=None):
    if x is None or y is None:
        raise ValueError("tf.where needs x and y (the one-argument form is not supported)")
    x, y = _pair(x, y, "Select")
    return make_op("Select", lambda ev, c, a, b: jnp.where(c, a, b), [condition, x, y], name)


# ---------------------------------------------------------------------------------------------
# grouping


def no_op(name=None) -> Operation:
    return make_op("NoOp", lambda ev: None, (), name, outputs=0)


def group(*inputs, name=None) -> Operation:
    """An op that runs all `inputs` (tensors or ops) and returns nothing."""
    deps = [i.op if isinstance(i, Tensor) else i for i in inputs]
    return make_op(
        "NoOp", lambda ev: None, (), name or "group_deps", outputs=0, control_inputs=deps
    )


install_operators()
