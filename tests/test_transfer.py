"""Transfer learning: backbone loading, frozen layers, per-layer learning rates, class subsets."""

from __future__ import annotations

import numpy as np
import optax
import pytest

from jaxcourse import config as config_lib
from jaxcourse.data import idx, mnist
from jaxcourse.engine.checkpoint import load_checkpoint
from jaxcourse.errors import ConfigError
from jaxcourse.runners import run_experiment
from jaxcourse.transfer import merge_backbone, partition_optimizer

PARAMS = {
    "conv1": {"kernel": np.ones((3, 3, 1, 2), np.float32), "bias": np.ones(2, np.float32)},
    "conv2": {"kernel": np.ones((3, 3, 2, 2), np.float32), "bias": np.ones(2, np.float32)},
    "fc2": {"kernel": np.ones((4, 3), np.float32), "bias": np.ones(3, np.float32)},
}


def test_partitioned_sgd_matches_the_formula():
    rng = np.random.default_rng(0)
    grads = {
        k: {n: rng.normal(size=v.shape).astype(np.float32) for n, v in layer.items()}
        for k, layer in PARAMS.items()
    }
    tx, labels = partition_optimizer(
        optax.sgd(0.5),
        PARAMS,
        freeze=["conv1/*"],
        lr_multipliers={"conv*": 0.1},
        loaded={"conv1", "conv2"},
    )
    assert labels["conv1"]["kernel"] == "frozen" and labels["fc2"]["bias"] == "lr=1"
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    for name in ("kernel", "bias"):
        np.testing.assert_array_equal(updates["conv1"][name], 0.0)
        np.testing.assert_allclose(updates["conv2"][name], -0.05 * grads["conv2"][name], rtol=1e-6)
        np.testing.assert_allclose(updates["fc2"][name], -0.5 * grads["fc2"][name], rtol=1e-6)


def test_backbone_keyword_and_unknown_patterns():
    _, labels = partition_optimizer(
        optax.adam(1e-3), PARAMS, ["backbone"], {}, loaded={"conv1", "conv2"}
    )
    assert labels == {
        "conv1": {"kernel": "frozen", "bias": "frozen"},
        "conv2": {"kernel": "frozen", "bias": "frozen"},
        "fc2": {"kernel": "lr=1", "bias": "lr=1"},
    }
    with pytest.raises(ConfigError, match=r"patterns \['dense\*'\] match no parameter"):
        partition_optimizer(optax.adam(1e-3), PARAMS, ["dense*"], {}, loaded=set())


def test_merge_backbone_keeps_the_head_and_checks_shapes():
    backbone = {k: {n: v * 7 for n, v in layer.items()} for k, layer in PARAMS.items()}
    merged = merge_backbone(PARAMS, backbone, ["fc2"], "test backbone")
    assert merged["conv2"]["kernel"][0, 0, 0, 0] == 7 and merged["fc2"]["bias"][0] == 1
    backbone["conv2"]["kernel"] = np.ones((5, 5, 2, 2), np.float32)
    with pytest.raises(ConfigError, match=r"layer 'conv2' of test backbone has shapes"):
        merge_backbone(PARAMS, backbone, ["fc2"], "test backbone")
    with pytest.raises(ConfigError, match=r"has no layers \['conv1'\]"):
        merge_backbone(PARAMS, {"conv2": PARAMS["conv2"]}, ["fc2"], "test backbone")


def write_digits(directory, n_train=200, n_test=50):
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        images[:, labels.astype(int) * 2, :] = 255  # a learnable stripe per class
        stem_x, stem_y = mnist.FILES[split]
        idx.write_idx(directory / f"{stem_x}.gz", images)
        idx.write_idx(directory / f"{stem_y}.gz", labels)


def base_raw(tmp_path, classes, workdir, **data):
    return {
        "experiment": "supervised",
        "workdir": str(workdir),
        "data": {
            "name": "class_subset",
            "base": {"name": "mnist", "dir": str(tmp_path / "data"), "source": "dir"},
            "classes": classes,
            **data,
        },
        "model": {"name": "cnn", "conv_features": [4, 8], "dense": 16, "dropout": 0.0},
        "loss": "softmax_cross_entropy",
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"steps": 8, "batch_size": 10, "log_every": 4},
        "plots": False,
    }


def test_class_subset_relabels_and_samples(tmp_path):
    write_digits(tmp_path / "data")
    raw = base_raw(tmp_path, [7, 3], tmp_path / "x", train_per_class=5, test_per_class=2)
    from jaxcourse import data as data_lib

    ds = data_lib.load(config_lib.load(raw=raw).data, 0)
    assert ds.spec.num_outputs == 2 and ds.spec.class_names == ("7", "3")
    assert sorted(ds.splits["train"]["y"].tolist()) == [0] * 5 + [1] * 5
    assert ds.splits["test"]["y"].tolist().count(1) == 2
    # The stripe of original class 7 is at row 14: relabelled 0 keeps class 7's images.
    assert (ds.splits["train"]["x"][ds.splits["train"]["y"] == 0][:, 14, :, 0] == 1.0).all()
    raw["data"]["classes"] = [3, 12]
    with pytest.raises(ConfigError, match=r"\[12\] not in 'mnist'"):
        data_lib.load(config_lib.load(raw=raw).data, 0)


def test_frozen_backbone_stays_put_and_head_learns(tmp_path):
    write_digits(tmp_path / "data")
    pre = base_raw(tmp_path, [0, 1, 2, 3, 4], tmp_path / "pre")
    pre["checkpoint"] = {"enabled": True, "every": 8}
    run_experiment(config_lib.load(raw=pre), tmp_path / "pre")
    backbone, _, _ = load_checkpoint(tmp_path / "pre")

    raw = base_raw(tmp_path, [5, 6, 7, 8, 9], tmp_path / "frozen", train_per_class=10)
    raw.update(
        experiment="transfer",
        backbone={"source": "checkpoint", "run_dir": str(tmp_path / "pre"), "head": ["fc2"]},
        transfer={"freeze": ["backbone"]},
        checkpoint={"enabled": True, "every": 8},
    )
    run_experiment(config_lib.load(raw=raw), tmp_path / "frozen")
    after, meta, _ = load_checkpoint(tmp_path / "frozen")
    for layer in ("conv1", "conv2", "fc1"):
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(after[layer][name], backbone[layer][name])
    assert not np.array_equal(after["fc2"]["kernel"], backbone["fc2"]["kernel"])

    raw["model"]["dense"] = 32
    with pytest.raises(ConfigError, match=r"model.dense: checkpoint has 16, config has 32"):
        run_experiment(config_lib.load(raw=raw), tmp_path / "other")


def test_every_transfer_key_is_documented():
    from jaxcourse.runners.transfer import TransferConfig

    rows = config_lib.describe_schema(TransferConfig)
    keys = {key for key, *_ in rows}
    assert {"backbone.source", "transfer.freeze", "checkpoint.keep_best"} <= keys
    assert "data[name=class_subset].train_per_class" in keys
    assert all(doc for *_, doc in rows)
