"""A sweep of 8 learning rates: stacked (one vmapped program) vs one run after another.

    python experiments/sweep_speed.py [--json out.json]

Three ways, all through the command line in fresh processes of the same session, so their
ratios are comparable: eight separate `jaxcourse run` processes (what one does without a sweep
command), `jaxcourse sweep --sequential` (one process, one run after another) and
`jaxcourse sweep` (the eight trained together in one vmapped program). Reported against the
stacked sweep: wall time of the whole process(es) (imports, plots included), of the runs
(sweep.json's wall_time_s: data, compiling, training, files), and of training alone
(steps / steps_per_s of each program, without compiling); and the largest relative difference
between the stacked and the sequential final losses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]

CASES = {
    # the course's week-3 network: 1-10-1 tanh on 200 points, full batch, 2000 steps
    "mlp 1-10-1, full batch": ("configs/nonlinear_regression.yaml", ["plots=false"]),
    # a wider MLP on Fashion-MNIST, batches of 100: compute, not dispatch, dominates
    "mlp 784-100-10, batch 100": (
        "configs/mnist_softmax.yaml",
        [
            "data.name=fashion_mnist",
            "data.dir=null",
            "data.train_size=10000",
            "data.test_size=1000",
            "model={name: mlp, hidden: [100], activation: relu}",
            "loss=softmax_cross_entropy",
            "train.epochs=null",
            "train.steps=500",
            "train.log_every=100",
            "train.eval_every=null",
            "plots=false",
        ],
    ),
}


def _env() -> dict:
    return dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )


def _write_base(config: str, overrides: list[str], tmp: str) -> Path:
    """The resolved config with the case's overrides, as one YAML file."""
    base = Path(tmp) / "base.yaml"
    show = subprocess.run(
        [sys.executable, "-m", "jaxcourse", "config", "show", config, *overrides],
        cwd=ROOT, env=_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    base.write_text(show.stdout)
    return base


def separate_runs(config: str, overrides: list[str]) -> dict:
    """Eight `jaxcourse run` processes, one per learning rate, one after another."""
    with tempfile.TemporaryDirectory() as tmp:
        base = _write_base(config, overrides, tmp)
        wall, train_s, losses = 0.0, 0.0, []
        for i, lr in enumerate(LEARNING_RATES):
            workdir = f"{tmp}/run{i}"
            args = [sys.executable, "-m", "jaxcourse", "run", str(base)]
            args += [f"optimizer.learning_rate={lr}", f"workdir={workdir}"]
            start = time.perf_counter()
            proc = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True)
            wall += time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            summary = json.loads((Path(workdir) / "summary.json").read_text())
            train_s += summary["steps"] / summary["steps_per_s"]
            losses.append(summary["final"]["train/loss"])
    return {"wall_s": wall, "sweep_s": None, "train_s": train_s, "losses": losses}


def sweep(config: str, overrides: list[str], sequential: bool) -> dict:
    env = _env()
    with tempfile.TemporaryDirectory() as tmp:
        base = _write_base(config, overrides, tmp)
        values = ",".join(str(lr) for lr in LEARNING_RATES)
        args = [sys.executable, "-m", "jaxcourse", "sweep", str(base)]
        args += [f"optimizer.learning_rate={values}", "--workdir", f"{tmp}/sweep"]
        args += ["--sequential"] if sequential else []
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        result = json.loads((Path(tmp) / "sweep/sweep.json").read_text())
        summaries = [json.loads((Path(v["workdir"]) / "summary.json").read_text())
                     for v in result["variants"]]  # fmt: skip
    statuses = {s["status"] for s in summaries}
    if statuses != {"completed"}:
        raise SystemExit(f"{config}: not every variant completed: {statuses}")
    steps = summaries[0]["steps"]
    times = [s["steps"] / s["steps_per_s"] for s in summaries]
    train_s = times[0] if not sequential else sum(times)
    losses = [v["final"]["train/loss"] for v in result["variants"]]
    return {"wall_s": wall, "sweep_s": result["wall_time_s"], "train_s": train_s,
            "losses": losses, "steps": steps}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    rows = []
    for name in args.cases:
        config, overrides = CASES[name]
        stacked = sweep(config, overrides, sequential=False)
        alone = sweep(config, overrides, sequential=True)
        processes = separate_runs(config, overrides)
        diff = max(
            abs(a - b) / max(abs(b), 1e-12)
            for a, b in zip(stacked["losses"], alone["losses"], strict=True)
        )
        rows.append({"case": name, "steps": stacked["steps"], "stacked": stacked,
                     "sequential": alone, "separate_processes": processes,
                     "max_rel_loss_diff": diff})  # fmt: skip
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"{len(LEARNING_RATES)} learning rates; each way's seconds / the stacked sweep's")
    print("| case | steps | way | whole process(es) | the runs | training alone |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        s = r["stacked"]
        for way, label in (("separate_processes", "8 × `jaxcourse run`"),
                           ("sequential", "`sweep --sequential`")):  # fmt: skip
            q = r[way]
            cells = [
                "–" if q[k] is None else f"{q[k]:.2f} / {s[k]:.2f} = {q[k] / s[k]:.1f}x"
                for k in ("wall_s", "sweep_s", "train_s")
            ]
            print(f"| {r['case']} | {r['steps']} | {label} | {' | '.join(cells)} |")
        print(f"max rel. diff of final loss, {r['case']}: {r['max_rel_loss_diff']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
