"""`Session`: runs the part of a graph that the fetches need, compiled with `jax.jit`.

`run(fetches, feed_dict)` prunes the graph to the ops the fetches depend on (stopping at fed
tensors), checks feeds and variables, and calls one compiled function per signature — the
fetched ops, the fed tensors and their shapes and dtypes — so repeated runs do not retrace.
Variable values stay on the device between runs (variables a run updates are donated).
Random ops draw from `fold_in(fold_in(seed, run number), op seed)`: seeded, different on
every run, as in TF.
"""

from __future__ import annotations

import contextlib
import threading
import warnings

import jax
import numpy as np

from jaxcourse.compat.v1.errors import FailedPreconditionError, InvalidArgumentError, OpError
from jaxcourse.compat.v1.graph import Graph, Operation, Tensor, get_default_graph


class Evaluation:
    """One traced run of a graph: op values, variable writes and random keys."""

    def __init__(self, variables: dict, fed: dict, base_key, counter):
        self.variables = variables
        self.fed = fed
        self.values = dict(fed)
        self.writes: dict[str, object] = {}
        self._base_key, self._counter = base_key, counter
        self._run_key = None
        self._current: Operation | None = None

    def key(self):
        """The random key of the op being evaluated (fresh per op and per run)."""
        if self._run_key is None:
            self._run_key = jax.random.fold_in(self._base_key, self._counter)
        return jax.random.fold_in(self._run_key, self._current.seed)

    def read(self, variable):
        return self.variables[variable.op.name]

    def write(self, variable, value) -> None:
        self.writes[variable.op.name] = value

    def fork(self, variables: dict) -> Evaluation:
        """An evaluation of the same run that reads `variables` instead (for gradients)."""
        child = Evaluation({**self.variables, **variables}, self.fed, self._base_key, self._counter)
        child._run_key = self._run_key
        return child

    def value(self, tensor: Tensor):
        """The value of `tensor`, evaluating the ops it needs."""
        self.evaluate(execution_order([tensor.op], set(self.fed), captures=False))
        return self.values[tensor.op.id]

    def evaluate(self, order: list[Operation]) -> None:
        for op in order:
            if op.id in self.values:
                continue
            self._current = op
            args = [self.values[t.op.id] for t in op.inputs]
            with jax.named_scope(op.name):
                try:
                    self.values[op.id] = op.compute(self, *args)
                except OpError:
                    raise
                except Exception as err:
                    described = ", ".join(t.describe() for t in op.inputs) or "no inputs"
                    raise InvalidArgumentError(
                        f"op '{op.name}' ({op.type}) failed on {described}: {err}"
                    ) from err


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


def _shape_text(shape) -> str:
    return (
        "unknown"
        if shape is None
        else "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"
    )


class _Plan:
    """One compiled signature: what to feed, which variables it reads and writes."""

    def __init__(
        self,
        session: Session,
        leaves: list,
        fed: list[Tensor],
        feed_values: list,
        host_done: frozenset = frozenset(),
    ):
        graph = session.graph
        targets = [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in leaves]
        fed_ids = {t.op.id for t in fed} | host_done
        needed = execution_order(targets, fed_ids)
        order = execution_order(targets, fed_ids, captures=False)
        for op in needed:
            if op.type == "Placeholder":
                t = op.outputs[0]
                raise InvalidArgumentError(
                    f"you must feed a value for placeholder '{op.name}' (dtype {t.dtype.name}, "
                    f"shape {_shape_text(t.shape)}): pass feed_dict={{{op.name}: ...}}"
                )
        read = [op.outputs[0] for op in needed if op.type == "VariableV2"]
        written = {v.op.name: v for op in needed for v in op.writes}
        self.read_names = [v.op.name for v in read]
        self.read_vars = read
        self.donated = [n for n in self.read_names if n in written]
        self.kept = [n for n in self.read_names if n not in written]
        self.written = sorted(written)
        self.tensor_slots = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]
        self.host_fns = [leaves[i].op.host_fn for i in self.tensor_slots]
        fetched = [leaves[i] for i in self.tensor_slots]
        fed_op_ids = [t.op.id for t in fed]
        base_key = jax.random.key(graph.seed or 0)

        def run_fn(donated, kept, feeds, counter):
            ev = Evaluation(
                {**kept, **donated}, dict(zip(fed_op_ids, feeds, strict=True)), base_key, counter
            )
            ev.evaluate(order)
            outs = [ev.values[t.op.id] for t in fetched]
            return outs, {name: ev.writes[name] for name in self.written}

        session.check_initialized(read)
        args = session.plan_args(self, feed_values)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
            self.compiled = jax.jit(run_fn, donate_argnums=0).lower(*args).compile()


class Session:
    """TF1's `tf.Session`: holds variable values and runs fetches with feeds.

    `compile_count` counts the compiled signatures (one per distinct fetches, fed tensors and
    feed shapes/dtypes); repeated runs of one signature reuse its compiled function.
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config=None):
        self.graph = graph or get_default_graph()
        self._values: dict[str, object] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._host_parts: dict[tuple, object] = {}  # h15input: host ops of a fetch set
        self._runs = 0
        self._closed = False
        self.compile_count = 0

    # -- context ------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        _default_sessions.stack.append(self)
        self._graph_context = self.graph.as_default()
        self._graph_context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._graph_context.__exit__(*exc)
        _default_sessions.stack.remove(self)
        self.close()

    @contextlib.contextmanager
    def as_default(self):
        _default_sessions.stack.append(self)
        try:
            with self.graph.as_default():
                yield self
        finally:
            _default_sessions.stack.remove(self)

    def close(self) -> None:
        self._closed = True
        self._values.clear()
        self._plans.clear()

    # -- running ------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Evaluate `fetches` (a tensor, op, name, or a nested list/tuple/dict of them).

        Returns numpy values in the same structure (None for ops), after applying the
        variable updates the run makes.
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        leaves, treedef = jax.tree_util.tree_flatten(fetches)
        leaves = [self._element(leaf) for leaf in leaves]
        for leaf in leaves:
            if leaf.graph is not self.graph:
                raise ValueError(f"fetch {leaf.name!r} is not an element of this session's graph")
        fed, values = self._feeds(feed_dict or {})
        results = [None] * len(leaves)
        host = self._host_part(leaves, fed)  # h15input: host-side ops run first
        if host is not None:
            leaves, fed, values = host.run(self, leaves, fed, values, results)
            if not leaves:
                self._runs += 1
                return jax.tree_util.tree_unflatten(treedef, results)
        key = (
            tuple(id(leaf) for leaf in leaves),
            tuple((t.op.id, v.shape, v.dtype) for t, v in zip(fed, values, strict=True)),
        )
        plan = self._plans.get(key)
        if plan is None:
            plan = _Plan(self, leaves, fed, values, host.done if host else frozenset())
            self._plans[key] = plan
            self.compile_count += 1
        else:
            self.check_initialized(plan.read_vars)
        outs, writes = plan.compiled(*self.plan_args(plan, values))
        self._runs += 1
        self._values.update(writes)  # fresh buffers: jit copies outputs that equal inputs
        fetched = jax.device_get(outs)
        slots = host.slots if host is not None else range(len(results))
        for slot, value, host_fn in zip(
            [slots[i] for i in plan.tensor_slots], fetched, plan.host_fns, strict=True
        ):
            value = np.asarray(value) if not isinstance(value, tuple) else value
            if host_fn is not None:
                value = host_fn(value)
            elif isinstance(value, np.ndarray) and value.ndim == 0:
                value = value[()]
            results[slot] = value
        return jax.tree_util.tree_unflatten(treedef, results)

    def _host_part(self, leaves: list, fed: list[Tensor]):
        """The host-side ops (`jaxcourse.compat.v1.host`) the fetches need, or None."""
        key = (tuple(id(leaf) for leaf in leaves), tuple(t.op.id for t in fed))
        if key not in self._host_parts:
            from jaxcourse.compat.v1.host import HostPart

            self._host_parts[key] = HostPart.find(leaves, fed)
        return self._host_parts[key]

    def plan_args(self, plan: _Plan, feed_values: list) -> tuple:
        donated = {n: self._values[n] for n in plan.donated}
        kept = {n: self._values[n] for n in plan.kept}
        return donated, kept, list(feed_values), np.uint32(self._runs)

    def _element(self, leaf):
        if isinstance(leaf, Tensor | Operation):
            return leaf
        if isinstance(leaf, str):
            if ":" in leaf:
                return self.graph.get_tensor_by_name(leaf)
            return self.graph.get_operation_by_name(leaf)
        raise TypeError(
            f"cannot fetch {leaf!r} of type {type(leaf).__name__}: fetches must be tensors, "
            "operations or their names (in lists, tuples or dicts)"
        )

    def _feeds(self, feed_dict) -> tuple[list[Tensor], list]:
        """Fed tensors and their values, checked against the tensors' dtypes and shapes."""
        fed, values = [], []
        for key, value in feed_dict.items():
            tensor = self._element(key) if isinstance(key, str) else key
            if not isinstance(tensor, Tensor):
                raise TypeError(f"feed_dict key {key!r} is not a tensor of this graph")
            if tensor.graph is not self.graph:
                raise ValueError(f"feed_dict key {tensor.describe()} is from another graph")
            fed.append(tensor)
            values.append(_check_feed(tensor, value))
        return fed, values

    def check_initialized(self, variables) -> None:
        for variable in variables:
            if variable.op.name not in self._values:
                raise FailedPreconditionError(
                    f"attempting to use uninitialized {variable.describe()}; run "
                    "tf.global_variables_initializer() (or its .initializer) in this session "
                    "first"
                )

    def load_variable(self, variable, value) -> None:
        """Set `variable` to `value` (checked against its shape and dtype)."""
        expected = variable.template
        value = jax.tree_util.tree_map(np.asarray, value)
        got = jax.tree_util.tree_structure(value)
        if got != jax.tree_util.tree_structure(expected):
            raise InvalidArgumentError(f"value for {variable.describe()} has structure {got}")
        for leaf, want in zip(
            jax.tree_util.tree_leaves(value), jax.tree_util.tree_leaves(expected), strict=True
        ):
            if leaf.shape != tuple(want.shape):
                raise InvalidArgumentError(
                    f"value for {variable.describe()} has shape {list(leaf.shape)}, "
                    f"expected {list(want.shape)}"
                )
        self._values[variable.op.name] = jax.tree_util.tree_map(
            lambda a, w: jax.device_put(a.astype(w.dtype)), value, expected
        )

    def variable_value(self, variable):
        """The current value of `variable` (a device array or pytree of them)."""
        self.check_initialized([variable])
        return self._values[variable.op.name]


class InteractiveSession(Session):
    """A Session that makes itself the default on creation (for notebooks)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config=None):
        super().__init__(target, graph, config)
        _default_sessions.stack.append(self)

    def close(self) -> None:
        if self in _default_sessions.stack:
            _default_sessions.stack.remove(self)
        super().close()


def _check_feed(tensor: Tensor, value):
    """`value` as an array of `tensor`'s dtype; an error naming the tensor if it does not fit."""
    array = value if isinstance(value, jax.Array) else np.asarray(value)
    kind = "placeholder" if tensor.op.type == "Placeholder" else "tensor"
    if array.dtype != tensor.dtype:
        if not np.can_cast(array.dtype, tensor.dtype, "same_kind"):
            raise InvalidArgumentError(
                f"{kind} '{tensor.op.name}' expects dtype {tensor.dtype.name}, got a feed of "
                f"dtype {array.dtype} (shape {list(array.shape)})"
            )
        array = array.astype(tensor.dtype)
    shape = tensor.shape
    if shape is not None and (
        len(shape) != array.ndim
        or any(d is not None and d != s for d, s in zip(shape, array.shape, strict=True))
    ):
        raise InvalidArgumentError(
            f"{kind} '{tensor.op.name}' expects shape {_shape_text(shape)} "
            f"(dtype {tensor.dtype.name}), got a feed of shape {list(array.shape)}"
        )
    return array


class _SessionStack(threading.local):
    def __init__(self):
        self.stack: list[Session] = []


_default_sessions = _SessionStack()


def get_default_session() -> Session | None:
    return _default_sessions.stack[-1] if _default_sessions.stack else None


def get_default_session_or_fail() -> Session:
    session = get_default_session()
    if session is None:
        raise ValueError(
            "no default session: use `with tf.Session() as sess:` or pass session=sess"
        )
    return session
