"""jaxcourse.compat.v1: the course's training scripts, run through Session.run with feeds."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import jaxcourse.compat.v1 as tf

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


def test_linear_regression_snippet_reaches_k_and_b():
    """Week 2: k*x + b fitted to y = 0.1x + 0.2 by GradientDescentOptimizer(0.2), 201 runs."""
    rng = np.random.default_rng(0)
    x_data = rng.random(100).astype(np.float32)
    y_data = x_data * 0.1 + 0.2
    b = tf.Variable(0.0)
    k = tf.Variable(0.0)
    y = k * x_data + b
    loss = tf.reduce_mean(tf.square(y_data - y))
    train = tf.train.GradientDescentOptimizer(0.2).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(201):
            sess.run(train)
        got_k, got_b = sess.run([k, b])
    # float64 reference: the same 201 gradient steps by hand
    x, t = x_data.astype(np.float64), y_data.astype(np.float64)
    ref_k = ref_b = 0.0
    for _ in range(201):
        err = ref_k * x + ref_b - t
        ref_k, ref_b = ref_k - 0.2 * 2 * np.mean(err * x), ref_b - 0.2 * 2 * np.mean(err)
    np.testing.assert_allclose([got_k, got_b], [ref_k, ref_b], rtol=1e-4)
    assert abs(got_k - 0.1) < 2e-3 and abs(got_b - 0.2) < 2e-3


def test_tanh_regression_1_10_1_with_feeds():
    """Week 3: a 1-10-1 tanh network fits y = x² + noise, fed through placeholders."""
    tf.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_data = np.linspace(-0.5, 0.5, 200, dtype=np.float32)[:, None]
    y_data = np.square(x_data) + rng.normal(0, 0.02, x_data.shape).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 1])
    y = tf.placeholder(tf.float32, [None, 1])
    w1 = tf.Variable(tf.random_normal([1, 10]))
    b1 = tf.Variable(tf.zeros([1, 10]))
    hidden = tf.nn.tanh(tf.matmul(x, w1) + b1)
    w2 = tf.Variable(tf.random_normal([10, 1]))
    b2 = tf.Variable(tf.zeros([1, 1]))
    prediction = tf.nn.tanh(tf.matmul(hidden, w2) + b2)
    loss = tf.reduce_mean(tf.square(y - prediction))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    feed = {x: x_data, y: y_data}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        params = [np.float64(p) for p in sess.run([w1, b1, w2, b2])]
        first_loss, _ = sess.run([loss, train], feed)
        after_one = sess.run([w1, b1, w2, b2])
        for _ in range(2000):
            sess.run(train, feed)
        final = sess.run(loss, feed)
        compiles = sess.compile_count
    # one step checked against hand-written float64 backpropagation
    a1, b1_, a2, b2_ = params
    h = np.tanh(x_data @ a1 + b1_)
    p = np.tanh(h @ a2 + b2_)
    assert first_loss == pytest.approx(np.mean((y_data - p) ** 2), rel=1e-5)
    dp = 2 * (p - y_data) / len(x_data) * (1 - p**2)
    dh = dp @ a2.T * (1 - h**2)
    expected = [
        a1 - 0.1 * x_data.T @ dh,
        b1_ - 0.1 * dh.sum(0),
        a2 - 0.1 * h.T @ dp,
        b2_ - 0.1 * dp.sum(0),
    ]
    for got, want in zip(after_one, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert final < 0.1 * first_loss and final < 2e-3
    assert compiles == 4  # init, read params, [loss, train] (which also serves train), loss


def _find_mnist() -> Path | None:
    """The genuine MNIST test set: $JAXCOURSE_MNIST_DIR, else shared/data/mnist above the repo."""
    env = os.environ.get("JAXCOURSE_MNIST_DIR")
    candidates = [Path(env)] if env else []
    candidates += [parent / "shared" / "data" / "mnist" for parent in REPO.parents]
    for candidate in candidates:
        if (candidate / "t10k-images-idx3-ubyte.gz").is_file():
            return candidate
    return None


def _read_idx(path: Path) -> np.ndarray:
    """A tiny IDX reader: big-endian header (magic, dims), then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_mnist_softmax_784_10_trains_through_session():
    """Week 3: the 784→10 softmax model on the genuine MNIST test set (8k train, 2k held out)."""
    root = _find_mnist()
    if root is None:
        pytest.skip("MNIST test set not found (shared/data/mnist above the repo)")
    images = _read_idx(root / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = np.eye(10, dtype=np.float32)[_read_idx(root / "t10k-labels-idx1-ubyte.gz")]
    train_x, train_y = images[:8000].astype(np.float32), labels[:8000]
    test_x, test_y = images[8000:].astype(np.float32), labels[8000:]
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y = tf.placeholder(tf.float32, [None, 10], name="y")
    w = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    logits = tf.matmul(x, w) + b
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.2).minimize(loss)
    correct = tf.equal(tf.argmax(y, 1), tf.argmax(tf.nn.softmax(logits), 1))
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            for start in range(0, 8000, 100):
                sess.run(train, {x: train_x[start : start + 100], y: train_y[start : start + 100]})
        acc, test_loss, got_w, got_b = sess.run([accuracy, loss, w, b], {x: test_x, y: test_y})
    # the fetched loss and accuracy agree with numpy on the fetched weights
    z = test_x.astype(np.float64) @ got_w + got_b
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert test_loss == pytest.approx(-(test_y * logp).sum(1).mean(), rel=1e-4)
    assert acc == pytest.approx(np.mean(z.argmax(1) == test_y.argmax(1)), abs=1e-6)
    assert acc > 0.85


def test_small_cnn_with_dropout_trains():
    """conv2d + max_pool + dropout + Adam on a synthetic two-class image task."""
    tf.set_random_seed(3)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 256)
    images = rng.normal(0, 0.3, (256, 8, 8, 1)).astype(np.float32)
    images[labels == 1, 2:6, 2:6, 0] += 1.0  # class 1 has a bright square
    onehot = np.eye(2, dtype=np.float32)[labels]
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.float32, [None, 2])
    keep = tf.placeholder(tf.float32)
    w = tf.Variable(tf.truncated_normal([3, 3, 1, 4], stddev=0.1))
    h = tf.nn.max_pool(
        tf.nn.relu(tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME")), [1, 2, 2, 1], [1, 2, 2, 1], "SAME"
    )
    flat = tf.nn.dropout(tf.reshape(h, [-1, 64]), keep)
    w2 = tf.Variable(tf.truncated_normal([64, 2], stddev=0.1))
    logits = tf.matmul(flat, w2)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
    step = tf.train.get_or_create_global_step()
    train = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1)), tf.float32))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(60):
            sess.run(train, {x: images, y: onehot, keep: 0.7})
        acc, n = sess.run([accuracy, step], {x: images, y: onehot, keep: 1.0})
    assert acc > 0.9 and n == 60
