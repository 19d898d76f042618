"""`tf.nn.rnn_cell`: TF1's RNN cells, each a set of graph variables and a pure JAX step.

A cell creates its variables the first time it is used (by `tf.nn.dynamic_rnn`,
`tf.nn.static_rnn` or a direct call `cell(inputs, state)`), under the enclosing variable
scope and its own (`basic_lstm_cell`, `lstm_cell`, `gru_cell`, `basic_rnn_cell`,
`multi_rnn_cell/cell_0/...`), with TF's names, shapes and initialisers; afterwards it always
uses those variables. `step(values, x, state, key)` is the cell's math on arrays, so that an
RNN over time compiles as one `lax.scan`. LSTM gates are in TF's order (i, j, f, o) with the
forget bias added to f.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxcourse.compat.v1 import dtypes, nn, ops, variables
from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor
from jaxcourse.compat.v1.layer_scope import layer_scope, snake_case


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """An LSTM's state: the cell state `c` and the output `h` (TF's `LSTMStateTuple`)."""

    __slots__ = ()

    @property
    def dtype(self):
        return self.c.dtype


# the tf functions cells accept as `activation`, and the array function each one means
_ACTIVATIONS: dict[Callable, Callable] = {
    ops.tanh: jnp.tanh,
    ops.sigmoid: jax.nn.sigmoid,
    nn.relu: jax.nn.relu,
    nn.relu6: jax.nn.relu6,
    nn.elu: jax.nn.elu,
    nn.softplus: jax.nn.softplus,
    jnp.tanh: jnp.tanh,
}


def _activation(fn, cell: str) -> Callable:
    if fn is None:
        return jnp.tanh
    if fn not in _ACTIVATIONS:
        known = "tf.tanh, tf.sigmoid, tf.nn.relu, tf.nn.relu6, tf.nn.elu, tf.nn.softplus"
        raise NotImplementedError(f"{cell}: activation {fn!r} is not supported; use one of {known}")
    return _ACTIVATIONS[fn]


def _affine(x, h, kernel, bias):
    """concat([x, h], 1) @ kernel + bias, as TF's cells compute it."""
    return jnp.concatenate([x, h], axis=1) @ kernel + bias


class RNNCell:
    """Base class: `state_size`, `output_size`, `zero_state`, calls and the pure step."""

    def __init__(self, name: str | None = None, reuse=None):
        self._name = name
        self._reuse = reuse
        self._inputs: list[Tensor] | None = None  # the variables (and tensors) step reads
        self._input_depth: int | None = None

    @property
    def state_size(self):
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    # -- to be given by each cell ---------------------------------------------------------------
    def _create(self, input_depth: int, dtype) -> list[Tensor]:
        """Create the cell's variables (in its scope); the tensors `step` reads, in order."""
        raise NotImplementedError

    def step(self, values: Sequence, x, state, key):
        """(output, new_state) for inputs `x` [batch, depth] and `state`, on arrays.

        `key` is (sequence key, time step) for cells that draw random numbers, else None.
        """
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    @property
    def scope_name(self) -> str:
        return snake_case(type(self).__name__)

    def graph_inputs(self, input_depth: int, dtype=dtypes.float32) -> list[Tensor]:
        """The tensors `step` reads, creating the variables on first use."""
        if input_depth is None:
            raise ValueError(
                f"{type(self).__name__}: the inputs' last dimension must be known "
                "(got an unknown size)"
            )
        if self._inputs is None:
            with layer_scope(self._name, self.scope_name, reuse=self._reuse or None):
                self._inputs = self._create(int(input_depth), dtypes.as_dtype(dtype))
            self._input_depth = int(input_depth)
        elif self._input_depth != int(input_depth):
            raise ValueError(
                f"{type(self).__name__} was built for inputs of depth {self._input_depth}, "
                f"now called with depth {input_depth}"
            )
        return self._inputs

    def zero_state(self, batch_size, dtype=dtypes.float32):
        """Zeros in the structure of `state_size`, each [batch_size, size]; batch_size may be
        a tensor (`tf.shape(x)[0]`)."""
        batch = batch_size if isinstance(batch_size, Tensor) else int(batch_size)
        return jax.tree_util.tree_map(lambda size: ops.zeros([batch, size], dtype), self.state_size)

    def zero_state_values(self, batch: int, dtype):
        return jax.tree_util.tree_map(lambda size: jnp.zeros((batch, size), dtype), self.state_size)

    def needs_key(self) -> bool:
        return False

    def __call__(self, inputs, state, scope=None):
        """One step as graph ops: (output, new_state) tensors."""
        from jaxcourse.compat.v1.rnn import call_cell

        return call_cell(self, inputs, state, scope)


def _variable(name, shape, dtype, initializer=None):
    return variables.get_variable(name, shape=shape, dtype=dtype, initializer=initializer)


class _UnitsStateCell(RNNCell):
    """A cell whose state and output are one [batch, num_units] tensor."""

    _units: int

    @property
    def state_size(self) -> int:
        return self._units

    @property
    def output_size(self) -> int:
        return self._units


class BasicRNNCell(_UnitsStateCell):
    """h' = activation(concat([x, h]) @ kernel + bias)."""

    def __init__(self, num_units: int, activation=None, reuse=None, name=None, dtype=None):
        super().__init__(name, reuse)
        self._units = int(num_units)
        self._act = _activation(activation, "BasicRNNCell")

    def _create(self, input_depth, dtype):
        kernel = _variable("kernel", [input_depth + self._units, self._units], dtype)
        bias = _variable("bias", [self._units], dtype, variables.zeros_initializer())
        return [kernel, bias]

    def step(self, values, x, state, key):
        kernel, bias = values
        h = self._act(_affine(x, state, kernel, bias))
        return h, h


class GRUCell(_UnitsStateCell):
    """TF's GRU: gates r, u = σ(concat([x, h]) W_g + b_g) (b_g starts at 1), candidate
    c = act(concat([x, r·h]) W_c + b_c), h' = u·h + (1 − u)·c."""

    def __init__(
        self,
        num_units: int,
        activation=None,
        reuse=None,
        kernel_initializer=None,
        bias_initializer=None,
        name=None,
        dtype=None,
    ):
        super().__init__(name, reuse)
        self._units = int(num_units)
        self._act = _activation(activation, "GRUCell")
        self._kernel_init, self._bias_init = kernel_initializer, bias_initializer

    def _create(self, input_depth, dtype):
        n, depth = self._units, input_depth + self._units
        gate_bias = self._bias_init or variables.constant_initializer(1.0)
        candidate_bias = self._bias_init or variables.zeros_initializer()
        return [
            _variable("gates/kernel", [depth, 2 * n], dtype, self._kernel_init),
            _variable("gates/bias", [2 * n], dtype, gate_bias),
            _variable("candidate/kernel", [depth, n], dtype, self._kernel_init),
            _variable("candidate/bias", [n], dtype, candidate_bias),
        ]

    def step(self, values, x, state, key):
        gate_kernel, gate_bias, cand_kernel, cand_bias = values
        r, u = jnp.split(jax.nn.sigmoid(_affine(x, state, gate_kernel, gate_bias)), 2, axis=1)
        c = self._act(_affine(x, r * state, cand_kernel, cand_bias))
        h = u * state + (1 - u) * c
        return h, h


def _split_state(state, is_tuple: bool, sizes: tuple[int, int]):
    if is_tuple:
        return state
    return state[:, : sizes[0]], state[:, sizes[0] :]


def _join_state(c, h, is_tuple: bool):
    return LSTMStateTuple(c, h) if is_tuple else jnp.concatenate([c, h], axis=1)


class BasicLSTMCell(RNNCell):
    """TF's BasicLSTMCell: i, j, f, o = split(concat([x, h]) @ kernel + bias, 4);
    c' = c·σ(f + forget_bias) + σ(i)·act(j); h' = act(c')·σ(o)."""

    def __init__(
        self,
        num_units: int,
        forget_bias: float = 1.0,
        state_is_tuple: bool = True,
        activation=None,
        reuse=None,
        name=None,
        dtype=None,
    ):
        super().__init__(name, reuse)
        self._units = int(num_units)
        self._forget_bias = float(forget_bias)
        self._tuple = bool(state_is_tuple)
        self._act = _activation(activation, "BasicLSTMCell")

    @property
    def state_size(self):
        n = self._units
        return LSTMStateTuple(n, n) if self._tuple else 2 * n

    @property
    def output_size(self) -> int:
        return self._units

    def zero_state_values(self, batch, dtype):
        zeros = jnp.zeros((batch, self._units), dtype)
        return _join_state(zeros, zeros, self._tuple)

    def _create(self, input_depth, dtype):
        n = self._units
        kernel = _variable("kernel", [input_depth + n, 4 * n], dtype)
        bias = _variable("bias", [4 * n], dtype, variables.zeros_initializer())
        return [kernel, bias]

    def step(self, values, x, state, key):
        kernel, bias = values
        c, h = _split_state(state, self._tuple, (self._units, self._units))
        i, j, f, o = jnp.split(_affine(x, h, kernel, bias), 4, axis=1)
        new_c = c * jax.nn.sigmoid(f + self._forget_bias) + jax.nn.sigmoid(i) * self._act(j)
        new_h = self._act(new_c) * jax.nn.sigmoid(o)
        return new_h, _join_state(new_c, new_h, self._tuple)


class LSTMCell(RNNCell):
    """TF's LSTMCell: BasicLSTMCell's gates plus optional peepholes (`w_f_diag`, `w_i_diag`,
    `w_o_diag`), cell clipping and a projection of the output to `num_proj` units."""

    def __init__(
        self,
        num_units: int,
        use_peepholes: bool = False,
        cell_clip: float | None = None,
        initializer=None,
        num_proj: int | None = None,
        proj_clip: float | None = None,
        num_unit_shards=None,
        num_proj_shards=None,
        forget_bias: float = 1.0,
        state_is_tuple: bool = True,
        activation=None,
        reuse=None,
        name=None,
        dtype=None,
    ):
        super().__init__(name, reuse)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise NotImplementedError("LSTMCell: num_unit_shards/num_proj_shards (deprecated)")
        self._units = int(num_units)
        self._peepholes = bool(use_peepholes)
        self._cell_clip, self._proj_clip = cell_clip, proj_clip
        self._init = initializer
        self._proj = None if num_proj is None else int(num_proj)
        self._forget_bias = float(forget_bias)
        self._tuple = bool(state_is_tuple)
        self._act = _activation(activation, "LSTMCell")

    @property
    def _out(self) -> int:
        return self._units if self._proj is None else self._proj

    @property
    def state_size(self):
        return LSTMStateTuple(self._units, self._out) if self._tuple else self._units + self._out

    @property
    def output_size(self) -> int:
        return self._out

    def zero_state_values(self, batch, dtype):
        c, h = jnp.zeros((batch, self._units), dtype), jnp.zeros((batch, self._out), dtype)
        return _join_state(c, h, self._tuple)

    def _create(self, input_depth, dtype):
        n = self._units
        created = [
            _variable("kernel", [input_depth + self._out, 4 * n], dtype, self._init),
            _variable("bias", [4 * n], dtype, variables.zeros_initializer()),
        ]
        if self._peepholes:
            created += [_variable(f"w_{g}_diag", [n], dtype, self._init) for g in "fio"]
        if self._proj is not None:
            created.append(_variable("projection/kernel", [n, self._proj], dtype, self._init))
        return created

    def step(self, values, x, state, key):
        kernel, bias, *rest = values
        c_prev, m_prev = _split_state(state, self._tuple, (self._units, self._out))
        i, j, f, o = jnp.split(_affine(x, m_prev, kernel, bias), 4, axis=1)
        sig = jax.nn.sigmoid
        if self._peepholes:
            w_f, w_i, w_o = rest[:3]
            c = sig(f + self._forget_bias + w_f * c_prev) * c_prev + sig(
                i + w_i * c_prev
            ) * self._act(j)
        else:
            c = sig(f + self._forget_bias) * c_prev + sig(i) * self._act(j)
        if self._cell_clip is not None:
            c = jnp.clip(c, -self._cell_clip, self._cell_clip)
        m = (sig(o + w_o * c) if self._peepholes else sig(o)) * self._act(c)
        if self._proj is not None:
            m = m @ rest[-1]
            if self._proj_clip is not None:
                m = jnp.clip(m, -self._proj_clip, self._proj_clip)
        return m, _join_state(c, m, self._tuple)


class MultiRNNCell(RNNCell):
    """Cells stacked in depth: cell k reads cell k−1's output; the state is a tuple of theirs
    (variables under `multi_rnn_cell/cell_k/`)."""

    def __init__(self, cells: Sequence[RNNCell], state_is_tuple: bool = True):
        super().__init__()
        self._cells = list(cells)
        if not self._cells:
            raise ValueError("MultiRNNCell needs at least one cell")
        if len({id(c) for c in self._cells}) != len(self._cells):
            raise ValueError(
                "MultiRNNCell got the same cell object more than once ([cell] * n); build one "
                "cell per layer: [tf.nn.rnn_cell.BasicLSTMCell(n) for _ in range(layers)]"
            )
        if not state_is_tuple:
            raise NotImplementedError("MultiRNNCell(state_is_tuple=False); use the default True")
        self._counts: list[int] = []

    @property
    def state_size(self):
        return tuple(c.state_size for c in self._cells)

    @property
    def output_size(self) -> int:
        return self._cells[-1].output_size

    def zero_state_values(self, batch, dtype):
        return tuple(c.zero_state_values(batch, dtype) for c in self._cells)

    def needs_key(self) -> bool:
        return any(c.needs_key() for c in self._cells)

    def _create(self, input_depth, dtype):
        created, depth = [], input_depth
        for k, cell in enumerate(self._cells):
            with variables.variable_scope(f"cell_{k}"):
                inputs = cell.graph_inputs(depth, dtype)
            self._counts.append(len(inputs))
            created += inputs
            depth = cell.output_size
        return created

    def step(self, values, x, state, key):
        new_states, start = [], 0
        for k, (cell, count) in enumerate(zip(self._cells, self._counts, strict=True)):
            sub_key = None if key is None else (jax.random.fold_in(key[0], k), key[1])
            x, new = cell.step(values[start : start + count], x, state[k], sub_key)
            new_states.append(new)
            start += count
        return x, tuple(new_states)


def _drop(x, keep, key):
    mask = jax.random.uniform(key, x.shape, x.dtype) < keep
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs, outputs and (for LSTMs, the h part of) its state.

    Keep probabilities may be numbers or tensors (a placeholder fed 1.0 at test time). Masks
    are fresh at every time step, or one per sequence with `variational_recurrent=True`.
    """

    def __init__(
        self,
        cell: RNNCell,
        input_keep_prob=1.0,
        output_keep_prob=1.0,
        state_keep_prob=1.0,
        variational_recurrent=False,
        input_size=None,
        dtype=None,
        seed=None,
        dropout_state_filter_visitor=None,
    ):
        super().__init__()
        if not isinstance(cell, RNNCell):
            raise TypeError(f"DropoutWrapper needs an RNN cell, got {cell!r}")
        if dropout_state_filter_visitor is not None:
            raise NotImplementedError("DropoutWrapper(dropout_state_filter_visitor=...)")
        self._cell = cell
        self._keep = []
        for what, keep in (
            ("input_keep_prob", input_keep_prob),
            ("output_keep_prob", output_keep_prob),
            ("state_keep_prob", state_keep_prob),
        ):
            if not isinstance(keep, Tensor) and not 0.0 < float(keep) <= 1.0:
                raise ValueError(f"DropoutWrapper: {what} must be in (0, 1], got {keep}")
            self._keep.append(keep)
        self._variational = bool(variational_recurrent)
        self._seed = seed

    @property
    def state_size(self):
        return self._cell.state_size

    @property
    def output_size(self) -> int:
        return self._cell.output_size

    def zero_state_values(self, batch, dtype):
        return self._cell.zero_state_values(batch, dtype)

    def needs_key(self) -> bool:
        return True

    def graph_inputs(self, input_depth, dtype=dtypes.float32):
        if self._inputs is None:
            inner = self._cell.graph_inputs(input_depth, dtype)
            keeps = [
                ops.cast(k, dtype) if isinstance(k, Tensor) else convert_to_tensor(float(k), dtype)
                for k in self._keep
            ]
            self._inputs = [*inner, *keeps]
        return self._inputs

    def step(self, values, x, state, key):
        inner, (keep_in, keep_out, keep_state) = values[:-3], values[-3:]
        seq_key, t = key
        if self._seed is not None:
            seq_key = jax.random.fold_in(seq_key, int(self._seed))
        masks_key = seq_key if self._variational else jax.random.fold_in(seq_key, t)
        k_in, k_out, k_state = jax.random.split(jax.random.fold_in(masks_key, 1), 3)
        x = _drop(x, keep_in, k_in)
        out, new = self._cell.step(inner, x, state, (jax.random.fold_in(seq_key, 2), t))
        out = _drop(out, keep_out, k_out)
        if isinstance(new, LSTMStateTuple):
            new = LSTMStateTuple(new.c, _drop(new.h, keep_state, k_state))
        else:
            leaves, tree = jax.tree_util.tree_flatten(new)
            keys = jax.random.split(k_state, len(leaves))
            new = jax.tree_util.tree_unflatten(
                tree, [_drop(v, keep_state, k) for v, k in zip(leaves, keys, strict=True)]
            )
        return out, new


__getattr__ = missing_names(
    "tf.nn.rnn_cell",
    globals(),
    {"ResidualWrapper": "DropoutWrapper", "DeviceWrapper": "DropoutWrapper"},
)
