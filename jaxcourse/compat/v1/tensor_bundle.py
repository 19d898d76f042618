"""TensorFlow's V2 checkpoint format (tensorflow/core/util/tensor_bundle), without TensorFlow.

A checkpoint `prefix` is two files:
- `prefix.data-00000-of-00001`: the tensors' bytes, one after the other (little-endian, C order;
  a string tensor is its elements' varint lengths, the masked CRC32C of those lengths as
  uint32s, then the elements' bytes);
- `prefix.index`: a table (`sstable`) whose value under the key "" is a `BundleHeaderProto`
  (shard count, endianness, format version) and under each tensor's name a `BundleEntryProto`
  (dtype, shape, shard, offset and size in the data file, masked CRC32C of its bytes).

`write_bundle` writes exactly the bytes TF's `BundleWriter` writes for the same tensors;
`BundleReader` checks every size and checksum and raises `DataLossError` naming the file at fault.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import crc32c
import numpy as np

from jaxcourse.compat.v1 import sstable
from jaxcourse.compat.v1.checkpoint_protos import BundleEntryProto, BundleHeaderProto
from jaxcourse.compat.v1.errors import DataLossError, NotFoundError, UnimplementedError
from jaxcourse.compat.v1.graph_def import dtype_enum, numpy_dtype
from jaxcourse.engine.rundir import write_atomic

FORMAT_VERSION = 1  # TF's kTensorBundleVersion
HEADER_KEY = b""


def index_path(prefix) -> Path:
    return Path(f"{prefix}.index")


def data_path(prefix, shard: int = 0, num_shards: int = 1) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")


def _is_string(array: np.ndarray) -> bool:
    return array.dtype.kind in "OSU"


def _lengths_crc(lengths: list[int]) -> int:
    """CRC32C of string lengths as TF sums them: each as a uint32 (a uint64 if larger)."""
    packed = b"".join(struct.pack("<I" if n <= 0xFFFFFFFF else "<Q", n) for n in lengths)
    return crc32c.crc32c(packed)


def _string_crc(lengths_crc: int, lengths_checksum: bytes, body: bytes) -> int:
    """The CRC32C of a string tensor that its entry stores (masked)."""
    return crc32c.crc32c(body, crc32c.crc32c(lengths_checksum, lengths_crc))


def _string_bytes(array: np.ndarray) -> tuple[bytes, int]:
    """A string tensor's bytes in the data file and their (unmasked) CRC32C."""
    items = [x.encode() if isinstance(x, str) else bytes(x) for x in array.reshape(-1)]
    lengths = [len(x) for x in items]
    crc = _lengths_crc(lengths)
    checksum = struct.pack("<I", sstable.mask(crc))
    body = b"".join(items)
    varints = b"".join(sstable.put_varint(n) for n in lengths)
    return varints + checksum + body, _string_crc(crc, checksum, body)


def _tensor_bytes(name: str, array: np.ndarray) -> tuple[int, bytes, int]:
    """(TF dtype, bytes in the data file, unmasked CRC32C) of one tensor."""
    if _is_string(array):
        data, crc = _string_bytes(array)
        return dtype_enum(np.dtype(object)), data, crc
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    try:
        tf_type = dtype_enum(dtype)
    except TypeError as error:
        raise TypeError(f"checkpoint tensor '{name}': {error}") from None
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return tf_type, data, crc32c.crc32c(data)


def write_bundle(prefix, tensors: dict[str, np.ndarray]) -> None:
    """Write `tensors` (name → array) as checkpoint `prefix` (data file first, then the index)."""
    entries, chunks, offset = [], [], 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        tf_type, data, crc = _tensor_bytes(name, array)
        entry = BundleEntryProto(dtype=tf_type, offset=offset, size=len(data))
        entry.crc32c = sstable.mask(crc)
        entry.shape.SetInParent()
        for size in array.shape:
            entry.shape.dim.add(size=size)
        entries.append((name.encode(), entry.SerializeToString()))
        chunks.append(data)
        offset += len(data)
    header = BundleHeaderProto(num_shards=1, endianness=0)
    header.version.producer = FORMAT_VERSION
    table = sstable.build_table([(HEADER_KEY, header.SerializeToString()), *entries])
    write_atomic(data_path(prefix), b"".join(chunks))
    write_atomic(index_path(prefix), table)


def exists(prefix) -> bool:
    """Whether a V2 checkpoint `prefix` (its `.index` file) exists."""
    return index_path(prefix).is_file()


class BundleReader:
    """The tensors of checkpoint `prefix`: names, dtypes, shapes and (checked) values."""

    def __init__(self, prefix):
        self.prefix = str(prefix)
        path = index_path(prefix)
        if not path.is_file():
            raise NotFoundError(
                f"checkpoint '{self.prefix}' not found: no file {path} (a TF V2 checkpoint is "
                "PREFIX.index + PREFIX.data-00000-of-00001; pass the prefix, not a file name)"
            )
        self._index = str(path)
        items = sstable.parse_table(path.read_bytes(), self._index)
        if HEADER_KEY not in items:
            raise DataLossError(f"{path}: no bundle header (the entry under the empty key)")
        header = self._parse(BundleHeaderProto, HEADER_KEY, items.pop(HEADER_KEY))
        if header.endianness != 0:
            raise UnimplementedError(f"{path}: big-endian checkpoints are not supported")
        if header.version.min_consumer > FORMAT_VERSION:
            raise UnimplementedError(
                f"{path}: needs a reader of checkpoint format version "
                f"{header.version.min_consumer} or newer (this one reads {FORMAT_VERSION})"
            )
        self.num_shards = header.num_shards
        self._entries = {
            key.decode(): self._parse(BundleEntryProto, key, value) for key, value in items.items()
        }
        self._shards: dict[int, bytes | mmap.mmap] = {}

    def _parse(self, message, key: bytes, value: bytes):
        try:
            return message.FromString(value)
        except Exception as error:  # protobuf's DecodeError
            raise DataLossError(
                f"{self._index}: entry '{key.decode(errors='replace')}' is not a valid "
                f"{message.__name__} ({error})"
            ) from None

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def _entry(self, name: str):
        if name not in self._entries:
            raise NotFoundError(f"key '{name}' not found in checkpoint '{self.prefix}'")
        return self._entries[name]

    def shape(self, name: str) -> list[int]:
        return [d.size for d in self._entry(name).shape.dim]

    def dtype(self, name: str) -> np.dtype:
        try:
            return numpy_dtype(self._entry(name).dtype)
        except TypeError as error:
            raise UnimplementedError(
                f"checkpoint '{self.prefix}': tensor '{name}': {error}"
            ) from None

    def _shard(self, shard: int) -> bytes:
        if shard not in self._shards:
            path = data_path(self.prefix, shard, self.num_shards)
            if not path.is_file():
                raise DataLossError(f"checkpoint '{self.prefix}': data file {path} is missing")
            with path.open("rb") as f:  # mapped, not read: a tensor reads only its own bytes
                size = path.stat().st_size
                self._shards[shard] = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
                )
        return self._shards[shard]

    def get(self, name: str) -> np.ndarray:
        """The tensor `name`, its size and CRC32C checked against the index."""
        entry = self._entry(name)
        if entry.slices:
            raise UnimplementedError(
                f"checkpoint '{self.prefix}': '{name}' is a partitioned variable (saved in "
                "slices), which is not supported"
            )
        dtype, shape = self.dtype(name), self.shape(name)
        where = f"{data_path(self.prefix, entry.shard_id, self.num_shards)}, tensor '{name}'"
        data = self._shard(entry.shard_id)
        if entry.offset + entry.size > len(data):
            raise DataLossError(
                f"{where}: needs bytes {entry.offset}..{entry.offset + entry.size}, the file "
                f"has {len(data)} (truncated?)"
            )
        raw = data[entry.offset : entry.offset + entry.size]
        count = int(np.prod(shape, dtype=np.int64))
        if dtype.kind == "O":
            strings, crc = self._strings(raw, count, where)
            value = strings.reshape(shape)
        else:
            if len(raw) != count * dtype.itemsize:
                raise DataLossError(
                    f"{where}: {len(raw)} bytes for shape {shape} of {dtype} "
                    f"({count * dtype.itemsize} expected)"
                )
            value, crc = np.frombuffer(raw, dtype).reshape(shape).copy(), crc32c.crc32c(raw)
        if sstable.unmask(entry.crc32c) != crc:
            raise DataLossError(f"{where}: checksum mismatch (the file is corrupt)")
        return value

    @staticmethod
    def _strings(raw: bytes, count: int, where: str) -> tuple[np.ndarray, int]:
        lengths, pos = [], 0
        for _ in range(count):
            length, pos = sstable.get_varint(raw, pos, where)
            lengths.append(length)
        checksum = raw[pos : pos + 4]
        crc = _lengths_crc(lengths)
        if len(checksum) != 4 or struct.unpack("<I", checksum)[0] != sstable.mask(crc):
            raise DataLossError(f"{where}: checksum of the string lengths does not match")
        body = raw[pos + 4 :]
        if sum(lengths) != len(body):
            raise DataLossError(f"{where}: string lengths do not add up to the stored size")
        out, pos = np.empty(count, dtype=object), 0
        for i, length in enumerate(lengths):
            out[i] = body[pos : pos + length]
            pos += length
        return out, _string_crc(crc, checksum, body)
