"""Plots written next to a run's metrics (PNG, matplotlib's headless backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def metric_curves(
    rows: list[dict], keys: list[str], path: Path, title: str = "", log_y: bool = False
) -> Path:
    """Each metric in `keys` against `step`, from metrics.jsonl rows."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float)]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=key)
    ax.set_xlabel("step")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def regression_fit(
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    prediction: np.ndarray,
    path: Path,
    title: str = "",
) -> Path:
    """Data points and the model's curve over `grid` (1-D input, 1-D output)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x.ravel(), y.ravel(), s=8, alpha=0.6, label="data")
    ax.plot(grid.ravel(), prediction.ravel(), "r-", lw=2, label="model")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion_matrix(
    matrix: np.ndarray, class_names: list[str], path: Path, title: str = ""
) -> Path:
    """A confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.6 + 0.55 * n, 1.2 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def compare_curves(
    runs: dict[str, list[dict]], keys: list[str], path: Path, title: str = "", x: str = "step"
) -> Path:
    """Metrics `keys` of several runs on one plot: a colour per run, a line style per metric."""
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for color, (label, rows) in enumerate(runs.items()):
        for style, key in zip(styles * len(keys), keys, strict=False):
            points = [(r[x], r[key]) for r in rows if isinstance(r.get(key), int | float)]
            if points:
                xs, ys = zip(*points, strict=True)
                name = f"{label}: {key}" if len(keys) > 1 else label
                ax.plot(xs, ys, style, color=f"C{color}", label=name)
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
