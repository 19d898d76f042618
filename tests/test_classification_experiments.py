"""The classification configs end to end, on small learnable IDX data written by the tests."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from jaxcourse import config as config_lib
from jaxcourse.data import idx, mnist
from jaxcourse.engine.rundir import read_metrics
from jaxcourse.errors import ConfigError
from jaxcourse.runners import run_experiment


def write_blocks(directory, label_noise=0.0, seed=0):
    """IDX files of 'images' whose class k is a bright 7x7 block at the k-th of 10 places.

    A fraction `label_noise` of the training labels is replaced by random classes.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 600), ("test", 200)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            r, c = divmod(int(k), 4)
            images[i, 7 * r : 7 * r + 7, 7 * c : 7 * c + 7] += 190
        if split == "train":
            noisy = rng.random(n) < label_noise
            labels[noisy] = rng.integers(0, 10, noisy.sum())
        idx.write_idx(directory / f"{mnist.FILES[split][0]}.gz", images)
        idx.write_idx(directory / f"{mnist.FILES[split][1]}.gz", labels)
    return directory


@pytest.fixture(scope="module")
def blocks_dir(tmp_path_factory):
    return write_blocks(tmp_path_factory.mktemp("blocks"))


def run(name, workdir, *overrides):
    config = config_lib.load(REPO / "configs" / f"{name}.yaml", ["train.progress=off", *overrides])
    return run_experiment(config, workdir)


def test_cnn_learns_and_reports_its_confusion_matrix(tmp_path, blocks_dir):
    summary = run(
        "cnn",
        tmp_path,
        "data.name=mnist",
        f"data.dir={blocks_dir}",
        "train.epochs=2",
        "train.log_every=6",
        "train.eval_every=6",
        "model.dense=64",
        "model.conv_features=[8,16]",
    )
    final = summary["final"]
    assert final["test_accuracy"] > 0.9
    counts = np.array(summary["confusion_matrix"]["counts"])
    assert counts.shape == (10, 10) and counts.sum() == 200
    assert np.trace(counts) / 200 == pytest.approx(final["test_accuracy"], abs=1e-6)
    per_class = summary["per_class_accuracy"]
    assert set(per_class) == {str(d) for d in range(10)}
    support = counts.sum(1)
    weighted = sum(per_class[str(k)] * support[k] for k in range(10)) / 200
    assert weighted == pytest.approx(final["test_accuracy"], abs=1e-6)
    assert (tmp_path / "confusion.png").stat().st_size > 0
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows if "test_accuracy" in r] == [6, 12]


def test_loss_comparison_runs_both_losses_on_one_plot(tmp_path, blocks_dir):
    summary = run(
        "loss_comparison",
        tmp_path,
        "data.name=mnist",
        f"data.dir={blocks_dir}",
        "train.epochs=3",
        "train.log_every=6",
        "train.eval_every=6",
    )
    assert set(summary["variants"]) == {"quadratic", "cross_entropy"}
    for label, loss in (("quadratic", "softmax_mse"), ("cross_entropy", "softmax_cross_entropy")):
        saved = config_lib.load(tmp_path / label / "config.yaml")
        assert saved.loss == loss and saved.experiment == "supervised"
        assert len(read_metrics(tmp_path / label)) == 3
    quadratic = summary["variants"]["quadratic"]["final"]
    cross_entropy = summary["variants"]["cross_entropy"]["final"]
    # Same model and steps: the cross-entropy gradient does not vanish, so it learns faster.
    assert cross_entropy["test_accuracy"] >= quadratic["test_accuracy"]
    assert cross_entropy["test_accuracy"] > 0.9
    assert (tmp_path / "compare.png").stat().st_size > 0


def test_dropout_narrows_the_train_test_gap(tmp_path):
    # With 40% of the training labels wrong, a wide net memorises them (train accuracy near 1,
    # test accuracy lower); dropout resists memorising.
    noisy = write_blocks(tmp_path / "data", label_noise=0.4)
    summary = run(
        "dropout_overfitting",
        tmp_path / "run",
        "data.name=mnist",
        f"data.dir={noisy}",
        "data.train_size=200",
        "optimizer.name=sgd",
        "optimizer.learning_rate=0.2",
        "model.hidden=[400,400]",
        "train.epochs=40",
        "train.batch_size=20",
        "train.log_every=100",
        "train.eval_every=100",
    )
    final = {label: v["final"] for label, v in summary["variants"].items()}
    gap = {label: f["train_accuracy"] - f["test_accuracy"] for label, f in final.items()}
    assert final["no_dropout"]["train_accuracy"] > 0.95
    assert gap["dropout"] < gap["no_dropout"] - 0.1
    assert (tmp_path / "run" / "compare.png").stat().st_size > 0


def test_bad_variant_is_a_config_error_before_anything_runs(tmp_path):
    with pytest.raises(
        ConfigError, match=r"variant 'x' overrides: unknown config key 'model.dropot'"
    ):
        config_lib.load(
            REPO / "configs" / "dropout_overfitting.yaml",
            [f"workdir={tmp_path}", "variants=[{label: x, overrides: {model.dropot: 0.5}}]"],
        )
    assert not any(tmp_path.iterdir())


def test_every_config_validates_for_both_datasets():
    for name in (
        "mnist_softmax",
        "loss_comparison",
        "dropout_overfitting",
        "cnn",
        "lstm",
        "mlp_dropout",
        "cnn_mnist_testset",
    ):
        for dataset in ("mnist", "fashion_mnist"):
            config = config_lib.load(REPO / "configs" / f"{name}.yaml", [f"data.name={dataset}"])
            assert config.data.name == dataset


def test_results_table_script(tmp_path, blocks_dir):
    out = tmp_path / "table.md"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "results_table.py"),
            "--only",
            "softmax_cross_entropy",
            "--set",
            "data.name=mnist",
            f"data.dir={blocks_dir}",
            "train.epochs=2",
            "--workdir",
            str(tmp_path / "runs"),
            "--out",
            str(out),
            "--machine",
            "test box",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| dataset | model | epochs | test accuracy | wall time |")
    summary = json.loads((tmp_path / "runs" / "softmax_cross_entropy" / "summary.json").read_text())
    accuracy = f"{summary['final']['test_accuracy']:.4f}"
    assert len(lines) == 3 and f"| 2 | {accuracy} |" in lines[2] and "test box" in lines[2]
