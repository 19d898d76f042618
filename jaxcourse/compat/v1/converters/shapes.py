"""Output shapes of common op types from their inputs' shapes, without tracing.

Inferring a shape by tracing the converter costs a millisecond or more per node; these rules
make importing the bulk of a classifier's nodes (element-wise ops, convolutions, pooling,
batch norm, concatenation) cost microseconds. A rule returns (shape, dtype), or None when it
cannot tell, and the importer traces the converter instead.
"""

from __future__ import annotations

import numpy as np

BOOL = np.dtype("bool")


def same_as_input(node, inputs):
    return inputs[0].shape, inputs[0].dtype


def _broadcast_dim(a, b):
    if a == 1:
        return b
    if b == 1 or a == b:
        return a
    if a is None or b is None:
        return b if a is None else a
    raise ValueError  # incompatible: tracing reports it


def broadcast(node, inputs, dtype=None):
    shapes = [t.shape for t in inputs]
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out = [1] * rank
    try:
        for shape in shapes:
            padded = (1,) * (rank - len(shape)) + tuple(shape)
            out = [_broadcast_dim(a, b) for a, b in zip(out, padded, strict=True)]
    except ValueError:
        return None
    return tuple(out), dtype or inputs[0].dtype


def comparison(node, inputs):
    return broadcast(node, inputs, BOOL)


def cast(node, inputs):
    return inputs[0].shape, node.require("DstT")


def _window_size(size, window, stride, dilation, padding):
    if size is None:
        return None
    if padding == "SAME":
        return -(-size // stride)
    return -(-(size - (window - 1) * dilation) // stride)


def windowed(node, inputs):
    """Conv2D, DepthwiseConv2dNative, MaxPool, AvgPool (SAME or VALID padding)."""
    x = inputs[0].shape
    padding = node.attr("padding")
    if x is None or len(x) != 4 or padding not in ("SAME", "VALID"):
        return None
    nhwc = node.attr("data_format", "NHWC") == "NHWC"
    spatial = (1, 2) if nhwc else (2, 3)
    strides = node.attr("strides")
    dilations = node.attr("dilations", [1, 1, 1, 1])
    if node.op in ("MaxPool", "AvgPool"):
        window = [node.attr("ksize")[i] for i in spatial]
        channels = x[3 if nhwc else 1]
    else:
        kernel = inputs[1].shape
        if kernel is None or len(kernel) != 4:
            return None
        window = kernel[:2]
        channels = kernel[3] if node.op == "Conv2D" else _product(kernel[2], kernel[3])
    h, w = (
        _window_size(x[i], k, strides[i], dilations[i], padding)
        for i, k in zip(spatial, window, strict=True)
    )
    shape = (x[0], h, w, channels) if nhwc else (x[0], channels, h, w)
    return shape, inputs[0].dtype


def _product(a, b):
    return None if a is None or b is None else a * b


def concat_v2(node, inputs):
    *values, axis = inputs
    if axis.static_value is None or any(v.shape is None for v in values):
        return None
    rank = len(values[0].shape)
    a = int(axis.static_value) % rank
    sizes = [v.shape[a] for v in values]
    out = list(values[0].shape)
    out[a] = None if None in sizes else sum(sizes)
    return tuple(out), values[0].dtype


def matmul(node, inputs):
    a, b = (t.shape for t in inputs)
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return None
    rows = a[1] if node.attr("transpose_a", False) else a[0]
    cols = b[0] if node.attr("transpose_b", False) else b[1]
    return (rows, cols), inputs[0].dtype


def reshape(node, inputs):
    x, shape = inputs
    if shape.static_value is None:
        return None
    sizes = [int(d) for d in np.ravel(shape.static_value)]
    if -1 in sizes:
        known = x.shape is not None and None not in x.shape
        rest = int(np.prod([d for d in sizes if d != -1]))
        fill = int(np.prod(x.shape)) // rest if known and rest else None
        sizes = [fill if d == -1 else d for d in sizes]
    return tuple(sizes), x.dtype


def reduction(node, inputs):
    x, axis = inputs
    if x.shape is None or axis.static_value is None:
        return None
    rank = len(x.shape)
    axes = {int(a) % max(rank, 1) for a in np.ravel(axis.static_value)}
    keep = bool(node.attr("keep_dims", False))
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
    return shape, (BOOL if node.op in ("All", "Any") else x.dtype)
