"""Classification models, losses and metrics against numpy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcourse import losses, metrics, models
from jaxcourse.classification_report import class_report
from jaxcourse.config import validate_component
from jaxcourse.data.spec import DataSpec
from jaxcourse.models.conv import max_pool_2x2

SPEC = DataSpec(input_shape=(28, 28, 1), task="classification", num_outputs=10)


def build(name, **options):
    cfg = validate_component(models.MODELS, {"name": name, **options}, "model")
    model = models.build(cfg, SPEC)
    x = jnp.asarray(np.random.default_rng(0).random((3, 28, 28, 1), np.float32))
    params = model.init({"params": jax.random.key(0)}, x, train=False)["params"]
    return model, params, x


def count(params):
    return sum(np.size(p) for p in jax.tree_util.tree_leaves(params))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_softmax_regression_starts_at_zero_and_has_784x10_weights():
    model, params, x = build("softmax")
    assert count(params) == 784 * 10 + 10
    np.testing.assert_array_equal(model.apply({"params": params}, x), np.zeros((3, 10)))


def test_cnn_has_the_course_architecture():
    model, params, x = build("cnn")
    expected = {
        "conv1": 5 * 5 * 1 * 32 + 32,
        "conv2": 5 * 5 * 32 * 64 + 64,
        "fc1": 7 * 7 * 64 * 1024 + 1024,  # two 2x2 pools: 28 -> 14 -> 7
        "fc2": 1024 * 10 + 10,
    }
    assert {k: count(v) for k, v in params.items()} == expected
    assert np.allclose(np.asarray(params["conv1"]["bias"]), 0.1)  # the course's bias_variable
    assert np.abs(np.asarray(params["fc1"]["kernel"])).max() <= 0.2  # truncated at 2 stddev
    out = model.apply({"params": params}, x, train=False)
    assert out.shape == (3, 10)
    flat = model.apply({"params": params}, x.reshape(3, 784), train=False)
    np.testing.assert_allclose(flat, out, rtol=1e-5, atol=1e-5)
    a = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)  # dropout is on in training


def test_max_pool_matches_a_loop():
    x = np.random.default_rng(2).standard_normal((2, 6, 7, 3)).astype(np.float32)
    expect = np.empty((2, 3, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            expect[:, i, j] = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max(axis=(1, 2))
    np.testing.assert_array_equal(max_pool_2x2(jnp.asarray(x)), expect)


def test_lstm_matches_a_numpy_lstm():
    model, params, x = build("lstm", units=16)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    cell = p["lstm"]
    xs = np.asarray(x, np.float64).reshape(3, 28, 28)
    h = c = np.zeros((3, 16))
    for t in range(28):  # one image row per step
        pre = {
            g: xs[:, t] @ cell[f"i{g}"]["kernel"]
            + h @ cell[f"h{g}"]["kernel"]
            + cell[f"h{g}"]["bias"]
            for g in "ifgo"
        }
        c = sigmoid(pre["f"]) * c + sigmoid(pre["i"]) * np.tanh(pre["g"])
        h = sigmoid(pre["o"]) * np.tanh(c)
    expect = h @ p["output"]["kernel"] + p["output"]["bias"]
    got = model.apply({"params": params}, x, train=False)
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    assert count(params) == 4 * (28 * 16 + 16 * 16 + 16) + 16 * 10 + 10


def test_losses_against_numpy():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 10))
    labels = rng.integers(0, 10, 6)
    one_hot = np.eye(10)[labels]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    args = (jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    np.testing.assert_allclose(losses.softmax_mse(*args), np.mean((p - one_hot) ** 2), rtol=1e-5)
    cross_entropy = -np.mean(np.log(p[np.arange(6), labels]))
    np.testing.assert_allclose(losses.softmax_cross_entropy(*args), cross_entropy, rtol=1e-5)
    q = 1 / (1 + np.exp(-logits))
    bce = -np.mean(one_hot * np.log(q) + (1 - one_hot) * np.log(1 - q))
    np.testing.assert_allclose(losses.sigmoid_cross_entropy(*args), bce, rtol=1e-5)


def test_confusion_matrix_and_per_class_accuracy():
    rng = np.random.default_rng(4)
    labels, predictions = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    matrix = metrics.confusion_matrix(labels, predictions, 4)
    expect = np.zeros((4, 4), int)
    for t, p in zip(labels, predictions, strict=True):
        expect[t, p] += 1
    np.testing.assert_array_equal(matrix, expect)
    recall = metrics.per_class_accuracy(matrix)
    for k in range(4):
        assert recall[k] == pytest.approx(np.mean(predictions[labels == k] == k))
    report = class_report(np.eye(5)[labels], predictions, list("abcde"))  # one-hot labels
    assert report["per_class_accuracy"]["e"] is None  # class absent from the labels
    assert np.sum(report["confusion_matrix"]["counts"]) == 200


def test_mlp_input_dropout_only_in_training():
    model, params, x = build("mlp", hidden=[8], input_dropout=0.5)
    a = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)
    flat = np.asarray(x).reshape(3, -1)
    hidden = np.tanh(flat @ params["hidden1"]["kernel"] + params["hidden1"]["bias"])
    expect = hidden @ params["output"]["kernel"] + params["output"]["bias"]
    got = model.apply({"params": params}, x, train=False)
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
