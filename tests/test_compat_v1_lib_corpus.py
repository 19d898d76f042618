"""TF1 tutorial scripts of tests/tf1_corpus (only the import line changed) print TensorFlow's
numbers under the shim.

References come from real TensorFlow (make_corpus_references.py, several runs per script).
Zero-initialised scripts must print TF's numbers to float32 rounding; randomly initialised
ones (the course's week-7 LSTM, TF's cnn_mnist model) must stay within the spread TF's own
runs show. The data are cut from the genuine MNIST test set (skipped where it is absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures.tf1_lib.corpus import make_mnist_dir, numbers, run_script
from test_classification_real import MNIST_TEST, needs_mnist_test

REFERENCES = json.loads(
    (Path(__file__).parent / "fixtures" / "tf1_lib" / "corpus_references.json").read_text()
)

pytestmark = needs_mnist_test


def shim_numbers(name: str, tmp_path: Path) -> tuple[list[float], np.ndarray]:
    make_mnist_dir(MNIST_TEST, tmp_path)
    reference = REFERENCES[name]
    got = numbers(run_script(name, tmp_path), reference["pattern"])
    tf_runs = np.array(reference["runs"])
    assert len(got) == tf_runs.shape[1], f"{name} printed {got}"
    return got, tf_runs


def assert_within_tf_spread(got, tf_runs, sigmas: float = 4.0) -> None:
    """Each printed number within TF's mean ± `sigmas` standard deviations over its runs."""
    mean, std = tf_runs.mean(axis=0), tf_runs.std(axis=0, ddof=1)
    low, high = mean - sigmas * std, mean + sigmas * std
    assert np.all((low <= got) & (got <= high)), (got, low.tolist(), high.tolist())


def test_zero_initialised_layers_losses_metrics_script_prints_tensorflows_numbers(tmp_path):
    got, tf_runs = shim_numbers("layers_softmax_metrics", tmp_path)
    assert np.all(tf_runs == tf_runs[0])  # TF itself is deterministic here
    # float32 rounding; a count may differ by one example where two logits are within
    # rounding of each other (argmax of 3,000 training predictions: 1/3000)
    np.testing.assert_allclose(got, tf_runs[0], rtol=2e-6, atol=1.01 / 3000)
    assert np.sum(np.abs(np.array(got) - tf_runs[0]) > 1e-6) <= 1


@pytest.mark.slow
def test_week7_lstm_script_learns_like_tensorflow(tmp_path):
    """The course's week-7 notebook: BasicLSTMCell(100) + dynamic_rnn over MNIST rows."""
    got, tf_runs = shim_numbers("week7_lstm", tmp_path)
    assert_within_tf_spread(got, tf_runs)
    assert got[-1] > got[0]


@pytest.mark.slow
def test_cnn_mnist_layers_script_learns_like_tensorflow(tmp_path):
    """TF's cnn_mnist model (tf.layers), trained by SGD, evaluated by tf.metrics.accuracy."""
    got, tf_runs = shim_numbers("cnn_mnist_layers", tmp_path)
    assert_within_tf_spread(got, tf_runs)
