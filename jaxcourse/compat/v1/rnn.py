"""`tf.nn.dynamic_rnn`, `static_rnn`, `bidirectional_dynamic_rnn` and cell calls.

An RNN over time is one graph op whose computation is one `lax.scan` of the cell's step;
its outputs are the RNN's outputs (`while:0`) and the final state's tensors (`while:1`,
...). Variables are created under `rnn/` (or `scope`), as TF names them
(`rnn/basic_lstm_cell/kernel`). With `sequence_length`, outputs past a sequence's end are
zeros and its state stops changing there, as in TF.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxcourse.compat.v1 import dtypes, ops, variables
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_op
from jaxcourse.compat.v1.rnn_cell import RNNCell


def _multi_output(op_type, compute, inputs, name, specs) -> list[Tensor]:
    """One op with an output per (shape, dtype) of `specs` (`name:0`, `name:1`, ...)."""
    if len(specs) == 1:
        shape, dtype = specs[0]
        return [
            make_op(
                op_type, lambda ev, *xs: compute(ev, *xs)[0], inputs, name, shape=shape, dtype=dtype
            )
        ]
    return make_op(
        op_type,
        compute,
        inputs,
        name,
        shape=[shape for shape, _ in specs],
        dtype=[dtype for _, dtype in specs],
        outputs=len(specs),
    )


def _check_cell(cell, what: str) -> RNNCell:
    if not isinstance(cell, RNNCell):
        raise TypeError(
            f"{what} needs an RNN cell (e.g. tf.nn.rnn_cell.BasicLSTMCell(128)), got {cell!r}"
        )
    return cell


def _state_tensors(cell: RNNCell, initial_state, batch, dtype) -> tuple[list[Tensor], object]:
    """The initial state's tensors (flattened) and the structure of the cell's state."""
    tree = jax.tree_util.tree_structure(cell.state_size)
    if initial_state is None:
        return [], tree
    leaves = jax.tree_util.tree_leaves(initial_state)
    if len(leaves) != tree.num_leaves:
        raise ValueError(
            f"initial_state has {len(leaves)} tensors, but the cell's state_size "
            f"{cell.state_size} needs {tree.num_leaves}"
        )
    return [convert_to_tensor(t, dtype) for t in leaves], tree


def _reverse_time(x, lengths):
    """x [time, batch, ...] with each sequence's first `lengths[b]` steps reversed."""
    if lengths is None:
        return x[::-1]
    t = jnp.arange(x.shape[0])[:, None]
    index = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=0)


def _scan_rnn(cell, x, sequence_length, initial_state, dtype, time_major, reverse, op_name):
    """(outputs tensor, final state structure of tensors) of `cell` run over `x`."""
    x = convert_to_tensor(x)
    if x.shape is None or len(x.shape) != 3:
        raise ValueError(
            f"the RNN's inputs must be rank 3 ([batch, time, depth], or [time, batch, depth] "
            f"with time_major=True), got {x.describe()}"
        )
    if initial_state is None and dtype is None:
        raise ValueError("dynamic_rnn: if there is no initial_state, you must give a dtype")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else x.dtype
    params = cell.graph_inputs(x.shape[-1], dtype)
    time_axis = 0 if time_major else 1
    batch = x.shape[1 - time_axis]
    state_inputs, tree = _state_tensors(cell, initial_state, batch, dtype)
    lengths = [] if sequence_length is None else [ops.cast(sequence_length, dtypes.int32)]
    n_state, n_len = len(state_inputs), len(lengths)
    random = cell.needs_key()

    def compute(ev, inputs, *rest):
        seq = rest[0] if n_len else None
        state = rest[n_len : n_len + n_state]
        values = rest[n_len + n_state :]
        xs = inputs if time_major else jnp.swapaxes(inputs, 0, 1)
        if reverse:
            xs = _reverse_time(xs, seq)
        start = (
            jax.tree_util.tree_unflatten(tree, state)
            if n_state
            else cell.zero_state_values(xs.shape[1], dtype)
        )
        seq_key = ev.key() if random else None

        def body(carry, step_in):
            t, xt = step_in
            out, new = cell.step(values, xt, carry, None if seq_key is None else (seq_key, t))
            if seq is not None:
                alive = (t < seq)[:, None]
                out = jnp.where(alive, out, jnp.zeros_like(out))
                new = jax.tree_util.tree_map(lambda a, b: jnp.where(alive, a, b), new, carry)
            return new, out

        final, outs = jax.lax.scan(body, start, (jnp.arange(xs.shape[0]), xs))
        if reverse:
            outs = _reverse_time(outs, seq)
        outs = outs if time_major else jnp.swapaxes(outs, 0, 1)
        return (outs, *jax.tree_util.tree_leaves(final))

    out_shape = tuple(x.shape[:2]) + (cell.output_size,)
    specs = [(out_shape, dtype)] + [
        ((batch, size), dtype) for size in jax.tree_util.tree_leaves(cell.state_size)
    ]
    outputs, *state = _multi_output(
        "RNN", compute, [x, *lengths, *state_inputs, *params], op_name, specs
    )
    return outputs, jax.tree_util.tree_unflatten(tree, state)


def dynamic_rnn(
    cell,
    inputs,
    sequence_length=None,
    initial_state=None,
    dtype=None,
    parallel_iterations=None,
    swap_memory=False,
    time_major=False,
    scope=None,
):
    """(outputs [batch, time, output_size], final state) of `cell` over `inputs`."""
    _check_cell(cell, "tf.nn.dynamic_rnn")
    with variables.variable_scope(scope or "rnn"):
        return _scan_rnn(
            cell, inputs, sequence_length, initial_state, dtype, time_major, False, "while"
        )


def bidirectional_dynamic_rnn(
    cell_fw,
    cell_bw,
    inputs,
    sequence_length=None,
    initial_state_fw=None,
    initial_state_bw=None,
    dtype=None,
    parallel_iterations=None,
    swap_memory=False,
    time_major=False,
    scope=None,
):
    """((outputs_fw, outputs_bw), (state_fw, state_bw)); the backward cell reads each
    sequence from its end (its outputs are given back in the inputs' time order)."""
    _check_cell(cell_fw, "tf.nn.bidirectional_dynamic_rnn (cell_fw)")
    _check_cell(cell_bw, "tf.nn.bidirectional_dynamic_rnn (cell_bw)")
    with variables.variable_scope(scope or "bidirectional_rnn"):
        with variables.variable_scope("fw"):
            out_fw, state_fw = _scan_rnn(
                cell_fw,
                inputs,
                sequence_length,
                initial_state_fw,
                dtype,
                time_major,
                False,
                "while",
            )
        with variables.variable_scope("bw"):
            out_bw, state_bw = _scan_rnn(
                cell_bw,
                inputs,
                sequence_length,
                initial_state_bw,
                dtype,
                time_major,
                True,
                "while",
            )
    return (out_fw, out_bw), (state_fw, state_bw)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """(list of T outputs [batch, output_size], final state) for a list of T inputs."""
    _check_cell(cell, "tf.nn.static_rnn")
    if isinstance(inputs, Tensor) or not isinstance(inputs, Sequence) or not inputs:
        raise TypeError(
            "tf.nn.static_rnn needs a non-empty list of [batch, depth] tensors (one per time "
            "step; tf.unstack(x, axis=1) makes one from [batch, time, depth])"
        )
    with variables.variable_scope(scope or "rnn"):
        stacked = ops.stack(list(inputs), axis=0)
        outputs, state = _scan_rnn(
            cell, stacked, sequence_length, initial_state, dtype, True, False, "static"
        )
        return ops.unstack(outputs, axis=0), state


def call_cell(cell: RNNCell, inputs, state, scope=None):
    """`cell(inputs, state)`: one step as graph ops, (output, new_state)."""
    x = convert_to_tensor(inputs)
    if x.shape is None or len(x.shape) != 2:
        raise ValueError(f"a cell is called on [batch, depth] inputs, got {x.describe()}")
    if scope is not None:
        with variables.variable_scope(scope):
            params = cell.graph_inputs(x.shape[-1], x.dtype)
    else:
        params = cell.graph_inputs(x.shape[-1], x.dtype)
    state_inputs, tree = _state_tensors(cell, state, x.shape[0], x.dtype)
    if not state_inputs:
        raise ValueError(f"{type(cell).__name__}: calling a cell needs a state (cell.zero_state)")
    n_state, random = len(state_inputs), cell.needs_key()

    def compute(ev, value, *rest):
        state_value = jax.tree_util.tree_unflatten(tree, rest[:n_state])
        key = (ev.key(), 0) if random else None
        out, new = cell.step(rest[n_state:], value, state_value, key)
        return (out, *jax.tree_util.tree_leaves(new))

    specs = [((x.shape[0], cell.output_size), x.dtype)] + [
        ((x.shape[0], size), x.dtype) for size in jax.tree_util.tree_leaves(cell.state_size)
    ]
    output, *new_state = _multi_output(
        "RNNCell", compute, [x, *state_inputs, *params], cell.scope_name, specs
    )
    return output, jax.tree_util.tree_unflatten(tree, new_state)
