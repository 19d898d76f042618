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
