"""Pictures of the optimizer race: contours with trajectories (PNG) and an animation (GIF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jaxcourse.plots import new_figure, save
from jaxcourse.race.surfaces import Surface

# matplotlib's "tab10" colours, one per optimizer
COLORS = tuple(f"C{i}" for i in range(10))


def _contours(ax, surface: Surface, resolution: int = 200) -> None:
    xs = np.linspace(*surface.x_range, resolution)
    ys = np.linspace(*surface.y_range, resolution)
    gx, gy = np.meshgrid(xs, ys)
    z = surface.f(gx, gy)
    if surface.log_levels:
        gap = z - surface.min_value + 1e-3
        levels = np.geomspace(gap.min(), gap.max(), 30)
        from matplotlib.colors import LogNorm

        ax.contourf(gx, gy, gap, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.6)
        ax.contour(gx, gy, gap, levels=levels[::3], norm=LogNorm(), colors="k", linewidths=0.3)
    else:
        ax.contourf(gx, gy, z, levels=30, cmap="viridis", alpha=0.6)
        ax.contour(gx, gy, z, levels=15, colors="k", linewidths=0.3)
    for x, y in surface.minima:
        ax.plot(x, y, "*", color="gold", ms=14, mec="k", zorder=5)
    if surface.saddle_point:
        ax.plot(*surface.saddle_point, "X", color="gold", ms=10, mec="k", zorder=5)
    ax.set_xlim(*surface.x_range)
    ax.set_ylim(*surface.y_range)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def race_figure(
    surface: Surface,
    labels: list[str],
    paths: list[np.ndarray],
    steps_taken: list[float],
    path: Path,
) -> Path:
    """Contours with every lane's trajectories (featured start bold) and distance vs step.

    paths[i]: (T+1, S, 2) positions of optimizer i; start 0 is the featured one.
    """
    fig, (ax, ax_d) = new_figure((11, 4.6), ncols=2, width_ratios=[1.25, 1])
    _contours(ax, surface)
    for i, (label, p) in enumerate(zip(labels, paths, strict=True)):
        color = COLORS[i % len(COLORS)]
        faint = float(np.clip(6.0 / p.shape[1], 0.06, 0.35))  # fainter when there are many
        for s in range(1, p.shape[1]):
            ax.plot(p[:, s, 0], p[:, s, 1], "-", color=color, lw=0.6, alpha=faint)
        steps = steps_taken[i]
        tag = f"{label} ({'—' if np.isinf(steps) else int(steps)})"
        ax.plot(p[:, 0, 0], p[:, 0, 1], "-", color=color, lw=2, label=tag)
        ax.plot(p[-1, 0, 0], p[-1, 0, 1], "o", color=color, ms=5, mec="k")
        dist = surface.distance(p[:, 0])
        ax_d.plot(np.arange(len(dist)), np.maximum(dist, 1e-8), color=color, lw=1.5, label=label)
    ax.plot(*paths[0][0, 0], "ko", ms=6, zorder=6)
    what = "escape" if surface.is_saddle else "arrival"
    ax.legend(fontsize=7, loc="best", title=f"steps to {what}", title_fontsize=7)
    ax.set_title(f"{surface.name}: {surface.formula}", fontsize=10)
    ax_d.axhline(surface.tolerance, color="k", ls="--", lw=0.8)
    ax_d.set_yscale("log")
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("escape distance" if surface.is_saddle else "distance to minimum")
    ax_d.set_title("featured start", fontsize=10)
    ax_d.grid(alpha=0.3)
    return save(fig, path, dpi=100)


def race_animation(
    surface: Surface,
    labels: list[str],
    paths: list[np.ndarray],
    path: Path,
    frames: int = 60,
    fps: int = 15,
    dpi: int = 80,
) -> Path:
    """An animated GIF of the featured start: one ball with a trail per optimizer.

    The contours are drawn once; every frame restores them and draws only the moving
    artists (blitting), and Pillow writes the frames.
    """
    fig, ax = new_figure((6.2, 4.2), dpi=dpi)
    _contours(ax, surface, resolution=120)
    total = paths[0].shape[0] - 1
    frame_steps = np.unique(np.linspace(0, total, frames).round().astype(int))
    moving = []
    for i, label in enumerate(labels):
        color = COLORS[i % len(COLORS)]
        ax.plot([], [], "-o", color=color, lw=1.8, ms=6, mec="k", label=label)
        (trail,) = ax.plot([], [], "-", color=color, lw=1.8, animated=True)
        (ball,) = ax.plot([], [], "o", color=color, ms=7, mec="k", animated=True)
        moving.append((trail, ball))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title(f"{surface.name}: {surface.formula}", fontsize=8)
    clock = ax.text(
        0.98,
        0.03,
        "",
        transform=ax.transAxes,
        ha="right",
        fontsize=9,
        animated=True,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
    fig.tight_layout()
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    images = []
    for t in frame_steps:
        fig.canvas.restore_region(background)
        for (trail, ball), p in zip(moving, paths, strict=True):
            trail.set_data(p[: t + 1, 0, 0], p[: t + 1, 0, 1])
            ball.set_data([p[t, 0, 0]], [p[t, 0, 1]])
            ax.draw_artist(trail)
            ax.draw_artist(ball)
        clock.set_text(f"step {t}")
        ax.draw_artist(clock)
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        images.append(Image.fromarray(rgb.copy()).quantize(colors=128, method=Image.MEDIANCUT))
    images[-1:] = [images[-1]] * max(1, fps)  # hold the last frame for a second
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
    )
    return path
