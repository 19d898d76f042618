"""Toy surfaces, the compiled race program, its scoring, and the optimizer_race experiment."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import REPO
from PIL import Image

from jaxcourse import config as config_lib
from jaxcourse import optim
from jaxcourse.errors import ConfigError
from jaxcourse.race import simulate
from jaxcourse.race.surfaces import SURFACES
from jaxcourse.runners import run_experiment

CONFIG = REPO / "configs" / "optimizer_race.yaml"


# --------------------------------------------------------------------------- surfaces


@pytest.mark.parametrize("name", [n for n in SURFACES.names() if n != "saddle"])
def test_minima_are_stationary_zeros_and_starts_lie_in_the_plot(name):
    s = SURFACES.get(name)
    grad = jax.grad(lambda p: s(p))
    with jax.enable_x64(True):
        for m in s.minima:
            p = jnp.asarray(m, jnp.float64)
            assert abs(float(s(p))) < 1e-9
            assert float(jnp.linalg.norm(grad(p))) < 1e-4
            # a minimum: every small step goes up
            for d in np.random.default_rng(0).normal(size=(8, 2)) * 1e-3:
                assert float(s(p + d)) > float(s(p))
    for x, y in s.starts:
        assert s.x_range[0] <= x <= s.x_range[1] and s.y_range[0] <= y <= s.y_range[1]


def test_surface_formulas_at_known_points():
    assert SURFACES.get("beale").f(0.0, 0.0) == pytest.approx(1.5**2 + 2.25**2 + 2.625**2)
    assert SURFACES.get("rosenbrock").f(0.0, 1.0) == pytest.approx(101.0)
    assert SURFACES.get("saddle").f(2.0, 1.0) == pytest.approx(3.0)
    assert SURFACES.get("long_valley").f(10.0, 1.0) == pytest.approx(2.0)
    assert SURFACES.get("himmelblau").f(0.0, 0.0) == pytest.approx(170.0)
    saddle = SURFACES.get("saddle")
    assert saddle.is_saddle and saddle.distance(np.array([0.5, -0.25])) == pytest.approx(0.25)


# --------------------------------------------------------------------------- the program


def _manual_run(lane, lr, start, steps):
    """The same optimizer on the same surface with a plain Python loop of optax calls."""
    tx = optim.build(lane.optimizer, learning_rate=lr)
    p = jnp.asarray(start)
    state = tx.init(p)
    path = [np.asarray(p)]
    for _ in range(steps):
        u, state = tx.update(jax.grad(lambda q: lane.surface(q))(p), state, p)
        p = optax.apply_updates(p, u)
        path.append(np.asarray(p))
    return np.array(path)


def test_fused_program_matches_separate_runs_for_every_lr_and_start():
    lanes = [
        simulate.Lane("adam", optim.validate("adam"), SURFACES.get("rosenbrock")),
        simulate.Lane("nag", optim.validate("nag"), SURFACES.get("saddle")),
    ]
    lrs = [np.array([0.01, 0.05], np.float32), np.array([0.02], np.float32)]
    starts = [np.array([[-1.2, 1.0], [0.5, -0.5]], np.float32), np.array([[1.0, 1e-3]], np.float32)]
    paths, alive = jax.jit(simulate.race_program(lanes, 25))(lrs, starts)
    assert paths[0].shape == (26, 2, 2, 2) and alive[1].shape == (26, 1, 1)
    for i, lane in enumerate(lanes):
        for j, lr in enumerate(lrs[i]):
            for k, start in enumerate(starts[i]):
                want = _manual_run(lane, float(lr), start, 25)
                np.testing.assert_allclose(
                    np.asarray(paths[i])[:, j, k], want, rtol=2e-5, atol=1e-6
                )


def test_points_that_blow_up_are_frozen_and_counted_as_diverged():
    lane = simulate.Lane("sgd", optim.validate("sgd"), SURFACES.get("rosenbrock"))
    lrs, starts = [np.array([0.01], np.float32)], [np.array([[-1.5, 2.5]], np.float32)]
    paths, alive = jax.jit(simulate.race_program([lane], 50))(lrs, starts)
    p, a = np.asarray(paths[0])[:, 0], np.asarray(alive[0])[:, 0]
    assert not a[-1] and np.all(np.isfinite(p))
    lo, hi = lane.surface.box()
    assert np.all((p >= lo) & (p <= hi))
    score = simulate.score_lane(lane.surface, p, a)
    assert score.diverged[0] and np.isinf(score.steps[0]) and np.isinf(score.final_loss[0])


def test_score_counts_arrival_only_when_it_stays():
    s = SURFACES.get("booth")  # minimum (1, 3), tolerance 0.05
    far, near = [5.0, 5.0], [1.01, 3.0]
    # arrives at step 2, leaves at 3, comes back for good at step 5
    path = np.array([far, far, near, far, far, near, near])[:, None, :]
    score = simulate.score_lane(s, path, np.ones(path.shape[:2], bool))
    assert score.steps[0] == 5 and not score.diverged[0]
    saddle = SURFACES.get("saddle")  # escape when |y| >= 1
    path = np.array([[1.0, 0.0], [0.1, 0.5], [3.0, 0.9], [0.0, -1.2]])[:, None, :]
    assert simulate.score_lane(saddle, path, np.ones((4, 1), bool)).steps[0] == 3


# --------------------------------------------------------------------------- the experiment


def _load(*overrides):
    return config_lib.load(CONFIG, ["animation.enabled=false", "plots=false", *overrides])


def test_saddle_sgd_stays_stuck_longest_while_adaptive_methods_escape(tmp_path):
    summary = run_experiment(_load("surfaces=[{name: saddle}]"), tmp_path)
    steps = summary["featured_start_steps"]["saddle"]
    assert max(steps, key=steps.get) == "sgd"
    for adaptive in ["adagrad", "rmsprop", "adadelta", "adam"]:
        assert np.isfinite(steps[adaptive]) and steps[adaptive] < steps["sgd"]
    assert summary["rankings"]["saddle"][-1]["optimizer"] == "sgd"
    text = (tmp_path / "race.md").read_text()
    assert "**sgd** stays stuck longest" in text


def test_default_run_writes_pictures_tables_and_summary(tmp_path):
    config = config_lib.load(CONFIG, ["steps=120", "animation.frames=6"])
    summary = run_experiment(config, tmp_path)
    assert summary["status"] == "completed" and summary["trajectories"] == 7 * 3 * 3
    for name in ["saddle", "long_valley", "beale"]:
        with Image.open(tmp_path / f"race_{name}.png") as png:
            assert png.size[0] > 500
        with Image.open(tmp_path / f"race_{name}.gif") as gif:
            assert gif.n_frames >= 5
        assert f"## {name}" in (tmp_path / "race.md").read_text()
        rows = summary["rankings"][name]
        assert [r["rank"] for r in rows] == list(range(1, 8))
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["final"] == summary["final"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 21
    assert config_lib.load(tmp_path / "config.yaml").surfaces[1].learning_rates["sgd"] == 0.45


def test_grid_search_picks_a_rate_from_the_grid_that_beats_a_bad_one(tmp_path):
    config = _load(
        "surfaces=[{name: long_valley, learning_rates: {sgd: 0.0001}}]",
        "tune.enabled=true",
        "tune.low=0.001",
        "tune.high=3.0",
        "tune.num=12",
    )
    summary = run_experiment(config, tmp_path)
    row = next(r for r in summary["rankings"]["long_valley"] if r["optimizer"] == "sgd")
    grid = np.geomspace(0.001, 3.0, 12)
    assert np.isclose(grid, row["learning_rate"], rtol=1e-5).any()
    # SGD on 0.01x² + y² needs η < 1 across the valley (y ← (1 − 2η) y) and as large a step
    # as possible along it (x ← (1 − 0.02η) x): the best grid point lies just below 1
    assert 0.5 < row["learning_rate"] < 1.0 and row["reached"] == 3


@pytest.mark.parametrize(
    "override, key",
    [
        ("surfaces=[{name: sadle}]", "surfaces.0.name"),
        ("surfaces=[{name: saddle, learning_rates: {sgdd: 0.1}}]", "surfaces"),
        ("optimizers=[{name: adamm}]", "optimizers.0.name"),
        ("optimizers=[{name: sgd, learning_rate: -0.5}]", "optimizers.0.learning_rate"),
        ("steps=0", "steps"),
        ("tune.num=1", "tune.num"),
    ],
)
def test_bad_race_configs_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        _load(override)
    assert any(f"'{key}'" in p for p in err.value.problems), err.value.problems


def test_cli_rejects_a_negative_racer_learning_rate_with_exit_code_2(tmp_path, cli):
    result = cli(
        "run",
        str(CONFIG),
        f"workdir={tmp_path}",
        "optimizers=[{name: sgd, learning_rate: -0.1}, {name: adamm}]",
    )
    assert result.returncode == 2
    assert "optimizers.0.learning_rate" in result.stderr + result.stdout
    assert "did you mean 'adam'" in result.stderr + result.stdout
    assert not (tmp_path / "summary.json").exists()


def test_racer_labels_and_seeded_random_starts():
    from jaxcourse.runners.race import RaceSurfaceConfig, labels, start_points

    racers = [
        optim.validate("adam"),
        optim.validate("adam", flavour="tf1"),
        optim.validate("adam", b1=0.5),
        optim.validate("lion"),
    ]
    assert labels(racers) == ["adam", "adam-tf1", "adam-2", "lion"]
    cfg = RaceSurfaceConfig(name="beale", random_starts=5)
    beale = SURFACES.get("beale")
    a, b = start_points(cfg, beale, seed=0), start_points(cfg, beale, seed=0)
    assert a.shape == (8, 2) and np.array_equal(a, b)
    assert np.array_equal(a[:3], np.asarray(beale.starts, np.float32))
    assert not np.array_equal(a, start_points(cfg, beale, seed=1))
    assert np.all((a[:, 0] >= -4.5) & (a[:, 0] <= 4.5))


def test_a_race_too_big_to_record_is_refused_before_it_runs(tmp_path):
    config = _load("steps=100000", "surfaces=[{name: saddle, random_starts: 1000}]")
    with pytest.raises(ConfigError, match="GiB of positions"):
        run_experiment(config, tmp_path)
    assert not (tmp_path / "summary.json").exists()
