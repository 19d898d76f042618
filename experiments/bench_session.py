"""Benchmark: one `Session.run` training step of jaxcourse.compat.v1 vs the same step as a
direct `jax.jit` call.

Both do the same work per step (forward, gradient, SGD update with the parameters kept and
donated on the device, the batch fed from host numpy arrays). The ratio shows what the TF1
shim costs on top of JAX: fetch flattening, feed checks, cache lookup and the result copy.

    python experiments/bench_session.py [--steps 300] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

import jaxcourse.compat.v1 as tf


def _mlp_graph(sizes, activation):
    x = tf.placeholder(tf.float32, [None, sizes[0]])
    y = tf.placeholder(tf.float32, [None, sizes[-1]])
    h = x
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = tf.Variable(tf.random_normal([n_in, n_out], stddev=0.05))
        b = tf.Variable(tf.zeros([n_out]))
        h = tf.matmul(h, w) + b
        if i < len(sizes) - 2:
            h = activation(h)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=h))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return x, y, loss, train


def _mlp_jax(sizes):
    def init(key):
        params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            key, sub = jax.random.split(key)
            params.append((0.05 * jax.random.normal(sub, (n_in, n_out)), jnp.zeros(n_out)))
        return params

    def loss_fn(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jnp.tanh(h)
        return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(h), axis=-1))

    @partial(jax.jit, donate_argnums=0)
    def step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), loss

    return init(jax.random.key(0)), step


def _interleaved(runners: dict, steps: int, repeats: int) -> dict[str, float]:
    """Seconds per step of each runner: the best of `repeats` rounds, the runners taking
    turns within each round so that machine noise hits them alike."""
    for run in runners.values():
        run(5)  # warm-up: compile
    best = {name: float("inf") for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run(steps)
            best[name] = min(best[name], (time.perf_counter() - start) / steps)
    return best


def bench(name: str, sizes, batch: int, steps: int, repeats: int, fetch_loss: bool) -> dict:
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    ys = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)]

    graph = tf.Graph()
    with graph.as_default():
        x, y, loss, train = _mlp_graph(sizes, tf.tanh)
        variables = tf.global_variables()
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
    fetches = [train, loss] if fetch_loss else train

    def session_steps(n):
        for _ in range(n):
            sess.run(fetches, {x: xs, y: ys})
        jax.block_until_ready([sess.variable_value(v) for v in variables])

    state = {}
    state["params"], step = _mlp_jax(sizes)

    def direct_steps(n):
        for _ in range(n):
            state["params"], loss_value = step(state["params"], xs, ys)
            if fetch_loss:
                float(loss_value)  # the value comes back to the host, like a fetch
        jax.block_until_ready(state["params"])

    times = _interleaved({"session": session_steps, "direct": direct_steps}, steps, repeats)
    session_s, direct_s = times["session"], times["direct"]
    compiles = sess.compile_count
    sess.close()
    return {
        "model": name,
        "batch": batch,
        "fetch": "[train, loss]" if fetch_loss else "train",
        "session_us": round(session_s * 1e6, 1),
        "direct_jit_us": round(direct_s * 1e6, 1),
        "ratio": round(session_s / direct_s, 2),
        "session_compiles": compiles,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    cases = [
        ("softmax 784-10", (784, 10), 100),
        ("tanh MLP 784-500-300-10", (784, 500, 300, 10), 100),
        ("tiny 1-10-1 (overhead)", (1, 10, 1), 200),
    ]
    rows = []
    for name, sizes, batch in cases:
        for fetch_loss in (False, True):
            rows.append(bench(name, sizes, batch, args.steps, args.repeats, fetch_loss))
    header = (
        f"{'model':26} {'batch':>5} {'fetch':>14} {'Session.run':>12} {'jax.jit':>10} {'ratio':>6}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['model']:26} {r['batch']:>5} {r['fetch']:>14} {r['session_us']:>10.1f}us "
            f"{r['direct_jit_us']:>8.1f}us {r['ratio']:>6.2f}"
        )
    result = {
        "device": str(jax.devices()[0].device_kind),
        "platform": platform.machine(),
        "jax": jax.__version__,
        "rows": rows,
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
