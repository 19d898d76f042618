"""The two week-2/3 experiments end to end, reproducibility, and the NaN stop."""

from __future__ import annotations

import json

import numpy as np
from conftest import REPO

from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import read_metrics
from jaxcourse.runners import run_experiment


def run(name: str, tmp_path, *overrides: str) -> dict:
    config = config_lib.load(REPO / "configs" / f"{name}.yaml", ["train.progress=off", *overrides])
    return run_experiment(config, tmp_path)


def test_linear_regression_finds_k_and_b(tmp_path, cli):
    result = cli("run", str(REPO / "configs" / "linear_regression.yaml"), f"workdir={tmp_path}")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 201
    assert abs(summary["final"]["k"] - 0.1) < 1e-3
    assert abs(summary["final"]["b"] - 0.2) < 1e-3
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == list(range(20, 201, 20)) + [201]
    assert all("k" in r and "b" in r for r in rows)
    saved = config_lib.load(tmp_path / "config.yaml")
    assert saved.optimizer.learning_rate == 0.2
    assert (tmp_path / "loss.png").stat().st_size > 0 and (tmp_path / "fit.png").exists()


def test_nonlinear_regression_approaches_the_noise_floor(tmp_path):
    summary = run("nonlinear_regression", tmp_path)
    mse = summary["final"]["loss"]
    assert 2e-4 < mse < 1e-3  # noise variance is 4e-4
    assert (tmp_path / "fit.png").stat().st_size > 0


def test_same_seed_gives_bit_identical_runs(tmp_path):
    def params_trace(sub, *extra):
        run(
            "nonlinear_regression",
            tmp_path / sub,
            "train.steps=300",
            "model.dropout=0.2",
            "train.batch_size=50",
            *extra,
        )
        return [{k: v for k, v in r.items() if k != "time_s"} for r in read_metrics(tmp_path / sub)]

    first, second = params_trace("a"), params_trace("b")
    assert first == second
    fused = params_trace("c", "train.steps_per_call=10")
    np.testing.assert_allclose([r["loss"] for r in fused], [r["loss"] for r in first], rtol=1e-5)
    assert params_trace("d", "seed=1") != first


def test_non_finite_loss_stops_naming_the_step_and_keeps_metrics(tmp_path, cli):
    result = cli(
        "run",
        str(REPO / "configs" / "nonlinear_regression.yaml"),
        f"workdir={tmp_path}",
        "optimizer.learning_rate=1e6",
        "train.log_every=1",
    )
    assert result.returncode == 3, result.stderr
    assert "at step" in result.stderr and "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"].startswith("stopped: non-finite loss at step")
    bad_step = int(summary["status"].rsplit(" ", 1)[1])
    rows = read_metrics(tmp_path)
    assert rows and all(np.isfinite(r["loss"]) for r in rows)
    assert rows[-1]["step"] == bad_step - 1


def test_invalid_batch_size_is_a_config_error(tmp_path, cli):
    result = cli(
        "run",
        str(REPO / "configs" / "linear_regression.yaml"),
        f"workdir={tmp_path}",
        "train.batch_size=1000",
    )
    assert result.returncode == 2
    assert "train.batch_size" in result.stderr and "100" in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists()
