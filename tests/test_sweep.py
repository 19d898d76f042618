"""Sweeps: variants trained together in one vmapped program match separate runs."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxcourse import cli
from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import RunDir, read_metrics
from jaxcourse.errors import ConfigError
from jaxcourse.parallel import stacked, sweep
from jaxcourse.runners.supervised import TrainLoop, build

LEARNING_RATES = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2]

CONFIG = """\
experiment: supervised
seed: 1
plots: false
data: {name: quadratic_noise, num_points: 128}
model: {name: mlp, hidden: [16], activation: tanh}
loss: mse
optimizer: {name: momentum, learning_rate: 0.1, momentum: 0.9}
train: {steps: 30, batch_size: 32, log_every: 10, steps_per_call: 5}
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG)
    return path


def _keyed(params) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(params))
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


def test_stacked_learning_rates_match_separate_runs(config_file, tmp_path):
    configs = [
        config_lib.load(config_file, [f"optimizer.learning_rate={lr}"]) for lr in LEARNING_RATES
    ]
    rundirs = [RunDir(tmp_path / f"stacked{i}") for i in range(len(configs))]
    for rundir in rundirs:
        rundir.start("")
    summaries, state = stacked.train_stacked(stacked.prepare(configs), rundirs)
    for rundir in rundirs:
        rundir.close()
    together = _keyed(state.params)
    # the learning rates live in the optimizer state, one per variant
    lrs = np.asarray(state.opt_state.hyperparams["learning_rate"])
    np.testing.assert_allclose(lrs, LEARNING_RATES, rtol=1e-6)
    finals = set()
    for i, config in enumerate(configs):
        rundir = RunDir(tmp_path / f"alone{i}")
        rundir.start("")
        loop = TrainLoop(config, rundir, build(config))
        summary = loop.run()
        rundir.close()
        alone = _keyed(loop.state.params)
        for key, value in alone.items():
            np.testing.assert_allclose(together[key][i], value, rtol=1e-5, atol=1e-6, err_msg=key)
        rows_together = read_metrics(tmp_path / f"stacked{i}")
        rows_alone = read_metrics(tmp_path / f"alone{i}")
        assert [r["step"] for r in rows_together] == [r["step"] for r in rows_alone]
        for a, b in zip(rows_together, rows_alone, strict=True):
            for key in ("loss", "grad_norm", "mse"):
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-7), (i, key)
        assert summaries[i]["status"] == summary["status"] == "completed"
        finals.add(round(summaries[i]["final"]["loss"], 6))
    assert len(finals) == len(LEARNING_RATES)  # the variants really differ


def test_sweep_command_writes_table_json_and_plot(config_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        ["sweep", str(config_file), "optimizer.learning_rate=0.01,0.1", "seed=1,2",
         "model.hidden=[8],[4,4]", "--workdir", str(out)]
    )  # fmt: skip
    assert code == 0
    result = json.loads((out / "sweep.json").read_text())
    assert len(result["variants"]) == 8
    modes = [v["mode"] for v in result["variants"]]
    assert modes.count("stacked×4") == 8  # two model shapes -> two programs of four variants
    hidden = {json.dumps(v["overrides"]["model.hidden"]) for v in result["variants"]}
    assert hidden == {"[8]", "[4, 4]"}
    for v in result["variants"]:
        saved = config_lib.load(f"{v['workdir']}/config.yaml")
        assert saved.optimizer.learning_rate == v["overrides"]["optimizer.learning_rate"]
        assert saved.seed == v["overrides"]["seed"]
        assert v["final"]["loss"] == read_metrics(v["workdir"])[-1]["loss"]
    table = (out / "sweep.md").read_text().splitlines()
    assert table[0].startswith("| # | optimizer.learning_rate | seed | model.hidden | mode |")
    assert len(table) == 2 + 8
    assert (out / "sweep.png").stat().st_size > 1000
    assert "sweep.md" in capsys.readouterr().out


def test_sequential_sweep_agrees_with_stacked(config_file, tmp_path):
    grid = {
        "optimizer.learning_rate": [0.05, 0.2],
        "optimizer.momentum": [0.0, 0.5],
        "optimizer.weight_decay": [0.0, 0.01],
    }
    together = sweep.run_sweep(config_file, grid, tmp_path / "a")
    alone = sweep.run_sweep(config_file, grid, tmp_path / "b", stacked=False)
    assert {v["mode"] for v in together["variants"]} == {"stacked×8"}
    assert {v["mode"] for v in alone["variants"]} == {"sequential"}
    for a, b in zip(together["variants"], alone["variants"], strict=True):
        assert a["overrides"] == b["overrides"]
        assert a["final"]["loss"] == pytest.approx(b["final"]["loss"], rel=1e-4)


def test_parse_grid():
    grid = sweep.parse_grid(["optimizer.learning_rate=0.1,1e-2", "model.hidden=[10,10],[5]", "a=x"])
    assert grid == {"optimizer.learning_rate": [0.1, 0.01], "model.hidden": [[10, 10], [5]],
                    "a": ["x"]}  # fmt: skip
    with pytest.raises(ConfigError, match="not of the form"):
        sweep.parse_grid(["seed"])
    with pytest.raises(ConfigError, match="given twice"):
        sweep.parse_grid(["seed=1", "seed=2"])
    with pytest.raises(ConfigError, match="lists a value twice"):
        sweep.parse_grid(["seed=1,1"])


def test_bad_sweep_key_is_a_config_error(config_file, tmp_path):
    with pytest.raises(ConfigError, match="optimizer.learnin_rate"):
        sweep.expand(config_file, {"optimizer.learnin_rate": [0.1, 0.2]}, tmp_path)
    code = cli.main(["sweep", str(config_file), "optimizer.learning_rate=-1,0.1"])
    assert code == 2


def test_only_numeric_optimizer_options_and_seed_stack(config_file, tmp_path):
    variants = sweep.expand(
        config_file,
        {"seed": [1, 2], "optimizer.learning_rate": [0.1, 0.2], "train.batch_size": [16, 32]},
        tmp_path,
    )
    groups = sweep.groups(variants)
    assert [len(g) for g in groups] == [4, 4]
    assert all(len({v.config.train.batch_size for v in g}) == 1 for g in groups)
    assert [len(g) for g in sweep.groups(variants, stacked=False)] == [1] * 8


def test_group_that_cannot_stack_runs_one_by_one(config_file, tmp_path, monkeypatch):
    def refuse(configs):
        raise TypeError("options cannot be data")

    monkeypatch.setattr(stacked, "prepare", refuse)
    grid = {"optimizer.learning_rate": [0.05, 0.1]}
    result = sweep.run_sweep(config_file, grid, tmp_path)
    assert [v["mode"] for v in result["variants"]] == ["sequential", "sequential"]
    assert all(v["status"] == "completed" for v in result["variants"])
    assert result["notes"] == ["variants [0, 1] ran one by one: TypeError: options cannot be data"]
