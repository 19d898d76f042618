"""The `optimizer_race` experiment: optimizers racing on toy surfaces, one compiled program.

Every chosen optimizer starts from every start point of every chosen surface;
`jaxcourse.race.simulate` runs them all in one jitted scan. Optionally each optimizer's learning
rate is first tuned per surface by a grid search, vmapped in the same program. Writes
`race_<surface>.png` (contours, trajectories, distance curves), `race_<surface>.gif` (animation of
the featured start), `race.md` (ranking tables), `metrics.jsonl` (one row per optimizer and surface)
and `summary.json`.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import jax
import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, ValidationInfo, field_validator

from jaxcourse import optim
from jaxcourse.config import (
    EXPERIMENTS,
    ExperimentConfig,
    RegistryName,
    RegistryRef,
    Section,
)
from jaxcourse.engine.rundir import RunDir, write_atomic
from jaxcourse.errors import ConfigError
from jaxcourse.race import plots, simulate
from jaxcourse.race.surfaces import SURFACES, Surface

MAX_RECORDED_BYTES = 2**30  # every position of every trajectory is kept in memory


class RaceSurfaceConfig(Section):
    """One surface of the race."""

    name: Annotated[str, RegistryName(SURFACES)] = Field(description="Which surface.")
    starts: list[tuple[float, float]] | None = Field(
        None,
        description="Start points [x, y]; the first is featured in plots and the animation. "
        "null = the surface's suggested ones.",
    )
    random_starts: int = Field(
        0, ge=0, le=4096, description="Extra start points drawn uniformly in the plot range."
    )
    learning_rates: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="Learning rate per optimizer label on this surface (others use the "
        "optimizer's own learning_rate).",
    )


class TuneConfig(Section):
    """Per-surface learning-rate grid search, run (vmapped) in the race program itself."""

    enabled: bool = Field(
        False, description="Pick each optimizer's learning rate per surface from the grid."
    )
    low: PositiveFloat = Field(1e-4, description="Smallest learning rate of the grid.")
    high: PositiveFloat = Field(1.0, description="Largest learning rate of the grid.")
    num: int = Field(13, ge=2, le=256, description="Grid size (log-spaced from low to high).")


class AnimationConfig(Section):
    """The animated GIF per surface."""

    enabled: bool = Field(True, description="Write race_<surface>.gif.")
    frames: int = Field(60, ge=2, le=1000, description="Frames per animation.")
    fps: int = Field(15, ge=1, le=60, description="Frames per second.")


class RaceConfig(ExperimentConfig):
    """Race optimizers from start points on toy surfaces and rank them."""

    experiment: Literal["optimizer_race"] = Field(description="Which experiment this config runs.")
    steps: PositiveInt = Field(300, le=100_000, description="Steps every optimizer takes.")
    optimizers: Annotated[list[optim.OptimizerConfig], RegistryRef(optim.OPTIMIZERS)] = Field(
        min_length=1,
        description="The racers: optimizer sections (`name` + options). Labels are the names, "
        "with '-tf1' for the tf1 flavour and '-2', '-3' for repeats.",
    )
    surfaces: list[RaceSurfaceConfig] = Field(min_length=1, description="The surfaces.")
    tune: TuneConfig = Field(default_factory=TuneConfig, description="Learning-rate search.")
    animation: AnimationConfig = Field(default_factory=AnimationConfig, description="GIFs.")
    plots: bool = Field(True, description="Write the PNG per surface.")

    @field_validator("surfaces")
    @classmethod
    def _rates_name_racers(cls, surfaces, info: ValidationInfo):
        if "optimizers" not in info.data:
            return surfaces
        known = labels(info.data["optimizers"])
        for i, surface in enumerate(surfaces):
            for label in surface.learning_rates:
                if label not in known:
                    raise ValueError(
                        f"surfaces.{i}.learning_rates names '{label}', which is not a racer; "
                        f"racers: {', '.join(known)}"
                    )
        return surfaces


def labels(optimizers: list[optim.OptimizerConfig]) -> list[str]:
    """A unique label per racer: its name, '-tf1' for the tf1 flavour, '-N' for repeats."""
    out, seen = [], {}
    for cfg in optimizers:
        base = cfg.name + ("-tf1" if getattr(cfg, "flavour", "optax") == "tf1" else "")
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def start_points(cfg: RaceSurfaceConfig, surface: Surface, seed: int) -> np.ndarray:
    """(S, 2) start points: the configured (or suggested) ones, then the random ones."""
    fixed = np.asarray(cfg.starts if cfg.starts is not None else surface.starts, np.float32)
    rng = np.random.default_rng([seed, SURFACES.names().index(surface.name)])
    lo = [surface.x_range[0], surface.y_range[0]]
    hi = [surface.x_range[1], surface.y_range[1]]
    extra = rng.uniform(lo, hi, size=(cfg.random_starts, 2)).astype(np.float32)
    return np.concatenate([fixed.reshape(-1, 2), extra])


def run(config: RaceConfig, rundir: RunDir) -> dict:
    """Run the race, write pictures, tables and the summary; returns the summary."""
    t_start = time.perf_counter()
    names = labels(config.optimizers)
    surfaces = [SURFACES.get(s.name) for s in config.surfaces]
    lanes, lrs, starts = [], [], []
    grid = simulate.learning_rate_grid(config.tune.low, config.tune.high, config.tune.num)
    for scfg, surface in zip(config.surfaces, surfaces, strict=True):
        s0 = start_points(scfg, surface, config.seed)
        for label, ocfg in zip(names, config.optimizers, strict=True):
            lanes.append(simulate.Lane(label, ocfg, surface))
            own = scfg.learning_rates.get(label, ocfg.learning_rate)
            lrs.append(grid if config.tune.enabled else np.array([own], np.float32))
            starts.append(s0)

    recorded = (
        (config.steps + 1) * sum(len(lr) * len(s) for lr, s in zip(lrs, starts, strict=True)) * 8
    )
    if recorded > MAX_RECORDED_BYTES:
        raise ConfigError(
            f"config keys 'steps', 'surfaces.N.random_starts', 'tune.num': the race would record "
            f"{recorded / 2**30:.1f} GiB of positions (steps x trajectories x 8 bytes), more "
            f"than {MAX_RECORDED_BYTES / 2**30:.0f} GiB; use fewer steps, starts or grid points"
        )
    program = jax.jit(simulate.race_program(lanes, config.steps))
    compiled = program.lower(lrs, starts).compile()
    t_compiled = time.perf_counter()
    paths, alive = jax.block_until_ready(compiled(lrs, starts))
    run_s = time.perf_counter() - t_compiled
    paths = [np.asarray(p) for p in paths]
    alive = [np.asarray(a) for a in alive]

    results = []  # per lane: (chosen lr index, score)
    for lane, lr, p, a in zip(lanes, lrs, paths, alive, strict=True):
        scores = [simulate.score_lane(lane.surface, p[:, j], a[:, j]) for j in range(len(lr))]
        best = min(range(len(lr)), key=lambda j: scores[j].key())
        results.append((best, scores[best]))

    tables = {}
    for k, surface in enumerate(surfaces):
        block = range(k * len(names), (k + 1) * len(names))
        rows = []
        for i in block:
            best, score = results[i]
            rows.append(_row(lanes[i].label, float(lrs[i][best]), score))
        rows.sort(key=lambda r: r["_key"])
        for rank, row in enumerate(rows, 1):
            row["rank"] = rank
            del row["_key"]
            rundir.log({"surface": surface.name, **row})
        tables[surface.name] = rows
        lane_paths = [paths[i][:, results[i][0]] for i in block]
        featured = [float(results[i][1].steps[0]) for i in block]
        if config.plots:
            plots.race_figure(
                surface, names, lane_paths, featured, rundir.file(f"race_{surface.name}.png")
            )
        if config.animation.enabled:
            plots.race_animation(
                surface,
                names,
                lane_paths,
                rundir.file(f"race_{surface.name}.gif"),
                config.animation.frames,
                config.animation.fps,
            )
    featured_rows = {
        surfaces[k].name: {
            lanes[i].label: results[i][1].steps[0]
            for i in range(k * len(names), (k + 1) * len(names))
        }
        for k in range(len(surfaces))
    }
    write_atomic(rundir.file("race.md"), race_markdown(config, surfaces, tables, featured_rows))
    n_points = sum(len(lr) * len(s) for lr, s in zip(lrs, starts, strict=True))
    summary = {
        "experiment": config.experiment,
        "status": "completed",
        "final": {name: rows[0]["optimizer"] for name, rows in tables.items()},
        "rankings": tables,
        "featured_start_steps": featured_rows,
        "trajectories": n_points,
        "steps": config.steps,
        "compile_time_s": round(t_compiled - t_start, 3),
        "race_time_s": round(run_s, 4),
        "wall_time_s": round(time.perf_counter() - t_start, 3),
        "device": jax.devices()[0].platform,
        "jax_version": jax.__version__,
    }
    rundir.write_summary(summary)
    return summary


def _row(label: str, lr: float, score: simulate.LaneScore) -> dict:
    reached = np.isfinite(score.steps)
    return {
        "optimizer": label,
        "learning_rate": lr,
        "reached": int(reached.sum()),
        "starts": int(reached.size),
        "median_steps": float(np.median(score.steps)),
        "featured_steps": float(score.steps[0]),
        "median_final_loss": float(np.median(score.final_loss)),
        "diverged": int(score.diverged.sum()),
        "_key": score.key(),
    }


def _fmt_steps(x: float) -> str:
    return "never" if not np.isfinite(x) else str(int(x))


def race_markdown(config, surfaces, tables, featured) -> str:
    """The ranking tables, one per surface, with what each measure means."""
    lines = [
        "# Optimizer race",
        "",
        f"{len(config.optimizers)} optimizers, {config.steps} steps"
        + (", learning rates tuned per surface by grid search" if config.tune.enabled else "")
        + ". Ranked by the median over start points of the steps to arrive within the "
        "tolerance of a minimum and stay there (on a saddle: until the escape distance, the "
        "distance from the ridge, exceeds the tolerance), then by divergences, then by the "
        "median final loss. 'never': not within the steps.",
        "",
    ]
    for surface in surfaces:
        what = "escape" if surface.is_saddle else "arrival"
        lines += [
            f"## {surface.name}: f = {surface.formula}",
            "",
            surface.about,
            "",
            f"Tolerance {surface.tolerance}; featured start "
            f"{tuple(round(float(v), 4) for v in _featured_start(config, surface))}.",
            "",
            f"| rank | optimizer | learning rate | reached | median steps to {what} "
            f"| featured start | median final loss | diverged |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in tables[surface.name]:
            lines.append(
                f"| {r['rank']} | {r['optimizer']} | {r['learning_rate']:.4g} | "
                f"{r['reached']}/{r['starts']} | {_fmt_steps(r['median_steps'])} | "
                f"{_fmt_steps(r['featured_steps'])} | {r['median_final_loss']:.3g} | "
                f"{r['diverged']} |"
            )
        if surface.is_saddle:
            lines += ["", _saddle_verdict(featured[surface.name])]
        lines.append("")
    return "\n".join(lines) + "\n"


def _featured_start(config, surface):
    scfg = next(s for s in config.surfaces if s.name == surface.name)
    return start_points(scfg, surface, config.seed)[0]


def _saddle_verdict(steps: dict[str, float]) -> str:
    order = sorted(steps, key=lambda k: steps[k])
    slowest, fastest = order[-1], order[0]
    return (
        f"From the featured start, **{slowest}** stays stuck longest "
        f"({_fmt_steps(steps[slowest])} steps to escape); **{fastest}** escapes first "
        f"({_fmt_steps(steps[fastest])} steps). Order: "
        + ", ".join(f"{k} {_fmt_steps(steps[k])}" for k in order)
        + "."
    )


EXPERIMENTS.register("optimizer_race", RaceConfig)(run)
