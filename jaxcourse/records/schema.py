"""What a record holds: named features with a dtype, a shape and how they are stored.

A `Schema` turns a dict of numpy arrays into a serialized `tf.train.Example` and back (the
proto classes TFDS vendors, so no TensorFlow is needed). Storage of a feature:

- ``list``: an `int64_list` (integer and bool dtypes) or `float_list` (floating dtypes), the
  array flattened — what `tf.io.FixedLenFeature` reads;
- ``raw``: the array's bytes in one `bytes_list` entry (`tf.io.decode_raw`);
- ``png``: a PNG image in one `bytes_list` entry (uint8, HxW or HxWxC; `tf.io.decode_png`);
- ``bytes``: a byte string as is (dtype ``bytes``, shape ``[]``).

A schema is saved as ``schema.json`` next to the record shards.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from jaxcourse.errors import JaxcourseError

Encoding = Literal["list", "raw", "png", "bytes"]


class SchemaError(JaxcourseError):
    """A record or array that does not match its schema."""


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: `name`, numpy `dtype` name (or 'bytes'), fixed `shape`, `encoding`."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    encoding: Encoding = "list"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.encoding == "bytes":
            if self.dtype != "bytes" or self.shape != ():
                raise SchemaError(f"feature '{self.name}': encoding 'bytes' needs dtype bytes, []")
            return
        kind = np.dtype(self.dtype).kind
        if self.encoding == "list" and kind not in "biuf":
            raise SchemaError(f"feature '{self.name}': dtype {self.dtype} cannot be a list")
        if self.encoding == "png" and (self.dtype != "uint8" or len(self.shape) not in (2, 3)):
            raise SchemaError(
                f"feature '{self.name}': png needs uint8 of shape HxW or HxWxC, "
                f"got {self.dtype} {list(self.shape)}"
            )

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _png_encode(image: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).save(out, format="png")
    return out.getvalue()


def png_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


@dataclass(frozen=True)
class Schema:
    """The features of every record of a dataset, and free-form `metadata` (JSON-able)."""

    features: tuple[FeatureSpec, ...]
    metadata: dict | None = None

    @classmethod
    def infer(
        cls, arrays: dict[str, np.ndarray], encodings: dict[str, Encoding] | None = None, **meta
    ) -> Schema:
        """The schema of one example of each of `arrays` (batched: leading axis = examples)."""
        encodings = encodings or {}
        feats = []
        for name, a in arrays.items():
            a = np.asarray(a)
            default = "raw" if a.dtype == np.uint8 else "list"
            feats.append(FeatureSpec(name, a.dtype.name, a.shape[1:], encodings.get(name, default)))
        return cls(tuple(feats), meta or None)

    def __getitem__(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    # ------------------------------------------------------------------ encode / decode

    def encode(self, example: dict[str, np.ndarray | bytes]) -> bytes:
        """A serialized `tf.train.Example` of one example."""
        proto = _example_proto()
        fmap = proto.features.feature
        for spec in self.features:
            if spec.name not in example:
                raise SchemaError(f"example has no feature '{spec.name}' (schema: {self.names})")
            value = example[spec.name]
            if spec.encoding == "bytes":
                fmap[spec.name].bytes_list.value.append(bytes(value))
                continue
            a = np.asarray(value)
            if a.shape != spec.shape:
                raise SchemaError(
                    f"feature '{spec.name}': expected shape {list(spec.shape)}, got {list(a.shape)}"
                )
            if spec.encoding == "png":
                fmap[spec.name].bytes_list.value.append(_png_encode(a.astype(np.uint8)))
            elif spec.encoding == "raw":
                fmap[spec.name].bytes_list.value.append(a.astype(spec.dtype).tobytes())
            elif np.dtype(spec.dtype).kind == "f":
                fmap[spec.name].float_list.value.extend(a.ravel().tolist())
            else:
                fmap[spec.name].int64_list.value.extend(a.ravel().astype(np.int64).tolist())
        return proto.SerializeToString()

    def decode(
        self, data: bytes, where: str = "record", keep_png: bool = False
    ) -> dict[str, np.ndarray | bytes]:
        """The features of a serialized `tf.train.Example`, as arrays of the schema's shapes.

        `keep_png=True` returns PNG features as their encoded bytes (for a caller that
        decodes them itself); `where` names the record in error messages.
        """
        proto = _example_proto()
        try:
            proto.ParseFromString(data)
        except Exception as err:  # protobuf's DecodeError
            raise SchemaError(f"{where}: not a tf.train.Example ({err})") from None
        fmap = proto.features.feature
        out = {}
        for spec in self.features:
            if spec.name not in fmap:
                raise SchemaError(f"{where}: feature '{spec.name}' is missing")
            feat = fmap[spec.name]
            if spec.encoding == "bytes":
                out[spec.name] = feat.bytes_list.value[0]
                continue
            if spec.encoding in ("raw", "png"):
                blob = feat.bytes_list.value[0] if feat.bytes_list.value else b""
                if spec.encoding == "png" and keep_png:
                    out[spec.name] = blob
                    continue
                if spec.encoding == "png":
                    a = png_decode(blob)
                else:
                    a = np.frombuffer(blob, dtype=spec.dtype)
            elif np.dtype(spec.dtype).kind == "f":
                a = np.asarray(feat.float_list.value, dtype=spec.dtype)
            else:
                a = np.asarray(feat.int64_list.value, dtype=np.int64).astype(spec.dtype)
            if a.size != spec.size or (spec.encoding == "png" and a.shape != spec.shape):
                raise SchemaError(
                    f"{where}: feature '{spec.name}' has shape {list(a.shape)}, "
                    f"schema says {list(spec.shape)}"
                )
            out[spec.name] = a.reshape(spec.shape)
        return out

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict:
        return {
            "features": [{**asdict(f), "shape": list(f.shape)} for f in self.features],
            "metadata": self.metadata or {},
        }

    @classmethod
    def from_json(cls, data: dict) -> Schema:
        feats = tuple(FeatureSpec(**f) for f in data["features"])
        return cls(feats, data.get("metadata") or None)

    def save(self, path: str | Path) -> None:
        from jaxcourse.engine.rundir import write_atomic

        write_atomic(Path(path), json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        path = Path(path)
        if not path.is_file():
            raise SchemaError(f"no schema file '{path}' (written by `jaxcourse data convert`)")
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            raise SchemaError(f"'{path}' is not a valid schema: {err}") from None


def _example_proto():
    """An empty `tf.train.Example` message (imported here: tensorflow_datasets takes ~0.2 s)."""
    from tensorflow_datasets.proto import tf_example_pb2

    return tf_example_pb2.Example()
