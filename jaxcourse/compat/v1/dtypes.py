"""TF1's dtype names (`tf.float32`, ...), as NumPy dtypes."""

from __future__ import annotations

import numpy as np

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
bfloat16 = np.dtype("bfloat16") if hasattr(np, "bfloat16") else None
int8, int16, int32, int64 = (np.dtype(f"int{n}") for n in (8, 16, 32, 64))
uint8, uint16 = np.dtype("uint8"), np.dtype("uint16")
bool_ = np.dtype("bool")
string = np.dtype("object")

if bfloat16 is None:
    import ml_dtypes

    bfloat16 = np.dtype(ml_dtypes.bfloat16)


def as_dtype(dtype) -> np.dtype:
    """A NumPy dtype for `dtype` (a dtype, type, or name like 'float32')."""
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r} (expected e.g. tf.float32 or 'int32')") from None


def name_of(dtype) -> str:
    """TF's name of a dtype: 'float32', 'int32', 'string' (NumPy's object dtype), ..."""
    dtype = np.dtype(dtype)
    return "string" if dtype == string else dtype.name


def default_dtype(value) -> np.dtype:
    """TF's dtype for a Python/NumPy value: float -> float32, int -> int32, else its own."""
    arr = np.asarray(value)
    if arr.dtype == np.float64 and not isinstance(value, np.ndarray | np.generic):
        return float32
    if arr.dtype == np.int64 and not isinstance(value, np.ndarray | np.generic):
        return int32
    return arr.dtype


def as_bytes_array(value) -> np.ndarray:
    """Text as a NumPy object array of bytes (str is UTF-8 encoded), TF's string values."""
    array = np.asarray(value, dtype=object)
    return np.vectorize(_as_bytes, otypes=[object])(array) if array.size else array


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, np.bytes_ | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"expected bytes or str for a string tensor, got {type(value).__name__}")


def __getattr__(name: str):
    from jaxcourse.compat.v1.namespace import module_getattr

    return module_getattr("tf.dtypes", globals())(name)
