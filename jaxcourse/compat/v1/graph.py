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


class TensorShape(tuple):
    """A static shape; `None` marks an unknown dimension (TF1's `TensorShape`)."""

    def as_list(self) -> list[int | None]:
        return list(self)

    @property
    def ndims(self) -> int:
        return len(self)

    def is_fully_defined(self) -> bool:
        return all(d is not None for d in self)

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"


class Operation:
    """A graph node: a pure function of its inputs' values, evaluated by a `Session`.

    `captures` are tensors whose subgraphs the op evaluates itself (an optimizer's loss, which
    it differentiates); `writes` are the variables it updates (by `ev.write`).
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
    ):
        self.graph, self.type, self.name = graph, op_type, name
        self.inputs = list(inputs)
        self.compute = compute
        self.control_inputs = list(control_inputs) + list(graph._control_stack_ops())
        self.captures = list(captures)
        self.writes = list(writes)
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

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


class Tensor:
    """The symbolic output of an `Operation`, with TF1's operator overloading."""

    __array_priority__ = 100  # so `ndarray + tensor` calls Tensor.__radd__

    def __init__(self, op: Operation, shape: Sequence[int | None] | None, dtype):
        self.op = op
        self._shape = None if shape is None else TensorShape(shape)
        self.dtype = dtypes.as_dtype(dtype)
        op.outputs.append(self)

    @property
    def name(self) -> str:
        return f"{self.op.name}:0"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def shape(self) -> TensorShape | None:
        """The static shape (`None` entries: unknown sizes; `None` itself: unknown rank)."""
        return self._shape

    def get_shape(self) -> TensorShape | None:
        return self._shape

    def eval(self, feed_dict=None, session=None):
        """The value of this tensor in `session` (default: the current default session)."""
        from jaxcourse.compat.v1.session import get_default_session_or_fail

        return (session or get_default_session_or_fail()).run(self, feed_dict)

    def describe(self) -> str:
        shape = "unknown" if self._shape is None else str(list(self._shape))
        return f"'{self.op.name}' ({self.op.type}, dtype {self.dtype.name}, shape {shape})"

    def __repr__(self) -> str:
        shape = "<unknown>" if self._shape is None else str(tuple(self._shape))
        return f"<tf.Tensor '{self.name}' shape={shape} dtype={self.dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other):  # TF1: == is identity, so tensors can be dict keys
        return self is other

    def __bool__(self):
        raise TypeError(
            f"using the symbolic tensor {self.describe()} as a Python bool is not allowed; "
            "run it in a Session first"
        )

    def __iter__(self):
        raise TypeError(f"tensor {self.describe()} is not iterable; run it in a Session first")

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

    def binary(fn):
        return lambda a, b: fn(a, b), lambda a, b: fn(b, a)

    table = {
        "add": ops.add,
        "sub": ops.subtract,
        "mul": ops.multiply,
        "truediv": ops.divide,
        "floordiv": ops.floordiv,
        "mod": ops.mod,
        "pow": ops.pow,
        "matmul": ops.matmul,
        "and": ops.logical_and,
        "or": ops.logical_or,
    }
    for name, fn in table.items():
        forward, reverse = binary(fn)
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
        op_name, _, index = name.partition(":")
        op = self.get_operation_by_name(op_name)
        if index not in ("", "0") or not op.outputs:
            raise NotFoundError(f"operation '{op_name}' has no output '{name}'")
        return op.outputs[0]

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


def convert_to_tensor(value, dtype=None, name: str | None = None) -> Tensor:
    """`value` itself if it is a Tensor (checking `dtype`), else a constant op holding it."""
    if isinstance(value, Tensor):
        if dtype is not None and dtypes.as_dtype(dtype) != value.dtype:
            raise TypeError(
                f"expected a {dtypes.as_dtype(dtype).name} tensor, got {value.describe()}"
            )
        return value
    from jaxcourse.compat.v1 import ops

    return ops.constant(value, dtype=dtype, name=name or "Const")


def _graph_of(inputs: Sequence[Tensor]) -> Graph:
    graphs = {id(t.graph): t.graph for t in inputs}
    if len(graphs) > 1:
        names = ", ".join(t.describe() for t in inputs)
        raise ValueError(f"inputs come from different graphs: {names}")
    return next(iter(graphs.values())) if graphs else get_default_graph()


_SYMBOLIC_DIM = None


def symbolic_batch_dim():
    """The one symbolic size, `batch`, that unknown dimensions are traced with."""
    global _SYMBOLIC_DIM
    if _SYMBOLIC_DIM is None:
        (_SYMBOLIC_DIM,) = jax.export.symbolic_shape("batch")
    return _SYMBOLIC_DIM


class _ShapeOnly:
    """Stands in for a Session's evaluation while shapes are inferred."""

    def key(self):
        return jax.random.key(0)

    def read(self, variable):
        return jax.numpy.zeros(variable.shape, variable.dtype)


def _eval_shape(compute: Callable, inputs: Sequence[Tensor], size, rank: int = 0):
    """Output of `compute` on abstract inputs whose unknown sizes are `size` (unknown ranks:
    `rank` dimensions of size 1)."""
    structs = [
        jax.ShapeDtypeStruct(
            (1,) * rank if t.shape is None else tuple(size if d is None else d for d in t.shape),
            t.dtype,
        )
        for t in inputs
    ]
    return jax.eval_shape(lambda *xs: compute(_ShapeOnly(), *xs), *structs)


def _static(shape) -> tuple:
    return tuple(d if isinstance(d, int | np.integer) else None for d in shape)


def infer(compute: Callable, inputs: Sequence[Tensor], op_type: str, name: str):
    """(shape, dtype) of `compute`'s output; None entries where they cannot be known.

    Unknown sizes are traced as one symbolic size; if an op cannot handle that, it is traced
    with two concrete sizes, and the dimensions that change with them are unknown.
    """
    if any(t.shape is None for t in inputs):  # unknown rank: only the dtype, if anything
        for rank in range(5):
            try:
                return None, _eval_shape(compute, inputs, None, rank).dtype
            except Exception:
                continue
        return None, None
    if all(d is not None for t in inputs for d in t.shape):
        try:
            out = _eval_shape(compute, inputs, None)
        except Exception as err:
            described = ", ".join(t.describe() for t in inputs) or "no inputs"
            raise InvalidArgumentError(
                f"cannot build op '{name}' ({op_type}) from {described}: {err}"
            ) from None
        return _static(out.shape), out.dtype
    try:
        out = _eval_shape(compute, inputs, symbolic_batch_dim())
        return _static(out.shape), out.dtype
    except Exception:
        pass
    try:
        two, three = (_eval_shape(compute, inputs, n) for n in (2, 3))
    except Exception:
        return None, None
    if len(two.shape) != len(three.shape):
        return None, two.dtype
    return tuple(
        a if a == b else None for a, b in zip(two.shape, three.shape, strict=True)
    ), two.dtype


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
    **op_options,
):
    """Build an op; returns its output Tensor (or the Operation if it has no output).

    `compute(ev, *input_values)` is the op's pure JAX function; `ev` gives it a random key
    (`ev.key()`, fresh for every op and every run) and variable values (`ev.read(variable)`).
    Shape and dtype are inferred from `compute` unless given (with `infer_shape=False`, a
    shape of None means an unknown rank).
    """
    tensors = [convert_to_tensor(x) for x in inputs]
    graph = _graph_of(tensors)
    full_name = graph.unique_name(name or op_type)
    if outputs and infer_shape and (shape is None or dtype is None):
        inferred_shape, inferred_dtype = infer(compute, tensors, op_type, full_name)
        shape = inferred_shape if shape is None else shape
        dtype = inferred_dtype if dtype is None else dtype
        if dtype is None:
            dtype = tensors[0].dtype if tensors else dtypes.float32
    op = Operation(graph, op_type, full_name, tensors, compute, **op_options)
    if not outputs:
        return op
    return Tensor(op, shape, jax.dtypes.canonicalize_dtype(dtype))
