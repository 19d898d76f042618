"""`tf.train.*Optimizer`: TF1's optimizers, built by the project's optimizer registry.

Each class passes TF1's default hyper-parameters explicitly to
`jaxcourse.optim.make(name, flavour="tf1", ...)`, which reproduces TF1's update rules; Adam runs
TF's `ApplyAdam` kernel on TF's own state (`beta1_power`, `beta2_power`). The optimizer's state
is kept in variables named as TF names its slots (`W/Adam`, `W/Adam_1`, `W/Momentum`,
`beta1_power`, ...), so `tf.train.Saver` writes and reads checkpoints TF reads and writes, and
`opt.get_slot(W, "m")` returns the variable. `tf.global_variables_initializer()` sets them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxcourse import optim
from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.gradients import depends_on, grad_values
from jaxcourse.compat.v1.graph import (
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
)
from jaxcourse.compat.v1.variables import Variable, trainable_variables

GLOBAL_STEP = "global_step"


class Optimizer:
    """Base class: `minimize`, `compute_gradients`, `apply_gradients` on graph variables."""

    registry_name = ""
    # the Optax state's fields that are TF slots → TF's slot names, in TF's order of creation
    SLOTS: dict[str, str] = {}
    NEGATED: frozenset[str] = frozenset()  # fields whose TF slot holds minus the Optax value

    def __init__(self, learning_rate, name: str, **options):
        self._name = name
        self._slots: dict[str, dict[Variable, Variable]] = {}
        self._non_slots: dict[str, Variable] = {}
        self._options = {"flavour": "tf1", **options}
        self._lr = learning_rate
        if isinstance(learning_rate, Tensor):
            self._lr_tensor = convert_to_tensor(learning_rate)
            optim.validate(self.registry_name, learning_rate=1.0, **self._options)
        else:
            self._lr_tensor = None
            # validates the options now, where the optimizer is built
            optim.make(self.registry_name, learning_rate=float(learning_rate), **self._options)

    def _transformation(self, lr=None) -> optax.GradientTransformation:
        """The Optax transformation; `lr` is the traced value of a tensor learning rate."""
        if self._lr_tensor is None:
            return optim.make(self.registry_name, learning_rate=float(self._lr), **self._options)
        cfg = optim.validate(self.registry_name, learning_rate=1.0, **self._options)
        return optim.build(cfg, learning_rate=1.0 if lr is None else lr)

    def _variables(self, loss: Tensor, var_list) -> list[Variable]:
        candidates = list(var_list) if var_list is not None else trainable_variables()
        chosen = [
            v
            for v in candidates
            if v.dtype.kind == "f" and (var_list is not None or depends_on([loss], v))
        ]
        if not chosen:
            raise ValueError(
                f"no variables to optimize: loss {loss.describe()} depends on no trainable "
                "float variable"
            )
        return chosen

    def compute_gradients(self, loss, var_list=None) -> list[tuple[Tensor, Variable]]:
        """[(gradient, variable)] of `loss` for the trainable variables it depends on."""
        from jaxcourse.compat.v1.gradients import gradients

        loss = convert_to_tensor(loss)
        variables = self._variables(loss, var_list)
        return list(zip(gradients(loss, variables), variables, strict=True))

    def minimize(self, loss, global_step=None, var_list=None, name=None) -> Operation:
        """An op that takes one step on `loss` (and adds 1 to `global_step`, if given)."""
        loss = convert_to_tensor(loss)
        variables = self._variables(loss, var_list)

        def grads_of(ev):
            return grad_values(ev, [loss], variables)

        return self._apply(variables, grads_of, [loss], global_step, name)

    def apply_gradients(self, grads_and_vars, global_step=None, name=None) -> Operation:
        """An op that applies the given (gradient, variable) pairs."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("apply_gradients: no (gradient, variable) pair has a gradient")
        grads = [convert_to_tensor(g) for g, _ in pairs]
        variables = [v for _, v in pairs]
        return self._apply(
            variables, lambda ev: [ev.value(g) for g in grads], grads, global_step, name
        )

    def get_slot_names(self) -> list[str]:
        """The names of the slots this optimizer has made (TF: sorted)."""
        return sorted(self._slots)

    def get_slot(self, var: Variable, name: str) -> Variable | None:
        """The slot variable `name` of `var` (e.g. Adam's "m", Momentum's "momentum"), or None."""
        return self._slots.get(name, {}).get(var)

    def _state_variables(self, variables: list[Variable], template, signs) -> list[Variable]:
        """One variable per leaf of the Optax state `template`, named as TF names its slots."""
        paths, _ = jax.tree_util.tree_flatten_with_path(template)
        position: dict[tuple[str, str | None], int] = {}
        for i, (path, _) in enumerate(paths):
            field = next(k.name for k in reversed(path) if isinstance(k, jax.tree_util.GetAttrKey))
            var = next((k.key for k in path if isinstance(k, jax.tree_util.DictKey)), None)
            position[(field, var)] = i
        order = [(f, None) for f, v in position if v is None]  # non-slot state first, as TF
        order += [
            (f, v.op.name) for v in variables for f in self.SLOTS if (f, v.op.name) in position
        ]
        unnamed = [key for key in position if key not in order]
        if unnamed:
            raise NotImplementedError(f"{type(self).__name__}: no TF name for state {unnamed}")
        by_name = {v.op.name: v for v in variables}
        made: list[Variable | None] = [None] * len(paths)
        graph = get_default_graph()
        for field, var in order:
            i = position[(field, var)]
            init = self._initial_leaf(i, variables, signs[i])
            if var is None:  # TF: in the current name scope (`train/beta1_power`)
                made[i] = self._non_slots[field] = Variable.state(field, paths[i][1], init)
                continue
            with graph.name_scope("/"):  # a slot is named after its variable, not the scope
                made[i] = Variable.state(f"{var}/{self._name}", paths[i][1], init)
            self._slots.setdefault(self.SLOTS[field], {})[by_name[var]] = made[i]
        return made

    def _initial_leaf(self, i: int, variables: list[Variable], sign: int):
        def init():
            zeros = {v.op.name: jnp.zeros(v.shape, v.dtype) for v in variables}
            return sign * jax.tree_util.tree_leaves(self._transformation().init(zeros))[i]

        return init

    def _signs(self, template) -> list[int]:
        """−1 for the state leaves whose TF slot holds the negated value, else 1."""
        paths, _ = jax.tree_util.tree_flatten_with_path(template)
        return [
            -1
            if any(isinstance(k, jax.tree_util.GetAttrKey) and k.name in self.NEGATED for k in p)
            else 1
            for p, _ in paths
        ]

    def _apply(self, variables, grads_of, captures, global_step, name) -> Operation:
        names = [v.op.name for v in variables]
        zeros = {n: jnp.zeros(v.shape, v.dtype) for n, v in zip(names, variables, strict=True)}
        template = jax.eval_shape(self._transformation().init, zeros)
        treedef = jax.tree_util.tree_structure(template)
        signs = self._signs(template)
        state = self._state_variables(variables, template, signs)
        lr_inputs = [self._lr_tensor] if self._lr_tensor is not None else []
        writes = [*variables, *state] + ([global_step] if global_step is not None else [])

        def compute(ev, *lr):
            params = {n: ev.read(v) for n, v in zip(names, variables, strict=True)}
            grads = dict(zip(names, grads_of(ev), strict=True))
            old = treedef.unflatten([s * ev.read(v) for s, v in zip(signs, state, strict=True)])
            transform = self._transformation(lr[0] if lr else None)
            updates, new_state = transform.update(grads, old, params)
            new_params = optax.apply_updates(params, updates)
            for n, v in zip(names, variables, strict=True):
                ev.write(v, new_params[n].astype(v.dtype))
            leaves = jax.tree_util.tree_leaves(new_state)
            for s, v, leaf in zip(signs, state, leaves, strict=True):
                ev.write(v, (s * leaf).astype(v.dtype))
            if global_step is not None:
                ev.write(global_step, ev.read(global_step) + 1)

        captures = [*captures, *variables, *state]
        if global_step is not None:
            captures.append(global_step)
        return make_op(
            self._name,
            compute,
            lr_inputs,
            name or self._name,
            outputs=0,
            captures=captures,
            writes=writes,
        )


class GradientDescentOptimizer(Optimizer):
    """W ← W − η g."""

    registry_name = "sgd"

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(learning_rate, name)


class MomentumOptimizer(Optimizer):
    """a ← γ a + g; W ← W − η a (Nesterov: W ← W − η (g + γ a))."""

    def __init__(
        self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False
    ):
        self.registry_name = "nag" if use_nesterov else "momentum"
        self.SLOTS = {"trace": "momentum"}
        super().__init__(learning_rate, name, momentum=float(momentum))


class AdagradOptimizer(Optimizer):
    """s ← s + g²; W ← W − η g / √s, s starting at `initial_accumulator_value`."""

    registry_name = "adagrad"
    SLOTS = {"sum_of_squares": "accumulator"}

    def __init__(
        self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"
    ):
        super().__init__(
            learning_rate, name, initial_accumulator=float(initial_accumulator_value), eps=0.0
        )


class RMSPropOptimizer(Optimizer):
    """TF1's RMSProp: mean square starting at 1, ε = 1e-10 inside the root."""

    registry_name = "rmsprop"
    SLOTS = {"nu": "rms", "mu": "mg", "trace": "momentum"}
    NEGATED = frozenset({"trace"})  # Optax accumulates −η g/√n, TF +η g/√n

    def __init__(
        self,
        learning_rate,
        decay=0.9,
        momentum=0.0,
        epsilon=1e-10,
        use_locking=False,
        centered=False,
        name="RMSProp",
    ):
        super().__init__(
            learning_rate,
            name,
            decay=float(decay),
            momentum=float(momentum),
            eps=float(epsilon),
            centered=bool(centered),
        )

    def _transformation(self, lr=None) -> optax.GradientTransformation:
        transform = super()._transformation(lr)
        if self._options["momentum"] == 0:  # TF keeps its momentum slot (the last step) anyway
            transform = optax.chain(transform, optax.trace(decay=0.0))
        return transform


class AdadeltaOptimizer(Optimizer):
    """TF1's Adadelta (η = 0.001, ρ = 0.95, ε = 1e-8 by default)."""

    registry_name = "adadelta"
    SLOTS = {"e_g": "accum", "e_x": "accum_update"}

    def __init__(
        self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False, name="Adadelta"
    ):
        super().__init__(learning_rate, name, rho=float(rho), eps=float(epsilon))


class AdamSlots(NamedTuple):
    """TF's Adam state: β1ᵗ and β2ᵗ (non-slot variables) and the moments m, v (slots)."""

    beta1_power: jax.Array
    beta2_power: jax.Array
    m: Any
    v: Any


def apply_adam(learning_rate, beta1: float, beta2: float, epsilon: float):
    """TF's `ApplyAdam` kernel (training_ops.cc) as an Optax transformation on `AdamSlots`:

        α = η √(1 − β2ᵗ) / (1 − β1ᵗ);  m += (g − m)(1 − β1);  v += (g² − v)(1 − β2)
        W −= α m / (√v + ε̂);  then β1ᵗ ← β1ᵗ β1, β2ᵗ ← β2ᵗ β2

    in the variables' dtype, operation for operation, so a step resumed from a TF checkpoint
    computes what TF computes from the same values.
    """

    def init(params):
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamSlots(jnp.asarray(beta1, dtype), jnp.asarray(beta2, dtype), zeros, zeros)

    def update(grads, state, params=None):
        del params
        one = jnp.ones((), state.beta1_power.dtype)
        b1, b2 = jnp.asarray(beta1, one.dtype), jnp.asarray(beta2, one.dtype)
        lr = jnp.asarray(learning_rate, one.dtype)
        alpha = lr * jnp.sqrt(one - state.beta2_power) / (one - state.beta1_power)
        m = jax.tree.map(lambda m, g: m + (g - m) * (one - b1), state.m, grads)
        v = jax.tree.map(lambda v, g: v + (g * g - v) * (one - b2), state.v, grads)
        eps = jnp.asarray(epsilon, one.dtype)
        updates = jax.tree.map(lambda m, v: -((m * alpha) / (jnp.sqrt(v) + eps)), m, v)
        return updates, AdamSlots(state.beta1_power * b1, state.beta2_power * b2, m, v)

    return optax.GradientTransformation(init, update)


class AdamOptimizer(Optimizer):
    """TF1's Adam (η = 0.001, β1 = 0.9, β2 = 0.999, ε̂ = 1e-8 by default)."""

    registry_name = "adam"
    SLOTS = {"m": "m", "v": "v"}

    def __init__(
        self,
        learning_rate=0.001,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-8,
        use_locking=False,
        name="Adam",
    ):
        super().__init__(learning_rate, name, b1=float(beta1), b2=float(beta2), eps=float(epsilon))

    def _transformation(self, lr=None) -> optax.GradientTransformation:
        rate = lr if lr is not None else (1.0 if self._lr_tensor is not None else self._lr)
        o = self._options
        return apply_adam(rate, o["b1"], o["b2"], o["eps"])

    def _get_beta_accumulators(self) -> tuple[Variable, Variable]:
        return self._non_slots["beta1_power"], self._non_slots["beta2_power"]


def get_global_step(graph=None) -> Variable | None:
    steps = (graph or get_default_graph()).get_collection(GLOBAL_STEP)
    return steps[0] if steps else None


def get_or_create_global_step(graph=None) -> Variable:
    """The graph's `global_step` variable (an integer, not trainable), created if needed."""
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    if step is None:
        with graph.as_default():
            step = Variable(0, trainable=False, name="global_step", dtype=dtypes.int64)
        graph.add_to_collection(GLOBAL_STEP, step)
    return step


create_global_step = get_or_create_global_step
