"""Training throughput of one config on 1, 2, 4, 8 devices (data-parallel), per mode.

    python experiments/parallel_scaling.py [--config configs/cnn.yaml] [--devices 1 2 4 8]
        [--modes sharding pmap] [--steps 30] [--simulate 8] [key=value ...] [--json out.json]

Each measurement runs in a fresh subprocess. Without accelerators the devices are simulated
on the CPU (`XLA_FLAGS=--xla_force_host_platform_device_count=N`): they share the same cores,
so the numbers show the cost of splitting the work, not a speed-up. On a machine with several
GPUs the same command measures real scaling (pass --simulate 0). Throughput is examples per
second after the first (compiling) call, from the run's summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
import jax
from jaxcourse.runners import load_config, run_experiment
path, workdir, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
config = load_config(path, overrides)
summary = run_experiment(config, workdir)
print(json.dumps({"examples_per_s": summary["examples_per_s"],
                  "loss": summary["final"]["train/loss"],
                  "compile_time_s": summary["compile_time_s"], "parallel": summary["parallel"],
                  "platform": summary["device"]["platform"], "kind": summary["device"]["kind"]}))
"""

# Smaller than the course run so that 8 CPU "devices" (8 copies of the data) fit in memory.
CNN_DEFAULTS = [
    "data.train_size=12800",
    "data.test_size=1000",
    "train.batch_size=128",
    "train.epochs=null",
    "train.eval_every=null",
    "train.eval_splits=[]",
    "train.log_every=1000000",
    "train.progress=false",
    "plots=false",
]


def measure(config: str, devices: int, mode: str, steps: int, simulate: int, extra: list[str]):
    overrides = [
        *CNN_DEFAULTS,
        f"train.steps={steps}",
        f"parallel.mode={mode if devices > 1 else 'single'}",
        f"parallel.devices={devices}",
        *extra,
    ]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    if simulate:
        flags = env.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={simulate}".strip()
        env["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, config, workdir, json.dumps(overrides)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if proc.returncode != 0:
        raise SystemExit(f"devices={devices} mode={mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="extra config overrides, key=value")
    parser.add_argument("--config", default=str(ROOT / "configs" / "cnn.yaml"))
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--modes", nargs="+", default=["sharding", "pmap"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--simulate", type=int, default=8, help="CPU devices to simulate; 0 = real")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    results = []
    base = None
    for mode in args.modes:
        for n in args.devices:
            if n == 1 and base is not None:
                results.append({**base, "mode": mode})
                continue
            r = measure(args.config, n, mode, args.steps, args.simulate, args.overrides)
            r = {"mode": mode, "devices": n, **r}
            if n == 1:
                base = r
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
    one = base["examples_per_s"] if base else None
    print(
        f"config: {args.config}; {args.steps} steps; platform {results[0]['platform']} "
        f"({results[0]['kind']}){'; simulated devices' if args.simulate else ''}"
    )
    print("| mode | devices | examples/s | vs 1 device | compile s | final loss |")
    print("|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['examples_per_s'] / one:.2f}x" if one else ""
        print(
            f"| {r['mode']} | {r['devices']} | {r['examples_per_s']:.0f} | {ratio} | "
            f"{r['compile_time_s']:.1f} | {r['loss']:.4f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
