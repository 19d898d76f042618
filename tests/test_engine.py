"""The one training loop: every feature per variant of a stacked sweep, hooks, metric names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from jaxcourse.engine.checkpoint import load_checkpoint
from jaxcourse.engine.hooks import Hook, crossed
from jaxcourse.engine.rundir import read_metrics
from jaxcourse.parallel import sweep

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "nonlinear_regression.yaml"


class StopAt(Hook):
    """Interrupts training after `step` steps, as Ctrl-C would, once the hooks of all
    `runs` ran for that step (in every run's hook list, after the others)."""

    def __init__(self, step: int, runs: int = 1):
        self.step, self.runs, self.seen = step, runs, 0

    def on_call(self, step, state, metrics):
        if step == self.step:
            self.seen += 1
            if self.seen == self.runs:
                raise KeyboardInterrupt


class Recorder(Hook):
    """Records what the loop hands a hook."""

    def __init__(self):
        self.calls: list[tuple] = []

    def on_start(self, step, state):
        self.calls.append(("start", step, int(state.step)))

    def on_call(self, step, state, metrics):
        self.calls.append(("call", step, int(state.step), sorted(metrics)))

    def on_row(self, step, state, row):
        self.calls.append(("row", step, sorted(row)))

    def on_end(self, step, state, summary):
        self.calls.append(("end", step, summary["status"]))
        return {"recorded": len(self.calls)}


def test_crossed_is_the_one_is_it_time_helper():
    assert crossed(10, 10, 1) and crossed(10, 12, 5) and not crossed(10, 9, 4)
    assert not crossed(None, 10, 10) and not crossed(0, 10, 10)
    assert [s for s in range(1, 31) if crossed(10, s, 1)] == [10, 20, 30]


# the command line of the issue, made short: two learning rates, TensorBoard and checkpoints
GRID = {
    "optimizer.learning_rate": [0.05, 0.1],
    "logging.tensorboard": [True],
    "checkpoint.enabled": [True],
    "checkpoint.every": [20],
    "train.steps": [60],
    "train.log_every": [20],
    "logging.every": [20],
}


def _scalar_steps(workdir: Path) -> dict[str, list[int]]:
    acc = EventAccumulator(str(workdir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _rows(workdir) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time_s"} for r in read_metrics(workdir)]


def test_stacked_sweep_writes_and_resumes_every_feature_per_variant(tmp_path):
    straight = sweep.run_sweep(CONFIG, GRID, tmp_path / "straight")
    assert [v["mode"] for v in straight["variants"]] == ["stacked×2"] * 2
    for v in straight["variants"]:
        workdir = Path(v["workdir"])
        assert sorted(p.name for p in (workdir / "ckpt").iterdir() if p.name.isdigit()) == [
            "40",
            "60",
        ]  # keep_last 2
        assert (workdir / "loss.png").stat().st_size > 1000
        assert (workdir / "fit.png").stat().st_size > 1000
        assert _scalar_steps(workdir)["train/loss"] == [20, 40, 60]
        summary = json.loads((workdir / "summary.json").read_text())
        assert summary["checkpoint"]["steps"] == [40, 60]
        assert summary["stacked"]["variants"] == 2

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(CONFIG, GRID, tmp_path / "resumed", hooks=[StopAt(40, runs=2)])
    resumed = sweep.run_sweep(CONFIG, GRID, tmp_path / "resumed")
    for a, b in zip(straight["variants"], resumed["variants"], strict=True):
        assert b["mode"] == "stacked×2"
        wa, wb = Path(a["workdir"]), Path(b["workdir"])
        summary = json.loads((wb / "summary.json").read_text())
        assert summary["checkpoint"]["resumed_from_step"] == 40
        params_a, _, step_a = load_checkpoint(wa)
        params_b, _, step_b = load_checkpoint(wb)
        assert step_a == step_b == 60
        flat_a = {k: np.asarray(x) for k, x in _flat(params_a).items()}
        flat_b = {k: np.asarray(x) for k, x in _flat(params_b).items()}
        assert flat_a.keys() == flat_b.keys()
        for key in flat_a:
            np.testing.assert_array_equal(flat_a[key], flat_b[key], err_msg=key)  # bit-identical
        assert _rows(wb) == _rows(wa)  # every row once, the same numbers
        assert _scalar_steps(wb)["train/loss"] == [20, 40, 60]
        assert (wb / "loss.png").is_file() and (wb / "fit.png").is_file()


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}{k}/"))
        return out
    return {prefix: tree}


def test_hooks_get_step_state_and_row_and_add_to_the_summary(tmp_path):
    grid = {"optimizer.learning_rate": [0.05, 0.1], "train.steps": [20], "train.log_every": [10]}
    recorder = Recorder()
    result = sweep.run_sweep(CONFIG, grid, tmp_path, hooks=[recorder])
    # one hook object in both variants' lists: it sees each variant's own state and row
    starts = [c for c in recorder.calls if c[0] == "start"]
    assert starts == [("start", 0, 0)] * 2
    calls = [c for c in recorder.calls if c[0] == "call"]
    assert [c[1:3] for c in calls[:2]] == [(1, 1), (1, 1)]
    assert calls[0][3] == ["grad_norm", "loss", "mse"]
    rows = [c for c in recorder.calls if c[0] == "row"]
    assert [r[1] for r in rows] == [10, 10, 20, 20]
    assert "train/loss" in rows[0][2] and "step" in rows[0][2]
    assert [c for c in recorder.calls if c[0] == "end"] == [("end", 20, "completed")] * 2
    for v in result["variants"]:
        assert json.loads((Path(v["workdir"]) / "summary.json").read_text())["recorded"] > 0


def test_nan_policy_and_eval_schedule_apply_to_each_variant(tmp_path):
    grid = {
        "optimizer.learning_rate": [0.1, 1e30],  # the second variant overflows at once
        "train.steps": [40],
        "train.log_every": [10],
        "train.eval_every": [20],
        "train.eval_splits": [["train"]],
    }
    result = sweep.run_sweep(CONFIG, grid, tmp_path)
    good, bad = result["variants"]
    assert good["mode"] == bad["mode"] == "stacked×2"
    assert good["status"] == "completed"
    rows = read_metrics(good["workdir"])
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    assert [r["step"] for r in rows if "train_full/mse" in r] == [20, 40]  # the eval schedule
    assert bad["status"].startswith("stopped: non-finite loss at step ")
    assert not (Path(bad["workdir"]) / "metrics.jsonl").read_text().strip()  # nothing logged
