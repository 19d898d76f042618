"""What the input pipelines' host ops share: per-element graph functions and batching.

A `Dataset.map` function or a queue's per-example tensors are a part of the graph evaluated
once per element: `GraphFunction` runs it with `Session.run` (host ops such as
`parse_single_example` on the host, the rest compiled once per signature and reused);
`VectorizedFunction` runs a pure part (no host, variable or random op) on a whole chunk of
elements in one compiled call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import jax
import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.errors import OpError
from jaxcourse.compat.v1.evaluation import Evaluation, execution_order, fed_op_ids
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


class VectorizedFunction:
    """`outputs` of `inputs` as one compiled, vmapped function over a chunk of elements, for
    a pure part of the graph (no host op, variable or random op); None from `build` when the
    part is not pure. Chunks are padded to `CHUNK` elements, so it compiles once."""

    CHUNK = 256

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor], order: list):
        self.inputs, self.outputs = list(inputs), list(outputs)

        def one(*values):
            ev = _NoRandomEvaluation(dict(zip((t.ref for t in self.inputs), values, strict=True)))
            ev.evaluate(order)
            return [ev.values[t.ref] for t in self.outputs]

        self._one = one
        self._compiled = jax.jit(jax.vmap(one))

    @classmethod
    def build(cls, inputs: Sequence[Tensor], outputs: Sequence[Tensor]):
        if any(t.dtype == dtypes.string for t in [*inputs, *outputs]):
            return None
        order = execution_order([t.op for t in outputs], fed_op_ids(inputs), captures=False)
        if any(op.host or op.type == "VariableV2" or op.writes for op in order):
            return None
        function = cls(inputs, outputs, order)
        structs = [jax.ShapeDtypeStruct(t.shape, t.dtype) for t in inputs]
        if any(t.shape is None or None in t.shape for t in inputs):
            return None
        try:
            jax.eval_shape(function._one, *structs)
        except _DrawsRandomNumbers:
            return None
        return function

    def __call__(self, chunk: list[list]) -> list[list]:
        """Per element of `chunk` (lists of input values), the list of output values."""
        n = len(chunk)
        padded = chunk + [chunk[-1]] * (self.CHUNK - n)
        columns = [
            np.stack([np.asarray(row[i], t.dtype) for row in padded])
            for i, t in enumerate(self.inputs)
        ]
        outs = jax.device_get(self._compiled(*columns))
        return [[element_value(o[k]) for o in outs] for k in range(n)]


class _DrawsRandomNumbers(OpError):
    """Raised while tracing a dataset function that draws random numbers."""


class _NoRandomEvaluation(Evaluation):
    """An Evaluation for a vectorized pure function: a random op stops the vectorizing."""

    def __init__(self, fed: dict):
        super().__init__({}, fed, None, 0, stop={ref[0] for ref in fed})

    def key(self):
        raise _DrawsRandomNumbers()

    def run_key(self):
        raise _DrawsRandomNumbers()


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
