"""TFRecord files and `tf.train.Example` records in the TF1 API, on `jaxcourse.records`.

`tf.python_io.TFRecordWriter` / `tf.io.TFRecordWriter` write TensorFlow-compatible TFRecord
files; `tf.train.Example`, `Features`, `Feature`, `BytesList`, `Int64List`, `FloatList` are the
protocol buffer classes (TFDS's copies, no TensorFlow needed). `tf.parse_single_example`,
`tf.parse_example` and `tf.decode_raw` are host-side ops (`jaxcourse.compat.v1.host`): they run
in Python on the record bytes and feed their arrays to the compiled graph.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from tensorflow_datasets.proto import tf_example_generated_pb2 as _example_pb2
from tensorflow_datasets.proto import tf_feature_generated_pb2 as _feature_pb2

from jaxcourse.compat.v1.errors import InvalidArgumentError
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_host_op
from jaxcourse.compat.v1.host import graph_dtype, stack_values
from jaxcourse.records import tfrecord

Example = _example_pb2.Example
Features = _feature_pb2.Features
Feature = _feature_pb2.Feature
BytesList = _feature_pb2.BytesList
Int64List = _feature_pb2.Int64List
FloatList = _feature_pb2.FloatList


class TFRecordWriter:
    """TF1's `tf.python_io.TFRecordWriter(path)`: `write(bytes)`, `close()`, context manager."""

    def __init__(self, path, options=None):
        if options not in (None, "", 0):
            raise NotImplementedError(
                f"TFRecordWriter(options={options!r}): compressed TFRecord files are not "
                "supported; leave options out"
            )
        self._writer = tfrecord.TFRecordWriter(str(path))

    def write(self, record) -> None:
        if not isinstance(record, bytes | bytearray):
            raise TypeError(
                f"TFRecordWriter.write takes bytes (example.SerializeToString()), got "
                f"{type(record).__name__}"
            )
        self._writer.write(bytes(record))

    def flush(self) -> None:
        self._writer._file.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tf_record_iterator(path, options=None):
    """The records of a TFRecord file, as bytes (`tf.python_io.tf_record_iterator`)."""
    return tfrecord.read_tfrecord(str(path))


class TFRecordOptions:
    """Accepted for compatibility with `compression_type=None` only."""

    def __init__(self, compression_type=None):
        self.compression_type = compression_type


class FixedLenFeature(NamedTuple):
    """A feature of fixed `shape` and `dtype` (tf.float32, tf.int64 or tf.string)."""

    shape: tuple
    dtype: object
    default_value: object = None


class VarLenFeature(NamedTuple):
    dtype: object


def _feature_values(feature, spec: FixedLenFeature, key: str) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    kind = feature.WhichOneof("kind") if feature is not None else None
    if kind is None:
        if spec.default_value is None:
            raise InvalidArgumentError(
                f"Feature: {key} (data type: {dtype.name}) is required but could not be found"
            )
        return np.broadcast_to(np.asarray(spec.default_value, dtype), tuple(spec.shape))
    expected = {"f": "float_list", "i": "int64_list", "O": "bytes_list", "u": "int64_list"}
    if kind != expected.get(dtype.kind):
        raise InvalidArgumentError(
            f"Feature: {key}: the record holds a {kind}, but FixedLenFeature asks for "
            f"{dtype.name} (a {expected.get(dtype.kind, '?')})"
        )
    raw = list(getattr(feature, kind).value)
    shape = tuple(int(d) for d in spec.shape)
    if len(raw) != int(np.prod(shape, dtype=np.int64)):
        raise InvalidArgumentError(
            f"Key: {key}. Can't parse serialized Example: it holds {len(raw)} values, "
            f"FixedLenFeature(shape={list(shape)}) needs {int(np.prod(shape, dtype=np.int64))}"
        )
    if dtype.kind == "O":
        return np.array(raw, dtype=object).reshape(shape) if shape else raw[0]
    return np.asarray(raw, np.float32 if dtype.kind == "f" else np.int64).reshape(shape)


def _parse_one(serialized, features: dict) -> list:
    serialized = serialized[()] if isinstance(serialized, np.ndarray) else serialized
    if not isinstance(serialized, bytes):
        raise InvalidArgumentError(
            f"parse_single_example needs one serialized Example (bytes), got {serialized!r:.60}"
        )
    example = Example.FromString(serialized)
    fmap = example.features.feature
    return [
        _feature_values(fmap[key] if key in fmap else None, spec, key)
        for key, spec in features.items()
    ]


def _parse_op(what: str, serialized, features: dict, batched: bool, name) -> dict:
    for key, spec in features.items():
        if not isinstance(spec, FixedLenFeature):
            raise NotImplementedError(
                f"tf.{what}: feature '{key}' is a {type(spec).__name__}; only "
                "tf.FixedLenFeature is supported (store fixed-size lists or raw bytes)"
            )

    def compute(hv, records):
        if batched:
            rows = [_parse_one(r, features) for r in np.asarray(records, object).ravel()]
            values = [stack_values([row[i] for row in rows]) for i in range(len(features))]
        else:
            values = _parse_one(records, features)
        return values[0] if len(values) == 1 else tuple(values)

    specs = list(features.values())
    shapes = [(None, *s.shape) if batched else tuple(s.shape) for s in specs]
    types = [graph_dtype(s.dtype) for s in specs]
    out = make_host_op(
        what,
        compute,
        [serialized],
        name or what,
        shape=shapes[0] if len(specs) == 1 else shapes,
        dtype=types[0] if len(specs) == 1 else types,
        outputs=len(specs),
    )
    return dict(zip(features, [out] if len(specs) == 1 else out, strict=True))


def parse_single_example(serialized, features: dict, name=None, example_names=None) -> dict:
    """The `features` ({key: tf.FixedLenFeature}) of one serialized `tf.train.Example`."""
    return _parse_op("ParseSingleExample", serialized, features, False, name)


def parse_example(serialized, features: dict, name=None, example_names=None) -> dict:
    """The `features` of a vector of serialized Examples, stacked."""
    return _parse_op("ParseExample", serialized, features, True, name)


def decode_raw(input_bytes, out_type, little_endian: bool = True, name=None) -> Tensor:
    """The bytes of a string tensor as a vector of `out_type` (one row per string)."""
    stored = np.dtype(out_type).newbyteorder("<" if little_endian else ">")
    native = stored.newbyteorder("=")
    source = convert_to_tensor(input_bytes)

    def compute(hv, value):
        strings = np.asarray(value, object)
        rows = [np.frombuffer(v, stored).astype(native) for v in strings.ravel()]
        if len({len(r) for r in rows}) > 1:
            raise InvalidArgumentError(
                f"decode_raw: the strings of '{source.name}' decode to different lengths "
                f"({sorted({len(r) for r in rows})})"
            )
        width = len(rows[0]) if rows else 0
        return np.stack(rows).reshape(*strings.shape, width) if rows else np.zeros((0, 0), native)

    shape = None if source.shape is None else (*source.shape, None)
    return make_host_op(
        "DecodeRaw", compute, [source], name or "DecodeRaw", shape=shape, dtype=native
    )
