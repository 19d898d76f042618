"""Hyper-parameter sweeps: `jaxcourse sweep CONFIG key=v1,v2,... [key2=...]` runs the grid.

Every combination of the given values is one variant of the config. Variants that differ
only in `seed` and numeric optimizer options are trained together in one compiled program
(`jaxcourse.parallel.stacked`); any other difference (model, data, batch size, ...) means separate
runs. Each variant writes its usual run directory under the sweep directory, which also gets
`sweep.json`, `sweep.md` (one table of all variants) and `sweep.png` (their loss curves).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import RunDir, read_metrics, write_atomic
from jaxcourse.errors import ConfigError, NonFiniteLossError

STACKABLE_TOP_LEVEL = {"seed"}  # besides numeric optimizer options
TABLE_METRICS = ("loss", "accuracy", "mse")


def split_values(text: str) -> list[str]:
    """Split `text` at commas that are not inside brackets or quotes."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _parse_value(text: str):
    """A value as YAML reads it, except that `1e-3` is a number (YAML 1.1 wants `1.0e-3`)."""
    if _NUMBER.fullmatch(text.strip()):
        return float(text) if not text.strip().lstrip("+-").isdigit() else int(text)
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def parse_grid(items: list[str]) -> dict[str, list]:
    """`['a.b=1,2', 'c=x']` -> {'a.b': [1, 2], 'c': ['x']} (values parsed as YAML)."""
    grid, problems = {}, []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            problems.append(f"sweep argument '{item}' is not of the form key.sub=v1,v2,...")
            continue
        if key in grid:
            problems.append(f"sweep key '{key}' is given twice")
            continue
        values = [_parse_value(part) for part in split_values(text)]
        if len(set(map(repr, values))) != len(values):
            problems.append(f"sweep key '{key}' lists a value twice: {text}")
        grid[key] = values
    if problems:
        raise ConfigError(problems, source="command line")
    if not grid:
        raise ConfigError("a sweep needs at least one key=v1,v2,... argument", "command line")
    return grid


@dataclass
class Variant:
    """One point of the grid: its overrides, validated config and run directory."""

    index: int
    overrides: dict
    config: object
    workdir: Path
    mode: str = "sequential"
    summary: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.workdir.name


def _format(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def variant_dirname(index: int, overrides: dict) -> str:
    text = "_".join(f"{k}={_format(v)}" for k, v in overrides.items())
    return f"{index:02d}_" + re.sub(r"[^A-Za-z0-9._=+-]", "-", text)[:120]


def expand(config_path: str | Path, grid: dict[str, list], sweep_dir: Path) -> list[Variant]:
    """Every combination of `grid` as a validated variant (all problems reported at once)."""
    variants, problems = [], []
    keys = list(grid)
    for index, values in enumerate(itertools.product(*grid.values())):
        overrides = dict(zip(keys, values, strict=True))
        args = [f"{k}={json.dumps(v)}" for k, v in overrides.items()]
        try:
            config = config_lib.load(config_path, args)
        except ConfigError as err:
            problems.extend(p for p in err.problems if p not in problems)
            continue
        workdir = sweep_dir / variant_dirname(index, overrides)
        config = config.model_copy(update={"workdir": str(workdir)})
        variants.append(Variant(index, overrides, config, workdir))
    if problems:
        raise ConfigError(problems, source=str(config_path))
    return variants


def stack_key(config) -> str:
    """What must be equal for configs to be trained together: all but the stackable keys."""
    raw = config_lib.to_dict(config)
    for key in (*STACKABLE_TOP_LEVEL, "workdir"):
        raw.pop(key, None)
    optimizer = raw.get("optimizer")
    if isinstance(optimizer, dict):
        for name, value in list(optimizer.items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                optimizer[name] = "<numeric>"
    return json.dumps(raw, sort_keys=True)


def groups(variants: list[Variant], stacked: bool = True) -> list[list[Variant]]:
    """Variants that can share one program, in grid order (singletons when `stacked` is off)."""
    if not stacked:
        return [[v] for v in variants]
    by_key: dict[str, list[Variant]] = {}
    for v in variants:
        key = stack_key(v.config) if v.config.experiment == "supervised" else f"#{v.index}"
        by_key.setdefault(key, []).append(v)
    return list(by_key.values())


def _run_group(group: list[Variant]) -> str | None:
    """Train `group` in one program; returns why not when it had to fall back (then None runs)."""
    from jaxcourse.parallel import stacked

    try:
        prepared = stacked.prepare([v.config for v in group])
    except Exception as err:  # an optimizer that cannot take its options as data
        return f"{type(err).__name__}: {err}"
    rundirs = [RunDir(v.workdir) for v in group]
    for v, rundir in zip(group, rundirs, strict=True):
        rundir.start(config_lib.dump_yaml(v.config))
    try:
        summaries, _ = stacked.train_stacked(prepared, rundirs)
    finally:
        for rundir in rundirs:
            rundir.close()
    for v, summary in zip(group, summaries, strict=True):
        v.mode, v.summary = f"stacked×{len(group)}", summary
    return None


def run_sweep(
    config_path: str | Path, grid: dict[str, list], sweep_dir: str | Path, stacked: bool = True
) -> dict:
    """Run every variant of the grid; write sweep.json, sweep.md and sweep.png."""
    from jaxcourse.runners import run_experiment

    sweep_dir = Path(sweep_dir)
    variants = expand(config_path, grid, sweep_dir)
    t_start = time.perf_counter()
    notes = []
    for group in groups(variants, stacked):
        if len(group) > 1:
            why_not = _run_group(group)
            if why_not is None:
                continue
            notes.append(f"variants {[v.index for v in group]} ran one by one: {why_not}")
        for v in group:
            try:
                v.summary = run_experiment(v.config, v.workdir)
            except NonFiniteLossError as err:  # the variant failed; the sweep goes on
                summary_file = v.workdir / "summary.json"
                v.summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
                v.summary.setdefault("status", str(err))
    result = {
        "config": str(config_path),
        "grid": grid,
        "wall_time_s": round(time.perf_counter() - t_start, 3),
        "notes": notes,
        "variants": [
            {
                "name": v.name,
                "overrides": v.overrides,
                "mode": v.mode,
                "status": v.summary.get("status"),
                "final": v.summary.get("final", {}),
                "steps_per_s": v.summary.get("steps_per_s"),
                "workdir": str(v.workdir),
            }
            for v in variants
        ],
    }
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(sweep_dir / "sweep.json", json.dumps(result, indent=2) + "\n")
    write_atomic(sweep_dir / "sweep.md", markdown_table(result))
    plot_sweep(variants, sweep_dir / "sweep.png")
    return result


def _metric_columns(rows: list[dict]) -> list[str]:
    keys: list[str] = []
    for final in rows:
        for key in final:
            if key.endswith(TABLE_METRICS) and key not in keys:
                keys.append(key)
    return keys


def markdown_table(result: dict) -> str:
    """One row per variant: the swept values, how it ran, its status and final metrics."""
    keys = list(result["grid"])
    metrics = _metric_columns([v["final"] for v in result["variants"]])
    header = ["#", *keys, "mode", "status", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, v in enumerate(result["variants"]):
        cells = [str(i), *(_format(v["overrides"][k]) for k in keys), v["mode"], v["status"]]
        for m in metrics:
            value = v["final"].get(m)
            cells.append(f"{value:.4g}" if isinstance(value, int | float) else value or "")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def plot_sweep(variants: list[Variant], path: Path) -> None:
    """Training loss against step, one line per variant (log scale)."""
    from jaxcourse import plots

    fig, ax = plots.new_figure(figsize=(7, 4.5))
    for v in variants:
        metrics_file = v.workdir / "metrics.jsonl"
        rows = read_metrics(metrics_file) if metrics_file.exists() else []
        points = [(r["step"], r["loss"]) for r in rows if isinstance(r.get("loss"), int | float)]
        if points:
            label = ", ".join(f"{k.split('.')[-1]}={_format(x)}" for k, x in v.overrides.items())
            ax.plot(*zip(*points, strict=True), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small", ncol=2 if len(ax.lines) > 6 else 1)
    plots.save(fig, path)


def default_sweep_dir(config_path: str | Path) -> Path:
    return Path("runs") / f"{Path(config_path).stem}_sweep"
