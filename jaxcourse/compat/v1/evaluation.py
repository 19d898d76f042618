"""Evaluating graph ops: the order a run needs them in, and the values of one traced run.

Values are keyed by `Tensor.ref` (op id, output index), so ops may have several outputs. An
op whose inputs all have values already (constants, static shapes) and whose result is small
is evaluated at trace time (`jax.ensure_compile_time_eval`), so a shape computed from
`tf.shape(x)` is a concrete value inside the compiled run, as TF's shape arguments require.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np

from jaxcourse.compat.v1.errors import InvalidArgumentError, OpError
from jaxcourse.compat.v1.graph import (
    STATIC_VALUE_LIMIT,
    Operation,
    Tensor,
    is_concrete,
)


def execution_order(
    targets: list[Operation], fed_ids: set[int], captures: bool = True
) -> list[Operation]:
    """The ops needed for `targets`, dependencies first; fed ops are not evaluated.

    With `captures=False`, the subgraphs that ops evaluate themselves (an optimizer's loss)
    are left out: the order in which a run evaluates ops.
    """
    order, done = [], set()
    for target in targets:
        stack = [(target, False)]
        while stack:
            op, expanded = stack.pop()
            if op.id in done:
                continue
            if expanded or op.id in fed_ids:
                done.add(op.id)
                if op.id not in fed_ids:
                    order.append(op)
                continue
            stack.append((op, True))
            deps = op.dependencies(captures)
            stack += [(dep, False) for dep in reversed(deps) if dep.id not in done]
    return order


def fed_op_ids(tensors) -> set[int]:
    """Ids of the ops whose outputs are all among `tensors`: a run does not evaluate them."""
    refs = {t.ref for t in tensors}
    return {t.op.id for t in tensors if all(o.ref in refs for o in t.op.outputs)}


def _small_outputs(op: Operation) -> bool:
    return bool(op.outputs) and all(
        t.shape is not None
        and t.shape.is_fully_defined()
        and int(np.prod(t.shape)) <= STATIC_VALUE_LIMIT
        for t in op.outputs
    )


class Evaluation:
    """One traced run of a graph: tensor values (by `Tensor.ref`), variable writes and keys."""

    def __init__(self, variables: dict, fed: dict, base_key, counter, stop: set | None = None):
        self.variables = variables
        self.fed = fed
        self.values = dict(fed)
        self.writes: dict[str, object] = {}
        self.stop = {op_id for op_id, _ in fed} if stop is None else stop
        self._done: set[int] = set()
        self.use_static = True  # False: compute every op (a gradient varies a constant)
        self._base_key, self._counter = base_key, counter
        self._run_key = None
        self._current: Operation | None = None

    def run_key(self):
        """The run's key (made on first use: control-flow ops call this before tracing their
        branches, so the key belongs to the run's own trace). `base_key` may be an int seed:
        the key is then made in the trace too, only by runs that draw random numbers."""
        if self._run_key is None:
            base = self._base_key
            base = jax.random.key(base) if isinstance(base, int) else base
            self._run_key = jax.random.fold_in(base, self._counter)
        return self._run_key

    def key(self):
        """The random key of the op being evaluated (fresh per op and per run)."""
        return jax.random.fold_in(self.run_key(), self._current.seed)

    def read(self, variable):
        return self.variables[variable.op.name]

    def write(self, variable, value) -> None:
        self.writes[variable.op.name] = value

    def fork(self, variables: dict) -> Evaluation:
        """An evaluation of the same run that reads `variables` instead (for gradients)."""
        child = Evaluation(
            {**self.variables, **variables}, self.fed, self._base_key, self._counter, self.stop
        )
        child._run_key = self._run_key
        return child

    def nested(self, salt=None) -> Evaluation:
        """An evaluation inside this one (a cond branch, a loop body) that sees its values
        and writes; random keys are folded with `salt` (a loop's iteration) when given."""
        child = Evaluation(self.variables, self.fed, self._base_key, self._counter, self.stop)
        child.values = dict(self.values)
        child.writes = dict(self.writes)
        run_key = self.run_key()
        child._run_key = run_key if salt is None else jax.random.fold_in(run_key, salt)
        return child

    def current_value(self, variable_name: str):
        """A variable's value as this run has it so far (written, or as read at the start)."""
        return self.writes.get(variable_name, self.variables[variable_name])

    def value(self, tensor: Tensor):
        """The value of `tensor`, evaluating the ops it needs."""
        if tensor.ref not in self.values:
            self.evaluate(execution_order([tensor.op], self.stop, captures=False))
        return self.values[tensor.ref]

    def evaluate(self, order: list[Operation]) -> None:
        for op in order:
            if op.id in self._done:
                continue
            self._done.add(op.id)
            if op.outputs and all(t.ref in self.values for t in op.outputs):
                continue
            if (
                self.use_static
                and op.outputs
                and all(t.static_value is not None for t in op.outputs)
            ):
                self._store(op, [t.static_value for t in op.outputs])
                continue
            if op.host:
                raise InvalidArgumentError(
                    f"host op '{op.name}' ({op.type}) is needed inside the compiled part of a "
                    "run; host ops run before it, from fed values and other host ops"
                )
            self._current = op
            args = [self.values[t.ref] for t in op.inputs]
            eager = not op.captures and _small_outputs(op) and is_concrete(args)
            with (
                jax.named_scope(op.name),
                jax.ensure_compile_time_eval() if eager else contextlib.nullcontext(),
            ):
                try:
                    out = op.compute(self, *args)
                except OpError:
                    raise
                except Exception as err:
                    described = ", ".join(t.describe() for t in op.inputs) or "no inputs"
                    raise InvalidArgumentError(
                        f"op '{op.name}' ({op.type}) failed on {described}: {err}"
                    ) from err
            self._store(op, [out] if len(op.outputs) == 1 else out)

    def _store(self, op: Operation, outs) -> None:
        if not op.outputs:
            return
        outs = list(outs)
        if len(outs) != len(op.outputs):
            raise InvalidArgumentError(
                f"op '{op.name}' ({op.type}) computed {len(outs)} values for its "
                f"{len(op.outputs)} outputs"
            )
        for t, value in zip(op.outputs, outs, strict=True):
            self.values.setdefault(t.ref, value)


def trial_value(tensor: Tensor, size: int):
    """The value of `tensor` if every unknown size in the graph were `size`, when the graph
    determines it then (a shape computed from `tf.shape(x)`); None otherwise."""
    if tensor.static_value is not None:
        return tensor.static_value
    if tensor.op.host or tensor.op.type == "Placeholder":
        return None
    everything = execution_order([tensor.op], set(), captures=False)
    sources = {op.id for op in everything if op.host or op.type == "Placeholder"}
    order = execution_order([tensor.op], sources, captures=False)
    inputs = list({t.ref: t for op in order for t in op.inputs if t.op.id in sources}.values())
    if any(t.shape is None for t in inputs):
        return None
    structs = [
        jax.ShapeDtypeStruct(tuple(size if d is None else d for d in t.shape), t.dtype)
        for t in inputs
    ]
    variables = {op.name: op.outputs[0].template for op in order if op.type == "VariableV2"}
    captured = []

    def fn(key, variable_values, *values):
        ev = Evaluation(
            variable_values, dict(zip([t.ref for t in inputs], values, strict=True)), key, 0
        )
        ev.evaluate(order)
        value = ev.values[tensor.ref]
        if is_concrete(value):
            captured.append(np.asarray(value))
        return ()

    try:
        key = jax.eval_shape(lambda: jax.random.key(0))
        jax.eval_shape(fn, key, variables, *structs)
    except Exception:
        return None
    return captured[0] if captured else None


def constant_value_as_shape(tensor: Tensor) -> tuple | None:
    """The static shape a 1-D shape tensor describes: sizes it fixes, None for sizes that
    depend on unknown dimensions; None if even its length is unknown (TF's
    `constant_value_as_shape`)."""
    if tensor.static_value is not None:
        return tuple(int(d) for d in np.ravel(tensor.static_value))
    if tensor.shape is None or len(tensor.shape) != 1:
        return None
    trials = [trial_value(tensor, n) for n in (2, 3)]
    if any(v is None for v in trials):
        return None if tensor.shape[0] is None else (None,) * tensor.shape[0]
    two, three = (np.ravel(v) for v in trials)
    return tuple(int(a) if a == b else None for a, b in zip(two, three, strict=True))
