"""`tf.train.*Optimizer`: TF1's optimizers, built by the project's optimizer registry.

Each class passes TF1's default hyper-parameters explicitly to
`jaxcourse.optim.make(name, flavour="tf1", ...)`, which reproduces TF1's update rules. The
optimizer's state (TF's slots) is one hidden variable per `minimize`, initialised by
`tf.global_variables_initializer()` and saved by `tf.train.Saver`.
"""

from __future__ import annotations

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

    def __init__(self, learning_rate, name: str, **options):
        self._name = name
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

    def _apply(self, variables, grads_of, captures, global_step, name) -> Operation:
        names = [v.op.name for v in variables]
        tx = self._transformation()

        def init_state():
            return tx.init(
                {n: jnp.zeros(v.shape, v.dtype) for n, v in zip(names, variables, strict=True)}
            )

        base = name or self._name
        state = Variable.state(f"{base}/state", jax.eval_shape(init_state), init_state)
        lr_inputs = [self._lr_tensor] if self._lr_tensor is not None else []
        writes = [*variables, state] + ([global_step] if global_step is not None else [])

        def compute(ev, *lr):
            params = {n: ev.read(v) for n, v in zip(names, variables, strict=True)}
            grads = dict(zip(names, grads_of(ev), strict=True))
            transform = self._transformation(lr[0] if lr else None)
            updates, new_state = transform.update(grads, ev.read(state), params)
            new_params = optax.apply_updates(params, updates)
            for n, v in zip(names, variables, strict=True):
                ev.write(v, new_params[n].astype(v.dtype))
            ev.write(state, new_state)
            if global_step is not None:
                ev.write(global_step, ev.read(global_step) + 1)

        captures = [*captures, *variables, state]
        if global_step is not None:
            captures.append(global_step)
        return make_op(
            self._name, compute, lr_inputs, base, outputs=0, captures=captures, writes=writes
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
        super().__init__(learning_rate, name, momentum=float(momentum))


class AdagradOptimizer(Optimizer):
    """s ← s + g²; W ← W − η g / √s, s starting at `initial_accumulator_value`."""

    registry_name = "adagrad"

    def __init__(
        self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"
    ):
        super().__init__(
            learning_rate, name, initial_accumulator=float(initial_accumulator_value), eps=0.0
        )


class RMSPropOptimizer(Optimizer):
    """TF1's RMSProp: mean square starting at 1, ε = 1e-10 inside the root."""

    registry_name = "rmsprop"

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


class AdadeltaOptimizer(Optimizer):
    """TF1's Adadelta (η = 0.001, ρ = 0.95, ε = 1e-8 by default)."""

    registry_name = "adadelta"

    def __init__(
        self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False, name="Adadelta"
    ):
        super().__init__(learning_rate, name, rho=float(rho), eps=float(epsilon))


class AdamOptimizer(Optimizer):
    """TF1's Adam (η = 0.001, β1 = 0.9, β2 = 0.999, ε̂ = 1e-8 by default)."""

    registry_name = "adam"

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
