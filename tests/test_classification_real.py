"""The accuracy bars on real data, with the shipped configs (skipped where the data is absent).

Full Fashion-MNIST comes from Debian's dataset-fashion-mnist package; the genuine MNIST test
set from ../shared/data/mnist next to the repository. Times on a quiet 2-core CPU are noted
per test; the CNN runs in a subprocess with XLA's YNN fusion flag (about a fifth faster).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from jaxcourse.data import mnist
from jaxcourse.runners import load_config, run_experiment

FASHION = Path(mnist.DEBIAN_DIRS["fashion_mnist"])
# `shared/` sits next to the repository (CI) or next to the folder of work trees.
MNIST_TEST = next(
    (d / "shared" / "data" / "mnist" for d in REPO.parents[:2] if (d / "shared").is_dir()),
    REPO.parent / "shared" / "data" / "mnist",
)

needs_fashion = pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"full Fashion-MNIST not installed at {FASHION} (apt install dataset-fashion-mnist)",
)
needs_mnist_test = pytest.mark.skipif(
    not (MNIST_TEST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"genuine MNIST test set not found at {MNIST_TEST}",
)
pytestmark = pytest.mark.slow


def run_in_process(name, workdir, *overrides):
    overrides = ["train.progress=off", "plots=false", *overrides]
    config = load_config(REPO / "configs" / f"{name}.yaml", overrides)
    return run_experiment(config, workdir)


# The tests share two cores between two pytest workers: single-threaded (YNNPACK) convolutions
# hold up better there than XLA's multi-threaded ones, which jaxcourse picks for an idle machine
# (docs/performance.md). The CLI adds jaxcourse's other flags.
SHARED_CPU_FLAGS = "--xla_cpu_experimental_ynn_fusion_type=dot,individual_convolution"


def run_in_subprocess(name, workdir, *overrides):
    """`jaxcourse run` in a fresh process, with the XLA CPU flags for a shared machine."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "XLA_FLAGS": SHARED_CPU_FLAGS}
    cmd = [
        sys.executable,
        "-m",
        "jaxcourse",
        "run",
        str(REPO / "configs" / f"{name}.yaml"),
        "train.progress=off",
        "plots=false",
        f"workdir={workdir}",
        *overrides,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((workdir / "summary.json").read_text())


@needs_fashion
@pytest.mark.parametrize("loss", ["softmax_mse", "softmax_cross_entropy"])
def test_softmax_regression_on_fashion_mnist(tmp_path, loss):
    # 21 epochs of GD 0.2, batch 100. Measured 0.8318 (quadratic), 0.8354 (cross-entropy);
    # 20-30 s each on the shared 2-core machine.
    summary = run_in_process("mnist_softmax", tmp_path, "data.name=fashion_mnist", f"loss={loss}")
    assert summary["final"]["test/accuracy"] >= 0.83


@needs_fashion
def test_mlp_with_dropout_on_fashion_mnist(tmp_path):
    # 15 epochs, batch 200, 512-512 ReLU, dropout 0.3, Adam. Measured 0.8901; 70-85 s shared.
    summary = run_in_process("mlp_dropout", tmp_path)
    assert summary["final"]["test/accuracy"] >= 0.88


@needs_fashion
def test_cnn_on_fashion_mnist(tmp_path):
    # 5 epochs, batch 100, Adam 1e-3. Measured 0.9131 (epochs 1-4: 0.872, 0.906, 0.910, 0.912).
    # ~3 min at the 1,800 examples/s measured on a quiet 2-core CPU; 7.3 min at load ~7.
    summary = run_in_subprocess("cnn", tmp_path)
    assert summary["final"]["test/accuracy"] >= 0.91


@needs_fashion
def test_lstm_on_fashion_mnist(tmp_path):
    # 10 epochs, batch 100, Adam 2e-3. Measured 0.8952; 108 s at load ~7 (2-core machine).
    summary = run_in_process("lstm", tmp_path)
    assert summary["final"]["test/accuracy"] >= 0.88


@needs_fashion
def test_dropout_narrows_the_gap_on_fashion_mnist(tmp_path):
    # 1,000 training images, 60 epochs, both variants: ~60 s shared. Measured: without dropout train
    # 1.000 / test 0.793, with dropout train 0.951 / test 0.798.
    summary = run_in_process("dropout_overfitting", tmp_path)
    final = {label: v["final"] for label, v in summary["variants"].items()}
    gap = {label: f["train_full/accuracy"] - f["test/accuracy"] for label, f in final.items()}
    assert final["no_dropout"]["train_full/accuracy"] > 0.99  # memorised
    assert gap["dropout"] < gap["no_dropout"] - 0.03
    assert final["dropout"]["test/accuracy"] >= final["no_dropout"]["test/accuracy"] - 0.01


@needs_mnist_test
def test_cnn_on_the_genuine_mnist_test_set(tmp_path):
    # Train on 8,000 of the 10,000 MNIST test images, test on the other 2,000, 3 epochs.
    # Measured 0.9750; 41 s at load ~7 on the shared 2-core machine.
    summary = run_in_subprocess("cnn_mnist_testset", tmp_path, f"data.dir={MNIST_TEST}")
    assert summary["final"]["test/accuracy"] >= 0.95
    counts = summary["confusion_matrix"]["counts"]
    assert sum(map(sum, counts)) == 2000
