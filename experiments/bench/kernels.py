"""The course CNN's training step, piece by piece: where the time goes, and on how many cores.

`python -m experiments.bench.kernels [--xla-flags="..."] [--rounds 5]` times each kernel of
one step (batch 100) in its own compiled program, alternating between them: the two
convolutions forward and backward, the fully connected layer, a pooling layer forward +
backward, Adam over all 3.3 M parameters and the dropout mask (the convolutions and the pool
once per backend). Printed per kernel: wall and CPU milliseconds a call (median), GFLOP/s
where the kernel is a matmul or convolution, and CPU ÷ wall (how many cores it kept busy).
Adam runs on donated buffers, as in the train step. XLA flags apply to a whole process:
`--xla-flags=...` re-runs the script in a child process with exactly those XLA_FLAGS
(jaxcourse's own switched off).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from experiments.bench.timing import rerun_with_xla_flags, use_jaxcourse_xla_flags


def kernels(conv_backends: tuple[str, ...] = ("xla",)) -> dict:
    """name -> (function, arguments, FLOPs per call or 0). A function that returns its own
    (updated) arguments runs with them donated, its outputs fed back as the next arguments.
    The convolutions and the pool are timed once per backend in `conv_backends`
    (`perf.conv_backend`; the pool not for `onednn-blocked`)."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxcourse.kernels.conv import conv2d
    from jaxcourse.kernels.onednn_conv import conv2d_onednn
    from jaxcourse.kernels.pool import max_pool_2x2

    rng = np.random.default_rng(0)

    def normal(*shape, scale=1.0):
        return jnp.asarray(rng.standard_normal(shape, np.float32) * scale)

    def convolution(backend):
        """conv2d by `backend`; `onednn-blocked`: oneDNN in its own blocked layout."""
        if backend == "onednn-blocked":
            return lambda x, w: conv2d_onednn(x, w, None, (1, 1), ((2, 2), (2, 2)), False, True)
        return lambda x, w: conv2d(x, w, backend_name=backend)

    def conv_forward(backend):
        conv = convolution(backend)
        return lambda x, w, dy: conv(x, w)

    def conv_vjp(backend, wrt):
        conv = convolution(backend)

        def run(x, w, dy):
            return jax.vjp(conv, x, w)[1](dy)[wrt]

        return run

    def dense_vjp(x, w, dy):
        return dy @ w.T, x.T @ dy

    def pool_vjp(backend):
        def run(x, g):
            return jax.vjp(lambda x: max_pool_2x2(x, backend_name=backend), x)[1](g)[0]

        return run

    tx = optax.adam(1e-4)
    params = {
        "conv1": normal(5, 5, 1, 32),
        "conv2": normal(5, 5, 32, 64),
        "fc1": normal(3136, 1024),
        "fc2": normal(1024, 10),
    }

    grads = jax.tree.map(jnp.copy, params)

    def adam(grads, opt_state, params):
        """Returns its arguments updated, so that it can run donated, as in the train step."""
        updates, opt_state = tx.update(grads, opt_state, params)
        return grads, opt_state, optax.apply_updates(params, updates)

    def dropout_mask(key):
        return jax.random.bernoulli(key, 0.5, (100, 1024))

    c1 = (normal(100, 28, 28, 1), normal(5, 5, 1, 32, scale=0.1), normal(100, 28, 28, 32))
    c2 = (normal(100, 14, 14, 32), normal(5, 5, 32, 64, scale=0.1), normal(100, 14, 14, 64))
    fc = (normal(100, 3136), normal(3136, 1024, scale=0.01), normal(100, 1024))
    conv1_flops = 2 * 100 * 28 * 28 * 32 * 25
    conv2_flops = 2 * 100 * 14 * 14 * 64 * 32 * 25
    fc_flops = 2 * 100 * 3136 * 1024
    p1 = (c1[2], normal(100, 14, 14, 32))
    convs, pools = {}, {}
    for b in conv_backends:
        convs |= {
            f"conv1 forward [{b}]": (conv_forward(b), c1, conv1_flops),
            f"conv1 weight gradient [{b}]": (conv_vjp(b, 1), c1, conv1_flops),
            f"conv2 forward [{b}]": (conv_forward(b), c2, conv2_flops),
            f"conv2 input gradient [{b}]": (conv_vjp(b, 0), c2, conv2_flops),
            f"conv2 weight gradient [{b}]": (conv_vjp(b, 1), c2, conv2_flops),
        }
        if b != "onednn-blocked":
            pools[f"pool1 forward + backward [{b}]"] = (pool_vjp(b), p1, 0)
    return {
        **convs,
        "fc1 forward": (lambda x, w, dy: x @ w, fc, fc_flops),
        "fc1 input + weight gradients": (dense_vjp, fc, 2 * fc_flops),
        **pools,
        "Adam, 3.3 M parameters": (adam, (grads, tx.init(params), params), 0),
        "dropout mask 100×1024": (dropout_mask, (jax.random.key(0),), 0),
    }


def measure(rounds: int, calls: int, conv_backends: tuple[str, ...]):
    """[(kernel, wall s, CPU s, FLOPs)] per call, medians over `rounds` alternating blocks."""
    import jax

    table = kernels(conv_backends)
    args = {name: list(a) for name, (_, a, _) in table.items()}
    carries = {name: fn.__name__ == "adam" for name, (fn, _, _) in table.items()}
    compiled = {
        name: jax.jit(fn, donate_argnums=tuple(range(len(args[name]))) if carries[name] else ())
        for name, (fn, _, _) in table.items()
    }

    def call(name):
        out = compiled[name](*args[name])
        if carries[name]:
            args[name] = list(out)
        return out

    for name in table:
        jax.block_until_ready(call(name))
    walls = {name: [] for name in table}
    cpus = {name: [] for name in table}
    for _ in range(rounds):
        for name in compiled:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                out = call(name)
            jax.block_until_ready(out)
            walls[name].append((time.perf_counter() - wall) / calls)
            cpus[name].append((time.process_time() - cpu) / calls)
    return [
        (name, float(np.median(walls[name])), float(np.median(cpus[name])), table[name][2])
        for name in table
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.kernels", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=20, help="calls per timed block")
    p.add_argument("--xla-flags", default=None, help="run with exactly these XLA_FLAGS")
    p.add_argument(
        "--conv-backends",
        default="xla,onednn",
        help="comma-separated perf.conv_backend values whose convolutions and pool are timed "
        "(and onednn-blocked: oneDNN in its own blocked layout)",
    )
    args = p.parse_args(argv)
    if args.xla_flags is not None:
        argv = [
            "--rounds",
            str(args.rounds),
            "--calls",
            str(args.calls),
            "--conv-backends",
            args.conv_backends,
        ]
        return rerun_with_xla_flags("experiments.bench.kernels", args.xla_flags, argv)
    use_jaxcourse_xla_flags()
    print("| kernel | wall ms | CPU ms | GFLOP/s | cores busy |")
    print("|---|---|---|---|---|")
    total = 0.0
    backends = tuple(args.conv_backends.split(","))
    for name, wall, cpu, flops in measure(args.rounds, args.calls, backends):
        rate = f"{flops / wall / 1e9:,.0f}" if flops else "–"
        print(f"| {name} | {wall * 1e3:.2f} | {cpu * 1e3:.2f} | {rate} | {cpu / wall:.2f} |")
        total += wall
    print(f"\nsum of the kernels' wall times (every backend's convolutions): {total * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
