"""More of TF1's array ops: tile, slice, pad, range, eye, reverse, cumulative sums, top-k,
masks, norms and clipping, random shuffling, `tf.Print`.

Ops whose output size depends on the data (`boolean_mask`, one-argument `where`) are host
ops: their inputs are computed by a compiled run of their own, the result is computed in
NumPy, and it can feed later compiled ops (their shapes then vary from run to run).
"""

from __future__ import annotations

import builtins
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_host_op, make_op
from jaxcourse.compat.v1.ops import (
    _pair,
    _unary,
    concrete_shape,
    shape_argument,
    where,
)


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in np.ravel(np.asarray(values)))


def _static_or_input(value, what: str):
    """(static ints or None, tensor input or None) for an int-vector argument."""
    tensor, static = shape_argument(value, what)
    return (static, None) if tensor is None else (None, tensor)


def tile(input, multiples, name=None) -> Tensor:  # noqa: A002
    static, tensor = _static_or_input(multiples, "tf.tile")
    if tensor is None:
        return _unary("Tile", lambda a: jnp.tile(a, static), input, name)
    return make_op(
        "Tile", lambda ev, a, m: jnp.tile(a, concrete_shape(m, "tf.tile")), [input, tensor], name
    )


def slice(input_, begin, size, name=None) -> Tensor:  # noqa: A001
    """`input_[begin : begin + size]` per dimension (size -1: to the end)."""
    start, stop = _ints(begin), _ints(size)

    def compute(a):
        index = tuple(
            builtins.slice(b, None if s == -1 else b + s) for b, s in zip(start, stop, strict=True)
        )
        return a[index]

    return _unary("Slice", compute, input_, name)


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0) -> Tensor:
    widths = [tuple(int(p) for p in pair) for pair in np.asarray(paddings)]
    modes = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}
    if mode.upper() not in modes:
        raise ValueError(f"tf.pad: mode must be CONSTANT, REFLECT or SYMMETRIC, got {mode!r}")
    kind = modes[mode.upper()]

    def compute(a):
        if kind == "constant":
            return jnp.pad(a, widths, constant_values=constant_values)
        return jnp.pad(a, widths, mode=kind)

    return _unary("Pad", compute, tensor, name)


def range(start, limit=None, delta=1, dtype=None, name="range") -> Tensor:  # noqa: A001
    """`[start, limit)` in steps of `delta` (Python numbers or scalar tensors known when the
    run is compiled); int32 for ints, float32 for floats, as TF."""
    if limit is None:
        start, limit = 0, start
    values = [convert_to_tensor(v) if isinstance(v, Tensor) else v for v in (start, limit, delta)]
    if dtype is None:
        kinds = {
            np.asarray(v).dtype.kind if not isinstance(v, Tensor) else v.dtype.kind for v in values
        }
        dtype = dtypes.float32 if "f" in kinds else dtypes.int32
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    tensors = [v for v in values if isinstance(v, Tensor)]

    def compute(ev, *given):
        it = iter(given)
        bounds = [np.asarray(next(it)).item() if isinstance(v, Tensor) else v for v in values]
        return np.arange(*bounds).astype(out)

    static = None
    if not tensors:
        static = (len(np.arange(start, limit, delta)),)
    return make_op(
        "Range", compute, tensors, name, shape=static, dtype=out, infer_shape=bool(tensors)
    )


def linspace(start, stop, num, name=None) -> Tensor:
    return make_op(
        "LinSpace",
        lambda ev: jnp.linspace(start, stop, int(num), dtype=jnp.float32),
        (),
        name,
    )


def eye(num_rows, num_columns=None, batch_shape=None, dtype=dtypes.float32, name=None) -> Tensor:
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    shape = tuple(batch_shape or ())

    def compute(ev):
        m = jnp.eye(int(num_rows), None if num_columns is None else int(num_columns), dtype=out)
        return jnp.broadcast_to(m, shape + m.shape)

    return make_op("eye", compute, (), name)


def diag(diagonal, name=None) -> Tensor:
    return _unary("Diag", lambda a: jnp.diag(a) if a.ndim == 1 else jnp.diagflat(a), diagonal, name)


def diag_part(input, name=None) -> Tensor:  # noqa: A002
    return _unary("DiagPart", jnp.diag, input, name)


def reverse(tensor, axis, name=None) -> Tensor:
    axes = _ints(axis)
    return _unary("ReverseV2", lambda a: jnp.flip(a, axes), tensor, name)


def _cumulative(op_type, fn, x, axis, exclusive, reverse_, name, identity) -> Tensor:
    axis = int(axis)

    def compute(a):
        a = jnp.flip(a, axis) if reverse_ else a
        out = fn(a, axis=axis)
        if exclusive:
            pad_width = [(0, 0)] * a.ndim
            pad_width[axis] = (1, 0)
            out = jnp.pad(out, pad_width, constant_values=identity)
            out = jax.lax.slice_in_dim(out, 0, a.shape[axis], axis=axis)
        return jnp.flip(out, axis) if reverse_ else out

    return _unary(op_type, compute, x, name)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:  # noqa: A002
    return _cumulative("Cumsum", jnp.cumsum, x, axis, exclusive, reverse, name, 0)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:  # noqa: A002
    return _cumulative("Cumprod", jnp.cumprod, x, axis, exclusive, reverse, name, 1)


def gather_nd(params, indices, name=None) -> Tensor:
    def compute(ev, p, i):
        i = jnp.asarray(i)
        return p[tuple(jnp.moveaxis(i, -1, 0))]

    return make_op("GatherNd", compute, [params, indices], name)


def sequence_mask(lengths, maxlen=None, dtype=dtypes.bool_, name=None) -> Tensor:
    """`mask[i, j] = j < lengths[i]` (maxlen: a Python int, or max(lengths) at run time)."""
    lengths = convert_to_tensor(lengths)
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    if maxlen is None:
        return make_host_op(
            "SequenceMask",
            lambda hv, n: (np.arange(n.max() if n.size else 0) < n[..., None]).astype(out),
            [lengths],
            name,
            shape=None if lengths.shape is None else (*lengths.shape, None),
            dtype=out,
        )
    size = int(maxlen)
    return _unary(
        "SequenceMask", lambda n: (jnp.arange(size) < n[..., None]).astype(out), lengths, name
    )


def boolean_mask(tensor, mask, name="boolean_mask", axis=None) -> Tensor:
    """The entries of `tensor` where `mask` is true (a host op: the size depends on data)."""
    tensor, mask = convert_to_tensor(tensor), convert_to_tensor(mask)
    start = int(axis or 0)
    rank = None if mask.shape is None else len(mask.shape)

    def compute(hv, t, m):
        t, m = np.asarray(t), np.asarray(m, bool)
        moved = t.reshape(t.shape[:start] + (-1,) + t.shape[start + m.ndim :])
        return np.compress(m.reshape(-1), moved, axis=start)

    shape = None
    if tensor.shape is not None and rank is not None:
        shape = (*tensor.shape[:start], None, *tensor.shape[start + rank :])
    return make_host_op(
        "BooleanMask", compute, [tensor, mask], name, shape=shape, dtype=tensor.dtype
    )


def where_v1(condition, x=None, y=None, name=None) -> Tensor:
    """TF1's `tf.where`: `where(c, x, y)` selects; `where(c)` gives the [N, rank] int64
    coordinates of the true entries (a host op)."""
    if x is None and y is None:
        c = convert_to_tensor(condition)
        rank = None if c.shape is None else len(c.shape)
        return make_host_op(
            "Where",
            lambda hv, v: np.argwhere(np.asarray(v)).astype(np.int64),
            [c],
            name,
            shape=(None, rank),
            dtype=np.int64,
        )
    return where(condition, x, y, name)


def top_k(input, k=1, sorted=True, name=None) -> list[Tensor]:  # noqa: A002
    """(values, indices) of the k largest entries of the last axis (`TopKV2:0`, `:1`)."""
    return make_op(
        "TopKV2",
        lambda ev, a: tuple(jax.lax.top_k(a, int(k))),
        [input],
        name,
        outputs=2,
    )


def in_top_k(predictions, targets, k, name=None) -> Tensor:
    """Whether each target's prediction is among the k largest of its row (ties count in)."""

    def compute(ev, p, t):
        target = jnp.take_along_axis(p, t[:, None].astype(jnp.int32), axis=1)
        return jnp.sum(p > target, axis=1) < int(k)

    return make_op("InTopKV2", compute, [predictions, targets], name, dtype=np.dtype(bool))


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None, keep_dims=None) -> Tensor:  # noqa: A002
    order = 2 if ord in ("euclidean", 2, "fro") and axis is not None else ord
    keep = bool(keepdims if keepdims is not None else keep_dims)

    def compute(a):
        if axis is None and order in ("euclidean", "fro"):
            out = jnp.sqrt(jnp.sum(jnp.square(a)))
            return out.reshape((1,) * a.ndim) if keep else out
        return jnp.linalg.norm(a, ord=order, axis=axis, keepdims=keep)

    return _unary("norm", compute, tensor, name)


def clip_by_norm(t, clip_norm, axes=None, name=None) -> Tensor:
    t, c = _pair(t, clip_norm, "clip_by_norm")
    ax = None if axes is None else _ints(axes)

    def compute(ev, a, limit):
        n = jnp.sqrt(jnp.sum(jnp.square(a), axis=ax, keepdims=True))
        return a * limit / jnp.maximum(n, limit)

    return make_op("clip_by_norm", compute, [t, c], name)


def global_norm(t_list, name=None) -> Tensor:
    tensors = [convert_to_tensor(t) for t in t_list if t is not None]
    return make_op(
        "global_norm",
        lambda ev, *xs: jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in xs)),
        tensors,
        name,
    )


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(clipped tensors, global norm): every tensor scaled by clip / max(norm, clip)."""
    present = [t for t in t_list if t is not None]
    norm_t = convert_to_tensor(use_norm) if use_norm is not None else global_norm(present)
    limit = convert_to_tensor(
        clip_norm, dtype=None if isinstance(clip_norm, Tensor) else norm_t.dtype
    )
    clipped = []
    for t in t_list:
        if t is None:
            clipped.append(None)
            continue
        clipped.append(
            make_op(
                "clip_by_global_norm",
                lambda ev, a, n, c: (a * c / jnp.maximum(n, c)).astype(a.dtype),
                [t, norm_t, limit],
                name,
            )
        )
    return clipped, norm_t


def tensordot(a, b, axes, name=None) -> Tensor:
    spec = int(axes) if isinstance(axes, int | np.integer) else tuple(tuple(x) for x in axes)
    x, y = _pair(a, b, "Tensordot")
    return make_op("Tensordot", lambda ev, p, q: jnp.tensordot(p, q, spec), [x, y], name)


def einsum(equation, *inputs, name=None) -> Tensor:
    tensors = [convert_to_tensor(t) for t in inputs]
    return make_op("Einsum", lambda ev, *xs: jnp.einsum(equation, *xs), tensors, name)


def matrix_transpose(a, name="matrix_transpose", conjugate=False) -> Tensor:
    return _unary("transpose", lambda x: jnp.swapaxes(x, -1, -2), a, name)


def matrix_inverse(input, adjoint=False, name=None) -> Tensor:  # noqa: A002
    return _unary("MatrixInverse", jnp.linalg.inv, input, name)


def matrix_determinant(input, name=None) -> Tensor:  # noqa: A002
    return _unary("MatrixDeterminant", jnp.linalg.det, input, name)


def trace(x, name=None) -> Tensor:
    return _unary("Trace", lambda a: jnp.trace(a, axis1=-2, axis2=-1), x, name)


def random_shuffle(value, seed=None, name=None) -> Tensor:
    """`value` with its first dimension shuffled, fresh on every run."""
    value = convert_to_tensor(value)
    op_seed = None if seed is None else (1 << 30) + int(seed)
    return make_op(
        "RandomShuffle",
        lambda ev, a: jax.random.permutation(ev.key(), a, axis=0),
        [value],
        name,
        shape=value.shape,
        dtype=value.dtype,
        seed=op_seed,
    )


def multinomial(logits, num_samples, seed=None, name=None, output_dtype=dtypes.int64) -> Tensor:
    """`num_samples` class indices per row of `logits`, fresh on every run."""
    logits = convert_to_tensor(logits)
    out = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(output_dtype))
    count = int(num_samples)
    batch = None if logits.shape is None else logits.shape[0]

    def sample(ev, z):
        drawn = jax.random.categorical(ev.key(), z, axis=-1, shape=(count, z.shape[0]))
        return drawn.T.astype(out)

    return make_op(
        "Multinomial",
        sample,
        [logits],
        name,
        shape=(batch, count),
        dtype=out,
        seed=None if seed is None else (1 << 30) + int(seed),
    )


def Print(input_, data, message=None, first_n=None, summarize=None, name=None) -> Tensor:  # noqa: N802
    """`input_`, printing `message` and the values of `data` to stderr on every run (TF1's
    `tf.Print`; the first `summarize` entries of each, 3 by default)."""
    x = convert_to_tensor(input_)
    tensors = [convert_to_tensor(d) for d in data]
    shown = 3 if summarize is None else int(summarize)
    printed = {"count": 0}

    def emit(*values):
        if first_n is not None and printed["count"] >= first_n:
            return
        printed["count"] += 1
        parts = []
        for v in values:
            flat = np.ravel(np.asarray(v))
            body = " ".join(str(e) for e in flat[:shown]) + ("..." if flat.size > shown else "")
            parts.append(f"[{body}]")
        print(f"{message or ''}{''.join(parts)}", file=sys.stderr)

    def compute(ev, a, *values):
        jax.debug.callback(emit, *values)
        return a

    return make_op("Print", compute, [x, *tensors], name, shape=x.shape, dtype=x.dtype)
