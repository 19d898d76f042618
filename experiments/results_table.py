"""Train the course's classifiers and print a markdown results table (never typed by hand).

    python experiments/results_table.py                       # every row, as configured
    python experiments/results_table.py --only cnn --out results.md
    python experiments/results_table.py --set train.epochs=1  # quick look (not the results)

Each row is `jaxcourse run CONFIG OVERRIDES` in its own process (so that per-row XLA flags
apply), writing into `<workdir>/<row>/`; the table reads each run's summary.json. Wall time is
the training loop's (compilation and evaluations included, data loading not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `shared/` sits next to the repository (CI) or next to the folder of work trees.
MNIST_TEST_DIR = next(
    (d / "shared" / "data" / "mnist" for d in REPO.parents[:2] if (d / "shared").is_dir()),
    REPO.parent / "shared" / "data" / "mnist",
)
# XLA's CPU fusion of dots into YNNPACK speeds up the CNN by about a fifth; the LSTM's
# transposed weights are not supported by it, so it is only set for the CNN rows.
CNN_FLAGS = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce"}

ROWS = [
    {
        "key": "softmax_quadratic",
        "dataset": "Fashion-MNIST 60k/10k",
        "model": "softmax regression, quadratic loss, GD 0.2 (week 3)",
        "config": "configs/mnist_softmax.yaml",
        "overrides": ["data.name=fashion_mnist"],
    },
    {
        "key": "softmax_cross_entropy",
        "dataset": "Fashion-MNIST 60k/10k",
        "model": "softmax regression, cross-entropy, GD 0.2",
        "config": "configs/mnist_softmax.yaml",
        "overrides": ["data.name=fashion_mnist", "loss=softmax_cross_entropy"],
    },
    {
        "key": "mlp_dropout",
        "dataset": "Fashion-MNIST 60k/10k",
        "model": "MLP 512-512 ReLU, dropout 0.3, Adam (week 4)",
        "config": "configs/mlp_dropout.yaml",
        "overrides": [],
    },
    {
        "key": "cnn",
        "dataset": "Fashion-MNIST 60k/10k",
        "model": "course CNN, dropout 0.5, Adam (week 6)",
        "config": "configs/cnn.yaml",
        "overrides": [],
        "env": CNN_FLAGS,
    },
    {
        "key": "lstm",
        "dataset": "Fashion-MNIST 60k/10k",
        "model": "LSTM 128 over rows, Adam (week 7)",
        "config": "configs/lstm.yaml",
        "overrides": [],
    },
    {
        "key": "cnn_mnist_testset",
        "dataset": "MNIST test set split 8k/2k",
        "model": "course CNN, dropout 0.5, Adam (week 6)",
        "config": "configs/cnn_mnist_testset.yaml",
        "overrides": [f"data.dir={MNIST_TEST_DIR}"],
        "env": CNN_FLAGS,
    },
]


def machine() -> str:
    """CPU model and core count (or the accelerator) this table was measured on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} cores"


def run_row(row: dict, workdir: Path, extra: list[str]) -> dict:
    """Run one row's config in a fresh process; returns its summary.json."""
    rundir = workdir / row["key"]
    # `extra` (from --set) wins over a row's own override of the same key.
    merged = {item.partition("=")[0]: item for item in [*row["overrides"], *extra]}
    cmd = [
        sys.executable,
        "-m",
        "jaxcourse",
        "run",
        row["config"],
        *merged.values(),
        "train.progress=off",
        f"workdir={rundir}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), **row.get("env", {})}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"row '{row['key']}' failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    summary = json.loads((rundir / "summary.json").read_text())
    summary["process_time_s"] = round(time.perf_counter() - start, 1)
    return summary


def table(results: list[tuple[dict, dict, dict]], where: str) -> str:
    lines = [
        "| dataset | model | epochs | test accuracy | wall time | machine |",
        "|---|---|---|---|---|---|",
    ]
    for row, config, summary in results:
        epochs = config["train"]["epochs"]
        epochs = f"{epochs:g}" if epochs else f"{config['train']['steps']} steps"
        accuracy = summary["final"]["test/accuracy"]
        minutes, seconds = divmod(round(summary["wall_time_s"]), 60)
        lines.append(
            f"| {row['dataset']} | {row['model']} | {epochs} | {accuracy:.4f} | "
            f"{minutes}m {seconds:02d}s | {where} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="row keys to run (default: all)")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="key=value",
        help="overrides for every row (e.g. train.epochs=1)",
    )
    parser.add_argument("--workdir", default="runs/results_table", help="where runs go")
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--machine", default=None, help="machine column (default: CPU model)")
    args = parser.parse_args(argv)
    keys = [r["key"] for r in ROWS]
    unknown = sorted(set(args.only or []) - set(keys))
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(keys)}")
    rows = [r for r in ROWS if not args.only or r["key"] in args.only]
    workdir = (REPO / args.workdir) if not Path(args.workdir).is_absolute() else Path(args.workdir)
    import yaml

    results = []
    for row in rows:
        summary = run_row(row, workdir, args.set)
        config = yaml.safe_load((workdir / row["key"] / "config.yaml").read_text())
        results.append((row, config, summary))
        print(
            f"{row['key']}: test accuracy {summary['final']['test/accuracy']:.4f} "
            f"in {summary['wall_time_s']:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    text = table(results, args.machine or machine())
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    (workdir / "results.json").write_text(
        json.dumps(
            [
                {
                    "key": r["key"],
                    "dataset": r["dataset"],
                    "model": r["model"],
                    "epochs": c["train"]["epochs"],
                    "test_accuracy": s["final"]["test/accuracy"],
                    "wall_time_s": s["wall_time_s"],
                    "examples_per_s": s.get("examples_per_s"),
                }
                for r, c, s in results
            ],
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
