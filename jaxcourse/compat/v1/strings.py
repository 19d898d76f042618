"""`tf.strings`: string tensors' ops, run on the host (NumPy object arrays of bytes).

Strings never enter the compiled part of a run: these are host ops (`graph.make_host_op`),
evaluated in Python before it, from fed strings, string constants and other host ops. A
number turned into text (`as_string`) is computed first in its own compiled run.
"""

from __future__ import annotations

import re

import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_host_op
from jaxcourse.compat.v1.namespace import module_getattr


def _text(x) -> Tensor:
    t = convert_to_tensor(x, dtype=None if isinstance(x, Tensor) else dtypes.string)
    if t.dtype != dtypes.string:
        raise TypeError(f"expected a string tensor, got {t.describe()}")
    return t


def _broadcast_shape(tensors) -> tuple | None:
    shapes = [t.shape for t in tensors]
    if any(s is None or not s.is_fully_defined() for s in shapes):
        return None
    return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))


def _elementwise(fn, otype):
    return np.vectorize(fn, otypes=[otype])


def join(inputs, separator: str = "", name=None) -> Tensor:
    """Element-wise concatenation of string tensors (broadcast), with `separator`."""
    tensors = [_text(x) for x in inputs]
    sep = separator.encode() if isinstance(separator, str) else bytes(separator)

    def compute(hv, *values):
        return _elementwise(lambda *parts: sep.join(parts), object)(*values)

    return make_host_op(
        "StringJoin",
        compute,
        tensors,
        name or "StringJoin",
        shape=_broadcast_shape(tensors),
        dtype=dtypes.string,
    )


def reduce_join(inputs, axis=None, keepdims=False, separator: str = "", name=None) -> Tensor:
    """Join the strings along `axis` (all of them when None)."""
    t = _text(inputs)
    sep = separator.encode() if isinstance(separator, str) else bytes(separator)

    def compute(hv, value):
        value = np.asarray(value, dtype=object)
        axes = (
            tuple(range(value.ndim))
            if axis is None
            else (axis,)
            if np.isscalar(axis)
            else tuple(axis)
        )
        moved = np.moveaxis(value, axes, tuple(range(-len(axes), 0)))
        flat = moved.reshape(moved.shape[: moved.ndim - len(axes)] + (-1,))
        out = np.empty(flat.shape[:-1], dtype=object)
        for index in np.ndindex(out.shape):
            out[index] = sep.join(flat[index])
        return np.expand_dims(out, axes) if keepdims else out

    return make_host_op("ReduceJoin", compute, [t], name, dtype=dtypes.string)


def length(input, name=None, unit="BYTE") -> Tensor:  # noqa: A002
    """The length of every string, in bytes (unit 'BYTE') or characters ('UTF8_CHAR')."""
    t = _text(input)

    def count(b: bytes) -> int:
        return len(b) if unit == "BYTE" else len(b.decode("utf-8"))

    return make_host_op(
        "StringLength",
        lambda hv, v: _elementwise(count, np.int32)(v),
        [t],
        name,
        shape=t.shape,
        dtype=np.int32,
    )


def _mapped(op_type: str, fn, input, name) -> Tensor:  # noqa: A002
    t = _text(input)
    return make_host_op(
        op_type,
        lambda hv, v: _elementwise(fn, object)(v),
        [t],
        name,
        shape=t.shape,
        dtype=dtypes.string,
    )


def lower(input, encoding="", name=None) -> Tensor:  # noqa: A002
    return _mapped("StringLower", bytes.lower, input, name)


def upper(input, encoding="", name=None) -> Tensor:  # noqa: A002
    return _mapped("StringUpper", bytes.upper, input, name)


def strip(input, name=None) -> Tensor:  # noqa: A002
    return _mapped("StringStrip", bytes.strip, input, name)


def regex_replace(input, pattern, rewrite, replace_global=True, name=None) -> Tensor:  # noqa: A002
    """Replace matches of the RE2-style `pattern` (Python `re` syntax) by `rewrite`."""
    regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
    repl = rewrite.encode() if isinstance(rewrite, str) else rewrite
    count = 0 if replace_global else 1
    return _mapped("RegexReplace", lambda b: regex.sub(repl, b, count=count), input, name)


def substr(input, pos, len, name=None, unit="BYTE") -> Tensor:  # noqa: A002
    """`len` bytes of every string from `pos` (Python ints)."""
    start, size = int(pos), int(len)
    return _mapped("Substr", lambda b: b[start : start + size], input, name)


def as_string(
    input, precision=-1, scientific=False, shortest=False, width=-1, fill="", name=None
) -> Tensor:  # noqa: A002
    """Numbers as text (floats with 6 decimals unless `precision`, like TF's default)."""
    t = convert_to_tensor(input)
    kind = t.dtype.kind
    spec = f"{fill}{width if width >= 0 else ''}"
    if kind == "f":
        style = "e" if scientific else "g" if shortest else "f"
        spec += f".{precision if precision >= 0 else 6}{style}"
    elif kind == "b":
        return _mapped_numbers(t, lambda v: b"true" if v else b"false", name)
    return _mapped_numbers(
        t, lambda v: format(v.item() if hasattr(v, "item") else v, spec).encode(), name
    )


def _mapped_numbers(t: Tensor, fn, name) -> Tensor:
    return make_host_op(
        "AsString",
        lambda hv, v: _elementwise(fn, object)(np.asarray(v)),
        [t],
        name,
        shape=t.shape,
        dtype=dtypes.string,
    )


def to_number(string_tensor, out_type=dtypes.float32, name=None) -> Tensor:
    """Parse every string as a number of `out_type` (an error names the bad string)."""
    t = _text(string_tensor)
    out = np.dtype(out_type)
    parse = float if out.kind == "f" else int

    def convert(b: bytes):
        try:
            return parse(b.decode())
        except ValueError:
            raise ValueError(
                f"StringToNumberOp could not correctly convert string: {b!r}"
            ) from None

    return make_host_op(
        "StringToNumber",
        lambda hv, v: _elementwise(convert, out)(v),
        [t],
        name,
        shape=t.shape,
        dtype=out,
    )


string_to_number = to_number


__getattr__ = module_getattr("tf.strings", globals())
