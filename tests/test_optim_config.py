"""Optimizer and schedule configs: validation errors, flavour defaults, schedule formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxcourse import config as config_lib
from jaxcourse import optim
from jaxcourse.errors import ConfigError
from jaxcourse.runners import load_config


def _problems(**raw) -> str:
    with pytest.raises(ConfigError) as err:
        optim.make(**raw)
    return "\n".join(err.value.problems)


def test_unknown_optimizer_name_suggests_the_closest():
    text = _problems(name="adamm")
    assert "optimizer.name" in text and "did you mean 'adam'" in text and "rmsprop" in text


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adadelta", "lion"])
@pytest.mark.parametrize("lr", [-0.1, 0.0])
def test_learning_rate_must_be_positive(name, lr):
    text = _problems(name=name, learning_rate=lr)
    assert "optimizer.learning_rate" in text and "greater than 0" in text


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"name": "adam", "flavour": "tf2"}, "optimizer.flavour"),
        ({"name": "momentum", "momentum": 1.5}, "optimizer.momentum"),
        ({"name": "rmsprop", "decay": -0.1}, "optimizer.decay"),
        ({"name": "sgd", "clip_norm": -1.0}, "optimizer.clip_norm"),
        ({"name": "sgd", "weight_decay": -1.0}, "optimizer.weight_decay"),
        ({"name": "sgd", "lr": 0.1}, "optimizer.lr"),
        ({"name": "sgd", "schedule": {"name": "cosine"}}, "optimizer.schedule.name"),
        (
            {"name": "sgd", "schedule": {"name": "exponential_decay", "decay_rate": 0.5}},
            "optimizer.schedule.decay_steps",
        ),
    ],
)
def test_bad_options_name_their_key(raw, key):
    assert key in _problems(**raw)


def test_flavour_fills_its_own_defaults_and_explicit_values_win():
    tf1 = optim.validate("adadelta", flavour="tf1")
    assert (tf1.learning_rate, tf1.rho, tf1.eps) == (0.001, 0.95, 1e-8)
    ox = optim.validate("adadelta")
    assert (ox.learning_rate, ox.rho, ox.eps) == (1.0, 0.9, 1e-6)
    assert optim.validate("rmsprop", flavour="tf1").initial_scale == 1.0
    assert optim.validate("adagrad", flavour="tf1").eps == 0.0
    assert optim.validate("adadelta", flavour="tf1", rho=0.5).rho == 0.5


def test_optimizer_from_a_yaml_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "experiment: supervised\n"
        "data: {name: linear_points}\nmodel: {name: linear}\nloss: mse\n"
        "optimizer:\n  name: rmsprop\n  flavour: tf1\n  clip_norm: 1.0\n"
        "  schedule: {name: cosine_decay, decay_steps: 100}\n"
        "train: {steps: 5}\n"
    )
    cfg = load_config(path)
    assert cfg.optimizer.eps == 1e-10 and cfg.optimizer.schedule.decay_steps == 100
    dumped = config_lib.to_dict(cfg)["optimizer"]
    assert dumped["schedule"]["name"] == "cosine_decay" and dumped["initial_scale"] == 1.0
    with pytest.raises(ConfigError, match="optimizer.learning_rate"):
        load_config(path, ["optimizer.learning_rate=-1"])


SCHEDULE_CASES = [
    (
        {"name": "exponential_decay", "decay_steps": 10, "decay_rate": 0.5},
        lambda s: 0.5 ** (s / 10),
    ),
    (
        {"name": "exponential_decay", "decay_steps": 10, "decay_rate": 0.5, "staircase": True},
        lambda s: 0.5 ** (s // 10),
    ),
    (
        {"name": "inverse_time_decay", "decay_steps": 5, "decay_rate": 2.0},
        lambda s: 1 / (1 + 2.0 * s / 5),
    ),
    (
        {"name": "piecewise_constant", "boundaries": [10, 20], "scales": [1.0, 0.5, 0.1]},
        lambda s: 1.0 if s <= 10 else (0.5 if s <= 20 else 0.1),
    ),
    (
        {"name": "polynomial_decay", "decay_steps": 20, "end_fraction": 0.1, "power": 2.0},
        lambda s: 0.9 * (1 - min(s, 20) / 20) ** 2 + 0.1,
    ),
    (
        {"name": "cosine_decay", "decay_steps": 20, "end_fraction": 0.2},
        lambda s: 0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * min(s, 20) / 20)),
    ),
    (
        {"name": "warmup_cosine_decay", "warmup_steps": 5, "decay_steps": 20},
        lambda s: s / 5 if s < 5 else 0.5 * (1 + math.cos(math.pi * min(s - 5, 20) / 20)),
    ),
]


@pytest.mark.parametrize("raw, factor", SCHEDULE_CASES, ids=[c[0]["name"] for c in SCHEDULE_CASES])
def test_schedule_formulas(raw, factor):
    from jaxcourse.optim import schedules

    cfg = config_lib.validate_component(schedules.SCHEDULES, raw, "schedule")
    rate = schedules.build(cfg, 0.3)
    steps = np.arange(0, 40)
    got = np.array([float(rate(s)) for s in steps])
    want = np.array([0.3 * factor(int(s)) for s in steps])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def test_schedule_drives_sgd_steps():
    import jax.numpy as jnp

    tx = optim.make(
        "sgd",
        learning_rate=1.0,
        schedule={"name": "piecewise_constant", "boundaries": [2], "scales": [1.0, 0.1]},
    )
    p = jnp.zeros(())
    s = tx.init(p)
    moves = []
    for _ in range(4):
        u, s = tx.update(jnp.ones(()), s, p)
        moves.append(float(u))
    np.testing.assert_allclose(moves, [-1.0, -1.0, -1.0, -0.1], rtol=1e-6)
