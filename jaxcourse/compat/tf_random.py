"""TensorFlow's seed rule and its Philox stream, in NumPy (no TensorFlow, no JAX needed).

`get_seed` is TF1's `random_seed.get_seed`: the (graph-level, op-level) seed pair an op
derives from the graph seed and its own `seed=`. `PhiloxStream` is TF's Philox4x32-10 counter
generator read one uint32 at a time (`random::SingleSampleAdapter<PhiloxRandom>`), the stream
TF's dataset shuffles draw from; with both, a seeded shuffle here visits TF's order.
"""

from __future__ import annotations

import sys

DEFAULT_GRAPH_SEED = 87654321
MAXINT32 = 2**31 - 1

_W32 = (0x9E3779B9, 0xBB67AE85)  # key increments per round
_M4x32 = (0xD2511F53, 0xCD9E8D57)  # round multipliers
_MASK32 = 0xFFFFFFFF


def get_seed(op_seed: int | None, graph_seed: int | None, last_op_id: int = 0):
    """TF1's (seed, seed2) for an op: None, None when neither seed is set (nondeterministic).

    With only a graph seed, the op seed is the id of the graph's last op (`last_op_id`);
    with only an op seed, the graph seed is TF's default 87654321; (0, 0) becomes
    (0, 2**31 - 1), since TF's kernels read (0, 0) as "seed from the clock".
    """
    if graph_seed is not None:
        seeds = graph_seed % MAXINT32, (last_op_id if op_seed is None else op_seed) % MAXINT32
    elif op_seed is not None:
        seeds = DEFAULT_GRAPH_SEED, op_seed % MAXINT32
    else:
        return None, None
    return (0, MAXINT32) if seeds == (0, 0) else seeds


def shim_graph_seed() -> tuple[int | None, int]:
    """The graph seed (`tf.set_random_seed`) of the shim's default graph and its last op id;
    (None, 0) when `jaxcourse.compat.v1` is not in use."""
    graph_module = sys.modules.get("jaxcourse.compat.v1.graph")
    if graph_module is None:
        return None, 0
    graph = graph_module.get_default_graph()
    return graph.seed, max(len(graph.get_operations()) - 1, 0)


class PhiloxStream:
    """TF's `PhiloxRandom(seed, seed2)` as a stream of uint32s, four per counter step."""

    def __init__(self, seed: int, seed2: int):
        seed, seed2 = seed & 0xFFFFFFFFFFFFFFFF, seed2 & 0xFFFFFFFFFFFFFFFF
        self._key = (seed & _MASK32, seed >> 32)
        self._counter = [0, 0, seed2 & _MASK32, seed2 >> 32]
        self._block: list[int] = []

    def _next_block(self) -> list[int]:
        c = list(self._counter)
        k0, k1 = self._key
        for _ in range(10):
            p0 = _M4x32[0] * c[0]
            p1 = _M4x32[1] * c[2]
            c = [(p1 >> 32) ^ c[1] ^ k0, p1 & _MASK32, (p0 >> 32) ^ c[3] ^ k1, p0 & _MASK32]
            k0, k1 = (k0 + _W32[0]) & _MASK32, (k1 + _W32[1]) & _MASK32
        for i in range(4):  # 128-bit counter increment
            self._counter[i] = (self._counter[i] + 1) & _MASK32
            if self._counter[i]:
                break
        return c

    def __call__(self) -> int:
        """The next uint32 of the stream."""
        if not self._block:
            self._block = self._next_block()[::-1]
        return self._block.pop()
