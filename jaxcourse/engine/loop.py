"""The one training loop: a program (step function over a batch source), runs, ordered hooks.

Every experiment that trains (supervised, transfer, multitask in joint and alternating mode,
stacked sweeps) hands `train` a `Program` and one `Run` per variant it trains: a stacked
sweep is one program whose vmapped step advances V variants, each with its own run
directory, metrics file, checkpoints, hooks and summary. One call of the loop:

1. resume: each run's latest checkpoint (for V variants the latest step all of them have);
   metrics.jsonl of each run is cut back to that step;
2. `hook.on_start` of every run, in list order;
3. per compiled call of k fused steps: when it is time (`crossed`) for a row, fetch the
   metrics, apply the NaN policy, evaluate on the eval schedule, write the row to
   metrics.jsonl (tags named here, once: `train/loss` for the last step's batch metrics,
   `test/accuracy` for a split's evaluation, `train_full/...` for the whole train split),
   `hook.on_row`, then save the checkpoint of that step (so it carries the row's
   `best_metric`); other checkpoint steps are saved too; then `hook.on_call`;
4. at the end: the last checkpoint, `hook.on_end` (each returns what it adds to the
   summary), summary.json in the schema of `summary` below.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import jax
import numpy as np

from jaxcourse.engine.checkpoint import CheckpointError, RunCheckpoints
from jaxcourse.engine.hooks import Hook, crossed
from jaxcourse.engine.progress import progress_bar
from jaxcourse.engine.rundir import RunDir, read_metrics
from jaxcourse.engine.writers import JsonlWriter, MetricWriter, MultiWriter
from jaxcourse.errors import NonFiniteLossError


class Program(Protocol):
    """What the loop trains. `variants` = V stacked variants (1: a plain run)."""

    variants: int
    batch_size: int  # examples per step, for examples_per_s

    def initial_states(self) -> list[Any]:
        """One TrainState per variant, as checkpoints store them (before placement)."""

    def place(self, states: list[Any]) -> Any:
        """The loop's state from per-variant states (stacked, on the devices)."""

    def compile(self, state: Any, n: int) -> None:
        """Compile the call of `n` fused steps (timed as compile_time_s)."""

    def call(self, state: Any, step: int, n: int) -> tuple[Any, dict]:
        """Steps step+1 .. step+n: (new state, {metric: array}), each (n,) or (V, n)."""

    def evaluate(self, state: Any) -> list[dict[str, dict[str, float]]]:
        """Per variant: {split: {metric: value}} on the eval splits."""

    def variant(self, state: Any, v: int) -> Any:
        """Variant `v`'s TrainState inside the loop's state (what hooks see)."""

    def describe(self, state: Any) -> list[dict[str, float]]:
        """Per variant: extra row entries (e.g. single-number parameters such as `w`, `b`)."""


@dataclass
class Schedule:
    """When things happen, in steps."""

    total: int
    steps_per_call: int = 1
    log_every: int = 100
    eval_every: int | None = None
    nan_policy: Literal["stop", "warn"] = "stop"
    progress: bool | str = "auto"


@dataclass
class Run:
    """One run's outputs: its directory, checkpoints (or None) and ordered hooks."""

    rundir: RunDir
    experiment: str
    hooks: list[Hook] = field(default_factory=list)
    checkpoints: RunCheckpoints | None = None
    summary_extra: dict = field(default_factory=dict)  # static entries of summary.json
    # filled in by the loop
    metrics: MetricWriter | None = None
    last_row: dict | None = None
    stopped: tuple[int, float] | None = None  # (step, loss) where NaN policy "stop" hit


def summary(run: Run, status: str, steps: int, final: dict, timing: dict, batch_size: int) -> dict:
    """summary.json, the same keys for every experiment (docs/architecture.md):
    experiment, status ('completed' or 'stopped: ...'), steps, final (the last metrics row),
    wall_time_s, compile_time_s, steps_per_s, examples_per_s, device {platform, kind, count},
    jax_version; then what the experiment and its hooks add (checkpoint, parallel, ...)."""
    device = jax.devices()[0]
    steps_per_s = timing.get("steps_per_s")
    return {
        "experiment": run.experiment,
        "status": status,
        "steps": steps,
        "final": final,
        "wall_time_s": round(time.perf_counter() - timing["start"], 3),
        "compile_time_s": round(timing.get("compile_s", 0.0), 3),
        "steps_per_s": steps_per_s,
        "examples_per_s": steps_per_s * batch_size if steps_per_s else None,
        "device": {
            "platform": device.platform,
            "kind": device.device_kind,
            "count": jax.device_count(),
        },
        "jax_version": jax.__version__,
        **run.summary_extra,
    }


def _resume(program: Program, runs: list[Run]) -> tuple[list[Any], int]:
    """Initial states (restored from the runs' checkpoints where all have one) and the step
    they are at: training goes on from there."""
    states = program.initial_states()
    latest = [r.checkpoints.latest_step() if r.checkpoints else None for r in runs]
    if any(s is None for s in latest):
        return states, int(states[0].step)
    step = min(latest)
    for v, run in enumerate(runs):
        states[v] = run.checkpoints.resume(states[v], step)
    resumed = {run.checkpoints.resumed_from for run in runs}  # older where newer were corrupt
    if len(resumed) > 1:
        raise CheckpointError(
            f"the variants' newest good checkpoints are of different steps {sorted(resumed)}; "
            "remove the newer ones to resume them together"
        )
    return states, resumed.pop()


def _open_metrics(run: Run, step: int) -> MetricWriter:
    """metrics.jsonl from `step` on: rows an earlier run wrote after it are dropped."""
    if not run.rundir.writes_files:
        return MultiWriter([])
    # the old rows are read (and checked) before the run directory is begun
    writer = JsonlWriter(run.rundir.path / "metrics.jsonl", start_step=step + 1 if step else 0)
    run.rundir.begin()
    return writer


def _fetch(pending: list[tuple[int, dict]], variants: int) -> list[tuple[int, dict]]:
    """Host copies of pending call metrics, each metric shaped (V, steps of the call)."""
    fetched = jax.device_get([m for _, m in pending])
    return [
        (first, {k: np.asarray(a).reshape(variants, -1) for k, a in m.items()})
        for (first, _), m in zip(pending, fetched, strict=True)
    ]


def _first_nonfinite(fetched, v: int) -> tuple[int, float] | None:
    """(step, value) of variant v's first non-finite loss among the fetched calls, if any."""
    for first, m in fetched:
        if "loss" not in m:
            continue
        losses = m["loss"][v]
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            return first + int(bad[0]) + 1, float(losses[bad[0]])
    return None


def _last_values(fetched, v: int) -> dict[str, float]:
    """Variant v's last value of every metric among the fetched calls (a metric that only
    some steps have, as in alternating multi-task training, keeps its latest value)."""
    out: dict[str, float] = {}
    for _, m in fetched:
        for key, a in m.items():
            out[key] = float(a[v, -1])
    return {f"train/{k}": out[k] for k in sorted(out)}


def train(program: Program, schedule: Schedule, runs: list[Run]) -> tuple[list[dict], Any]:
    """Train `program` to `schedule.total` steps; write every run's files; return the
    summaries and the final state."""
    timing: dict = {"start": time.perf_counter()}
    V = program.variants
    assert len(runs) == V, (len(runs), V)
    states, step = _resume(program, runs)
    for run in runs:
        run.metrics = _open_metrics(run, step)
    state = program.place(states)
    views = lambda: [program.variant(state, v) for v in range(V)]  # noqa: E731
    for run, view in zip(runs, views(), strict=True):
        for hook in run.hooks:
            hook.on_start(step, view)
    call_hooks = any(h.overrides("on_call") for r in runs for h in r.hooks)

    k = min(schedule.steps_per_call, max(schedule.total, 1))
    t0 = time.perf_counter()
    program.compile(state, k)
    timing["compile_s"] = time.perf_counter() - t0

    pending: list[tuple[int, dict]] = []
    t_first = first_steps = None
    try:
        with progress_bar(schedule.total, schedule.progress, "train") as bar:
            bar.update(step)
            while step < schedule.total:
                n = k if schedule.total - step >= k else 1  # a short tail runs step by step
                state, metrics = program.call(state, step, n)
                pending.append((step, metrics))
                step += n
                bar.update(n)
                if t_first is None:
                    jax.block_until_ready(state)
                    t_first, first_steps = time.perf_counter(), step
                evaluate_now = crossed(schedule.eval_every, step, n) or step == schedule.total
                if crossed(schedule.log_every, step, n) or evaluate_now:
                    _rows(program, schedule, runs, state, step, pending, evaluate_now, timing)
                    pending.clear()
                    if V == 1 and runs[0].last_row:
                        bar.set_postfix(loss=f"{runs[0].last_row.get('train/loss', 0):.4g}")
                else:
                    _periodic_saves(runs, views, step, n)
                if call_hooks:  # after the step's row and checkpoint
                    for v, (run, view) in enumerate(zip(runs, views(), strict=True)):
                        mv = metrics if V == 1 else _slice(metrics, v)
                        for hook in run.hooks:
                            hook.on_call(step, view, mv)
    except NonFiniteLossError:
        _finish(program, runs, state, step, timing)
        raise
    except BaseException:  # interrupted: finish the checkpoints begun, keep what was written
        for run in runs:
            for hook in run.hooks:
                hook.on_interrupt(step)
            if run.checkpoints is not None:
                run.checkpoints.close()
            run.metrics.close()
        raise
    jax.block_until_ready(state)
    timed = step - (first_steps or step)
    timing["steps_per_s"] = timed / (time.perf_counter() - t_first) if timed else None
    return _finish(program, runs, state, step, timing), state


def _slice(tree, v: int):
    """Variant v's part of a stacked pytree."""
    return jax.tree_util.tree_map(lambda a: a[v], tree)


def _periodic_saves(runs: list[Run], views, step: int, n: int) -> None:
    """Checkpoints due at a step that has no row."""
    due = [r for r in runs if r.checkpoints and crossed(r.checkpoints.cfg.every, step, n)]
    if due:
        for run, view in zip(runs, views(), strict=True):
            if run in due:
                run.checkpoints.save(step, view, None)


def _rows(program, schedule, runs, state, step, pending, evaluate_now, timing) -> None:
    """Write the row of `step` for every run that still logs, then its hooks, then its save."""
    fetched = _fetch(pending, program.variants)
    evals = program.evaluate(state) if evaluate_now else [{}] * program.variants
    extras = program.describe(state)
    n = step - pending[0][0]
    for v, run in enumerate(runs):
        if run.stopped is not None:  # NaN policy "stop": this run writes nothing more
            continue
        bad = _first_nonfinite(fetched, v)
        if bad is not None and schedule.nan_policy == "stop":
            run.stopped = bad
            run.last_row = {"step": step, **_last_values(fetched, v)}
            if program.variants == 1:
                raise NonFiniteLossError(*bad)
            continue
        if bad is not None:
            warnings.warn(f"loss became {bad[1]} at step {bad[0]}", stacklevel=1)
        row = {"step": step, **_last_values(fetched, v), **extras[v]}
        for split, values in evals[v].items():
            prefix = "train_full" if split == "train" else split  # `train/` is the batch's
            row.update({f"{prefix}/{key}": value for key, value in values.items()})
        row["time_s"] = round(time.perf_counter() - timing["start"], 3)
        run.metrics.write_scalars(step, {k: x for k, x in row.items() if k != "step"})
        run.metrics.flush()
        run.last_row = row
        view = program.variant(state, v)
        for hook in run.hooks:
            hook.on_row(step, view, row)
        cp = run.checkpoints
        if cp is not None and (crossed(cp.cfg.every, step, n) or step == schedule.total):
            cp.save(step, view, row)


def _finish(program, runs, state, step, timing) -> list[dict]:
    """Last checkpoints, hooks' on_end, summary.json of every run."""
    summaries = []
    for v, run in enumerate(runs):
        view = program.variant(state, v)
        stopped = run.stopped
        run_status = f"stopped: non-finite loss at step {stopped[0]}" if stopped else "completed"
        cp = run.checkpoints
        if cp is not None and not stopped and cp.last_saved != step:
            cp.save(step, view, run.last_row)
        final = run.last_row
        if final is None and run.rundir.writes_files and run.rundir.file("metrics.jsonl").is_file():
            rows = read_metrics(run.rundir.path)
            final = rows[-1] if rows else None
        out = summary(run, run_status, step, dict(final or {}), timing, program.batch_size)
        try:
            for hook in run.hooks:
                out.update(hook.on_end(step, view, out) or {})
        finally:
            if cp is not None:
                out["checkpoint"] = cp.close()
            run.metrics.close()
        run.rundir.write_summary(out)
        summaries.append(out)
    return summaries
