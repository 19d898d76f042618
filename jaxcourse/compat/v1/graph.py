"""The symbolic graph: `Graph`, `Operation`, `Tensor`, name scopes and the default graph.

An `Operation` holds a pure JAX function `compute(ev, *input_values)`; nothing runs until a
`Session` evaluates the ops a fetch needs. Shapes and dtypes are inferred when an op is built
(with `jax.eval_shape`; a `None` dimension is traced as a symbolic size), so shape errors are
reported at the line that builds the op, as in TF.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.errors import InvalidArgumentError, NotFoundError


class Dimension(int):
    """A known size in a `TensorShape` (TF1's `Dimension`: `shape[1].value`); unknown
    sizes are None."""

    @property
    def value(self) -> int:
        return int(self)


class TensorShape(tuple):
    """A static shape; `None` marks an unknown dimension (TF1's `TensorShape`). Indexing
    gives `Dimension`s (`x.get_shape()[1].value`)."""

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        if isinstance(index, slice):
            return TensorShape(item)
        return item if item is None else Dimension(item)

    @property
    def dims(self) -> list:
        return [None if d is None else Dimension(d) for d in self]

    def num_elements(self) -> int | None:
        return int(np.prod(self)) if self.is_fully_defined() else None

    def with_rank(self, rank: int) -> TensorShape:
        if len(self) != rank:
            raise ValueError(f"Shape {self} must have rank {rank}")
        return self

    def as_list(self) -> list[int | None]:
        return list(self)

    @property
    def ndims(self) -> int:
        return len(self)

    def is_fully_defined(self) -> bool:
        return all(d is not None for d in self)

    def __str__(self) -> str:
        return _shape_repr(self)  # TF1: (?, 784)

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"


class Operation:
    """A graph node: a pure function of its inputs' values, evaluated by a `Session`.

    `captures` are tensors whose subgraphs the op evaluates itself (an optimizer's loss, which
    it differentiates); `writes` are the variables it updates (by `ev.write`). A `host` op runs
    in Python on the host before the compiled part of a run (see `make_host_op`).
    """

    def __init__(
        self,
        graph: Graph,
        op_type: str,
        name: str,
        inputs: Sequence[Tensor],
        compute: Callable,
        *,
        control_inputs: Sequence[Operation] = (),
        captures: Sequence[Tensor] = (),
        writes: Sequence[Any] = (),
        seed: int | None = None,
        host: bool = False,
    ):
        if graph.finalized:
            raise RuntimeError(f"Graph is finalized and cannot be modified (building '{name}').")
        self.graph, self.type, self.name = graph, op_type, name
        self.inputs = list(inputs)
        self.compute = compute
        self.control_inputs = list(control_inputs) + list(graph._control_stack_ops())
        self.captures = list(captures)
        self.writes = list(writes)
        self.host = host
        self.id = next(graph._ids)
        self.seed = self.id if seed is None else seed
        self.outputs: list[Tensor] = []
        self.host_fn: Callable | None = None  # turns the fetched value into what run returns
        graph._ops.append(self)
        graph._ops_by_name[name] = self

    def dependencies(self, captures: bool = True) -> list[Operation]:
        """Ops this one needs: its inputs' and control inputs' (and its captures' subgraphs,
        which it evaluates itself)."""
        tensors = self.inputs + self.captures if captures else self.inputs
        return [t.op for t in tensors] + self.control_inputs

    def run(self, feed_dict=None, session=None) -> None:
        """Run this op in `session` (default: the current default session)."""
        from jaxcourse.compat.v1.session import get_default_session_or_fail

        (session or get_default_session_or_fail()).run(self, feed_dict)

    @property
    def node_def(self) -> str:
        return f"name: {self.name!r} op: {self.type!r}"

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


def _shape_repr(shape) -> str:
    """TF1's printed shape: `(?, 784)`, `()`, `(2,)`, `<unknown>`."""
    if shape is None:
        return "<unknown>"
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class Tensor:
    """An output of an `Operation` (`op.outputs[value_index]`, named `op:index`), with TF1's
    operator overloading.

    `static_value` is its NumPy value when the graph already determines it (constants and
    small computations of constants and static shapes), else None.
    """

    __array_priority__ = 100  # so `ndarray + tensor` calls Tensor.__radd__

    def __init__(self, op: Operation, shape: Sequence[int | None] | None, dtype):
        self.op = op
        self.value_index = len(op.outputs)
        self._shape = None if shape is None else TensorShape(shape)
        self.dtype = dtypes.as_dtype(dtype)
        self.static_value = None
        op.outputs.append(self)

    @property
    def ref(self) -> tuple[int, int]:
        """(op id, output index): the key of this tensor's value in an evaluation."""
        return self.op.id, self.value_index

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def shape(self) -> TensorShape | None:
        """The static shape (`None` entries: unknown sizes; `None` itself: unknown rank)."""
        return self._shape

    def get_shape(self) -> TensorShape | None:
        return self._shape

    def set_shape(self, shape) -> None:
        """Refine the static shape (TF1's `set_shape`): known sizes must agree."""
        new = TensorShape(None if d is None else int(d) for d in shape)
        old = self._shape
        if old is not None and (
            len(old) != len(new)
            or any(
                a is not None and b is not None and a != b for a, b in zip(old, new, strict=True)
            )
        ):
            raise ValueError(f"set_shape: {list(new)} is incompatible with {self.describe()}")
        merged = (
            new
            if old is None
            else [a if a is not None else b for a, b in zip(old, new, strict=True)]
        )
        self._shape = TensorShape(merged)

    def eval(self, feed_dict=None, session=None):
        """The value of this tensor in `session` (default: the current default session)."""
        from jaxcourse.compat.v1.session import get_default_session_or_fail

        return (session or get_default_session_or_fail()).run(self, feed_dict)

    def consumers(self) -> list[Operation]:
        return [op for op in self.graph._ops if any(t is self for t in op.inputs)]

    def describe(self) -> str:
        shape = "unknown" if self._shape is None else str(list(self._shape))
        return (
            f"'{self.name if self.value_index else self.op.name}' ({self.op.type}, dtype "
            f"{dtypes.name_of(self.dtype)}, shape {shape})"
        )

    def __repr__(self) -> str:
        return (
            f"<tf.Tensor '{self.name}' shape={_shape_repr(self._shape)} "
            f"dtype={dtypes.name_of(self.dtype)}>"
        )

    def __str__(self) -> str:
        return (
            f'Tensor("{self.name}", shape={_shape_repr(self._shape)}, '
            f"dtype={dtypes.name_of(self.dtype)})"
        )

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other):  # TF1: == is identity, so tensors can be dict keys
        return self is other

    def __bool__(self):
        raise TypeError(
            f"using the symbolic tensor {self.describe()} as a Python bool is not allowed; "
            "run it in a Session first (or use tf.cond for graph control flow)"
        )

    def __iter__(self):
        raise TypeError(
            f"tensor {self.describe()} is not iterable in graph mode (as in TF1); use "
            "tf.unstack, or run it in a Session first"
        )

    def __len__(self):
        raise TypeError(
            f"len() of the symbolic tensor {self.describe()} is not defined; use "
            "tensor.shape[0] (static) or tf.shape(tensor)[0] (at run time)"
        )

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"tensor {self.describe()} is symbolic and has no value; run it in a Session first"
        )

    def __getitem__(self, index):
        from jaxcourse.compat.v1 import ops

        return ops.strided_slice(self, index)


def install_operators() -> None:
    """Python operators on Tensor, forwarding to the ops module (as TF1 does)."""
    from jaxcourse.compat.v1 import ops

    def binary(fn, name):
        return lambda a, b: fn(a, b, name=name), lambda a, b: fn(b, a, name=name)

    table = {  # operator: (op, the name TF gives the op an operator builds)
        "add": (ops.add, "add"),
        "sub": (ops.subtract, "sub"),
        "mul": (ops.multiply, "mul"),
        "truediv": (ops.truediv, "truediv"),
        "floordiv": (ops.floordiv, "floordiv"),
        "mod": (ops.mod, "mod"),
        "pow": (ops.pow, "pow"),
        "matmul": (ops.matmul, "matmul"),
        "and": (ops.logical_and, "and"),
        "or": (ops.logical_or, "or"),
        "xor": (ops.logical_xor, "xor"),
    }
    for name, (fn, tf_name) in table.items():
        forward, reverse = binary(fn, tf_name)
        setattr(Tensor, f"__{name}__", forward)
        setattr(Tensor, f"__r{name}__", reverse)
    Tensor.__neg__ = lambda a: ops.negative(a)
    Tensor.__abs__ = lambda a: ops.abs(a)
    Tensor.__invert__ = lambda a: ops.logical_not(a)
    Tensor.__lt__ = lambda a, b: ops.less(a, b)
    Tensor.__le__ = lambda a, b: ops.less_equal(a, b)
    Tensor.__gt__ = lambda a, b: ops.greater(a, b)
    Tensor.__ge__ = lambda a, b: ops.greater_equal(a, b)


class Graph:
    """A TF1 graph: the ops built while it is the default, collections and name scopes."""

    def __init__(self):
        self._ops: list[Operation] = []
        self._ops_by_name: dict[str, Operation] = {}
        self._ids = itertools.count()
        self._names: dict[str, int] = {}
        self._scope = ""
        self._control_stack: list[list[Operation]] = []
        self._collections: dict[str, list] = {}
        self.seed: int | None = None
        self.variables_by_name: dict[str, Any] = {}
        self.finalized = False

    # -- names -------------------------------------------------------------------------------
    def unique_name(self, name: str) -> str:
        """`scope/name`, with `_1`, `_2`, ... appended if it is taken (TF's rule)."""
        full = f"{self._scope}/{name}" if self._scope else name
        count = self._names.get(full, 0)
        self._names[full] = count + 1
        if count == 0:
            return full
        while f"{full}_{count}" in self._names:
            count += 1
        unique = f"{full}_{count}"
        self._names[unique] = 1
        return unique

    @contextlib.contextmanager
    def name_scope(self, name: str | None):
        """Ops built inside get names `name/...`; a taken scope name becomes `name_1`."""
        previous = self._scope
        if name:
            name = str(name)
            self._scope = name.rstrip("/") if name.endswith("/") else self.unique_name(name)
        try:
            yield self._scope + "/" if self._scope else ""
        finally:
            self._scope = previous

    @property
    def current_scope(self) -> str:
        return self._scope

    # -- control dependencies ----------------------------------------------------------------
    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        """Ops built inside run after `control_inputs` (tensors or ops)."""
        ops = [c.op if isinstance(c, Tensor) else c for c in (control_inputs or [])]
        self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    def _control_stack_ops(self) -> list[Operation]:
        return [op for frame in self._control_stack for op in frame]

    # -- collections -------------------------------------------------------------------------
    def add_to_collection(self, name: str, value) -> None:
        self._collections.setdefault(name, []).append(value)

    def get_collection(self, name: str, scope: str | None = None) -> list:
        items = list(self._collections.get(name, []))
        if scope:
            items = [v for v in items if getattr(v, "name", "").startswith(scope)]
        return items

    # -- lookup ------------------------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        try:
            return self._ops_by_name[name]
        except KeyError:
            raise NotFoundError(f"the graph has no operation named '{name}'") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        """The tensor `op_name:index` (TF requires the index; `op_name` alone is an op)."""
        op_name, colon, index = str(name).rpartition(":")
        if not colon or not index.isdigit():
            raise ValueError(
                f"the name {name!r} refers to an operation, not a tensor; tensor names look "
                f"like '{name}:0'"
            )
        op = self.get_operation_by_name(op_name)
        if int(index) >= len(op.outputs):
            raise NotFoundError(
                f"operation '{op_name}' ({op.type}) has {len(op.outputs)} output(s); there is "
                f"no tensor '{name}'"
            )
        return op.outputs[int(index)]

    def as_graph_element(self, obj):
        """The tensor or operation `obj` names (or is)."""
        if isinstance(obj, Tensor | Operation):
            return obj
        name = str(obj)
        return self.get_tensor_by_name(name) if ":" in name else self.get_operation_by_name(name)

    def finalize(self) -> None:
        """Make the graph read-only: building another op raises RuntimeError (as in TF)."""
        self.finalized = True

    def as_default(self):
        """Context manager making this the default graph."""
        return _default_graph_stack.use(self)

    # -- views of the graph as a jaxpr -------------------------------------------------------
    def as_jaxpr_text(self, fetches=None) -> str:
        """The jaxpr of the graph (or of the part that `fetches` needs), as text."""
        from jaxcourse.compat.v1 import export

        return export.jaxpr_text(self, fetches)

    def to_dot(self, fetches=None) -> str:
        """Graphviz DOT of the graph's jaxpr, name scopes as clusters."""
        from jaxcourse.compat.v1 import export

        return export.to_dot(self, fetches)

    def to_svg(self, fetches=None) -> str:
        """SVG of `to_dot` (Graphviz's `dot` must be installed)."""
        from jaxcourse.graph import export as graph_export

        return graph_export.render_svg(self.to_dot(fetches))

    def as_graph_def(self, fetches=None):
        """A TensorBoard GraphDef of the graph's jaxpr, name scopes as groups."""
        from jaxcourse.compat.v1 import export

        return export.to_graph_def(self, fetches)


class _GraphStack(threading.local):
    def __init__(self):
        self.stack: list[Graph] = []
        self.global_graph = Graph()

    def get(self) -> Graph:
        return self.stack[-1] if self.stack else self.global_graph

    @contextlib.contextmanager
    def use(self, graph: Graph):
        self.stack.append(graph)
        try:
            yield graph
        finally:
            self.stack.pop()


_default_graph_stack = _GraphStack()


def get_default_graph() -> Graph:
    """The graph that new ops go into."""
    return _default_graph_stack.get()


def reset_default_graph() -> None:
    """Replace the global default graph by an empty one."""
    if _default_graph_stack.stack:
        raise AssertionError("reset_default_graph() called inside a `with graph.as_default()`")
    _default_graph_stack.global_graph = Graph()


def name_scope(name: str | None, default_name: str | None = None, values=None):
    """TF1's `tf.name_scope`: ops built inside are named `name/...` (groups in TensorBoard)."""
    return get_default_graph().name_scope(name or default_name)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


# ---------------------------------------------------------------------------------------------
# building ops


def convert_to_tensor(value, dtype=None, name: str | None = None, preferred_dtype=None) -> Tensor:
    """`value` itself if it is a Tensor (checking `dtype`), else a constant op holding it.

    A list or tuple that holds tensors becomes their `tf.stack` (as in TF).
    """
    if isinstance(value, Tensor):
        if dtype is not None and dtypes.as_dtype(dtype) != value.dtype:
            raise TypeError(
                f"expected a {dtypes.name_of(dtypes.as_dtype(dtype))} tensor, got "
                f"{value.describe()}"
            )
        return value
    from jaxcourse.compat.v1 import ops

    if isinstance(value, list | tuple) and _holds_tensor(value):
        return ops.stack(
            [convert_to_tensor(v, dtype, preferred_dtype=preferred_dtype) for v in value],
            name=name or "packed",
        )
    return ops.constant(value, dtype=dtype, name=name or "Const")


def _holds_tensor(value) -> bool:
    if isinstance(value, Tensor):
        return True
    return isinstance(value, list | tuple) and any(_holds_tensor(v) for v in value)


def _graph_of(inputs: Sequence[Tensor]) -> Graph:
    graphs = {id(t.graph): t.graph for t in inputs}
    if len(graphs) > 1:
        names = ", ".join(t.describe() for t in inputs)
        raise ValueError(f"inputs come from different graphs: {names}")
    return next(iter(graphs.values())) if graphs else get_default_graph()


_SYMBOLIC_DIM = None
STATIC_VALUE_LIMIT = 1024  # elements: larger results are never folded at build or trace time


def symbolic_batch_dim():
    """The one symbolic size, `batch`, that unknown dimensions are traced with."""
    global _SYMBOLIC_DIM
    if _SYMBOLIC_DIM is None:
        (_SYMBOLIC_DIM,) = jax.export.symbolic_shape("batch")
    return _SYMBOLIC_DIM


def is_concrete(value) -> bool:
    """Whether `value` (a pytree) has a value now, not only inside a trace."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(value))


def small(value) -> bool:
    return all(np.size(x) <= STATIC_VALUE_LIMIT for x in jax.tree_util.tree_leaves(value))


class _ShapeOnly:
    """Stands in for a Session's evaluation while shapes are inferred."""

    def __init__(self, key):
        self._key = key
        self.read_state = False

    def key(self):
        return self._key

    def read(self, variable):
        self.read_state = True  # a value that depends on a variable is never static
        return jax.numpy.zeros(variable.shape, variable.dtype)


def _abstract(t: Tensor, size, rank: int):
    if t.static_value is not None:
        return None
    shape = (1,) * rank if t.shape is None else tuple(size if d is None else d for d in t.shape)
    return jax.ShapeDtypeStruct(shape, t.dtype)


def _eval_shape(compute: Callable, inputs: Sequence[Tensor], size, rank: int = 0):
    """(abstract output, concrete output or None) of `compute` on abstract inputs whose unknown
    sizes are `size` (unknown ranks: `rank` dimensions of size 1); inputs with a static value
    are passed as that value, and a result that comes out concrete is returned too."""
    structs = [_abstract(t, size, rank) for t in inputs]
    traced = [s for s in structs if s is not None]
    concrete = []

    def fn(key, *xs):
        it = iter(xs)
        values = [
            t.static_value if s is None else next(it) for t, s in zip(inputs, structs, strict=True)
        ]
        ev = _ShapeOnly(key)
        folding = jax.ensure_compile_time_eval() if not traced else contextlib.nullcontext()
        with folding:  # only when every input is known: else each fold would compile
            out = compute(ev, *values)
        if is_concrete(out) and small(out) and not ev.read_state:
            concrete.append(jax.tree_util.tree_map(np.asarray, out))
        return out

    key = jax.eval_shape(lambda: jax.random.key(0))
    out = jax.eval_shape(fn, key, *traced)
    return out, (concrete[0] if concrete else None)


def _static(shape) -> tuple:
    return tuple(d if isinstance(d, int | np.integer) else None for d in shape)


def _result(out, static_value=None):
    """(shape(s), dtype(s), static value) of an abstract output (a tuple: several outputs)."""
    if isinstance(out, tuple | list):
        return [_static(o.shape) for o in out], [o.dtype for o in out], None
    return _static(out.shape), out.dtype, static_value


def infer(compute: Callable, inputs: Sequence[Tensor], op_type: str, name: str):
    """(shape, dtype, static value) of `compute`'s output; None entries where they cannot be
    known (lists of shapes and dtypes for an op with several outputs).

    Unknown sizes are traced as one symbolic size; if an op cannot handle that, it is traced
    with two concrete sizes, and the dimensions that change with them are unknown.
    """
    if any(t.shape is None and t.static_value is None for t in inputs):
        for rank in range(5):  # unknown rank: only the dtype, if anything
            try:
                out, _ = _eval_shape(compute, inputs, None, rank)
            except Exception:
                continue
            shapes, dtypes_, _ = _result(out)
            return (None if not isinstance(shapes, list) else [None] * len(shapes)), dtypes_, None
        return None, None, None
    if all(d is not None for t in inputs if t.shape is not None for d in t.shape):
        try:
            out, concrete = _eval_shape(compute, inputs, None)
        except Exception as err:
            described = ", ".join(t.describe() for t in inputs) or "no inputs"
            raise InvalidArgumentError(
                f"cannot build op '{name}' ({op_type}) from {described}: {err}"
            ) from None
        return _result(out, concrete)
    try:
        out, _ = _eval_shape(compute, inputs, symbolic_batch_dim())
        return _result(out)
    except Exception:
        pass
    try:
        (two, _), (three, _) = (_eval_shape(compute, inputs, n) for n in (2, 3))
    except Exception:
        return None, None, None
    shapes2, dtypes2, _ = _result(two)
    shapes3, _, _ = _result(three)
    if not isinstance(shapes2, list):
        shapes2, shapes3 = [shapes2], [shapes3]
    merged = [
        None
        if len(a) != len(b)
        else tuple(x if x == y else None for x, y in zip(a, b, strict=True))
        for a, b in zip(shapes2, shapes3, strict=True)
    ]
    return (merged if isinstance(dtypes2, list) else merged[0]), dtypes2, None


def _check_no_strings(tensors: Sequence[Tensor], op_type: str, name: str) -> None:
    for t in tensors:
        if t.dtype == dtypes.string:
            raise TypeError(
                f"op '{name}' ({op_type}) runs in the compiled graph and cannot take the string "
                f"tensor {t.describe()}; string tensors are only used by host ops (tf.strings.*, "
                "decoders, input pipelines) and can be fetched"
            )


def _add_outputs(op: Operation, outputs: int, shape, dtype):
    """The op's output tensors: one Tensor, or a list of `outputs` (shape/dtype lists)."""
    if outputs == 1:
        return Tensor(op, shape, jax.dtypes.canonicalize_dtype(dtype))
    shapes = shape if isinstance(shape, list) else [shape] * outputs
    dtypes_ = dtype if isinstance(dtype, list) else [dtype] * outputs
    if len(shapes) != outputs or len(dtypes_) != outputs:
        raise ValueError(f"op '{op.name}': {outputs} outputs need {outputs} shapes and dtypes")
    return [
        Tensor(op, s, jax.dtypes.canonicalize_dtype(d))
        for s, d in zip(shapes, dtypes_, strict=True)
    ]


def make_op(
    op_type: str,
    compute: Callable,
    inputs: Sequence[Any] = (),
    name: str | None = None,
    *,
    shape=None,
    dtype=None,
    outputs: int = 1,
    infer_shape: bool = True,
    static_value=None,
    **op_options,
):
    """Build an op; returns its output Tensor, a list of Tensors (`outputs` > 1), or the
    Operation itself (`outputs=0`).

    `compute(ev, *input_values)` is the op's pure JAX function (a tuple of values for several
    outputs); `ev` gives it a random key (`ev.key()`, fresh for every op and every run) and
    variable values (`ev.read(variable)`). Shape and dtype are inferred from `compute` unless
    given (with `infer_shape=False`, a shape of None means an unknown rank; for several
    outputs give lists). Input values that the graph determines (`Tensor.static_value`, e.g.
    a shape from `tf.shape(x)`) reach `compute` as NumPy arrays, also at run time.
    """
    tensors = [convert_to_tensor(x) for x in inputs]
    graph = _graph_of(tensors)
    full_name = graph.unique_name(name or op_type)
    _check_no_strings(tensors, op_type, full_name)
    if outputs and infer_shape and (shape is None or dtype is None):
        inferred_shape, inferred_dtype, inferred_static = infer(
            compute, tensors, op_type, full_name
        )
        if static_value is None and shape is None and not op_options.get("writes"):
            static_value = inferred_static
        shape = inferred_shape if shape is None else shape
        dtype = inferred_dtype if dtype is None else dtype
        if dtype is None:
            dtype = tensors[0].dtype if tensors else dtypes.float32
    op = Operation(graph, op_type, full_name, tensors, compute, **op_options)
    if not outputs:
        return op
    result = _add_outputs(op, outputs, shape, dtype)
    if outputs == 1 and static_value is not None:
        result.static_value = np.asarray(static_value, result.dtype)
    return result


def make_host_op(
    op_type: str,
    compute: Callable,
    inputs: Sequence[Any] = (),
    name: str | None = None,
    *,
    shape=None,
    dtype=None,
    outputs: int = 1,
    **op_options,
):
    """Build a host op: `compute(hv, *input_values)` runs in Python on NumPy values (and
    bytes) on the host, before the compiled part of each run that needs it.

    Its result (a tuple for several outputs) must fit the declared `dtype` (`tf.string`:
    bytes) and `shape` (None entries: any size; shape None: any rank). Inputs may be fed
    tensors, other host ops' outputs or tensors the graph computes (the session computes
    those first, in their own compiled run). `hv.session` is the running session,
    `hv.state()` a dict kept per session for this op (an iterator's position),
    `hv.run_state` a dict shared by all host ops of one run, and `hv.feeds` the run's feed
    values by tensor. Fetched string tensors come back as bytes
    (arrays of them as NumPy object arrays), like TF.
    """
    if dtype is None:
        raise ValueError(f"host op '{name or op_type}' needs a dtype")
    tensors = [convert_to_tensor(x) for x in inputs]
    graph = _graph_of(tensors)
    full_name = graph.unique_name(name or op_type)
    op = Operation(graph, op_type, full_name, tensors, compute, host=True, **op_options)
    if not outputs:
        return op
    if outputs == 1:
        return Tensor(op, shape, dtypes.as_dtype(dtype))
    return [
        Tensor(op, s, dtypes.as_dtype(d))
        for s, d in zip(shape or [None] * outputs, dtype, strict=True)
    ]
