"""Variables and what writes them in a TF1 training graph (a `.meta` file's graph): `VariableV2`
and `Assign*`, resource variables (`VarHandleOp`, `ReadVariableOp`, `AssignVariableOp`, ...) and
the (`Resource`)`Apply*` optimizer kernels.

These nodes build shim ops themselves (builders): a `VariableV2` or `VarHandleOp` becomes a
`tf.Variable` of the session, initialised by its `name/Assign` node; `Assign`/`Apply*` ops write
variables like the shim's own optimizers do (reads in a run see the values from before it, as
TF's training graphs are built to). The `Apply*` kernels follow
tensorflow/core/kernels/training_ops.cc; `ApplyAdam` is `optimizers.apply_adam`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import variables
from jaxcourse.compat.v1.converters import register_builder
from jaxcourse.compat.v1.errors import FailedPreconditionError, UnimplementedError
from jaxcourse.compat.v1.graph import make_host_op, make_op
from jaxcourse.compat.v1.optimizers import AdamSlots, apply_adam


@register_builder("VariableV2", "Variable", "VarHandleOp")
def _variable(node, inputs, name):
    dtype = np.dtype(node.require("dtype"))
    shape = node.require("shape")
    if shape is None or any(d is None or d < 0 for d in shape):
        raise UnimplementedError(
            f"variable '{node.name}' has shape {shape}; only fully known shapes are supported"
        )
    template = jax.ShapeDtypeStruct(tuple(shape), jax.dtypes.canonicalize_dtype(dtype))
    return variables.Variable.imported(name, template, dtype)


def _ref(node, tensor) -> variables.Variable:
    if not isinstance(tensor, variables.Variable):
        raise UnimplementedError(
            f"node '{node.name}' ({node.op}) writes {tensor.describe()}, which is not a "
            "variable (only VariableV2 and VarHandleOp variables are supported)"
        )
    return tensor


@register_builder("Assign", "AssignVariableOp")
def _assign(node, inputs, name):
    ref = _ref(node, inputs[0])
    op = variables.assign(ref, inputs[1], name=name)
    if ref.initializer is None and name == f"{ref.op.name}/Assign":
        ref.initializer = op.op  # TF's convention: `W/Assign` initialises `W`
    return op


@register_builder("AssignAdd", "AssignSub", "AssignAddVariableOp", "AssignSubVariableOp")
def _assign_update(node, inputs, name):
    update = variables.assign_add if node.op.startswith("AssignAdd") else variables.assign_sub
    return update(_ref(node, inputs[0]), inputs[1], name=name)


@register_builder("ReadVariableOp")
def _read(node, inputs, name):
    ref = _ref(node, inputs[0])
    return make_op(
        node.op,
        lambda ev: ev.read(ref),
        (),
        name,
        shape=ref.shape,
        dtype=ref.dtype,
        captures=[ref],
    )


@register_builder("VarIsInitializedOp")
def _is_initialized(node, inputs, name):
    ref = _ref(node, inputs[0])

    def compute(hv):
        try:
            hv.session.variable_value(ref)
        except FailedPreconditionError:
            return np.bool_(False)
        return np.bool_(True)

    return make_host_op(node.op, compute, (), name, shape=(), dtype=np.bool_)


def _kernel(node, inputs, name, slots: int, step):
    """An op that reads variable `inputs[0]` and `slots` slot variables, computes
    `step(var, *slot_values, *other_inputs) -> (new_var, *new_slots)` and writes them."""
    refs = [_ref(node, t) for t in inputs[: 1 + slots]]

    def compute(ev, *xs):
        new = step(*[ev.read(r) for r in refs], *xs)
        for ref, value in zip(refs, new, strict=True):
            ev.write(ref, value.astype(ref.dtype))
        return new[0]

    return make_op(
        node.op,
        compute,
        inputs[1 + slots :],
        name,
        shape=refs[0].shape,
        dtype=refs[0].dtype,
        captures=refs,
        writes=refs,
    )


def _no_nesterov(node) -> None:
    if node.attr("use_nesterov", False):
        raise UnimplementedError(f"node '{node.name}' ({node.op}): use_nesterov is not supported")


@register_builder("ApplyGradientDescent", "ResourceApplyGradientDescent")
def _apply_gradient_descent(node, inputs, name):
    return _kernel(node, inputs, name, 0, lambda w, lr, d: (w - d * lr,))


@register_builder("ApplyMomentum", "ResourceApplyMomentum")
def _apply_momentum(node, inputs, name):
    nesterov = node.attr("use_nesterov", False)

    def step(w, accum, lr, g, momentum):
        accum = accum * momentum + g
        if nesterov:
            return w - (g * lr + accum * momentum * lr), accum
        return w - accum * lr, accum

    return _kernel(node, inputs, name, 1, step)


@register_builder("ApplyAdagrad", "ResourceApplyAdagrad")
def _apply_adagrad(node, inputs, name):
    def step(w, accum, lr, g):
        accum = accum + g * g
        return w - g * lr * jax.lax.rsqrt(accum), accum

    return _kernel(node, inputs, name, 1, step)


@register_builder("ApplyAdam", "ResourceApplyAdam")
def _apply_adam(node, inputs, name):
    _no_nesterov(node)

    def step(w, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, g):
        state = AdamSlots(beta1_power, beta2_power, m, v)
        update, new = apply_adam(lr, beta1, beta2, epsilon).update(g, state)
        return w + update, new.m, new.v

    return _kernel(node, inputs, name, 2, step)


@register_builder("ApplyRMSProp", "ResourceApplyRMSProp")
def _apply_rmsprop(node, inputs, name):
    def step(w, ms, mom, lr, rho, momentum, epsilon, g):
        ms = ms + (g * g - ms) * (1 - rho)
        mom = mom * momentum + lr * g * jax.lax.rsqrt(ms + epsilon)
        return w - mom, ms, mom

    return _kernel(node, inputs, name, 2, step)


@register_builder("ApplyCenteredRMSProp", "ResourceApplyCenteredRMSProp")
def _apply_centered_rmsprop(node, inputs, name):
    def step(w, mg, ms, mom, lr, rho, momentum, epsilon, g):
        ms = ms + (g * g - ms) * (1 - rho)
        mg = mg + (g - mg) * (1 - rho)
        mom = mom * momentum + lr * g * jax.lax.rsqrt(ms - mg * mg + epsilon)
        return w - mom, mg, ms, mom

    return _kernel(node, inputs, name, 3, step)


@register_builder("ApplyAdadelta", "ResourceApplyAdadelta")
def _apply_adadelta(node, inputs, name):
    def step(w, accum, accum_update, lr, rho, epsilon, g):
        accum = accum * rho + g * g * (1 - rho)
        update = jnp.sqrt(accum_update + epsilon) * jax.lax.rsqrt(accum + epsilon) * g
        accum_update = accum_update * rho + update * update * (1 - rho)
        return w - update * lr, accum, accum_update

    return _kernel(node, inputs, name, 2, step)
