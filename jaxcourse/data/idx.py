"""The IDX file format of MNIST-style datasets: reading and writing, gzipped or not.

An IDX file is a big-endian header — two zero bytes, a type code, the number of dimensions,
one uint32 per dimension — followed by the array's bytes in C order. Every read is checked:
a bad header, a wrong size or a broken gzip stream raises a `DataError` naming the file.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from jaxcourse.errors import DataError

# type code -> big-endian numpy dtype
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file `path` (`.gz` is decompressed), in native byte order."""
    path = Path(path)
    try:
        with _open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"IDX file '{path}' does not exist") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"IDX file '{path}' is corrupt or truncated (gzip: {err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"IDX file '{path}' has no IDX header (expected two zero bytes, a type code and "
            f"a dimension count; got {raw[:4]!r})"
        )
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise DataError(f"IDX file '{path}' has unknown data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file '{path}' is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        state = "truncated" if got < expected else "longer than its header says"
        raise DataError(
            f"IDX file '{path}' is {state}: shape {shape} of {dtype.name} needs {expected} "
            f"data bytes, found {got}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write `array` as an IDX file (gzipped when `path` ends in .gz); returns `path`."""
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            f"cannot write {array.dtype} to IDX file '{path}': supported dtypes are "
            "uint8, int8, int16, int32, float32, float64"
        )
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    body = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    with _open(path, "wb") as f:
        f.write(header + body)
    return path
