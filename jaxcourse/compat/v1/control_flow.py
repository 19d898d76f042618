"""`tf.cond`, `tf.case`, `tf.while_loop`, `tf.map_fn`, `tf.scan`: graph control flow
compiled as `lax` control flow.

As in TF, the branch and loop functions are called once, when the graph is built, and the
ops they create form subgraphs. A `cond` op evaluates its two subgraphs inside `lax.cond`
(variables assigned in a branch are updated only when it is taken); a `while` op evaluates
its condition and body inside `lax.while_loop` (or a `lax.scan` of `maximum_iterations`
steps, which can be differentiated); `map_fn` and `scan` are a `lax.scan` over the first
axis. Random ops in a loop body draw fresh numbers on every iteration.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.evaluation import execution_order
from jaxcourse.compat.v1.graph import (
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    make_op,
    name_scope,
)


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


class _Subgraph:
    """The ops a Python function builds and the tensors it returns (flattened)."""

    def __init__(self, fn: Callable, what: str, args=()):
        graph = get_default_graph()
        start = len(graph._ops)
        result = fn(*args)
        if result is None:
            raise ValueError(f"{what} must return tensors (or Python values), got None")
        flat, self.treedef = jax.tree_util.tree_flatten(result, is_leaf=_is_tensor)
        self.outputs = [convert_to_tensor(x) for x in flat]
        self.ops = graph._ops[start:]
        self.result = result

    def externals(self, inside: set[int]) -> tuple[list[Tensor], list[Operation]]:
        """Tensors and control inputs from outside (`inside`: ids of the subgraph's ops)."""
        tensors = {
            t.ref: t for op in self.ops for t in op.inputs + op.captures if t.op.id not in inside
        }
        tensors.update({t.ref: t for t in self.outputs if t.op.id not in inside})
        controls = {c.id: c for op in self.ops for c in op.control_inputs if c.id not in inside}
        return list(tensors.values()), list(controls.values())

    def order(self, stop: set[int]) -> list[Operation]:
        return execution_order([t.op for t in self.outputs], stop, captures=False)


def _written(ops) -> dict:
    return {v.op.name: v for op in ops for v in op.writes}


def _merged_shape(a, b):
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b, strict=True))


def _single(values: list, treedef, strict: bool):
    """TF1's return convention: a one-element list/tuple comes back unpacked unless strict."""
    result = jax.tree_util.tree_unflatten(treedef, values)
    if not strict and isinstance(result, list | tuple) and len(result) == 1:
        return result[0]
    return result


def _as_predicate(pred, what: str) -> Tensor:
    pred = convert_to_tensor(pred, dtype=None if isinstance(pred, Tensor) else dtypes.bool_)
    if pred.dtype != dtypes.bool_ or (pred.shape is not None and len(pred.shape) != 0):
        raise TypeError(
            f"{what}: the predicate must be a scalar bool tensor, got {pred.describe()}"
        )
    return pred


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """`true_fn()` if `pred` else `false_fn()`, evaluated inside `lax.cond`."""
    true_fn, false_fn = true_fn or fn1, false_fn or fn2
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("tf.cond needs callables true_fn and false_fn")
    pred = _as_predicate(pred, "tf.cond")
    with name_scope(name or "cond"):
        branches = [
            _Subgraph(true_fn, "tf.cond's true_fn"),
            _Subgraph(false_fn, "tf.cond's false_fn"),
        ]
        taken, other = branches
        if taken.treedef != other.treedef:
            raise ValueError(
                f"tf.cond: true_fn and false_fn return different structures: {taken.treedef} "
                f"and {other.treedef}"
            )
        for a, b in zip(taken.outputs, other.outputs, strict=True):
            if a.dtype != b.dtype:
                raise TypeError(
                    f"tf.cond: the branches return different dtypes: {a.describe()} and "
                    f"{b.describe()}"
                )
        inside = {op.id for branch in branches for op in branch.ops}
        externals, controls = {}, {}
        for branch in branches:
            tensors, ops = branch.externals(inside)
            externals.update({t.ref: t for t in tensors})
            controls.update({op.id: op for op in ops})
        stop = {t.op.id for t in externals.values()} | set(controls)
        orders = [branch.order(stop) for branch in branches]
        written = _written(op for order in orders for op in order)

        def compute(ev, p, *_):
            ev.run_key()

            def run_branch(index):
                def branch_fn():
                    sub = ev.nested()
                    sub.evaluate(orders[index])
                    outs = [sub.values[t.ref] for t in branches[index].outputs]
                    return outs, {n: sub.current_value(n) for n in written}

                return branch_fn

            outs, writes = jax.lax.cond(p, run_branch(0), run_branch(1))
            for n, value in writes.items():
                ev.write(written[n], value)
            return tuple(outs) if len(outs) != 1 else outs[0]

        count = len(taken.outputs)
        if not count:
            raise ValueError("tf.cond: the branches must return at least one tensor")
        shapes = [
            _merged_shape(a.shape, b.shape)
            for a, b in zip(taken.outputs, other.outputs, strict=True)
        ]
        result = make_op(
            "Merge",
            compute,
            [pred, *externals.values()],
            "Merge",
            outputs=count,
            shape=shapes if count > 1 else shapes[0],
            dtype=[t.dtype for t in taken.outputs] if count > 1 else taken.outputs[0].dtype,
            infer_shape=False,
            captures=taken.outputs + other.outputs,
            control_inputs=list(controls.values()),
            writes=list(written.values()),
        )
    values = result if isinstance(result, list) else [result]
    return _single(values, taken.treedef, strict)


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The function of the first true predicate (`default` if none is: TF1 uses the last
    pair's function when no default is given). `exclusive` is not checked."""
    pairs = list(pred_fn_pairs.items() if isinstance(pred_fn_pairs, dict) else pred_fn_pairs)
    if not pairs:
        raise ValueError("tf.case needs at least one (predicate, function) pair")
    if default is None:
        *pairs, (_, default) = pairs
        if not pairs:
            return default()

    def chain(index: int):
        if index == len(pairs):
            return default
        pred, fn = pairs[index]
        return lambda: cond(pred, fn, chain(index + 1), strict=True, name=name)

    result = chain(0)()
    if not strict and isinstance(result, list | tuple) and len(result) == 1:
        return result[0]
    return result


def while_loop(
    cond,
    body,
    loop_vars,
    shape_invariants=None,
    parallel_iterations=10,
    back_prop=True,
    swap_memory=False,
    name=None,
    maximum_iterations=None,
    return_same_structure=False,
):
    """Repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`, inside
    `lax.while_loop` (a `lax.scan` when `maximum_iterations` is a Python int)."""
    flat, treedef = jax.tree_util.tree_flatten(loop_vars, is_leaf=_is_tensor)
    initial = [convert_to_tensor(v) for v in flat]
    if shape_invariants is not None:
        for t, inv in zip(initial, jax.tree_util.tree_leaves(shape_invariants), strict=False):
            if inv is not None and list(inv) != list(t.shape or []):
                raise NotImplementedError(
                    "tf.while_loop: loop variables whose shape changes (shape_invariants) are "
                    "not supported; lax loops keep shapes fixed"
                )
    with name_scope(name or "while"):
        carried = [
            make_op(
                "Enter",
                _never_computed,
                (),
                "Enter",
                shape=t.shape,
                dtype=t.dtype,
                infer_shape=False,
            )
            for t in initial
        ]
        inner = jax.tree_util.tree_unflatten(treedef, carried)
        args = inner if isinstance(inner, list | tuple) else [inner]
        test = _Subgraph(cond, "tf.while_loop's cond", args)
        step = _Subgraph(body, "tf.while_loop's body", args)
        if len(test.outputs) != 1:
            raise ValueError("tf.while_loop: cond must return one scalar bool tensor")
        _as_predicate(test.outputs[0], "tf.while_loop's cond")
        new = step.outputs
        if len(new) != len(carried):
            raise ValueError(
                f"tf.while_loop: body returned {len(new)} tensors for {len(carried)} loop variables"
            )
        for var, out in zip(carried, new, strict=True):
            if out.dtype != var.dtype:
                raise TypeError(
                    f"tf.while_loop: body returns {out.describe()} for a loop variable of dtype "
                    f"{dtypes.name_of(var.dtype)}"
                )
        inside = {op.id for op in test.ops + step.ops} | {t.op.id for t in carried}
        externals, controls = {}, {}
        for part in (test, step):
            tensors, ops = part.externals(inside)
            externals.update({t.ref: t for t in tensors if t.op.id not in inside})
            controls.update({op.id: op for op in ops})
        stop = {t.op.id for t in externals.values()} | set(controls) | {t.op.id for t in carried}
        test_order, step_order = test.order(stop), step.order(stop)
        if _written(test_order + step_order):
            raise NotImplementedError(
                "tf.while_loop: assigning variables inside the loop is not supported; carry the "
                "value as a loop variable and assign it after the loop"
            )
        limit = maximum_iterations

        def compute(ev, *values):
            ev.run_key()

            def run(order, outputs, carry, i):
                sub = ev.nested(salt=i)
                for t, v in zip(carried, carry, strict=True):
                    sub.values[t.ref] = v
                sub.evaluate(order)
                return [sub.values[t.ref] for t in outputs]

            def keep_going(i, carry):
                return run(test_order, test.outputs, carry, i)[0]

            def advance(i, carry):
                outs = run(step_order, new, carry, i)
                return tuple(jnp.asarray(o, t.dtype) for o, t in zip(outs, carried, strict=True))

            init = tuple(jnp.asarray(v, t.dtype) for v, t in zip(values, carried, strict=False))
            if isinstance(limit, int | np.integer):

                def scan_step(state, i):
                    active, carry = state
                    go = jnp.logical_and(active, keep_going(i, carry))
                    stepped = advance(i, carry)
                    carry = tuple(jnp.where(go, a, b) for a, b in zip(stepped, carry, strict=True))
                    return (go, carry), None

                (_, final), _ = jax.lax.scan(
                    scan_step, (jnp.asarray(True), init), jnp.arange(int(limit))
                )
            else:
                bound = None if limit is None else values[-1]

                def test_fn(state):
                    i, carry = state
                    go = keep_going(i, carry)
                    return go if bound is None else jnp.logical_and(go, i < bound)

                _, final = jax.lax.while_loop(
                    test_fn, lambda s: (s[0] + 1, advance(*s)), (jnp.asarray(0), init)
                )
            return final if len(final) != 1 else final[0]

        limit_inputs = [] if limit is None or isinstance(limit, int | np.integer) else [limit]
        exits = make_op(
            "Exit",
            compute,
            [*initial, *externals.values(), *limit_inputs],
            "Exit",
            outputs=len(carried),
            shape=[t.shape for t in carried] if len(carried) > 1 else carried[0].shape,
            dtype=[t.dtype for t in carried] if len(carried) > 1 else carried[0].dtype,
            infer_shape=False,
            captures=test.outputs + new,
            control_inputs=list(controls.values()),
        )
    exits = exits if isinstance(exits, list) else [exits]
    return _single(exits, treedef, return_same_structure)


def _never_computed(ev):
    raise AssertionError("loop variables are set by their loop")


def _sequence_subgraph(fn, what: str, slices: list[Tensor], carried: list[Tensor], treedefs):
    """The subgraph `fn` builds on per-step placeholders: element slices (and a carry)."""
    elem_tree, carry_tree = treedefs
    elems = jax.tree_util.tree_unflatten(elem_tree, slices)
    if carry_tree is None:
        return _Subgraph(fn, what, (elems,))
    carry = jax.tree_util.tree_unflatten(carry_tree, carried)
    return _Subgraph(fn, what, (carry, elems))


def _step_inputs(tensors: list[Tensor], name: str) -> list[Tensor]:
    """One per-step placeholder per scanned tensor: a slice along its first axis."""
    placeholders = []
    for t in tensors:
        shape = None if t.shape is None else t.shape[1:]
        placeholders.append(
            make_op(name, _never_computed, (), name, shape=shape, dtype=t.dtype, infer_shape=False)
        )
    return placeholders


def _scanned(fn, elems, initializer, name: str, what: str, keep_all: bool):
    """`lax.scan` over the first axis of `elems` (nested), carrying `initializer` (or not)."""
    flat_elems, elem_tree = jax.tree_util.tree_flatten(elems, is_leaf=_is_tensor)
    flat_elems = [convert_to_tensor(e) for e in flat_elems]
    if initializer is None:
        init_flat, init_tree = [], None
    else:
        init_flat, init_tree = jax.tree_util.tree_flatten(initializer, is_leaf=_is_tensor)
        init_flat = [convert_to_tensor(v) for v in init_flat]
    with name_scope(name):
        slices = _step_inputs(flat_elems, "elem")
        carried = [
            make_op(
                "carry",
                _never_computed,
                (),
                "carry",
                shape=t.shape,
                dtype=t.dtype,
                infer_shape=False,
            )
            for t in init_flat
        ]
        step = _sequence_subgraph(fn, what, slices, carried, (elem_tree, init_tree))
        if init_tree is not None and len(step.outputs) != len(carried):
            raise ValueError(f"{what} returned {len(step.outputs)} tensors for {len(carried)}")
        inside = {op.id for op in step.ops} | {t.op.id for t in slices + carried}
        tensors, controls = step.externals(inside)
        externals = [t for t in tensors if t.op.id not in inside]
        stop = (
            {t.op.id for t in externals}
            | {c.id for c in controls}
            | {t.op.id for t in slices + carried}
        )
        order = step.order(stop)
        if _written(order):
            raise NotImplementedError(f"{what}: assigning variables inside it is not supported")
        outputs = step.outputs
        n_elems, n_carry = len(flat_elems), len(init_flat)

        def compute(ev, *values):
            ev.run_key()
            xs, init = values[:n_elems], values[n_elems : n_elems + n_carry]

            def body(state, x):
                i, carry = state
                sub = ev.nested(salt=i)
                for t, v in zip(slices, x, strict=True):
                    sub.values[t.ref] = v
                for t, v in zip(carried, carry, strict=True):
                    sub.values[t.ref] = v
                sub.evaluate(order)
                outs = tuple(sub.values[t.ref] for t in outputs)
                if n_carry:
                    outs = tuple(
                        jnp.asarray(o, t.dtype) for o, t in zip(outs, carried, strict=True)
                    )
                    return (i + 1, outs), outs
                return (i + 1, carry), outs

            _, stacked = jax.lax.scan(body, (jnp.asarray(0), tuple(init)), tuple(xs))
            return stacked if len(stacked) != 1 else stacked[0]

        length = None if not flat_elems or flat_elems[0].shape is None else flat_elems[0].shape[0]
        shapes = [None if t.shape is None else (length, *t.shape) for t in outputs]
        result = make_op(
            "scan" if keep_all else "map",
            compute,
            [*flat_elems, *init_flat, *externals],
            "TensorArrayStack",
            outputs=len(outputs),
            shape=shapes if len(outputs) > 1 else shapes[0],
            dtype=[t.dtype for t in outputs] if len(outputs) > 1 else outputs[0].dtype,
            infer_shape=False,
            captures=list(outputs),
            control_inputs=controls,
        )
    values = result if isinstance(result, list) else [result]
    tree = step.treedef if init_tree is None else init_tree
    return jax.tree_util.tree_unflatten(tree, values)


def map_fn(
    fn,
    elems,
    dtype=None,
    parallel_iterations=None,
    back_prop=True,
    swap_memory=False,
    infer_shape=True,
    name=None,
):
    """`fn` applied to every slice of `elems` along its first axis, stacked (a `lax.scan`)."""
    return _scanned(fn, elems, None, name or "map", "tf.map_fn's fn", keep_all=False)


def scan(
    fn,
    elems,
    initializer=None,
    parallel_iterations=10,
    back_prop=True,
    swap_memory=False,
    infer_shape=True,
    reverse=False,
    name=None,
):
    """TF's `tf.scan`: `acc = fn(acc, elem)` over the first axis, every `acc` stacked."""
    if initializer is None:
        raise NotImplementedError("tf.scan without an initializer; pass initializer=")
    if reverse:
        raise NotImplementedError("tf.scan(reverse=True); reverse elems with tf.reverse")
    return _scanned(fn, elems, initializer, name or "scan", "tf.scan's fn", keep_all=True)
