"""Host-side ops: input pipelines, readers and queues, run in Python before the compiled part.

An op marked `op.host = True` computes on the host (NumPy arrays, bytes): `tf.data` iterators'
`get_next`, `TFRecordReader.read`, `parse_single_example`, `decode_raw`, queues. A run that
needs such ops evaluates them, and the ops they depend on, eagerly first (`HostPart`); their
values are then fed to the compiled function like placeholders, and fetches computed on the
host come back without compiling anything. `subgraph_function` evaluates the graph between
given input tensors and outputs once per element (a `Dataset.map` function, a queue's
example): compiled with `jax.jit` when it holds no host op, else eagerly.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from jaxcourse.compat.v1.errors import InvalidArgumentError
from jaxcourse.compat.v1.graph import Operation, Tensor
from jaxcourse.compat.v1.session import Evaluation, execution_order


def is_host(op: Operation) -> bool:
    return getattr(op, "host", False)


def host_value(value):
    """A value as a fetch returns it: NumPy arrays, 0-d arrays as scalars, bytes as bytes."""
    if isinstance(value, bytes | str):
        return value
    value = np.asarray(value)
    return value[()] if value.ndim == 0 else value


def stack_values(values: list):
    """Examples' values of one component stacked into a batch (bytes into an object array)."""
    if isinstance(values[0], bytes):
        return np.array(values, dtype=object)
    return np.stack([np.asarray(v) for v in values])


def evaluation(session, fed: dict, counter: int) -> Evaluation:
    """An eager Evaluation for `session`'s host ops (`ev.session`, a per-run `ev.host_cache`)."""
    ev = Evaluation(session._values, fed, jax.random.key(session.graph.seed or 0), counter)
    ev.session, ev.host_cache = session, {}
    return ev


class HostPart:
    """The host ops a set of fetches needs, the ops they depend on, and what they feed."""

    def __init__(self, upstream: list[Operation], boundary: list[Tensor]):
        self.upstream = upstream
        self.done = frozenset(op.id for op in upstream)
        self.boundary = boundary

    @classmethod
    def find(cls, leaves: list, fed: Sequence[Tensor]) -> HostPart | None:
        fed_ids = {t.op.id for t in fed}
        targets = [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in leaves]
        needed = execution_order(targets, fed_ids)
        host_ops = [op for op in needed if is_host(op)]
        if not host_ops:
            return None
        upstream = execution_order(host_ops, fed_ids, captures=False)
        done = {op.id for op in upstream}
        boundary = {}
        for op in needed:
            if op.id not in done:
                for t in op.inputs + op.captures:
                    if t.op.id in done:
                        boundary[id(t)] = t
        return cls(upstream, list(boundary.values()))

    def run(self, session, leaves: list, fed: list[Tensor], values: list, results: list):
        """Evaluate the host part; fill `results` for fetches it computed. Returns the other
        fetches, the feeds of the compiled part (with the host values) and `slots`."""
        feeds = {t.op.id: v for t, v in zip(fed, values, strict=True)}
        ev = evaluation(session, feeds, np.uint32(session._runs))
        session.check_initialized(
            [op.outputs[0] for op in self.upstream if op.type == "VariableV2"]
        )
        ev.evaluate(self.upstream)
        session._values.update(ev.writes)
        remaining, self.slots = [], []
        for slot, leaf in enumerate(leaves):
            op = leaf.op if isinstance(leaf, Tensor) else leaf
            if op.id in self.done:
                results[slot] = host_value(ev.values[op.id]) if isinstance(leaf, Tensor) else None
            else:
                remaining.append(leaf)
                self.slots.append(slot)
        fed, values = list(fed), list(values)
        for tensor in self.boundary:
            value = ev.values[tensor.op.id]
            array = np.asarray(value)
            if array.dtype.kind in "OSU":
                raise InvalidArgumentError(
                    f"string tensor {tensor.describe()} feeds a compiled op; string values stay "
                    "on the host: decode them (tf.decode_raw, tf.parse_single_example) first"
                )
            fed.append(tensor)
            values.append(array.astype(tensor.dtype) if array.dtype != tensor.dtype else array)
        return remaining, fed, values


class subgraph_function:  # noqa: N801  (used like a function)
    """`outputs` (a list of tensors) as a function of values for `inputs` (placeholder-like
    tensors), for one session: jitted when the subgraph has no host op, else eager."""

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor]):
        self.inputs, self.outputs = list(inputs), list(outputs)
        fed_ids = {t.op.id for t in self.inputs}
        self.order = execution_order([t.op for t in self.outputs], fed_ids, captures=False)
        self.eager = any(is_host(op) for op in self.order) or any(
            op.type == "VariableV2" for op in self.order
        )
        self._jitted = None
        self._calls = 0

    def _evaluate(self, ev: Evaluation, values) -> list:
        ev.fed.update(zip((t.op.id for t in self.inputs), values, strict=True))
        ev.values.update(ev.fed)
        ev.evaluate(self.order)
        return [ev.values[t.op.id] for t in self.outputs]

    def __call__(self, session, values: Sequence) -> list:
        self._calls += 1
        if self.eager:
            return [
                host_value(v) for v in self._evaluate(evaluation(session, {}, self._calls), values)
            ]
        if self._jitted is None:
            key = jax.random.key(session.graph.seed or 0)

            def run(values, counter):
                return self._evaluate(Evaluation({}, {}, key, counter), values)

            self._jitted = jax.jit(run)
        arrays = [np.asarray(v, t.dtype) for v, t in zip(values, self.inputs, strict=True)]
        return [host_value(v) for v in jax.device_get(self._jitted(arrays, np.uint32(self._calls)))]
