"""TF1's TensorArray ops (as `tf.nn.dynamic_rnn` uses them), on plain arrays.

A TensorArray's "flow" tensor carries its whole buffer, shape [size, *element]; the handle
carries its size. Before anything is written the flow is a `PendingArray` (size and dtype
only): the first write or scatter fixes the element shape, as in TF. Inside a while loop the
buffer is a loop variable (see `control_flow`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.converters import register, static_ints
from jaxcourse.compat.v1.errors import InvalidArgumentError


class PendingArray:
    """A TensorArray nothing has been written to yet."""

    def __init__(self, size: int, dtype):
        self.size, self.dtype = size, np.dtype(dtype)

    def allocate(self, element_shape) -> jax.Array:
        return jnp.zeros((self.size, *element_shape), jax.dtypes.canonicalize_dtype(self.dtype))


_FLOW = ((), np.dtype("float32"))  # TF's flow is a float32 scalar; here it holds the buffer
_HANDLE = ((), np.dtype("int32"))


def _buffer(node, flow, element_shape=None):
    if isinstance(flow, PendingArray):
        if element_shape is None:
            raise InvalidArgumentError(
                f"op '{node.name}' ({node.op}) reads a TensorArray that nothing has written"
            )
        return flow.allocate(element_shape)
    return flow


@register(
    "TensorArrayV3",
    outputs=2,
    signature=lambda node: ([_HANDLE[0], _FLOW[0]], [_HANDLE[1], _FLOW[1]]),
)
def _tensor_array(node):
    dtype = node.require("dtype")

    def compute(size):
        (n,) = static_ints(node, size, "size")
        return np.asarray(n, np.int32), PendingArray(n, dtype)

    return compute


@register("TensorArrayScatterV3", signature=lambda node: _FLOW)
def _scatter(node):
    def compute(handle, indices, value, flow):
        buffer = _buffer(node, flow, value.shape[1:])
        return buffer.at[indices].set(value.astype(buffer.dtype))

    return compute


@register("TensorArrayWriteV3", signature=lambda node: _FLOW)
def _write(node):
    def compute(handle, index, value, flow):
        buffer = _buffer(node, flow, value.shape)
        return buffer.at[index].set(value.astype(buffer.dtype))

    return compute


@register("TensorArrayReadV3", signature=lambda node: (None, node.require("dtype")))
def _read(node):
    def compute(handle, index, flow):
        return jax.lax.dynamic_index_in_dim(_buffer(node, flow), index, keepdims=False)

    return compute


def _gather_signature(node):
    element = node.attr("element_shape")
    return (None if element is None else (None, *element)), node.require("dtype")


@register("TensorArrayGatherV3", signature=_gather_signature)
def _gather(node):
    def compute(handle, indices, flow):
        return jnp.take(_buffer(node, flow), indices, axis=0)

    return compute


@register("TensorArraySizeV3", signature=lambda node: _HANDLE)
def _size(node):
    return lambda handle, flow: handle


@register("TensorArrayCloseV3", outputs=0)
def _close(node):
    return lambda handle: None
