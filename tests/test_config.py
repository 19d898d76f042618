"""Config loading, overrides and validation: every problem named, with what was expected."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from jaxcourse import config as config_lib
from jaxcourse.errors import ConfigError

LINEAR = REPO / "configs" / "linear_regression.yaml"


def problems(path=LINEAR, overrides=(), raw=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_lib.load(path if raw is None else None, list(overrides), raw=raw)
    return info.value.problems


def test_valid_config_round_trips_through_yaml():
    config = config_lib.load(LINEAR, ["optimizer.learning_rate=0.3", "train.steps=7"])
    assert config.optimizer.learning_rate == 0.3
    assert config.train.steps == 7
    again = config_lib.load(raw=yaml.safe_load(config_lib.dump_yaml(config)))
    assert again == config


def test_unknown_key_suggests_the_closest_valid_key():
    (msg,) = problems(overrides=["optimizer.lerning_rate=0.1"])
    assert "'optimizer.lerning_rate'" in msg
    assert "did you mean 'learning_rate'" in msg


def test_wrong_type_and_out_of_range_name_key_and_value():
    found = problems(overrides=["train.steps=abc", "optimizer.learning_rate=-1"])
    assert any("'train.steps'" in p and "'abc'" in p for p in found)
    assert any("'optimizer.learning_rate'" in p and "greater than 0" in p for p in found)


def test_unknown_component_name_lists_valid_names():
    (msg,) = problems(overrides=["model.name=mlpp"])
    assert "unknown model 'mlpp'" in msg and "did you mean 'mlp'" in msg
    assert "linear" in msg


def test_unknown_experiment_and_loss():
    assert "unknown experiment 'superviced'" in problems(overrides=["experiment=superviced"])[0]
    assert "unknown loss 'mae'" in problems(overrides=["loss=mae"])[0]


def test_missing_file_is_named(tmp_path):
    (msg,) = problems(path=tmp_path / "nope.yaml")
    assert "nope.yaml" in msg and "does not exist" in msg


def test_key_set_twice_in_yaml_is_an_error(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(LINEAR.read_text() + "seed: 3\n")
    (msg,) = problems(path=path)
    assert "'seed' is set twice" in msg


def test_key_set_twice_on_the_command_line():
    (msg,) = problems(overrides=["seed=1", "seed=2"])
    assert "'seed' is set twice" in msg


def test_override_into_a_value_is_an_error():
    (msg,) = problems(overrides=["loss.name=mse"])
    assert "'loss' is a value" in msg


def test_steps_and_epochs_are_exclusive():
    found = problems(overrides=["train.epochs=2"])
    assert any("exactly one of train.steps and train.epochs" in p for p in found)


def test_every_key_of_every_experiment_is_documented():
    import jaxcourse.runners  # noqa: F401

    undocumented = []
    for name in config_lib.EXPERIMENTS.names():
        cls = config_lib.EXPERIMENTS.config_class(name)
        rows = config_lib.describe_schema(cls)
        undocumented += [f"{name}: {key}" for key, _, _, doc in rows if not doc.strip()]
    assert not undocumented, f"keys without a description: {undocumented}"


def test_every_shipped_config_validates():
    paths = sorted((REPO / "configs").glob("*.yaml"))
    assert paths
    for path in paths:
        config_lib.load(path)


def test_cli_bad_key_exits_2_with_one_clear_message(cli):
    result = cli("run", str(LINEAR), "optimizer.lerning_rate=0.1")
    assert result.returncode == 2
    assert "lerning_rate" in result.stderr and "learning_rate" in result.stderr
    assert "Traceback" not in result.stderr
