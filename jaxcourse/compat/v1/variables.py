"""Variables: state that a `Session` keeps on the device between runs.

A `Variable` is a tensor whose value lives in the session (`sess.run(v.initializer)` or
`global_variables_initializer()` sets it); `assign` ops and optimizers write it. Reading a
variable that no run has set is an error naming the variable.
"""

from __future__ import annotations

import contextlib
import math

import jax
import numpy as np

from jaxcourse.compat.v1 import dtypes, ops
from jaxcourse.compat.v1 import graph as graph_module
from jaxcourse.compat.v1.graph import (
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
)

GLOBAL_VARIABLES = "variables"
TRAINABLE_VARIABLES = "trainable_variables"
LOCAL_VARIABLES = "local_variables"
REGULARIZATION_LOSSES = "regularization_losses"


class Variable(Tensor):
    """TF1's `tf.Variable(initial_value, trainable=True, name=None, dtype=None)`."""

    def __init__(
        self,
        initial_value=None,
        trainable: bool = True,
        name: str | None = None,
        dtype=None,
        validate_shape: bool = True,
        collections=None,
    ):
        if initial_value is None:
            raise ValueError("tf.Variable needs an initial_value")
        if callable(initial_value):
            initial_value = initial_value()
        init = convert_to_tensor(initial_value, name="initial_value")
        if dtype is not None and dtypes.as_dtype(dtype) != init.dtype:
            init = ops.cast(init, dtype)
        graph = init.graph
        full_name = graph.unique_name(name or "Variable")
        if init.shape is None or not init.shape.is_fully_defined():
            raise ValueError(
                f"variable '{full_name}': its initial value {init.describe()} must have a "
                "fully known shape"
            )
        template = jax.ShapeDtypeStruct(tuple(init.shape), init.dtype)
        self._setup(graph, full_name, template, trainable, collections)
        # h18ckpt: the dtype TF would give it (int64/float64 kept, though JAX computes in 32
        # bits without x64): checkpoints store it, so TF reads them back
        if dtype is not None:
            self.saved_dtype = dtypes.as_dtype(dtype)
        elif not isinstance(initial_value, Tensor):
            self.saved_dtype = dtypes.default_dtype(initial_value)
        self.initial_value = init
        self.initializer = make_op(
            "Assign",
            lambda ev, value: ev.write(self, value),
            [init],
            f"{full_name}/Assign",
            outputs=0,
            writes=[self],
        )

    @classmethod
    def state(cls, name: str, template, init_fn) -> Variable:
        """A hidden, non-trainable variable holding a pytree (an optimizer's state).

        `init_fn()` builds its initial value inside a run (from shapes only).
        """
        graph = get_default_graph()
        self = cls.__new__(cls)
        self._setup(graph, graph.unique_name(name), template, False, [GLOBAL_VARIABLES])
        self.initial_value = None
        self.initializer = make_op(
            "Assign",
            lambda ev: ev.write(self, init_fn()),
            (),
            f"{self.op.name}/Assign",
            outputs=0,
            writes=[self],
        )
        return self

    @classmethod
    def imported(cls, name: str, template, saved_dtype) -> Variable:
        """h18ckpt: a variable of an imported graph; its `initializer` is the graph's own op,
        set when that is imported (None until then)."""
        graph = get_default_graph()
        self = cls.__new__(cls)
        self._setup(graph, graph.unique_name(name), template, False, [GLOBAL_VARIABLES])
        self.saved_dtype = np.dtype(saved_dtype)
        self.initial_value = self.initializer = None
        return self

    def _setup(self, graph, name, template, trainable, collections) -> None:
        op = Operation(graph, "VariableV2", name, [], lambda ev: ev.read(self))
        leaves = jax.tree_util.tree_leaves(template)
        simple = isinstance(template, jax.ShapeDtypeStruct)
        shape = template.shape if simple else None
        dtype = template.dtype if simple else (leaves[0].dtype if leaves else np.float32)
        Tensor.__init__(self, op, shape, dtype)
        self.template = template
        self.saved_dtype = np.dtype(dtype)
        self.trainable = trainable
        for collection in collections or [GLOBAL_VARIABLES]:
            graph.add_to_collection(collection, self)
        if trainable and TRAINABLE_VARIABLES not in (collections or []):
            graph.add_to_collection(TRAINABLE_VARIABLES, self)
        graph.variables_by_name[name] = self

    @property
    def name(self) -> str:
        return f"{self.op.name}:0"

    def describe(self) -> str:
        shape = list(self.shape) if self.shape is not None else "a pytree"
        return f"variable '{self.op.name}' (dtype {dtypes.name_of(self.dtype)}, shape {shape})"

    def __repr__(self) -> str:
        shape = graph_module._shape_repr(self.shape) if self.shape is not None else "()"
        return f"<tf.Variable '{self.name}' shape={shape} dtype={dtypes.name_of(self.dtype)}_ref>"

    __str__ = __repr__

    def value(self) -> Tensor:
        return self

    read_value = value

    def initialized_value(self) -> Tensor:
        return self.initial_value

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return assign(self, value, name=name)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return assign_add(self, delta, name=name)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return assign_sub(self, delta, name=name)

    def load(self, value, session=None) -> None:
        """Set the variable's value in `session` directly (TF1's `Variable.load`)."""
        from jaxcourse.compat.v1.session import get_default_session_or_fail

        (session or get_default_session_or_fail()).load_variable(self, value)


def _check_variable(ref, what: str) -> Variable:
    if not isinstance(ref, Variable):
        raise TypeError(f"{what} needs a tf.Variable as its first argument, got {ref!r}")
    return ref


def _as_value_for(ref: Variable, value, what: str) -> Tensor:
    value = convert_to_tensor(value, dtype=None if isinstance(value, Tensor) else ref.dtype)
    if value.dtype != ref.dtype:
        raise TypeError(f"{what}: {value.describe()} does not match {ref.describe()}")
    if value.shape is not None and value.shape.is_fully_defined():
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(
                f"{what}: shape {list(value.shape)} of {value.describe()} does not match "
                f"{ref.describe()}"
            )
    return value


def assign(ref, value, validate_shape=True, use_locking=None, name=None) -> Tensor:
    """Set `ref` to `value` when run; the op's value is the new value."""
    ref = _check_variable(ref, "tf.assign")
    value = _as_value_for(ref, value, "tf.assign")

    def compute(ev, v):
        v = v.reshape(ref.shape)
        ev.write(ref, v)
        return v

    return make_op("Assign", compute, [value], name, shape=ref.shape, dtype=ref.dtype, writes=[ref])


def _update(op_type: str, fn, ref, delta, name) -> Tensor:
    ref = _check_variable(ref, f"tf.{op_type}")
    delta = _as_value_for(ref, delta, f"tf.{op_type}")

    def compute(ev, current, d):
        new = fn(current, d).astype(ref.dtype)
        ev.write(ref, new)
        return new

    return make_op(
        op_type, compute, [ref, delta], name, shape=ref.shape, dtype=ref.dtype, writes=[ref]
    )


def assign_add(ref, value, use_locking=None, name=None) -> Tensor:
    return _update("AssignAdd", lambda a, b: a + b, ref, value, name)


def assign_sub(ref, value, use_locking=None, name=None) -> Tensor:
    return _update("AssignSub", lambda a, b: a - b, ref, value, name)


def global_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GLOBAL_VARIABLES, scope)


def trainable_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(TRAINABLE_VARIABLES, scope)


def variables_initializer(var_list, name: str = "init") -> Operation:
    """An op that initialises every variable of `var_list`."""
    return ops.group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    """An op that initialises every variable built so far (optimizer state included)."""
    return variables_initializer(global_variables())


initialize_all_variables = global_variables_initializer


def local_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(LOCAL_VARIABLES, scope)


def local_variables_initializer() -> Operation:
    """An op that initialises the local variables (`tf.metrics`' counters)."""
    return variables_initializer(local_variables(), name="init_1")


# ---------------------------------------------------------------------------------------------
# get_variable, variable_scope and initializers

AUTO_REUSE = "auto_reuse"


class VariableScope:
    """TF1's `VariableScope`: the name prefix and reuse mode of `get_variable` (what
    `with tf.variable_scope(...) as scope` binds and `tf.get_variable_scope()` returns)."""

    def __init__(self, name: str, reuse=False, initializer=None, name_scope: str = ""):
        self.name = name
        self._reuse = reuse
        self.initializer = initializer
        self.original_name_scope = name_scope

    @property
    def reuse(self):
        return self._reuse

    def reuse_variables(self) -> None:
        """Share the variables of this scope from now on (`get_variable` returns them)."""
        self._reuse = True

    def set_initializer(self, initializer) -> None:
        self.initializer = initializer

    def __repr__(self) -> str:
        return f"<tf.VariableScope '{self.name}' reuse={self._reuse}>"


def _scope_stack(graph) -> list[VariableScope]:
    if not hasattr(graph, "_variable_scopes"):
        graph._variable_scopes = [VariableScope("")]
    return graph._variable_scopes


def get_variable_scope() -> VariableScope:
    """The innermost variable scope (the root scope, name '', outside any)."""
    return _scope_stack(get_default_graph())[-1]


def _unique_scope_name(parent: VariableScope, name: str) -> str:
    # counted per entry of the parent scope (h15lib): entering a scope again restarts its
    # counts, as in TF, so a model function called twice under one scope finds `dense` again
    counts = parent.__dict__.setdefault("_subscope_counts", {})
    count = counts.get(name, 0)
    counts[name] = count + 1
    return name if count == 0 else f"{name}_{count}"


def _inherited_reuse(parent, reuse):
    """TF1's rule: a scope's own True or AUTO_REUSE, else its parent's (False cannot undo a
    parent's reuse)."""
    return reuse or parent or False


@contextlib.contextmanager
def variable_scope(
    name_or_scope, default_name=None, values=None, initializer=None, reuse=None, **_
):
    """Names `get_variable` variables `scope/...` and ops `scope/...`; yields the
    `VariableScope`. A scope object reopens that scope (and its name scope); `reuse=True` or
    `tf.AUTO_REUSE` shares variables, and is inherited by nested scopes."""
    graph = get_default_graph()
    stack = _scope_stack(graph)
    parent = stack[-1]
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        initializer = initializer or name_or_scope.initializer
        reuse = reuse or name_or_scope.reuse
        opened = graph.name_scope(name_or_scope.original_name_scope or None)
    else:
        if name_or_scope is None and default_name is None:
            raise ValueError("tf.variable_scope needs a name or a default_name")
        if name_or_scope is not None:
            name = str(name_or_scope)
        else:  # default_name is made unique among this scope's variable scopes
            name = _unique_scope_name(parent, str(default_name))
        full = f"{parent.name}/{name}" if parent.name else name
        opened = graph.name_scope(name)
    scope = VariableScope(
        full,
        _inherited_reuse(parent.reuse, reuse),
        initializer if initializer is not None else parent.initializer,
    )
    stack.append(scope)
    try:
        with opened as ops_scope:
            scope.original_name_scope = ops_scope
            yield scope
    finally:
        stack.pop()


def get_variable(
    name: str,
    shape=None,
    dtype=None,
    initializer=None,
    regularizer=None,
    trainable=True,
    collections=None,
    **_,
) -> Variable:
    """The variable `scope/name`: created if new, shared if the scope reuses."""
    graph = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    reuse = scope.reuse
    if full in graph.variables_by_name:
        if reuse in (True, AUTO_REUSE):
            return graph.variables_by_name[full]
        raise ValueError(
            f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
            "reuse=tf.AUTO_REUSE in VarScope?"
        )
    if reuse is True:
        raise ValueError(
            f"Variable {full} does not exist, or was not created with tf.get_variable(); its "
            "scope has reuse=True"
        )
    if initializer is None:
        initializer = scope.initializer or glorot_uniform_initializer()
    if isinstance(initializer, Tensor) and dtype is None:
        dtype = initializer.dtype
    dtype = dtypes.as_dtype(dtype if dtype is not None else dtypes.float32)
    with graph.name_scope(f"{full}/Initializer/"):
        if callable(initializer):
            if shape is None:
                raise ValueError(f"get_variable('{full}'): an initializer needs a shape")
            init = initializer(tuple(int(d) for d in shape), dtype)
        else:
            init = initializer
    variable = _variable_named(graph, full, init, dtype, trainable, collections)
    if regularizer is not None:
        loss = regularizer(variable)
        if loss is not None:
            graph.add_to_collection(REGULARIZATION_LOSSES, loss)
    return variable


def _variable_named(graph, full: str, init, dtype, trainable, collections=None) -> Variable:
    """A Variable whose op name is exactly `full` (get_variable's names are not uniquified)."""
    previous = graph._scope
    graph._scope = ""
    try:
        return Variable(init, trainable=trainable, name=full, dtype=dtype, collections=collections)
    finally:
        graph._scope = previous


def zeros_initializer(dtype=dtypes.float32):
    return lambda shape, dtype=dtype: ops.zeros(shape, dtype)


def ones_initializer(dtype=dtypes.float32):
    return lambda shape, dtype=dtype: ops.ones(shape, dtype)


def constant_initializer(value=0.0, dtype=dtypes.float32):
    return lambda shape, dtype=dtype: ops.constant(
        np.broadcast_to(np.asarray(value), shape), dtype=dtype
    )


def random_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
    return lambda shape, dtype=dtype: ops.random_normal(shape, mean, stddev, dtype, seed)


def truncated_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
    return lambda shape, dtype=dtype: ops.truncated_normal(shape, mean, stddev, dtype, seed)


def random_uniform_initializer(minval=0.0, maxval=None, seed=None, dtype=dtypes.float32):
    return lambda shape, dtype=dtype: ops.random_uniform(shape, minval, maxval, dtype, seed)


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape: a conv kernel's receptive field counts in both."""
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in = shape[-2] * receptive if len(shape) >= 2 else (shape[0] if shape else 1)
    fan_out = shape[-1] * receptive if len(shape) >= 2 else (shape[0] if shape else 1)
    return fan_in, fan_out


def glorot_uniform_initializer(seed=None, dtype=dtypes.float32):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)): TF1's default for get_variable."""

    def init(shape, dtype=dtype):
        fan_in, fan_out = fans(shape)
        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
        return ops.random_uniform(shape, -limit, limit, dtype, seed)

    return init
