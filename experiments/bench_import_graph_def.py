"""How long `tf.import_graph_def` takes for a GraphDef of 1,000+ nodes (no TF needed).

Builds an Inception-shaped GraphDef (stem + blocks of four conv/BatchNorm/ReLU branches joined
by ConcatV2, then pool/reshape/matmul/softmax) with random weights, then times, in this fresh
process: parsing, the first import (includes JAX's start-up), a second import of the same
GraphDef under another prefix, and the first `Session.run` (compilation) and a repeat run.

    python experiments/bench_import_graph_def.py [--blocks 24]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from jaxcourse.compat.v1.graph_def import GraphDef, make_tensor_proto, shape_proto

FLOAT, INT32 = 1, 3


class Builder:
    def __init__(self):
        self.graph_def = GraphDef()
        self.rng = np.random.default_rng(0)

    def node(self, name, op, inputs=(), **attrs):
        node = self.graph_def.node.add(name=name, op=op, input=list(inputs))
        for key, value in attrs.items():
            attr = node.attr[key]
            if key in ("T", "dtype", "Tidx", "Tshape"):
                attr.type = value
            elif isinstance(value, bytes):
                attr.s = value
            elif isinstance(value, bool):
                attr.b = value
            elif isinstance(value, float):
                attr.f = value
            elif isinstance(value, int):
                attr.i = value
            elif isinstance(value, list):
                attr.list.i.extend(value)
            else:
                attr.tensor.CopyFrom(value)
        return name

    def const(self, name, value):
        value = np.asarray(value)
        dtype = FLOAT if value.dtype.kind == "f" else INT32
        return self.node(name, "Const", dtype=dtype, value=make_tensor_proto(value))

    def conv_bn_relu(self, scope, x, c_in, c_out, size):
        w = self.const(f"{scope}/w", self.rng.normal(0, 0.1, (size, size, c_in, c_out)).astype("f"))
        y = self.node(
            f"{scope}/Conv2D", "Conv2D", [x, w], T=FLOAT, strides=[1, 1, 1, 1], padding=b"SAME"
        )
        stats = [self.const(f"{scope}/{k}", np.ones(c_out, "f")) for k in ("m", "v", "b", "g")]
        y = self.node(
            f"{scope}/bn",
            "BatchNormWithGlobalNormalization",
            [y, *stats],
            T=FLOAT,
            variance_epsilon=0.001,
            scale_after_normalization=True,
        )
        return self.node(f"{scope}/relu", "Relu", [y], T=FLOAT)


def inception_shaped(blocks: int) -> GraphDef:
    b = Builder()
    x = b.node("input", "Placeholder", dtype=FLOAT)
    b.graph_def.node[-1].attr["shape"].shape.CopyFrom(shape_proto((None, 8, 8, 3)))
    x = b.conv_bn_relu("stem", x, 3, 16, 3)
    for i in range(blocks):
        branches = [
            b.conv_bn_relu(f"mixed_{i}/tower_{j}", x, 16, 4, 1 + 2 * (j % 2)) for j in range(4)
        ]
        axis = b.const(f"mixed_{i}/axis", np.int32(3))
        x = b.node(f"mixed_{i}/join", "ConcatV2", [*branches, axis], T=FLOAT, N=4, Tidx=INT32)
    x = b.node(
        "pool_3",
        "AvgPool",
        [x],
        T=FLOAT,
        ksize=[1, 8, 8, 1],
        strides=[1, 1, 1, 1],
        padding=b"VALID",
    )
    shape = b.const("pool_3/shape", np.array([-1, 16], np.int32))
    x = b.node("pool_3/_reshape", "Reshape", [x, shape], T=FLOAT, Tshape=INT32)
    w = b.const("softmax/weights", b.rng.normal(0, 0.1, (16, 10)).astype("f"))
    x = b.node("softmax/logits", "MatMul", [x, w], T=FLOAT)
    b.node("softmax", "Softmax", [x], T=FLOAT)
    return b.graph_def


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=32)
    args = parser.parse_args()
    data = inception_shaped(args.blocks).SerializeToString()
    import jaxcourse.compat.v1 as tf

    start = time.perf_counter()
    graph_def = tf.GraphDef()
    graph_def.ParseFromString(data)
    t_parse = time.perf_counter() - start
    start = time.perf_counter()
    tf.import_graph_def(graph_def, name="")
    t_first = time.perf_counter() - start
    start = time.perf_counter()
    tf.import_graph_def(graph_def, name="again")
    t_second = time.perf_counter() - start
    images = np.random.default_rng(1).random((2, 8, 8, 3), dtype=np.float32)
    with tf.Session() as sess:
        start = time.perf_counter()
        sess.run("softmax:0", {"input:0": images})
        t_run1 = time.perf_counter() - start
        start = time.perf_counter()
        sess.run("softmax:0", {"input:0": images})
        t_run2 = time.perf_counter() - start
    print(f"nodes: {len(graph_def.node)} ({len(data) / 1e6:.2f} MB)")
    print(f"parse: {t_parse * 1e3:.1f} ms")
    print(f"import_graph_def: first {t_first:.2f} s (with JAX start-up), second {t_second:.2f} s")
    print(f"Session.run: first (compile) {t_run1:.2f} s, repeat {t_run2 * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
