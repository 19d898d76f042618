"""Benchmark: the optimizer race as one compiled program vs Python loops over its runs.

7 optimizers × 64 start points × 3 surfaces × 1,000 steps (1,344 trajectories):
  fused   — `jaxcourse.race.simulate.race_program`: one jitted call, vmap over starts, one lax.scan.
  loop    — a Python loop over optimizers, surfaces and starts, each run a jitted
            1,000-step scan of one point (compiled once per optimizer and surface).
  stepped — a Python loop calling a jitted single step 1,000 times per run (the TF1-course
            style `for step in range(1000): sess.run(train_op)`); timed on a subset of the
            starts and scaled to all of them.
Times exclude compilation. Prints a table and writes JSON (--out).

    python experiments/bench_race.py [--starts 64] [--steps 1000] [--stepped-starts 2]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse import optim
from jaxcourse.race import simulate
from jaxcourse.race.surfaces import SURFACES

RACERS = [
    ("sgd", {"learning_rate": 0.005}),
    ("momentum", {"learning_rate": 0.002}),
    ("nag", {"learning_rate": 0.002}),
    ("adagrad", {"learning_rate": 0.1}),
    ("rmsprop", {"learning_rate": 0.01}),
    ("adadelta", {"learning_rate": 1.0}),
    ("adam", {"learning_rate": 0.05}),
]
SURFACE_NAMES = ["saddle", "long_valley", "beale"]


def lanes_and_inputs(n_starts: int, seed: int = 0):
    lanes, lrs, starts = [], [], []
    rng = np.random.default_rng(seed)
    for sname in SURFACE_NAMES:
        surface = SURFACES.get(sname)
        lo = [surface.x_range[0], surface.y_range[0]]
        hi = [surface.x_range[1], surface.y_range[1]]
        s0 = rng.uniform(lo, hi, size=(n_starts, 2)).astype(np.float32)
        for name, options in RACERS:
            cfg = optim.validate(name, **options)
            lanes.append(simulate.Lane(name, cfg, surface))
            lrs.append(np.array([cfg.learning_rate], np.float32))
            starts.append(s0)
    return lanes, lrs, starts


def best_of(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU time of `repeats` calls (CPU time is the steadier
    measure on a shared machine: other processes inflate wall time, not our CPU time)."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--stepped-starts", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20, help="timed calls of the fused run")
    parser.add_argument("--loop-repeats", type=int, default=3, help="timed runs of the loop")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    lanes, lrs, starts = lanes_and_inputs(args.starts)
    runs = len(lanes) * args.starts

    t = time.perf_counter()
    fused = jax.jit(simulate.race_program(lanes, args.steps)).lower(lrs, starts).compile()
    fused_compile = time.perf_counter() - t
    fused_s, fused_cpu = best_of(lambda: fused(lrs, starts), args.repeats)

    # loop: one compiled single-point scan per lane, called once per start
    singles, loop_compile = [], 0.0
    for lane, lr, s0 in zip(lanes, lrs, starts, strict=True):
        t = time.perf_counter()
        fn = jax.jit(simulate.race_program([lane], args.steps)).lower([lr], [s0[:1]]).compile()
        loop_compile += time.perf_counter() - t
        singles.append(fn)

    def loop():
        out = []
        for fn, lr, s0 in zip(singles, lrs, starts, strict=True):
            for k in range(len(s0)):
                out.append(fn([lr], [s0[k : k + 1]]))
        return out

    loop_s, loop_cpu = best_of(loop, args.loop_repeats)

    # stepped: a jitted single step called from Python for every step of every run
    stepped_s = stepped_cpu = 0.0
    n_sub = min(args.stepped_starts, args.starts)
    for lane, lr, s0 in zip(lanes, lrs, starts, strict=True):
        init, step = simulate._lane_step(lane)
        step = jax.jit(step)
        lr0 = jnp.asarray(lr[0])
        p = jnp.asarray(s0[0])
        jax.block_until_ready(step(lr0, p, init(lr0, p), jnp.array(True)))  # compile
        t, c = time.perf_counter(), time.process_time()
        for k in range(n_sub):
            p = jnp.asarray(s0[k])
            state, alive = init(lr0, p), jnp.array(True)
            for _ in range(args.steps):
                p, state, alive = step(lr0, p, state, alive)
            jax.block_until_ready(p)
        stepped_s += (time.perf_counter() - t) * args.starts / n_sub
        stepped_cpu += (time.process_time() - c) * args.starts / n_sub

    # the fused program and the loop compute the same trajectories
    fused_paths = fused(lrs, starts)[0]
    check = singles[-1]([lrs[-1]], [starts[-1][-1:]])[0][0]
    np.testing.assert_allclose(
        np.asarray(check)[:, 0, 0], np.asarray(fused_paths[-1])[:, 0, -1], rtol=1e-4, atol=1e-5
    )

    result = {
        "device": f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})",
        "cpu_count": __import__("os").cpu_count(),
        "optimizers": len(RACERS),
        "surfaces": len(SURFACE_NAMES),
        "starts": args.starts,
        "steps": args.steps,
        "trajectories": runs,
        "fused_compile_s": round(fused_compile, 3),
        "fused_s": round(fused_s, 4),
        "fused_cpu_s": round(fused_cpu, 4),
        "loop_compile_s": round(loop_compile, 3),
        "loop_s": round(loop_s, 3),
        "loop_cpu_s": round(loop_cpu, 3),
        "stepped_s_estimated": round(stepped_s, 2),
        "stepped_cpu_s_estimated": round(stepped_cpu, 2),
        "stepped_measured_starts": n_sub,
        "speedup_vs_loop": round(loop_s / fused_s, 1),
        "speedup_vs_loop_cpu": round(loop_cpu / fused_cpu, 1),
        "speedup_vs_stepped": round(stepped_s / fused_s, 1),
        "speedup_vs_stepped_cpu": round(stepped_cpu / fused_cpu, 1),
        "point_steps_per_s_fused": round(runs * args.steps / fused_s),
    }
    print(f"{runs} trajectories x {args.steps} steps on {result['device']}")
    head = ["variant", "wall (s)", "speedup", "CPU (s)", "speedup", "compile (s)"]
    print("".join(f"{h:>12}" for h in head))
    for name, wall, cpu, comp in [
        ("fused", fused_s, fused_cpu, f"{fused_compile:.2f}"),
        ("loop", loop_s, loop_cpu, f"{loop_compile:.2f}"),
        ("stepped", stepped_s, stepped_cpu, ""),
    ]:
        cells = [
            name,
            f"{wall:.4f}",
            f"{wall / fused_s:.1f}",
            f"{cpu:.4f}",
            f"{cpu / fused_cpu:.1f}",
        ]
        print("".join(f"{c:>12}" for c in [*cells, comp]))
    print(f"  (stepped: {n_sub} of {args.starts} starts timed per lane, scaled)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
