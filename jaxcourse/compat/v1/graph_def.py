"""TF's `GraphDef` protocol buffers without TensorFlow: parse, read attributes, convert tensors.

`GraphDef`, `NodeDef`, `AttrValue` and `TensorProto` are the message classes that ship with
tensorboardX (the same wire format as TF's), so `GraphDef().ParseFromString(pb_bytes)` and
`SerializeToString()` read and write TF's `.pb` files. `Node` is the importer's view of a
NodeDef: its attributes as Python values, with TF's defaults filled in for attributes that an
older producer left out.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import ml_dtypes
import numpy as np
from google.protobuf import json_format
from tensorboardX.proto.attr_value_pb2 import AttrValue
from tensorboardX.proto.graph_pb2 import GraphDef
from tensorboardX.proto.node_def_pb2 import NodeDef
from tensorboardX.proto.tensor_pb2 import TensorProto
from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

__all__ = ["AttrValue", "GraphDef", "Node", "NodeDef", "TensorProto", "TensorShapeProto"]

# TF's DataType enum (types.proto) -> NumPy; a `_REF` type is its base type + 100
_DTYPES = {
    1: np.dtype("float32"),
    2: np.dtype("float64"),
    3: np.dtype("int32"),
    4: np.dtype("uint8"),
    5: np.dtype("int16"),
    6: np.dtype("int8"),
    7: np.dtype("object"),  # string: bytes objects
    8: np.dtype("complex64"),
    9: np.dtype("int64"),
    10: np.dtype("bool"),
    14: np.dtype(ml_dtypes.bfloat16),
    17: np.dtype("uint16"),
    18: np.dtype("complex128"),
    19: np.dtype("float16"),
    22: np.dtype("uint32"),
    23: np.dtype("uint64"),
}
_ENUMS = {dtype: enum for enum, dtype in _DTYPES.items()}
_DTYPE_NAMES = {20: "resource", 21: "variant"}


def numpy_dtype(enum: int) -> np.dtype:
    """The NumPy dtype of TF's DataType `enum` (a reference type counts as its base type)."""
    base = enum - 100 if enum > 100 else enum
    try:
        return _DTYPES[base]
    except KeyError:
        name = _DTYPE_NAMES.get(base, f"enum {enum}")
        raise TypeError(f"TF dtype {name} has no NumPy equivalent") from None


def dtype_enum(dtype) -> int:
    """TF's DataType enum of a NumPy dtype."""
    dtype = np.dtype(dtype)
    try:
        return _ENUMS[dtype]
    except KeyError:
        raise TypeError(f"NumPy dtype {dtype} has no TF DataType") from None


# ---------------------------------------------------------------------------------------------
# tensors

_VALUE_FIELDS = {  # dtype kind/name -> the TensorProto field holding values one by one
    "float32": "float_val",
    "float64": "double_val",
    "int64": "int64_val",
    "bool": "bool_val",
    "complex64": "scomplex_val",
    "complex128": "dcomplex_val",
    "float16": "half_val",
    "bfloat16": "half_val",
    "object": "string_val",
}


def shape_of(proto: TensorShapeProto) -> tuple[int | None, ...] | None:
    """A TensorShapeProto as a tuple (None for an unknown size), or None for an unknown rank."""
    if proto.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in proto.dim)


def shape_proto(shape) -> TensorShapeProto:
    proto = TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    for size in shape:
        proto.dim.add().size = -1 if size is None else int(size)
    return proto


def to_numpy(proto: TensorProto) -> np.ndarray:
    """The value of a TensorProto (string tensors: an object array of bytes)."""
    dtype = numpy_dtype(proto.dtype)
    shape = shape_of(proto.tensor_shape) or ()
    size = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype).reshape(shape).copy()
    field = _VALUE_FIELDS.get(dtype.name, "int_val")
    values = list(getattr(proto, field))
    if dtype.name in ("float16", "bfloat16"):  # stored as their bit patterns
        flat = np.array(values, np.uint16).view(dtype)
    elif dtype.kind == "c":
        flat = np.array(values, np.float64).reshape(-1, 2) @ np.array([1, 1j])
        flat = flat.astype(dtype)
    elif dtype.kind == "O":
        flat = np.empty(len(values), object)
        flat[:] = values
    else:
        flat = np.array(values, dtype)
    if flat.size == size:
        return flat.reshape(shape)
    if flat.size == 0:  # TF: no values means zeros (empty bytes for strings)
        return np.full(shape, b"" if dtype.kind == "O" else 0, dtype)
    if flat.size > size:
        raise ValueError(f"TensorProto holds {flat.size} values for shape {list(shape)}")
    # TF repeats the last value to fill the shape
    return np.concatenate([flat, np.repeat(flat[-1:], size - flat.size)]).reshape(shape)


def make_tensor_proto(value, dtype=None) -> TensorProto:
    """A TensorProto holding `value` (NumPy-convertible; bytes or str for strings)."""
    array = np.asarray(value, dtype=dtype)
    if array.dtype.kind in "SUO":
        array = np.asarray(value, dtype=object)
    proto = TensorProto(dtype=dtype_enum(array.dtype))
    proto.tensor_shape.CopyFrom(shape_proto(array.shape))
    if array.dtype.kind == "O":
        proto.string_val.extend(v.encode() if isinstance(v, str) else bytes(v) for v in array.flat)
    else:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


# ---------------------------------------------------------------------------------------------
# attributes


def attr_value(attr: AttrValue):
    """An AttrValue as a Python value: str, int, float, bool, NumPy dtype, shape tuple,
    ndarray, or a list of these; None when it holds nothing."""
    kind = attr.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        items = attr.list
        for name, convert in _LIST_FIELDS:
            values = getattr(items, name)
            if len(values):
                return [convert(v) for v in values]
        return []
    value = getattr(attr, kind)
    if kind == "s":
        return value.decode("utf-8", errors="surrogateescape")
    if kind == "type":
        return numpy_dtype(value)
    if kind == "shape":
        return shape_of(value)
    if kind == "tensor":
        return to_numpy(value)
    if kind == "func":
        return value.name
    return value


_LIST_FIELDS = (
    ("s", lambda v: v.decode("utf-8", errors="surrogateescape")),
    ("i", int),
    ("f", float),
    ("b", bool),
    ("type", numpy_dtype),
    ("shape", shape_of),
    ("tensor", to_numpy),
    ("func", lambda v: v.name),
)


@functools.cache
def _op_defaults_table() -> dict[str, dict]:
    return json.loads((Path(__file__).parent / "converters" / "op_defaults.json").read_text())


@functools.cache
def op_defaults(op_type: str) -> dict[str, AttrValue]:
    """The attribute defaults of TF's op `op_type` (from TF's op registry, see the table's
    generator tests/fixtures/graphdefs/make_op_defaults.py)."""
    attrs = _op_defaults_table().get(op_type, {})
    return {name: json_format.ParseDict(value, AttrValue()) for name, value in attrs.items()}


def fill_default_attrs(node: NodeDef) -> None:
    """Add the attributes `node` leaves out, from its op's definition (TF's defaults)."""
    for name, default in op_defaults(node.op).items():
        if name not in node.attr:
            node.attr[name].CopyFrom(default)


class Node:
    """A NodeDef as a converter sees it: `name`, `op`, `inputs`, `attr(name)`."""

    def __init__(self, proto: NodeDef, name: str | None = None):
        self.proto = proto
        self.name = name or proto.name
        self.op = proto.op
        self.inputs = [i for i in proto.input if not i.startswith("^")]
        self.control_inputs = [i[1:] for i in proto.input if i.startswith("^")]

    def attr(self, name: str, default=None):
        """Attribute `name` as a Python value (`default` if the node has no such attribute)."""
        if name not in self.proto.attr:
            return default
        return attr_value(self.proto.attr[name])

    def require(self, name: str):
        """Attribute `name`; an error naming the node if it is missing."""
        if name not in self.proto.attr:
            raise ValueError(f"GraphDef node '{self.name}' ({self.op}) has no attribute '{name}'")
        return attr_value(self.proto.attr[name])

    def __repr__(self) -> str:
        return f"<Node '{self.name}' op={self.op}>"


def parse_input(name: str) -> tuple[str, int]:
    """'node:1' -> ('node', 1); 'node' -> ('node', 0)."""
    op_name, _, index = name.partition(":")
    return op_name, int(index) if index else 0


def dependency_order(roots, dependencies) -> list:
    """Every item reachable from `roots` through `dependencies(item)`, each after its
    dependencies (an iterative depth-first post-order: graphs may be deep)."""
    order, done = [], set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            item, expanded = stack.pop()
            if item in done:
                continue
            if expanded:
                done.add(item)
                order.append(item)
                continue
            stack.append((item, True))
            stack += [(d, False) for d in dependencies(item) if d not in done]
    return order
