"""The CNN's speed levers, one at a time, measured against each other in one process.

`python -m experiments.bench.levers [--model cnn|lstm] [--rounds 4] [--xla-flags "..."]` trains
the course CNN or LSTM (Adam, batch 100, Fashion-MNIST-sized random data resident on the
device) with a list of changes (for the CNN cumulative, the last ones with oneDNN's
convolutions, `perf.conv_backend`; for the LSTM its implementations; for both, oneDNN on whole
batches instead of split over XLA's threads, `JAXCOURSE_ONEDNN_BATCH_SPLIT=0`), alternating timed
blocks between them, and prints examples/s (median) and CPU
milliseconds per step (all threads; steadier than wall time on a shared machine). XLA flags
apply to a whole process: compare flag sets by running the script once per set (`--xla-flags`
re-runs it in a child process with XLA_FLAGS set, jaxcourse's own flags switched off).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import numpy as np

from experiments.bench.timing import rerun_with_xla_flags, use_jaxcourse_xla_flags

FAST = {"name": "fast_cnn"}
HOISTED = {"name": "lstm", "implementation": "hoisted"}
# oneDNN's calls without the batch split over XLA's threads (csrc/onednn_common.h)
WHOLE_BATCH = {"JAXCOURSE_ONEDNN_BATCH_SPLIT": "0"}
CNN_LEVERS = (
    # (label, model config, grad_norm metric, steps per call, unroll, perf.conv_backend[,
    #  environment set while the lever runs])
    ("cnn, 1 step a call (plain)", {"name": "cnn"}, True, 1, 1, "xla"),
    ("fast_cnn (pool first, first-max gradient)", FAST, True, 1, 1, "xla"),
    ("fast_cnn, patches for conv1", {**FAST, "first_conv": "patches"}, True, 1, 1, "xla"),
    ("fast_cnn, no grad_norm metric", FAST, False, 1, 1, "xla"),
    ("fast_cnn, no grad_norm, 5 steps a call unrolled", FAST, False, 5, True, "xla"),
    (
        "fast_cnn, no grad_norm, 5 steps unrolled, oneDNN convolutions",
        FAST,
        False,
        5,
        True,
        "onednn",
    ),
    (
        "cnn (conv+bias+ReLU fused by oneDNN), no grad_norm, 5 steps unrolled",
        {"name": "cnn"},
        False,
        5,
        True,
        "onednn",
    ),
    ("cnn, 1 step a call (plain), oneDNN convolutions", {"name": "cnn"}, True, 1, 1, "onednn"),
    (
        "fast_cnn, no grad_norm, 5 steps unrolled, oneDNN on whole batches (OpenMP teams)",
        FAST,
        False,
        5,
        True,
        "onednn",
        WHOLE_BATCH,
    ),
)
LSTM_LEVERS = (
    (
        "lstm, Flax OptimizedLSTMCell in nn.RNN, 1 step a call",
        {"name": "lstm", "implementation": "flax"},
        True,
        1,
        1,
        "xla",
    ),
    (
        "lstm, Flax cell, no grad_norm, 10 steps a call",
        {"name": "lstm", "implementation": "flax"},
        False,
        10,
        1,
        "xla",
    ),
    ("lstm, hoisted matmuls, no grad_norm, 10 steps a call", HOISTED, False, 10, 1, "xla"),
    ("lstm, hoisted, time loop unrolled ×4", {**HOISTED, "unroll": 4}, False, 10, 1, "xla"),
    (
        "lstm, oneDNN's LSTM primitive, no grad_norm, 10 steps a call",
        {"name": "lstm", "implementation": "onednn"},
        False,
        10,
        1,
        "xla",
    ),
    (
        "lstm, oneDNN's LSTM primitive on whole batches (OpenMP teams)",
        {"name": "lstm", "implementation": "onednn"},
        False,
        10,
        1,
        "xla",
        WHOLE_BATCH,
    ),
)
LEVERS = {"cnn": CNN_LEVERS, "lstm": LSTM_LEVERS}


@contextlib.contextmanager
def environment(variables: dict[str, str]):
    """`variables` set in os.environ inside the block (read by the oneDNN kernels per call)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def measure(
    rounds: int, steps: int, workload: str = "cnn"
) -> list[tuple[str, float, float, float]]:
    import jax
    import jax.numpy as jnp
    import optax

    from experiments.bench.jax_trainer import flax_params
    from experiments.bench.workloads import batch_indices, initial_params
    from jaxcourse import losses, models, train
    from jaxcourse.config import validate_component
    from jaxcourse.data.spec import DataSpec
    from jaxcourse.kernels.conv import using_backend

    spec = DataSpec((28, 28, 1), "classification", 10)
    rng = np.random.default_rng(0)
    n = 5000
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    x[:, :3] = 0.0  # blank rows, like the images' background
    data = jax.device_put({"x": x, "y": rng.integers(0, 10, n).astype(np.int32)})
    order = batch_indices(n, steps * (rounds + 2) + 10)
    loss = losses.LOSSES.get("softmax_cross_entropy")
    runs = []
    for label, cfg, grad_norm, k, unroll, conv_backend, *env in LEVERS[workload]:
        model = models.build(validate_component(models.MODELS, cfg, "model"), spec)
        tx = optax.adam(1e-4 if workload == "cnn" else 1e-3)
        p = flax_params(workload, initial_params(workload))
        p = jax.tree_util.tree_map(jnp.asarray, p)
        state = train.TrainState(jnp.zeros((), jnp.int32), p, tx.init(p), jax.random.key(0))
        step = train.make_train_step(model.apply, loss, tx, grad_norm=grad_norm)
        fn = jax.jit(train.make_indexed_step(step, k, unroll), donate_argnums=0)
        start = time.perf_counter()
        idx = order[:k] if k > 1 else order[0]
        env = env[0] if env else {}
        # the model is traced by this first call
        with using_backend(conv_backend), environment(env):
            state, _ = fn(state, data, idx)
            jax.block_until_ready(state)
        runs.append([label, k, fn, state, time.perf_counter() - start, [], [], env])
    position = 10
    for _ in range(rounds):
        for run in runs:
            _, k, fn, state, _, walls, cpus, env = run
            wall, cpu = time.perf_counter(), time.process_time()
            with environment(env):
                for s in range(position, position + steps, k):
                    state, _ = fn(state, data, order[s : s + k] if k > 1 else order[s])
                jax.block_until_ready(state)
            run[3] = state
            walls.append(100 * steps / (time.perf_counter() - wall))
            cpus.append(1e3 * (time.process_time() - cpu) / steps)
        position += steps
    return [(r[0], float(np.median(r[5])), float(np.median(r[6])), r[4]) for r in runs]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.levers", description=__doc__)
    p.add_argument("--model", choices=sorted(LEVERS), default="cnn", help="whose levers")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=20, help="steps per timed block (multiple of 5)")
    p.add_argument("--xla-flags", default=None, help="run with exactly these XLA_FLAGS")
    args = p.parse_args(argv)
    if args.xla_flags is not None:
        argv = ["--model", args.model, "--rounds", str(args.rounds), "--steps", str(args.steps)]
        return rerun_with_xla_flags("experiments.bench.levers", args.xla_flags, argv)
    use_jaxcourse_xla_flags()
    print("| variant | examples/s | CPU ms/step | compile + first call s |")
    print("|---|---|---|---|")
    for label, rate, cpu, first in measure(args.rounds, args.steps, args.model):
        print(f"| {label} | {rate:,.0f} | {cpu:.1f} | {first:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
