"""Transfer experiment: CNN pre-trained on Fashion-MNIST classes 0-4, moved to classes 5-9.

1. Pre-train the course CNN on classes 0-4 (configs/transfer_pretrain.yaml, checkpointed).
2. Learn classes 5-9 from 100 labelled examples per class (configs/transfer.yaml) three ways:
   frozen (only the new output layer trains), fine-tuned (all layers, conv layers at 0.1x
   learning rate) and from scratch (same model and budget, random init).
3. Write results.json, results.md (the table) and transfer.png (test accuracy vs step).

Runs already completed in --out with the same config are reused (the pre-training resumes
from its checkpoint), so more seeds can be added later.

    python experiments/transfer_fashion_mnist.py [--out runs/transfer_experiment] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import read_metrics
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
            summary = _finished(workdir, cfg) or run_experiment(cfg, workdir)
            rows = read_metrics(workdir)
            row = {
                "mode": mode,
                "seed": seed,
                "test_accuracy": summary["final"]["test_accuracy"],
                "best_test_accuracy": max(r["test_accuracy"] for r in rows if "test_accuracy" in r),
                "train_accuracy": summary["final"]["accuracy"],
                "wall_s": summary["wall_time_s"],
            }
            results.append(row)
            curves[(mode, seed)] = [
                (r["step"], r["test_accuracy"]) for r in rows if "test_accuracy" in r
            ]
            print(json.dumps(row))

    (out / "results.json").write_text(
        json.dumps({"pretrain": pretrain, "transfer": results, "args": vars(args)}, indent=2)
    )
    lines = [
        f"| method (classes 5-9, 100 labels/class, {args.steps} steps) | test accuracy, "
        f"mean ± std over seeds {args.seeds} | per seed | train accuracy | wall s / run |",
        "|---|---|---|---|---|",
    ]
    for mode in MODES:
        acc = np.array([r["test_accuracy"] for r in results if r["mode"] == mode])
        train_acc = np.mean([r["train_accuracy"] for r in results if r["mode"] == mode])
        wall = np.mean([r["wall_s"] for r in results if r["mode"] == mode])
        lines.append(
            f"| {mode} | {acc.mean():.4f} ± {acc.std():.4f} | "
            f"{', '.join(f'{a:.4f}' for a in acc)} | {train_acc:.4f} | {wall:.0f} |"
        )
    table = "\n".join(lines)
    (out / "results.md").write_text(table + "\n")
    print(table)
    _plot(curves, results, out / "transfer.png")
    print(f"wrote {out / 'results.md'} and {out / 'transfer.png'}")


def _finished(workdir: Path, cfg) -> dict | None:
    """The summary of a completed earlier run of exactly `cfg` in `workdir`, if there is one."""
    summary, config = workdir / "summary.json", workdir / "config.yaml"
    if summary.is_file() and config.is_file() and config.read_text() == config_lib.dump_yaml(cfg):
        done = json.loads(summary.read_text())
        if done.get("status") == "completed":
            return done
    return None


def _plot(curves: dict, results: list[dict], path: Path) -> None:
    """Test accuracy against step (one colour per method) and final accuracy per method."""
    from jaxcourse import plots

    fig, (left, right) = plots.new_figure((10, 4), ncols=2)
    colours = dict(zip(MODES, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for (mode, seed), points in curves.items():
        steps, acc = zip(*points, strict=True)
        label = mode if seed == min(s for _, s in curves) else None
        left.plot(steps, acc, color=colours[mode], alpha=0.8, label=label)
    left.set(xlabel="step", ylabel="test accuracy", title="Fashion-MNIST classes 5-9")
    left.legend()
    left.grid(alpha=0.3)
    for i, mode in enumerate(MODES):
        acc = np.array([r["test_accuracy"] for r in results if r["mode"] == mode])
        right.bar(i, acc.mean(), yerr=acc.std(), color=colours[mode], capsize=4)
        right.scatter([i] * len(acc), acc, color="black", s=10, zorder=3)
    right.set_xticks(range(len(MODES)), list(MODES))
    low = min(r["test_accuracy"] for r in results)
    right.set_ylim(max(0.0, low - 0.05), 1.0)
    right.set(ylabel="final test accuracy", title="100 labels per class, mean ± std, seeds")
    plots.save(fig, path)


if __name__ == "__main__":
    main()
