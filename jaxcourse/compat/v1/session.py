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

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
)
from jaxcourse.compat.v1.evaluation import Evaluation, execution_order, fed_op_ids
from jaxcourse.compat.v1.graph import Graph, Operation, Tensor, get_default_graph


def _shape_text(shape) -> str:
    return (
        "unknown"
        if shape is None
        else "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"
    )


def _check_fed_placeholders(needed: list[Operation]) -> None:
    for op in needed:
        if op.type == "Placeholder":
            t = op.outputs[0]
            raise InvalidArgumentError(
                f"you must feed a value for placeholder '{op.name}' (dtype "
                f"{dtypes.name_of(t.dtype)}, shape {_shape_text(t.shape)}): pass "
                f"feed_dict={{{op.name}: ...}}"
            )


class HostContext:
    """What a host op's `compute(hv, ...)` sees: the session, its per-session state, the
    run's feeds (tensor -> value) and `run_state`, a dict shared by the host ops of one run."""

    def __init__(self, session: Session, op: Operation, feeds: dict, run_state: dict):
        self.session, self.op, self.feeds, self.run_state = session, op, feeds, run_state

    def state(self) -> dict:
        """A dict this op keeps in this session between runs (an iterator's position)."""
        return self.session._host_state.setdefault(self.op.id, {})


def _fits(shape, actual) -> bool:
    """Whether a concrete shape `actual` fits the static `shape` (`None`: unknown rank or size)."""
    return shape is None or (
        len(shape) == len(actual)
        and all(d is None or d == s for d, s in zip(shape, actual, strict=True))
    )


def host_value(tensor: Tensor, value, what: str = "host op"):
    """`value` as `tensor`'s dtype (strings: bytes) and shape; an error naming it otherwise."""
    if tensor.dtype == dtypes.string:
        array = dtypes.as_bytes_array(value)
    else:
        array = np.asarray(value)
        if array.dtype != tensor.dtype:
            if not np.can_cast(array.dtype, tensor.dtype, "same_kind"):
                raise InvalidArgumentError(
                    f"{what} '{tensor.name}' produced dtype {array.dtype}, expected "
                    f"{dtypes.name_of(tensor.dtype)}"
                )
            array = array.astype(tensor.dtype)
    shape = tensor.shape
    if not _fits(shape, array.shape):
        raise InvalidArgumentError(
            f"{what} '{tensor.name}' produced shape {list(array.shape)}, expected "
            f"{_shape_text(shape)}"
        )
    return array


class _HostStage:
    """The host side of one signature: the host ops a run needs (dependencies first), which
    of their outputs the compiled part takes as inputs, and which fetches come from the host."""

    def __init__(self, leaves: list, fed: list[Tensor]):
        targets = [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in leaves]
        fed_ids = fed_op_ids(fed)
        needed = execution_order(targets, fed_ids)
        self.ops = [op for op in needed if op.host]
        _check_fed_placeholders(needed)
        host_refs = {t.ref for t in fed} | {t.ref for op in self.ops for t in op.outputs}
        consumed = {t.ref for op in needed if not op.host for t in op.inputs + op.captures}
        self.to_device = [
            t
            for op in self.ops
            for t in op.outputs
            if t.ref in consumed and t.dtype != dtypes.string
        ]
        self.on_host = [
            (isinstance(leaf, Tensor) and leaf.ref in host_refs)
            or (isinstance(leaf, Operation) and leaf.host)
            for leaf in leaves
        ]

    def run(self, session: Session, env: dict) -> None:
        """Evaluate the host ops into `env` (tensor -> value; holds the feeds)."""
        run_state: dict = {}
        for op in self.ops:
            missing = [t for t in op.inputs if t not in env]
            if missing:  # computed in the graph: a compiled run of their own
                env.update(zip(missing, session.run_flat(missing, env), strict=True))
            args = [env[t] for t in op.inputs]
            try:
                out = op.compute(HostContext(session, op, env, run_state), *args)
            except (InvalidArgumentError, FailedPreconditionError, OutOfRangeError):
                raise
            except Exception as err:
                described = ", ".join(t.describe() for t in op.inputs) or "no inputs"
                raise InvalidArgumentError(
                    f"host op '{op.name}' ({op.type}) failed on {described}: {err}"
                ) from err
            if not op.outputs:
                continue
            outs = [out] if len(op.outputs) == 1 else list(out)
            for t, value in zip(op.outputs, outs, strict=True):
                env[t] = host_value(t, value)


# h15input: XLA options for a plan that is typically run once (an initializer: it fetches and
# reads nothing, only assigns). On CPU, XLA's optimising passes take seconds on random
# initializers (truncated_normal) that then run once: a quick compile wins.
ONE_OFF_CPU_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}


def _one_off_options(plan: _Plan) -> dict | None:
    if plan.tensor_slots or plan.read_names or jax.default_backend() != "cpu":
        return None
    return ONE_OFF_CPU_OPTIONS


def _needed(leaves: list, fed: list[Tensor]):
    """The fetches' ops, the ops a run does not evaluate, and the ops it evaluates."""
    targets = [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in leaves]
    # h15input: a host op with a fed output is done (its string outputs are not fed)
    fed_ids = fed_op_ids(fed) | {t.op.id for t in fed if t.op.host}
    return targets, fed_ids, execution_order(targets, fed_ids)


class _Subset:
    """h15input: a fetch set answered by the compiled plan of a larger one with the same
    feeds, variable reads and writes and few extra ops (a train step without the summaries
    it is also run with), so that it compiles nothing."""

    EXTRA_OPS = 8  # or a quarter of the fetch set's own ops, whichever is more

    def __init__(self, plan: _Plan, leaves: list):
        self.plan = plan
        self.read_vars = plan.read_vars
        self.tensor_slots = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]
        self.host_fns = [leaves[i].op.host_fn for i in self.tensor_slots]
        self.picks = [plan.fetched_index[id(leaves[i])] for i in self.tensor_slots]

    @classmethod
    def find(cls, plans: dict, leaves: list, fed: list[Tensor], feed_key: tuple):
        _, _, needed = _needed(leaves, fed)
        ids = {op.id for op in needed}
        reads = {op.name for op in needed if op.type == "VariableV2"}
        writes = {v.op.name for op in needed for v in op.writes}
        for (_, plan_feeds), plan in plans.items():
            if (
                plan_feeds == feed_key
                and plan.plan is plan
                and all(id(leaf) in plan.leaf_ids for leaf in leaves)
                and set(plan.read_names) == reads
                and set(plan.written) == writes
                and len(plan.needed_ids - ids) <= max(cls.EXTRA_OPS, len(ids) // 4)
            ):
                return cls(plan, leaves)
        return None


class _Plan:
    """One compiled signature: what to feed, which variables it reads and writes."""

    def __init__(self, session: Session, leaves: list, fed: list[Tensor], feed_values: list):
        graph = session.graph
        targets, fed_ids, needed = _needed(leaves, fed)
        order = execution_order(targets, fed_ids, captures=False)
        _check_fed_placeholders(needed)
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
        # h15input: what a smaller fetch set needs to be answered by this plan (`_Subset`)
        self.plan, self.picks = self, None
        self.leaf_ids = {id(leaf) for leaf in leaves}
        self.fetched_index = {id(t): j for j, t in enumerate(fetched)}
        self.needed_ids = {op.id for op in needed}
        fed_refs = [t.ref for t in fed]
        seed = graph.seed or 0

        def run_fn(donated, kept, feeds, counter):
            ev = Evaluation(
                {**kept, **donated},
                dict(zip(fed_refs, feeds, strict=True)),
                seed,  # the key is made in the trace: a key constant would be hoisted
                counter,
                stop=fed_ids,
            )
            ev.evaluate(order)
            outs = [ev.values[t.ref] for t in fetched]
            return outs, {name: ev.writes[name] for name in self.written}

        session.check_initialized(read)
        args = session.plan_args(self, feed_values)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
            lowered = jax.jit(run_fn, donate_argnums=0).lower(*args)
            self.compiled = lowered.compile(compiler_options=_one_off_options(self))


class Session:
    """TF1's `tf.Session`: holds variable values and runs fetches with feeds.

    `compile_count` counts the compiled signatures (one per distinct fetches, fed tensors and
    feed shapes/dtypes); repeated runs of one signature reuse its compiled function.
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config=None):
        self.graph = graph or get_default_graph()
        self._values: dict[str, object] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._stages: dict[tuple, _HostStage] = {}
        self._host_state: dict[int, dict] = {}
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
        self._stages.clear()
        self._host_state.clear()

    # -- running ------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Evaluate `fetches` (a tensor, op, name, or a nested list/tuple/dict of them).

        Returns numpy values in the same structure (None for ops; bytes for string tensors),
        after applying the variable updates the run makes. `options` and `run_metadata`
        (`tf.RunOptions`, `tf.RunMetadata`) are accepted and ignored.
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        leaves, treedef = jax.tree_util.tree_flatten(fetches, is_leaf=lambda x: x is None)
        for leaf in leaves:
            if leaf is None:
                raise TypeError(f"Fetch argument None has invalid type {type(None)}")
        leaves = [self._element(leaf) for leaf in leaves]
        fed, values = self._feeds(feed_dict or {})
        results = self.run_flat(leaves, dict(zip(fed, values, strict=True)))
        return jax.tree_util.tree_unflatten(treedef, results)

    def run_flat(self, leaves: list, env: dict) -> list:
        """Values of `leaves` (tensors and ops) given `env` (fed tensor -> checked value):
        host ops first, then one compiled call for the rest."""
        stage_key = (tuple(id(leaf) for leaf in leaves), tuple(t.ref for t in env))
        stage = self._stages.get(stage_key)
        if stage is None:
            stage = self._stages[stage_key] = _HostStage(leaves, list(env))
        env = dict(env)
        stage.run(self, env)
        device_leaves = [leaf for leaf, host in zip(leaves, stage.on_host, strict=True) if not host]
        fed = [t for t in env if t.dtype != dtypes.string]
        device_values = self._run_compiled(device_leaves, fed, [env[t] for t in fed])
        results = []
        for leaf, host in zip(leaves, stage.on_host, strict=True):
            if not host:
                results.append(device_values.pop(0))
            elif isinstance(leaf, Operation):
                results.append(None)
            else:
                results.append(_fetched(env[leaf], leaf.op.host_fn))
        return results

    def _run_compiled(self, leaves: list, fed: list[Tensor], values: list) -> list:
        if not leaves:
            return []
        key = (
            tuple(id(leaf) for leaf in leaves),
            tuple((t.ref, v.shape, v.dtype) for t, v in zip(fed, values, strict=True)),
        )
        entry = self._plans.get(key)
        if entry is None:
            entry = _Subset.find(self._plans, leaves, fed, key[1])
            if entry is None:
                entry = _Plan(self, leaves, fed, values)
                self.compile_count += 1
            self._plans[key] = entry
        self.check_initialized(entry.read_vars)
        plan = entry.plan
        outs, writes = plan.compiled(*self.plan_args(plan, values))
        self._runs += 1
        self._values.update(writes)  # fresh buffers: jit copies outputs that equal inputs
        if entry.picks is not None:
            outs = [outs[j] for j in entry.picks]
        fetched = jax.device_get(outs)
        results = [None] * len(leaves)
        for slot, value, host_fn in zip(entry.tensor_slots, fetched, entry.host_fns, strict=True):
            results[slot] = _fetched(value, host_fn)
        return results

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


def _fetched(value, host_fn):
    """What `run` returns for a fetched value: NumPy (a scalar for 0-d, bytes for a string)."""
    value = np.asarray(value) if not isinstance(value, tuple) else value
    if host_fn is not None:
        return host_fn(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def _check_feed(tensor: Tensor, value):
    """`value` as an array of `tensor`'s dtype; an error naming the tensor if it does not fit."""
    kind = "placeholder" if tensor.op.type == "Placeholder" else "tensor"
    if tensor.dtype == dtypes.string:
        return host_value(tensor, value, f"the feed of {kind}")
    try:
        array = value if isinstance(value, jax.Array) else np.asarray(value)
    except ValueError as err:
        raise InvalidArgumentError(
            f"{kind} '{tensor.op.name}' (dtype {dtypes.name_of(tensor.dtype)}, shape "
            f"{_shape_text(tensor.shape)}) was fed a value that is not a rectangular array "
            f"(a ragged list?): {err}"
        ) from None
    if array.dtype == object:
        raise InvalidArgumentError(
            f"{kind} '{tensor.op.name}' (dtype {dtypes.name_of(tensor.dtype)}) was fed "
            f"{type(value).__name__} values that are not numbers"
        )
    if array.dtype != tensor.dtype:
        if not np.can_cast(array.dtype, tensor.dtype, "same_kind"):
            raise InvalidArgumentError(
                f"{kind} '{tensor.op.name}' expects dtype {dtypes.name_of(tensor.dtype)}, got a "
                f"feed of dtype {array.dtype} (shape {list(array.shape)})"
            )
        array = array.astype(tensor.dtype)
    shape = tensor.shape
    if not _fits(shape, array.shape):
        raise InvalidArgumentError(
            f"{kind} '{tensor.op.name}' expects shape {_shape_text(shape)} "
            f"(dtype {dtypes.name_of(tensor.dtype)}), got a feed of shape {list(array.shape)}"
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
