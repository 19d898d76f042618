"""Config loading, overrides and validation: every problem named, with what was expected."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from jaxcourse import config as config_lib
from jaxcourse.errors import ConfigError
from jaxcourse.runners import load_config
from jaxcourse.runners.registry import EXPERIMENTS

LINEAR = REPO / "configs" / "linear_regression.yaml"


def problems(path=LINEAR, overrides=(), raw=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path if raw is None else None, list(overrides), raw=raw)
    return info.value.problems


def test_valid_config_round_trips_through_yaml():
    config = load_config(LINEAR, ["optimizer.learning_rate=0.3", "train.steps=7"])
    assert config.optimizer.learning_rate == 0.3
    assert config.train.steps == 7
    again = load_config(raw=yaml.safe_load(config_lib.dump_yaml(config)))
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
    undocumented = []
    for name in EXPERIMENTS.names():
        cls = EXPERIMENTS.config_class(name)
        rows = config_lib.describe_schema(cls)
        undocumented += [f"{name}: {key}" for key, _, _, doc in rows if not doc.strip()]
    assert not undocumented, f"keys without a description: {undocumented}"


def test_every_shipped_config_validates():
    paths = sorted((REPO / "configs").glob("*.yaml"))
    assert paths
    for path in paths:
        load_config(path)


def test_cli_bad_key_exits_2_with_one_clear_message(cli):
    result = cli("run", str(LINEAR), "optimizer.lerning_rate=0.1")
    assert result.returncode == 2
    assert "lerning_rate" in result.stderr and "learning_rate" in result.stderr
    assert "Traceback" not in result.stderr


def test_base_key_makes_a_config_a_few_overrides_of_another(tmp_path):
    fast = load_config(REPO / "configs" / "cnn_fast.yaml")
    plain = load_config(REPO / "configs" / "cnn.yaml")
    assert fast.model.name == "fast_cnn" and plain.model.name == "cnn"
    assert fast.train.steps_per_call == 5 and fast.train.unroll is True
    assert (
        fast.train.epochs == plain.train.epochs and fast.train.eval_every == plain.train.eval_every
    )
    assert fast.optimizer == plain.optimizer and fast.data == plain.data
    assert len((REPO / "configs" / "cnn_fast.yaml").read_text().splitlines()) < 25
    # a section naming the same entry is merged key by key, another entry replaces it
    (tmp_path / "b.yaml").write_text(LINEAR.read_text())
    (tmp_path / "a.yaml").write_text("base: b.yaml\noptimizer: {learning_rate: 0.5}\n")
    merged = load_config(tmp_path / "a.yaml")
    assert merged.optimizer.name == "sgd" and merged.optimizer.learning_rate == 0.5
    (tmp_path / "c.yaml").write_text("base: d.yaml\n")
    (tmp_path / "d.yaml").write_text("base: c.yaml\n")
    with pytest.raises(ConfigError, match="includes this file again"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "e.yaml").write_text("base: [x]\n")
    with pytest.raises(ConfigError, match="'base': expected a file name"):
        load_config(tmp_path / "e.yaml")


def _strings(tree, key=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _strings(v, f"{key}.{k}")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _strings(v, f"{key}.{i}")
    elif isinstance(tree, str):
        yield key, tree


def test_no_shipped_config_points_outside_the_repository():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        for key, value in _strings(config_lib.read_config(path)):
            if key.endswith(("dir", "path", "weights")):
                assert not value.startswith(("..", "/", "~")), f"{path.name}: {key}={value}"


def test_reference_configs_are_generated_from_the_schema_and_in_sync(cli, tmp_path):
    result = cli("config", "reference", "--write", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert written == sorted(f"{name}.yaml" for name in EXPERIMENTS.names())
    for name in written:
        fresh = (tmp_path / name).read_text()
        assert (REPO / "configs" / "reference" / name).read_text() == fresh, (
            f"configs/reference/{name} is stale: run "
            "`jaxcourse config reference --write configs/reference`"
        )
        assert isinstance(yaml.safe_load(fresh), dict)
    supervised = (tmp_path / "supervised.yaml").read_text()
    assert "  nan_policy: stop  # 'stop' | 'warn'." in supervised
    assert "  name: null  # one of: " in supervised


def test_schema_prints_full_types(cli):
    result = cli("config", "schema", "supervised", "train")
    assert result.returncode == 0, result.stderr
    assert "train.nan_policy  ['stop' | 'warn' = 'stop']" in result.stdout
    assert "train.eval_splits  [list[str] = ['test']]" in result.stdout
    assert "train.steps  [int | None = None]" in result.stdout
    assert "train.progress  [bool | 'auto' = 'auto']" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "schema", "supervised", "train"],
        ["graph", "no_such.yaml", "--logdir", "unused"],
        ["sweep", "no_such.yaml", "seed=1,2"],
        ["export", "no_such_run"],
    ],
)
def test_every_command_applies_the_perf_settings_first(monkeypatch, capsys, argv):
    from jaxcourse import cli, perf

    calls = []
    monkeypatch.setattr(perf, "configure", lambda: calls.append(argv[0]) or {})
    cli.main(argv)
    assert calls == [argv[0]]
