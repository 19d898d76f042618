"""What the input pipelines' host ops share: per-element graph functions and batching.

A `Dataset.map` function or a queue's per-example tensors are a part of the graph evaluated
once per element: `GraphFunction` runs it with `Session.run` (host ops such as
`parse_single_example` on the host, the rest compiled once per signature and reused).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import jax
import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.graph import Tensor


def graph_dtype(dtype) -> np.dtype:
    """The dtype a pipeline tensor has in the graph: JAX's (int64 -> int32 unless x64 is on),
    strings as TF's string dtype."""
    dtype = np.dtype(dtype)
    return dtype if dtype == dtypes.string else np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def element_value(value):
    """A value as a pipeline element holds it: a 0-d string array becomes its bytes."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
        return value[()]
    return value


def stack_values(values: list):
    """Examples' values of one component stacked into a batch (bytes into an object array)."""
    if isinstance(values[0], bytes):
        return np.array(values, dtype=object)
    return np.stack([np.asarray(v) for v in values])


class GraphFunction:
    """`outputs` as a function of values fed to `inputs`, evaluated in a session."""

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor]):
        self.inputs, self.outputs = list(inputs), list(outputs)

    def __call__(self, session, values: Sequence) -> list:
        feeds = dict(zip(self.inputs, values, strict=True))
        return [element_value(v) for v in session.run(self.outputs, feeds)]


class PerSession:
    """State kept per session and shared by several ops (an iterator, a filename queue)."""

    def __init__(self, make: Callable | None = None):
        self._make = make
        self._states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self, session, make: Callable | None = None):
        if session not in self._states:
            maker = make or self._make
            if maker is None:
                return None
            self._states[session] = maker()
        return self._states[session]

    def set(self, session, value) -> None:
        self._states[session] = value
