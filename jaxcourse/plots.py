"""Plots written next to a run's metrics (PNG), drawn without pyplot.

Figures are made with matplotlib's object API on its Agg canvas: no global figure state to
close, safe from any thread. matplotlib is imported by the first figure, not when a run
starts (~0.2 s of every command's start-up).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float], dpi: float = 100, **subplots) -> tuple[Figure, Any]:
    """A figure on an Agg canvas and its axes (`subplots` as for `Figure.subplots`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


def save(fig: Figure, path: Path, dpi: float = 110) -> Path:
    """Lay the figure out and write it to `path` (the format follows the suffix)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def to_rgb(fig: Figure) -> np.ndarray:
    """The laid-out figure as an (H, W, 3) uint8 image."""
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def metric_curves(
    rows: list[dict], keys: list[str], path: Path, title: str = "", log_y: bool = False
) -> Path:
    """Each metric in `keys` against `step`, from metrics.jsonl rows."""
    fig, ax = new_figure(figsize=(6, 4))
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
    return save(fig, path)


def regression_fit(
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    prediction: np.ndarray,
    path: Path,
    title: str = "",
) -> Path:
    """Data points and the model's curve over `grid` (1-D input, 1-D output)."""
    fig, ax = new_figure(figsize=(6, 4))
    ax.scatter(x.ravel(), y.ravel(), s=8, alpha=0.6, label="data")
    ax.plot(grid.ravel(), prediction.ravel(), "r-", lw=2, label="model")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend()
    return save(fig, path)


def confusion_matrix(
    matrix: np.ndarray, class_names: list[str], path: Path, title: str = ""
) -> Path:
    """A confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    n = len(matrix)
    fig, ax = new_figure(figsize=(1.6 + 0.55 * n, 1.2 + 0.5 * n))
    draw_confusion_matrix(ax, matrix, class_names, title)
    return save(fig, path)


def draw_confusion_matrix(ax, matrix: np.ndarray, class_names: list[str], title: str = ""):
    """Heat map of `matrix` on `ax`, each cell's count written in it (up to 30 classes)."""
    n = len(matrix)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if n <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                color = "white" if matrix[i, j] > threshold else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)


def compare_curves(
    runs: dict[str, list[dict]], keys: list[str], path: Path, title: str = "", x: str = "step"
) -> Path:
    """Metrics `keys` of several runs on one plot: a colour per run, a line style per metric."""
    styles = ["-", "--", ":", "-."]
    fig, ax = new_figure(figsize=(7, 4.5))
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
    return save(fig, path)
