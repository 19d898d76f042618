"""Randomly initialised TF1 tutorial scripts (the course's week-7 LSTM, TF's cnn_mnist model;
only the import line changed) learn under the shim as under TensorFlow.

References come from real TensorFlow (make_corpus_references.py, five runs per script: the
scripts seed nothing); every printed accuracy must stay within the spread of TF's runs. The
data are cut from the genuine MNIST test set (skipped where it is absent). Deterministic
scripts are in tests/tf1_corpus/scripts/ and compared number by number (test_tf1_corpus.py).
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
