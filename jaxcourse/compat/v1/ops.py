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
from jaxcourse.compat.v1.errors import InvalidArgumentError
from jaxcourse.compat.v1.evaluation import constant_value_as_shape
from jaxcourse.compat.v1.graph import (
    STATIC_VALUE_LIMIT,
    Operation,
    Tensor,
    _holds_tensor,
    convert_to_tensor,
    install_operators,
    is_concrete,
    make_host_op,
    make_op,
)

# ---------------------------------------------------------------------------------------------
# sources


def _is_text(value, dtype) -> bool:
    if dtype is not None:
        return dtypes.as_dtype(dtype) == dtypes.string
    if isinstance(value, str | bytes):
        return True
    flat = np.ravel(np.asarray(value, dtype=object))
    text = str | bytes | np.str_ | np.bytes_
    return len(flat) > 0 and builtins.all(isinstance(v, text) for v in flat)


def constant(value, dtype=None, shape=None, name: str = "Const", verify_shape=False) -> Tensor:
    """A constant tensor; Python floats become float32 and ints int32, as in TF; text becomes
    a `tf.string` tensor (bytes, held on the host)."""
    if isinstance(value, Tensor):
        raise TypeError(
            f"tf.constant takes a Python or NumPy value, got the tensor {value.describe()}; "
            "use tf.identity (or the tensor itself)"
        )
    if _is_text(value, dtype):
        array = dtypes.as_bytes_array(value)
        if shape is not None:
            shape = tuple(int(d) for d in shape)
            array = (
                np.full(shape, array.item(), object) if array.size == 1 else array.reshape(shape)
            )
        return make_host_op(
            "Const", lambda hv: array, (), name, shape=array.shape, dtype=dtypes.string
        )
    target = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_dtype(value)
    try:
        array = np.asarray(value)
    except ValueError as err:
        raise TypeError(f"constant '{name}': {value!r} is not a rectangular array: {err}") from None
    if array.dtype.kind == "f" and target.kind in "iub" and not np.all(np.mod(array, 1) == 0):
        raise TypeError(f"constant '{name}': cannot convert {value!r} to {target.name}")
    if array.dtype.kind in "OUS":
        raise TypeError(f"constant '{name}': unsupported value {value!r} (numbers or text)")
    array = array.astype(jax.dtypes.canonicalize_dtype(target))
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        array = np.broadcast_to(array, shape) if array.size == 1 else array.reshape(shape)
    return make_op(
        "Const",
        lambda ev: jnp.asarray(array),
        (),
        name,
        shape=array.shape,
        dtype=array.dtype,
        static_value=array if array.size <= STATIC_VALUE_LIMIT else None,
    )


def placeholder(dtype, shape=None, name: str | None = None) -> Tensor:
    """A value fed at run time (`feed_dict`); `None` in `shape` accepts any size there.

    A `tf.string` placeholder takes bytes or str (returned as bytes) and lives on the host.
    """
    shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)

    def compute(ev, *_):
        raise AssertionError("placeholders are fed, never computed")

    dtype = dtypes.as_dtype(dtype)
    if dtype == dtypes.string:
        return make_host_op("Placeholder", compute, (), name, shape=shape, dtype=dtype)
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    return make_op("Placeholder", compute, (), name, shape=shape, dtype=dtype, infer_shape=False)


def placeholder_with_default(input, shape, name: str | None = None) -> Tensor:  # noqa: A002
    """`input`, unless a value is fed for it (of `shape`, `None` entries: any size)."""
    x = convert_to_tensor(input)
    shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
    return make_op("PlaceholderWithDefault", lambda ev, a: a, [x], name, shape=shape, dtype=x.dtype)


def shape_argument(shape, what: str) -> tuple[Tensor | None, tuple | None]:
    """(tensor, static shape) for a shape argument: a list of ints, a TensorShape, a 1-D int
    tensor or a list mixing ints and scalar tensors (`[tf.shape(x)[0], 10]`).

    The tensor is None when the graph fixes the shape; otherwise the op takes it as an input
    and reads its value with `concrete_shape` at run time.
    """
    if isinstance(shape, Tensor) or _holds_tensor(shape):
        t = convert_to_tensor(shape)
        if t.dtype.kind not in "iu":
            raise TypeError(f"{what}: a shape must be integers, got {t.describe()}")
        if t.static_value is not None:
            return None, tuple(int(d) for d in np.ravel(t.static_value))
        return t, constant_value_as_shape(t)
    if shape is None:
        raise ValueError(f"{what}: the shape must be given")
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    dims = tuple(shape)
    if builtins.any(d is None for d in dims):
        raise ValueError(f"{what}: the shape {list(dims)} must be fully known")
    return None, tuple(int(d) for d in dims)


def concrete_shape(value, what: str) -> tuple[int, ...]:
    """A shape tensor's run-time value as ints (it must not depend on computed data)."""
    if not is_concrete(value):
        raise InvalidArgumentError(
            f"{what}: the shape must be known when the run is compiled (from constants and "
            "tf.shape of tensors), but it depends on values computed in the graph"
        )
    return tuple(int(d) for d in np.ravel(np.asarray(value)))


def zeros(shape, dtype=dtypes.float32, name: str | None = None) -> Tensor:
    return _filled(0, shape, dtype, name or "zeros")


def ones(shape, dtype=dtypes.float32, name: str | None = None) -> Tensor:
    return _filled(1, shape, dtype, name or "ones")


def fill(dims, value, name: str | None = None) -> Tensor:
    if isinstance(value, Tensor):
        dims_t, static = shape_argument(dims, "tf.fill")
        inputs = [value] + ([dims_t] if dims_t is not None else [])

        def compute(ev, v, *d):
            size = concrete_shape(d[0], "tf.fill") if d else static
            return jnp.full(size, v, v.dtype)

        return make_op("Fill", compute, inputs, name, shape=static, dtype=value.dtype)
    return _filled(value, dims, dtypes.default_dtype(value), name or "Fill")


def _filled(value, shape, dtype, name: str) -> Tensor:
    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    shape_t, static = shape_argument(shape, f"tf.{name}")
    if shape_t is None:
        return make_op("Fill", lambda ev: jnp.full(static, value, dtype), (), name, shape=static)

    def compute(ev, s):
        return jnp.full(concrete_shape(s, f"tf.{name}"), value, dtype)

    return make_op("Fill", compute, [shape_t], name, shape=static, dtype=dtype, infer_shape=False)


def zeros_like(tensor, dtype=None, name: str | None = None, optimize=True) -> Tensor:
    return _unary(
        "ZerosLike", lambda x: jnp.zeros_like(x, dtype=dtype), tensor, name or "zeros_like"
    )


def ones_like(tensor, dtype=None, name: str | None = None, optimize=True) -> Tensor:
    return _unary("OnesLike", lambda x: jnp.ones_like(x, dtype=dtype), tensor, name or "ones_like")


def _random(op_type: str, sample, shape, dtype, seed, name, params=()) -> Tensor:
    """A random op: a fresh sample every run, from the session's seed and this op's seed.

    `shape` may be a tensor and `params` (mean, stddev, bounds) tensors or numbers;
    `sample(key, shape, dtype, *param_values)` draws the sample.
    """
    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    shape_t, static = shape_argument(shape, f"tf.{op_type}")
    params = [convert_to_tensor(p, dtype=None if isinstance(p, Tensor) else dtype) for p in params]
    for p in params:
        if p.dtype != dtype:
            raise TypeError(f"{op_type}: parameter {p.describe()} must have dtype {dtype.name}")
    op_seed = None if seed is None else (1 << 30) + int(seed)  # apart from op ids

    def compute(ev, *values):
        if shape_t is not None:
            size, values = concrete_shape(values[0], f"tf.{op_type}"), values[1:]
        else:
            size = static
        return sample(ev.key(), size, dtype, *values)

    return make_op(
        op_type,
        compute,
        ([shape_t] if shape_t is not None else []) + params,
        name,
        shape=static,
        dtype=dtype,
        seed=op_seed,
        infer_shape=False,
    )


def random_normal(
    shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None
) -> Tensor:
    """Normal samples N(mean, stddev²), fresh on every run (mean, stddev may be tensors)."""
    return _random(
        "RandomStandardNormal",
        lambda key, s, d, m, sd: m + sd * jax.random.normal(key, s, d),
        shape,
        dtype,
        seed,
        name or "random_normal",
        (mean, stddev),
    )


def truncated_normal(
    shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None
) -> Tensor:
    """Normal samples re-drawn outside ±2 stddev (TF's truncated normal)."""
    return _random(
        "TruncatedNormal",
        lambda key, s, d, m, sd: m + sd * jax.random.truncated_normal(key, -2.0, 2.0, s, d),
        shape,
        dtype,
        seed,
        name or "truncated_normal",
        (mean, stddev),
    )


def random_uniform(
    shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None
) -> Tensor:
    """Uniform samples in [minval, maxval) (maxval defaults to 1 for floats; both may be
    tensors)."""
    dtype = dtypes.as_dtype(dtype)
    if maxval is None:
        if dtype.kind != "f":
            raise ValueError("random_uniform: maxval is required for integer dtypes")
        maxval = 1.0

    def sample(key, s, d, lo, hi):
        if np.dtype(d).kind == "f":
            return jax.random.uniform(key, s, d, lo, hi)
        return jax.random.randint(key, s, lo, hi, d)

    return _random(
        "RandomUniform", sample, shape, dtype, seed, name or "random_uniform", (minval, maxval)
    )


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
    """x + y; for string tensors, their concatenation (on the host, as TF's string add)."""
    if _is_text_operand(x) or _is_text_operand(y):
        from jaxcourse.compat.v1 import strings

        return strings.join([x, y], name=name or "add")
    return _binary("Add", jnp.add, x, y, name)


def _is_text_operand(x) -> bool:
    return x.dtype == dtypes.string if isinstance(x, Tensor) else isinstance(x, str | bytes)


def subtract(x, y, name=None):
    return _binary("Sub", jnp.subtract, x, y, name)


def multiply(x, y, name=None):
    return _binary("Mul", jnp.multiply, x, y, name)


def div(x, y, name=None):
    """TF1's legacy `tf.div`: integer operands give their floored quotient."""
    x, y = _pair(x, y, "RealDiv")
    fn = jnp.floor_divide if x.dtype.kind in "iu" else _divide_exactly
    return make_op("RealDiv", lambda ev, a, b: fn(a, b), [x, y], name)


def truediv(x, y, name=None):
    """x / y (the `/` operator, `tf.divide`); integers are divided as floats (TF: 8- and
    16-bit ints as float32, 32- and 64-bit as float64, which is float32 unless JAX's x64 is
    on)."""
    x, y = _pair(x, y, "RealDiv")
    if x.dtype.kind in "iub":
        wide = x.dtype.itemsize >= 4
        target = jax.dtypes.canonicalize_dtype(np.float64 if wide else np.float32)
        x, y = cast(x, target), cast(y, target)
    return make_op("RealDiv", lambda ev, a, b: _divide_exactly(a, b), [x, y], name or "truediv")


divide = truediv


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


def logical_xor(x, y, name="LogicalXor"):
    return _binary("LogicalXor", jnp.logical_xor, x, y, name, dtype=np.dtype(bool))


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


def floor(x, name=None):
    return _unary("Floor", jnp.floor, x, name)


def ceil(x, name=None):
    return _unary("Ceil", jnp.ceil, x, name)


def round(x, name=None):  # noqa: A001  (TF's name; rounds half to even, as TF)
    return _unary("Round", jnp.round, x, name)


def sin(x, name=None):
    return _unary("Sin", jnp.sin, x, name)


def cos(x, name=None):
    return _unary("Cos", jnp.cos, x, name)


def tan(x, name=None):
    return _unary("Tan", jnp.tan, x, name)


def log1p(x, name=None):
    return _unary("Log1p", jnp.log1p, x, name)


def expm1(x, name=None):
    return _unary("Expm1", jnp.expm1, x, name)


def reciprocal(x, name=None):
    return _unary("Reciprocal", jnp.reciprocal, x, name)


def is_nan(x, name=None):
    return _unary("IsNan", jnp.isnan, x, name, dtype=np.dtype(bool))


def is_inf(x, name=None):
    return _unary("IsInf", jnp.isinf, x, name, dtype=np.dtype(bool))


def is_finite(x, name=None):
    return _unary("IsFinite", jnp.isfinite, x, name, dtype=np.dtype(bool))


def stop_gradient(input, name=None):  # noqa: A002
    return _unary("StopGradient", jax.lax.stop_gradient, input, name)


def identity(x, name=None):
    return _unary("Identity", lambda a: a, x, name)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    t = convert_to_tensor(t)
    lo, hi = (constant(v, dtype=t.dtype) for v in (clip_value_min, clip_value_max))
    return make_op(
        "ClipByValue", lambda ev, a, b, c: jnp.clip(a, b, c), [t, lo, hi], name or "clip_by_value"
    )


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


def _divide_exactly(a, b):
    """a / b as a real division: XLA would turn division by a constant into multiplication by
    its reciprocal, which rounds differently from TF (0.29000002 for 580 / 2000)."""
    if not is_concrete(a) and is_concrete(b):
        b = jax.lax.optimization_barrier(jnp.asarray(b, jnp.result_type(a)))
    return jnp.true_divide(a, b)


def _mean(a, axis=None, keepdims=False):
    """TF's Mean: the sum divided by the count (integers: truncated, keeping the dtype)."""
    total = jnp.sum(a, axis=axis, keepdims=keepdims)
    count = a.size // total.size if total.size else 0
    if not isinstance(count, int):  # a symbolic size, while a graph is shown
        return jnp.mean(a, axis=axis, keepdims=keepdims)
    if jnp.issubdtype(a.dtype, jnp.integer):
        return jax.lax.div(total, jnp.asarray(count, total.dtype))
    return _divide_exactly(total, np.asarray(count, total.dtype))


reduce_mean = _reduction("Mean", _mean)
reduce_max = _reduction("Max", jnp.max)
reduce_min = _reduction("Min", jnp.min)
reduce_prod = _reduction("Prod", jnp.prod)
reduce_any = _reduction("Any", jnp.any)
reduce_all = _reduction("All", jnp.all)
reduce_logsumexp = _reduction("ReduceLogSumExp", jax.scipy.special.logsumexp)


def count_nonzero(
    input_tensor, axis=None, keepdims=None, dtype=dtypes.int64, name=None, reduction_indices=None
):  # noqa: A002
    ax = _axis(axis, reduction_indices, "count_nonzero")
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    return _unary(
        "count_nonzero",
        lambda a: jnp.sum(a != 0, axis=ax, keepdims=bool(keepdims)).astype(out),
        input_tensor,
        name,
    )


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
    """Reshape; one -1 entry takes the remaining size. `shape` may be a tensor."""
    x = convert_to_tensor(tensor)
    shape_t, static = shape_argument(shape, "tf.reshape")
    out_shape = None if static is None else _resolve_minus_one(static, x.shape)
    if shape_t is None:
        return make_op("Reshape", lambda ev, a: jnp.reshape(a, static), [x], name)

    def compute(ev, a, s):
        return jnp.reshape(a, concrete_shape(s, "tf.reshape"))

    return make_op("Reshape", compute, [x, shape_t], name, shape=out_shape, dtype=x.dtype)


def _resolve_minus_one(dims: tuple, input_shape) -> tuple:
    dims = tuple(None if d is None or d < 0 else d for d in dims)
    missing = [i for i, d in enumerate(dims) if d is None]
    if len(missing) == 1 and input_shape is not None and input_shape.is_fully_defined():
        known = int(np.prod([d for d in dims if d is not None]))
        if known:
            dims = tuple(int(np.prod(input_shape)) // known if d is None else d for d in dims)
    return dims


def transpose(a, perm=None, name=None):
    perm = None if perm is None else tuple(int(p) for p in perm)
    return _unary("Transpose", lambda x: jnp.transpose(x, perm), a, name or "transpose")


def expand_dims(input, axis, name=None):  # noqa: A002
    return _unary("ExpandDims", lambda a: jnp.expand_dims(a, int(axis)), input, name)


def squeeze(input, axis=None, name=None):  # noqa: A002
    ax = tuple(axis) if isinstance(axis, list | tuple) else axis
    return _unary("Squeeze", lambda a: jnp.squeeze(a, ax), input, name)


def concat(values: Sequence, axis: int, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    return make_op(
        "ConcatV2", lambda ev, *xs: jnp.concatenate(xs, int(axis)), tensors, name or "concat"
    )


def stack(values: Sequence, axis: int = 0, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    return make_op("Pack", lambda ev, *xs: jnp.stack(xs, int(axis)), tensors, name or "stack")


def one_hot(indices, depth: int, on_value=1.0, off_value=0.0, dtype=dtypes.float32, name=None):
    dtype = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))

    def compute(ev, i):
        hot = jax.nn.one_hot(i, int(depth), dtype=dtype)
        return hot * (on_value - off_value) + off_value

    return make_op("OneHot", compute, [indices], name or "one_hot")


def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The shape of `input` as a 1-D tensor; known when the run is compiled, so it can size
    other ops (`tf.zeros(tf.shape(x))`, `tf.reshape(x, [tf.shape(x)[0], -1])`)."""
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(out_type))
    return _unary("Shape", lambda a: _dims(a.shape, out), input, name, dtype=out)


def _dims(dims, dtype):
    if builtins.all(isinstance(d, int) for d in dims):
        return np.asarray(dims, dtype)
    return jnp.asarray(dims, dtype)  # symbolic sizes, while shapes are inferred


def size(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The number of elements of `input`."""
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(out_type))
    return _unary("Size", lambda a: _dims(np.prod(a.shape, dtype=int), out), input, name)


def rank(input, name=None):  # noqa: A002
    return _unary("Rank", lambda a: np.asarray(a.ndim, np.int32), input, name)


def strided_slice(tensor: Tensor, index, name=None) -> Tensor:
    """`tensor[index]`: ints, slices, None, Ellipsis and scalar int tensors (also as slice
    bounds, which must be known when the run is compiled)."""
    items = index if isinstance(index, tuple) else (index,)
    tensors = []

    def mark(v):
        if isinstance(v, Tensor):
            tensors.append(v)
            return _Slot(len(tensors) - 1)
        return v

    template = tuple(
        slice(mark(i.start), mark(i.stop), mark(i.step)) if isinstance(i, slice) else mark(i)
        for i in items
    )

    def compute(ev, a, *values):
        def fill(v):
            if not isinstance(v, _Slot):
                return v
            value = values[v.index]
            return int(value) if is_concrete(value) else value

        built = tuple(
            slice(fill(i.start), fill(i.stop), fill(i.step)) if isinstance(i, slice) else fill(i)
            for i in template
        )
        if not is_concrete(values):
            a = jnp.asarray(a)  # a NumPy (static) value indexed by a traced one
        return a[built if isinstance(index, tuple) else built[0]]

    return make_op("StridedSlice", compute, [tensor, *tensors], name or "strided_slice")


class _Slot:
    """Where a tensor goes in an index (`strided_slice`)."""

    def __init__(self, index: int):
        self.index = index


def unstack(value, num=None, axis=0, name="unstack") -> list[Tensor]:
    """The slices of `value` along `axis`: one op with `num` outputs (`unstack:0`, ...)."""
    x = convert_to_tensor(value)
    if num is None:
        if x.shape is None or x.shape[axis] is None:
            raise ValueError(f"tf.unstack: cannot infer num from {x.describe()}; pass num=")
        num = x.shape[axis]
    num = int(num)

    def compute(ev, a):
        return tuple(jnp.moveaxis(a, axis, 0)[i] for i in range(num))

    if num == 1:
        return [make_op("Unpack", lambda ev, a: jnp.moveaxis(a, axis, 0)[0], [x], name)]
    return make_op("Unpack", compute, [x], name, outputs=num)


def split(value, num_or_size_splits, axis=0, num=None, name="split") -> list[Tensor]:
    """Split `value` along `axis` into equal parts (an int) or parts of the given sizes."""
    x = convert_to_tensor(value)
    axis = int(axis)
    if isinstance(num_or_size_splits, int | np.integer):
        count = int(num_or_size_splits)
        sizes = None
    else:
        sizes = [int(d) for d in num_or_size_splits]
        count = len(sizes)

    def compute(ev, a):
        if sizes is None:
            parts = jnp.split(a, count, axis=axis)
        else:
            known = [d for d in sizes if d >= 0]
            full = [a.shape[axis] - builtins.sum(known) if d < 0 else d for d in sizes]
            parts = jnp.split(a, np.cumsum(full)[:-1].tolist(), axis=axis)
        return tuple(parts)

    if count == 1:
        return [make_op("Split", lambda ev, a: compute(ev, a)[0], [x], name)]
    return make_op("SplitV" if sizes else "Split", compute, [x], name, outputs=count)


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
