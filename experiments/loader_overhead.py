"""Is feeding the data the bottleneck? Steps/s with the real batching vs a batch already there.

    python experiments/loader_overhead.py [--models softmax mlp] [--steps 300]

For each model, on Fashion-MNIST-shaped data (60k × 28×28×1), times the same compiled train
step fed two ways, in the same process:
  fed:   the loop's way — the split resident on device, indices from `BatchSchedule` made on
         the host each step, the batch gathered inside the compiled step;
  fused: the same with 10 steps per compiled call (`train.steps_per_call: 10`), so the host
         sends indices once per 10 steps;
  ideal: one fixed batch already on device, no indices at all (an upper bound).
The ratio fed/ideal near 1 means batching costs nothing next to the step. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from jaxcourse import losses, metrics, models, optim, train
from jaxcourse.config import validate_component
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.data.spec import DataSpec

FUSED = 10  # steps per compiled call in the fused variant (train.steps_per_call)
MODELS = {
    "softmax": {"name": "softmax"},
    "mlp": {"name": "mlp", "hidden": [512, 512], "activation": "relu", "dropout": 0.3},
    "lstm": {"name": "lstm"},
    "cnn": {"name": "cnn", "init": "lecun"},
}


def steps_per_s(fn, state, steps: int) -> float:
    state = fn(state, 0)  # warm up / compile
    jax.block_until_ready(state)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        state = fn(state, i)
    jax.block_until_ready(state)
    return steps / (time.perf_counter() - start)


def measure(name: str, steps: int, batch: int, rounds: int = 3, n: int = 60_000) -> dict:
    rng = np.random.default_rng(0)
    data = {
        "x": rng.random((n, 28, 28, 1), np.float32),
        "y": rng.integers(0, 10, n).astype(np.int32),
    }
    spec = DataSpec((28, 28, 1), "classification", 10)
    model = models.build(validate_component(models.MODELS, MODELS[name], "model"), spec)
    tx = optim.make("adam", learning_rate=1e-3)
    step = train.make_train_step(
        model.apply, losses.softmax_cross_entropy, tx, metrics.classification_metrics
    )
    state0 = train.create_train_state(jax.random.key(0), model, tx, data["x"][:1])
    on_device = jax.device_put(data)
    schedule = BatchSchedule(n, batch, seed=0)
    indexed = jax.jit(train.make_indexed_step(step), donate_argnums=0)
    fixed_batch = jax.device_put({k: v[:batch] for k, v in data.items()})
    plain = jax.jit(step, donate_argnums=0)

    def fed(state, i):
        return indexed(state, on_device, schedule.indices(i))[0]

    fused = jax.jit(train.make_indexed_step(step, FUSED), donate_argnums=0)

    def fed_fused(state, i):
        return fused(state, on_device, schedule.indices_for(i * FUSED, FUSED))[0]

    def ideal(state, i):
        return plain(state, fixed_batch)[0]

    copy = lambda: jax.tree_util.tree_map(lambda a: a.copy(), state0)  # noqa: E731
    # Alternate the two and keep each one's best round: on a shared machine the load drifts.
    fed_rate = fused_rate = ideal_rate = 0.0
    for _ in range(rounds):
        fed_rate = max(fed_rate, steps_per_s(fed, copy(), steps))
        fused_rate = max(fused_rate, FUSED * steps_per_s(fed_fused, copy(), steps // FUSED))
        ideal_rate = max(ideal_rate, steps_per_s(ideal, copy(), steps))
    return {
        "model": name,
        "batch": batch,
        "fed_steps_per_s": round(fed_rate, 1),
        "fused_steps_per_s": round(fused_rate, 1),
        "ideal_steps_per_s": round(ideal_rate, 1),
        "fed_over_ideal": round(fed_rate / ideal_rate, 3),
        "fused_over_ideal": round(fused_rate / ideal_rate, 3),
        "device": jax.devices()[0].device_kind,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["softmax", "mlp"], choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=300, help="timed steps per measurement")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (best kept)")
    args = parser.parse_args(argv)
    for name in args.models:
        print(json.dumps(measure(name, args.steps, args.batch, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
