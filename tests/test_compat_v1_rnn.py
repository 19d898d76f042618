"""tf.nn.rnn_cell / dynamic_rnn / static_rnn on the shim, against TensorFlow's own numbers.

Each case of tests/fixtures/tf1_lib/cases.py is built by the same code as under real TF
(make_fixtures.py); TF's initial variable values are loaded, then outputs, final states and
gradients must equal TF's to float32 rounding, and the variables must have TF's names.
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.tf1_lib.replay import replay, tf_meta

import jaxcourse.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


RNN_CASES = [
    "rnn_basic_lstm",
    "rnn_lstm_peepholes_projection",
    "rnn_gru_initial_state",
    "rnn_basic_rnn_static",
    "rnn_multi_lstm",
    "rnn_lstm_concatenated_state",
    "rnn_bidirectional",
    "rnn_dropout_wrapper_kept",
    "rnn_cell_called_in_a_loop",
    # the PTB tutorial's graph: the longest compile (tf.gradients of 7 variables + clipping)
    pytest.param("rnn_embedding_language_model", marks=pytest.mark.slow),
]


def assert_matches_tf(name: str, rtol=2e-5, atol=2e-6) -> dict:
    results, meta, reference = replay(tf, name)
    tf_vars = tf_meta(reference)
    assert meta["global"] == tf_vars["global"]
    assert meta["trainable"] == tf_vars["trainable"]
    expected = {k: v for k, v in reference.items() if k.startswith("run")}
    assert sorted(results) == sorted(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(results[key], want, rtol=rtol, atol=atol, err_msg=key)
    return results


@pytest.mark.parametrize("name", RNN_CASES)
def test_rnn_matches_tensorflow(name):
    assert_matches_tf(name)


def test_week7_graph_trains_like_tensorflow():
    """The week-7 LSTM graph with Adam: loss and accuracy of 8 runs equal TF's."""
    results = assert_matches_tf("week7_lstm_training", rtol=1e-4, atol=1e-5)
    losses = [float(results[f"run{2 * i}/loss"]) for i in range(8)]
    assert losses[-1] < losses[0]  # it learns


def test_dynamic_rnn_is_one_scan():
    x = tf.placeholder(tf.float32, [None, 7, 3])
    outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(4), x, dtype=tf.float32)
    assert outputs.shape.as_list() == [None, 7, 4]
    assert isinstance(state, tf.nn.rnn_cell.LSTMStateTuple)
    assert state.h.shape.as_list() == [None, 4]
    text = tf.get_default_graph().as_jaxpr_text(outputs)
    assert text.count("scan[") == 1


def test_zero_state_of_a_fed_batch_size_starts_dynamic_rnn():
    """`cell.zero_state(tf.shape(x)[0], ...)` as initial_state: the tutorials' pattern."""
    x = tf.placeholder(tf.float32, [None, 4, 3])
    cell = tf.nn.rnn_cell.GRUCell(2)
    init = cell.zero_state(tf.shape(x)[0], tf.float32)
    outputs, state = tf.nn.dynamic_rnn(cell, x, initial_state=init)
    default, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32, scope="rnn")  # same variables
    feed = {x: np.random.default_rng(0).normal(size=(5, 4, 3))}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got, want = sess.run([outputs, default], feed)
    assert got.shape == (5, 4, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_dropout_wrapper_drops_per_step_and_keeps_at_one():
    x = np.ones((64, 5, 3), np.float32)
    keep = tf.placeholder(tf.float32, [])
    cell = tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.BasicRNNCell(8), output_keep_prob=keep)
    outputs, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        dropped = sess.run(outputs, {keep: 0.5})
        kept = sess.run(outputs, {keep: 1.0})
    zeros = np.mean(dropped == 0)
    assert 0.4 < zeros < 0.6 and np.mean(kept == 0) < 0.01
    # masks differ between time steps (not one mask for the sequence)
    assert not np.array_equal(dropped[:, 0] == 0, dropped[:, 1] == 0)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="must give a dtype"):
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="rank 3"):
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), np.zeros((2, 3), np.float32), dtype=tf.float32)
    with pytest.raises(TypeError, match="needs an RNN cell"):
        tf.nn.dynamic_rnn(lambda x: x, np.zeros((2, 3, 4), np.float32), dtype=tf.float32)
    x = np.zeros((2, 3, 4), np.float32)
    tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(3), x, dtype=tf.float32)
    with pytest.raises(ValueError, match="Variable rnn/basic_lstm_cell/kernel already exists"):
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(3), x, dtype=tf.float32)  # as TF
    cell = tf.nn.rnn_cell.BasicLSTMCell(3)
    with pytest.raises(ValueError, match="same cell object"):
        tf.nn.rnn_cell.MultiRNNCell([cell] * 2)
