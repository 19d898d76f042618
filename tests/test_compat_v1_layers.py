"""tf.layers, tf.losses and tf.metrics on the shim, against TensorFlow's own numbers.

The graphs of tests/fixtures/tf1_lib/cases.py are built by the same code as under real TF;
with TF's initial variable values loaded, every fetched number must equal TF's (float32
rounding) and the variables must carry TF's names, shapes and collections.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures.tf1_lib.replay import replay, tf_meta

import jaxcourse.compat.v1 as tf


def assert_matches_tf(name: str, rtol=2e-5, atol=2e-6) -> dict:
    results, meta, reference = replay(tf, name)
    assert meta == tf_meta(reference)
    expected = {k: v for k, v in reference.items() if k.startswith("run")}
    assert sorted(results) == sorted(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(results[key], want, rtol=rtol, atol=atol, err_msg=key)
    return results


@pytest.mark.parametrize(
    "name",
    [
        "layers_cnn",
        "layers_dense_rank3_regularized",
        "layers_batch_normalization",
        "losses_all",
        "metrics_streaming",
    ],
)
def test_matches_tensorflow(name):
    assert_matches_tf(name)


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


def test_default_initialisers_are_glorot_uniform_and_zeros():
    x = tf.placeholder(tf.float32, [None, 28, 28, 3])
    tf.layers.conv2d(x, 64, 5)
    kernel, bias = tf.global_variables()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        k, b = sess.run([kernel, bias])
    limit = math.sqrt(6 / (5 * 5 * 3 + 5 * 5 * 64))
    assert k.shape == (5, 5, 3, 64) and np.all(np.abs(k) <= limit)
    assert abs(k.std() - limit / math.sqrt(3)) < 0.02 * limit  # U(-l, l) has std l/sqrt(3)
    assert not b.any()


def test_dropout_layer_follows_training():
    training = tf.placeholder(tf.bool, [])
    y = tf.layers.dropout(tf.ones([1000]), rate=0.3, training=training)
    with tf.Session() as sess:
        on, off = sess.run(y, {training: True}), sess.run(y, {training: False})
    assert 0.25 < np.mean(on == 0) < 0.35
    np.testing.assert_allclose(on[on != 0], 1 / 0.7, rtol=1e-6)
    assert np.all(off == 1)


def test_layer_names_reuse_and_errors():
    x = tf.placeholder(tf.float32, [None, 4])
    for _ in range(2):
        with tf.variable_scope("model", reuse=tf.AUTO_REUSE):
            tf.layers.dense(tf.layers.dense(x, 3), 2)
    assert [v.name for v in tf.trainable_variables()] == [
        "model/dense/kernel:0",
        "model/dense/bias:0",
        "model/dense_1/kernel:0",
        "model/dense_1/bias:0",
    ]
    with pytest.raises(ValueError, match="already exists"):
        tf.layers.dense(x, 3, name="model/dense")
    with pytest.raises(ValueError, match="padding must be 'same' or 'valid'"):
        tf.layers.conv2d(tf.zeros([1, 4, 4, 1]), 2, 3, padding="full")
    with pytest.raises(NotImplementedError, match="channels_last"):
        tf.layers.max_pooling2d(tf.zeros([1, 4, 4, 1]), 2, 2, data_format="channels_first")
    with pytest.raises(ValueError, match="cannot be broadcast"):
        tf.losses.mean_squared_error(tf.zeros([4, 3]), tf.zeros([4, 3]), weights=tf.ones([2]))
    with pytest.raises(ValueError, match="invalid reduction"):
        tf.losses.softmax_cross_entropy(tf.zeros([2, 3]), tf.zeros([2, 3]), reduction="avg")


def test_metric_variables_are_local_and_reset_by_their_initializer():
    labels = tf.placeholder(tf.int32, [None])
    acc, update = tf.metrics.accuracy(labels, tf.constant([1, 0, 1]))
    assert [v.name for v in tf.local_variables()] == ["accuracy/total:0", "accuracy/count:0"]
    assert tf.global_variables() == []
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        assert sess.run(update, {labels: [1, 1, 1]}) == pytest.approx(2 / 3)
        assert sess.run(update, {labels: [0, 0, 0]}) == pytest.approx(3 / 6)
        assert sess.run(acc) == pytest.approx(0.5)
        sess.run(tf.local_variables_initializer())
        assert sess.run(acc) == 0.0


def test_contrib_layers_names_initializer_and_regularizer():
    x = tf.placeholder(tf.float32, [None, 30])
    y = tf.contrib.layers.fully_connected(
        x, 20, weights_regularizer=tf.contrib.layers.l2_regularizer(0.1)
    )
    assert [v.name for v in tf.trainable_variables()] == [
        "fully_connected/weights:0",
        "fully_connected/biases:0",
    ]
    assert tf.contrib.rnn.BasicLSTMCell is tf.nn.rnn_cell.BasicLSTMCell
    reg = tf.losses.get_regularization_loss()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w, penalty = sess.run([tf.trainable_variables()[0], reg])
        out = sess.run(y, {x: np.ones((2, 30))})
    limit = math.sqrt(6 / 50)
    assert np.all(np.abs(w) <= limit) and w.std() > 0.8 * limit / math.sqrt(3)
    np.testing.assert_allclose(penalty, 0.1 * np.sum(w.astype(np.float64) ** 2) / 2, rtol=1e-5)
    np.testing.assert_allclose(out, np.maximum(np.ones((2, 30)) @ w, 0), rtol=1e-5, atol=1e-6)
