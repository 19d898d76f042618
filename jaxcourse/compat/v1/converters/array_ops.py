"""Constants, identities, shapes, and the ops that reshape, slice, join and split arrays."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import ops
from jaxcourse.compat.v1.converters import (
    array_module,
    is_static,
    register,
    register_builder,
    shapes,
    static,
    static_ints,
    static_shape,
)
from jaxcourse.compat.v1.errors import InvalidArgumentError


@register("Const")
def _const(node):
    value = node.require("value")
    if value.dtype.kind != "O":
        value = value.astype(jax.dtypes.canonicalize_dtype(value.dtype))
    return lambda: value


@register_builder("Placeholder")
def _placeholder(node, inputs, name):
    return ops.placeholder(node.require("dtype"), node.attr("shape"), name=name)


@register(
    "Identity",
    "StopGradient",
    "Snapshot",
    "PreventGradient",
    "PlaceholderWithDefault",
    shape=shapes.same_as_input,
)
def _identity(node):
    return lambda x: x


@register("IdentityN", outputs=lambda node: len(node.require("T")))
def _identity_n(node):
    return lambda *xs: tuple(xs)


@register("NoOp", outputs=0)
def _no_op(node):
    return lambda *xs: None


@register("CheckNumerics", shape=shapes.same_as_input)
def _check_numerics(node):
    """TF raises InvalidArgumentError on NaN or Inf; here the run raises it, after the fact."""
    message = node.attr("message", "")

    def raise_if_bad(x):
        if not np.all(np.isfinite(x)):
            kinds = " and ".join(k for k, f in (("NaN", np.isnan), ("Inf", np.isinf)) if f(x).any())
            raise InvalidArgumentError(f"{message}: tensor '{node.name}' had {kinds} values")

    def compute(x):
        if is_static(x):
            raise_if_bad(x)
        else:
            jax.debug.callback(raise_if_bad, x)
        return x

    return compute


# ---------------------------------------------------------------------------------------------
# shapes


def _shape_dtype(node):
    return jax.dtypes.canonicalize_dtype(node.attr("out_type", np.dtype("int32")))


def _dims(x) -> np.ndarray:
    """x's shape as a NumPy vector (an object array if a size is symbolic)."""
    shape = tuple(x.shape)
    if all(isinstance(d, int) for d in shape):
        return np.array(shape, np.int64)
    return np.array(shape, object)


@register("Shape")
def _shape(node):
    dtype = _shape_dtype(node)
    return lambda x: _as_index_array(_dims(x), dtype)


def _as_index_array(values: np.ndarray, dtype):
    return values if values.dtype == object else values.astype(dtype)


@register("ShapeN", outputs=lambda node: node.require("N"))
def _shape_n(node):
    dtype = _shape_dtype(node)
    return lambda *xs: tuple(_as_index_array(_dims(x), dtype) for x in xs)


@register("Size")
def _size(node):
    dtype = _shape_dtype(node)
    return lambda x: np.asarray(np.prod(_dims(x)), dtype if all_int(x) else object)


def all_int(x) -> bool:
    return all(isinstance(d, int) for d in x.shape)


@register("Rank")
def _rank(node):
    return lambda x: np.asarray(np.ndim(x), np.int32)


@register("Reshape", shape=shapes.reshape)
def _reshape(node):
    return lambda x, shape: array_module(x).reshape(x, static_shape(node, shape, "shape"))


@register("Squeeze")
def _squeeze(node):
    dims = node.attr("squeeze_dims", []) or []

    def compute(x):
        axes = tuple(d % x.ndim for d in dims) if dims else None
        if axes is None:
            axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
        return array_module(x).squeeze(x, axis=axes)

    return compute


@register("ExpandDims")
def _expand_dims(node):
    def compute(x, axis):
        (a,) = static_ints(node, axis, "axis")
        return array_module(x).expand_dims(x, a if a >= 0 else a + np.ndim(x) + 1)

    return compute


@register("Transpose")
def _transpose(node):
    return lambda x, perm: array_module(x).transpose(x, static_ints(node, perm, "perm"))


@register("Fill")
def _fill(node):
    def compute(dims, value):
        shape = static_shape(node, dims, "dims")
        xp = array_module(value)
        return xp.full(shape, value, dtype=np.asarray(value).dtype if xp is np else value.dtype)

    return compute


@register("ZerosLike")
def _zeros_like(node):
    return lambda x: array_module(x).zeros_like(x)


@register("OnesLike")
def _ones_like(node):
    return lambda x: array_module(x).ones_like(x)


@register("Range")
def _range(node):
    def compute(start, limit, delta):
        start, limit, delta = (
            static(node, v, what)
            for v, what in ((start, "start"), (limit, "limit"), (delta, "delta"))
        )
        return np.arange(start, limit, delta).astype(np.result_type(start, limit, delta))

    return compute


# ---------------------------------------------------------------------------------------------
# joining and splitting


@register("ConcatV2", shape=shapes.concat_v2)
def _concat_v2(node):
    def compute(*args):
        *values, axis = args
        (a,) = static_ints(node, axis, "axis")
        return array_module(*values).concatenate(values, axis=a)

    return compute


@register("Concat")
def _concat(node):
    """TF1's Concat: the axis comes first."""

    def compute(axis, *values):
        (a,) = static_ints(node, axis, "concat_dim")
        return array_module(*values).concatenate(values, axis=a)

    return compute


@register("Pack")
def _pack(node):
    axis = node.attr("axis", 0)
    return lambda *xs: array_module(*xs).stack(xs, axis=axis)


@register("Unpack", outputs=lambda node: node.require("num"))
def _unpack(node):
    axis = node.attr("axis", 0)

    def compute(x):
        xp = array_module(x)
        return tuple(xp.take(x, i, axis=axis) for i in range(x.shape[axis]))

    return compute


@register("Split", outputs=lambda node: node.require("num_split"))
def _split(node):
    num = node.require("num_split")

    def compute(axis, x):
        (a,) = static_ints(node, axis, "split_dim")
        return tuple(array_module(x).split(x, num, axis=a))

    return compute


@register("SplitV", outputs=lambda node: node.require("num_split"))
def _split_v(node):
    def compute(x, sizes, axis):
        (a,) = static_ints(node, axis, "split_dim")
        sizes = static_ints(node, sizes, "size_splits")
        if -1 in sizes:
            sizes[sizes.index(-1)] = x.shape[a] - (sum(sizes) + 1)
        return tuple(array_module(x).split(x, np.cumsum(sizes)[:-1].tolist(), axis=a))

    return compute


@register("Tile")
def _tile(node):
    return lambda x, multiples: array_module(x).tile(x, static_ints(node, multiples, "multiples"))


@register("Pad", "PadV2", "MirrorPad")
def _pad(node):
    mode = {"REFLECT": "reflect", "SYMMETRIC": "symmetric"}.get(node.attr("mode"), "constant")

    def compute(x, paddings, constant=0):
        widths = static(node, paddings, "paddings").astype(int).tolist()
        xp = array_module(x)
        if mode == "constant":
            return xp.pad(x, widths, constant_values=constant)
        return xp.pad(x, widths, mode=mode)

    return compute


# ---------------------------------------------------------------------------------------------
# slicing and gathering


@register("Slice")
def _slice(node):
    def compute(x, begin, size):
        begin = static_ints(node, begin, "begin")
        size = static_ints(node, size, "size")
        index = tuple(
            slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True)
        )
        return basic_index(x, index)

    return compute


def basic_index(x, index: tuple):
    """`x[index]` for ints, slices, None and Ellipsis; on traced arrays with `lax` slicing,
    which (unlike jnp indexing) computes nothing eagerly while shapes are inferred."""
    if is_static(x):
        return np.asarray(x)[index]
    if Ellipsis in index:
        at = index.index(Ellipsis)
        used = sum(1 for i in index if i is not None and i is not Ellipsis)
        index = index[:at] + (slice(None),) * (x.ndim - used) + index[at + 1 :]
    axis = 0
    for item in index:
        if item is None:
            x = jnp.expand_dims(x, axis)
            axis += 1
        elif isinstance(item, slice):
            start, stop, step = item.indices(x.shape[axis])
            if step > 0:
                x = jax.lax.slice_in_dim(x, start, max(start, stop), step, axis)
            else:  # the same elements as a reversed ascending slice
                count = len(range(start, stop, step))
                low = start + (count - 1) * step if count else 0
                x = jax.lax.slice_in_dim(
                    x, low, low + (count - 1) * -step + 1 if count else 0, 1, axis
                )
                x = jax.lax.slice_in_dim(jax.lax.rev(x, (axis,)), 0, x.shape[axis], -step, axis)
            axis += 1
        else:
            x = jax.lax.index_in_dim(x, int(item) % x.shape[axis], axis, keepdims=False)
    return x


def _bits(mask: int) -> list[bool]:
    return [bool(mask >> i & 1) for i in range(32)]


@register("StridedSlice")
def _strided_slice(node):
    masks = {
        key: _bits(node.attr(f"{key}_mask", 0))
        for key in ("begin", "end", "ellipsis", "new_axis", "shrink_axis")
    }

    def compute(x, begin, end, strides):
        begin = static_ints(node, begin, "begin")
        end = static_ints(node, end, "end")
        strides = static_ints(node, strides, "strides")
        index = []
        for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
            if masks["ellipsis"][i]:
                index.append(Ellipsis)
            elif masks["new_axis"][i]:
                index.append(None)
            elif masks["shrink_axis"][i]:
                index.append(b)
            else:
                index.append(
                    slice(None if masks["begin"][i] else b, None if masks["end"][i] else e, s)
                )
        return basic_index(x, tuple(index))

    return compute


@register("GatherV2", "Gather")
def _gather(node):
    batch_dims = node.attr("batch_dims", 0)

    def compute(params, indices, axis=0):
        (a,) = static_ints(node, axis, "axis")
        if batch_dims:
            raise InvalidArgumentError(f"op '{node.name}' (GatherV2): batch_dims is not supported")
        if is_static(params) and is_static(indices):
            return np.take(params, indices, axis=a)
        return jnp.take(params, indices, axis=a, mode="clip")

    return compute


@register("OneHot")
def _one_hot(node):
    axis = node.attr("axis", -1)

    def compute(indices, depth, on, off):
        (n,) = static_ints(node, depth, "depth")
        hot = jax.nn.one_hot(indices, n, axis=axis, dtype=bool)
        return jnp.where(hot, on, off)

    return compute
