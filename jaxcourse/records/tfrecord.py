"""The TFRecord container: framing and checksums, byte-compatible with TensorFlow.

Each record is ``uint64 length | uint32 masked_crc32c(length) | data | uint32
masked_crc32c(data)``, little-endian. Reading verifies both checksums; a bad record raises
`CorruptRecordError` naming the file and the record's index, or, with ``on_error="skip"``, is
skipped and counted in a `ReadStats`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import crc32c

from jaxcourse.errors import DataError

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")  # length, masked crc of the length
_LENGTH = struct.Struct("<Q")
_FOOTER = struct.Struct("<I")  # masked crc of the data

OnError = Literal["raise", "skip"]


class CorruptRecordError(DataError):
    """A record whose framing or checksum is wrong."""

    def __init__(self, path: str | Path, index: int, reason: str):
        self.path, self.index, self.reason = str(path), index, reason
        super().__init__(f"corrupt record {index} in '{path}': {reason}")


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC32C: rotate right by 15 bits and add a constant (mod 2^32)."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record as it appears in a TFRecord file."""
    length = _LENGTH.pack(len(data))
    return length + _FOOTER.pack(masked_crc32c(length)) + data + _FOOTER.pack(masked_crc32c(data))


class TFRecordWriter:
    """Append records to a new TFRecord file (written to `path.tmp`, renamed on close).

    Use as a context manager; if the block raises, the partial file is removed and an
    existing file at `path` is left untouched.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._file: BinaryIO | None = open(self._tmp, "wb")
        self.count = 0

    def write(self, data: bytes) -> None:
        self._file.write(frame(data))
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_tfrecord(path: str | Path, records: Iterable[bytes]) -> int:
    """Write `records` to a TFRecord file at `path`; returns how many were written."""
    with TFRecordWriter(path) as writer:
        for data in records:
            writer.write(data)
    return writer.count


@dataclass
class ReadStats:
    """What a read saw: good records, and bad ones skipped (file, index, reason)."""

    records: int = 0
    bad: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def num_bad(self) -> int:
        return len(self.bad)


def _check_header(path, index: int, header: bytes, file_size: int, offset: int) -> int:
    """The data length of the record whose header is `header`; raises if it is corrupt."""
    if len(header) < _HEADER.size:
        raise CorruptRecordError(path, index, f"truncated header ({len(header)} of 12 bytes)")
    length, length_crc = _HEADER.unpack(header)
    if masked_crc32c(header[:8]) != length_crc:
        raise CorruptRecordError(path, index, "length checksum mismatch")
    end = offset + _HEADER.size + length + _FOOTER.size
    if end > file_size:
        raise CorruptRecordError(
            path, index, f"truncated: record ends at byte {end}, file has {file_size}"
        )
    return length


def _check_data(path, index: int, data: bytes, footer: bytes) -> None:
    if masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
        raise CorruptRecordError(path, index, "data checksum mismatch")


def read_tfrecord(
    path: str | Path,
    verify: bool = True,
    on_error: OnError = "raise",
    stats: ReadStats | None = None,
) -> Iterator[bytes]:
    """The records of a TFRecord file, checksums verified (unless `verify=False`).

    With ``on_error="skip"`` a record with a bad data checksum is skipped and counted in
    `stats`; a bad length (header) cannot be skipped past, so the rest of the file is counted
    as one bad record and reading stops there.
    """
    stats = stats if stats is not None else ReadStats()
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        index, offset = 0, 0
        while offset < file_size:
            try:
                length = _check_header(path, index, f.read(_HEADER.size), file_size, offset)
            except CorruptRecordError as err:
                if on_error == "raise":
                    raise
                stats.bad.append((err.path, err.index, err.reason + "; rest of file skipped"))
                return
            data = f.read(length)
            footer = f.read(_FOOTER.size)
            offset += _HEADER.size + length + _FOOTER.size
            index += 1
            if verify:
                try:
                    _check_data(path, index - 1, data, footer)
                except CorruptRecordError as err:
                    if on_error == "raise":
                        raise
                    stats.bad.append((err.path, err.index, err.reason))
                    continue
            stats.records += 1
            yield data


def index_tfrecord(path: str | Path, stats: ReadStats | None = None) -> list[tuple[int, int]]:
    """(offset of the data, length) of every record, reading only the headers.

    Length checksums are verified here, data checksums when a record is read. A bad header
    raises, or, given `stats`, is counted there and ends the index (the rest is unreachable).
    """
    file_size = os.path.getsize(path)
    out = []
    with open(path, "rb") as f:
        offset = 0
        while offset < file_size:
            f.seek(offset)
            try:
                length = _check_header(path, len(out), f.read(_HEADER.size), file_size, offset)
            except CorruptRecordError as err:
                if stats is None:
                    raise
                stats.bad.append((err.path, err.index, err.reason + "; rest of file skipped"))
                break
            out.append((offset + _HEADER.size, length))
            offset += _HEADER.size + length + _FOOTER.size
    return out


class TFRecordFile:
    """Random access to the records of one TFRecord file (thread-safe: `os.pread`).

    With ``on_error="skip"`` every record is verified once when the file is opened; bad ones
    are left out (the file then looks shorter) and counted in `stats`.
    """

    def __init__(
        self,
        path: str | Path,
        verify: bool = True,
        on_error: OnError = "raise",
        stats: ReadStats | None = None,
    ):
        self.path = str(path)
        self.verify = verify
        self.stats = stats if stats is not None else ReadStats()
        self._fd = os.open(self.path, os.O_RDONLY)
        if on_error == "raise":
            self._index = index_tfrecord(path)
        else:
            self._index = self._good_records()

    def _good_records(self) -> list[tuple[int, int]]:
        good = []
        for i, (offset, length) in enumerate(index_tfrecord(self.path, self.stats)):
            raw = os.pread(self._fd, length + _FOOTER.size, offset)
            try:
                _check_data(self.path, i, raw[:length], raw[length:])
            except CorruptRecordError as err:
                self.stats.bad.append((err.path, err.index, err.reason))
                continue
            good.append((offset, length))
        self.stats.records += len(good)
        self.verify = False  # verified just now
        return good

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> bytes:
        offset, length = self._index[i]
        raw = os.pread(self._fd, length + _FOOTER.size, offset)
        data, footer = raw[:length], raw[length:]
        if self.verify:
            _check_data(self.path, i, data, footer)
        return data

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        self.close()
