"""Transfer experiment: CNN pre-trained on Fashion-MNIST classes 0-4, moved to classes 5-9.

1. Pre-train the course CNN on classes 0-4 (configs/transfer_pretrain.yaml, checkpointed).
2. Learn classes 5-9 from 100 labelled examples per class (configs/transfer.yaml) three ways:
   frozen (only the new output layer trains), fine-tuned (all layers, conv layers at 0.1x
   learning rate) and from scratch (same model and budget, random init).
3. Write results.json, results.md (the table) and transfer.png (test accuracy vs step).

    python experiments/transfer_fashion_mnist.py [--out runs/transfer_experiment] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jaxcourse import config as config_lib
from jaxcourse import plots
from jaxcourse.rundir import read_metrics
from jaxcourse.runners import run_experiment

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MODES = {
    "frozen": ["transfer.freeze=[backbone]", "transfer.lr_multipliers={}"],
    "fine-tuned": [],  # as configs/transfer.yaml: every layer, conv layers 10x slower
    "from scratch": ["backbone.source=none", "transfer.lr_multipliers={}"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/transfer_experiment")
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=300, help="steps of each transfer run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    out = Path(args.out)

    pretrain_dir = out / "pretrain"
    overrides = [f"workdir={pretrain_dir}", f"train.steps={args.pretrain_steps}"]
    cfg = config_lib.load(CONFIGS / "transfer_pretrain.yaml", overrides)
    t0 = time.perf_counter()
    summary = run_experiment(cfg, pretrain_dir)
    pretrain = {
        "test_accuracy_classes_0_4": summary["final"]["test_accuracy"],
        "steps": summary["steps"],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(f"pre-trained on classes 0-4: test accuracy {pretrain['test_accuracy_classes_0_4']:.4f}")

    results = []
    curves = {}
    for seed in args.seeds:
        for mode, mode_overrides in MODES.items():
            workdir = out / f"{mode.replace(' ', '_')}_seed{seed}"
            overrides = [
                f"workdir={workdir}",
                f"seed={seed}",
                f"backbone.run_dir={pretrain_dir}",
                f"train.steps={args.steps}",
                *mode_overrides,
            ]
            cfg = config_lib.load(CONFIGS / "transfer.yaml", overrides)
            t0 = time.perf_counter()
            summary = run_experiment(cfg, workdir)
            rows = read_metrics(workdir)
            row = {
                "mode": mode,
                "seed": seed,
                "test_accuracy": summary["final"]["test_accuracy"],
                "best_test_accuracy": max(r["test_accuracy"] for r in rows if "test_accuracy" in r),
                "train_accuracy": summary["final"]["accuracy"],
                "wall_s": round(time.perf_counter() - t0, 1),
            }
            results.append(row)
            curves[f"{mode} (seed {seed})"] = [
                (r["step"], r["test_accuracy"]) for r in rows if "test_accuracy" in r
            ]
            print(json.dumps(row))

    (out / "results.json").write_text(
        json.dumps({"pretrain": pretrain, "transfer": results, "args": vars(args)}, indent=2)
    )
    lines = [
        "| method (classes 5-9, 100 labels/class) | test accuracy (final) | best during run | "
        "train accuracy | wall s |",
        "|---|---|---|---|---|",
    ]
    for mode in MODES:
        rows = [r for r in results if r["mode"] == mode]
        mean = lambda key, rows=rows: sum(r[key] for r in rows) / len(rows)  # noqa: E731
        lines.append(
            f"| {mode} | {mean('test_accuracy'):.4f} | {mean('best_test_accuracy'):.4f} | "
            f"{mean('train_accuracy'):.4f} | {mean('wall_s'):.0f} |"
        )
    table = "\n".join(lines)
    (out / "results.md").write_text(table + "\n")
    print(table)
    plot_rows = []
    for name, points in curves.items():
        for step, acc in points:
            plot_rows.append({"step": step, name: acc})
    plots.metric_curves(
        _merge_by_step(plot_rows), list(curves), out / "transfer.png", "test accuracy (classes 5-9)"
    )
    print(f"wrote {out / 'results.md'} and {out / 'transfer.png'}")


def _merge_by_step(rows: list[dict]) -> list[dict]:
    merged: dict[int, dict] = {}
    for row in rows:
        merged.setdefault(row["step"], {"step": row["step"]}).update(row)
    return [merged[s] for s in sorted(merged)]


if __name__ == "__main__":
    main()
