"""tf.train optimizers: TF1's update rules and defaults, checked against float64 numpy."""

from __future__ import annotations

import numpy as np
import pytest

import jaxcourse.compat.v1 as tf

W0 = np.array([1.0, -2.0, 0.5])
SCALE = np.array([1.0, 0.5, 2.0])
TARGET = np.array([0.3, 0.1, -0.2])
STEPS = 5


def _grad(w):
    return 2 * SCALE * (w - TARGET)


def _numpy_tf1(kind: str, lr: float, **o) -> np.ndarray:
    """TF1's update rules in float64 (tensorflow/core/kernels/training_ops.cc)."""
    w = W0.copy()
    a = np.zeros(3)
    s = np.full(3, o.get("initial_accumulator_value", 0.1))
    ms, mom, mg = np.ones(3), np.zeros(3), np.zeros(3)
    acc, acc_update = np.zeros(3), np.zeros(3)
    m, v = np.zeros(3), np.zeros(3)
    for t in range(1, STEPS + 1):
        g = _grad(w)
        if kind == "sgd":
            w = w - lr * g
        elif kind == "momentum":
            a = o["momentum"] * a + g
            w = w - lr * (g + o["momentum"] * a if o.get("use_nesterov") else a)
        elif kind == "adagrad":
            s = s + g * g
            w = w - lr * g / np.sqrt(s)
        elif kind == "rmsprop":
            decay, eps = o.get("decay", 0.9), o.get("epsilon", 1e-10)
            ms = decay * ms + (1 - decay) * g * g
            denom = ms + eps
            if o.get("centered"):
                mg = decay * mg + (1 - decay) * g
                denom = ms - mg * mg + eps
            mom = o.get("momentum", 0.0) * mom + lr * g / np.sqrt(denom)
            w = w - mom
        elif kind == "adadelta":
            rho, eps = 0.95, 1e-8
            acc = rho * acc + (1 - rho) * g * g
            update = np.sqrt(acc_update + eps) / np.sqrt(acc + eps) * g
            acc_update = rho * acc_update + (1 - rho) * update * update
            w = w - lr * update
        elif kind == "adam":
            b1, b2, eps = 0.9, 0.999, 1e-8
            lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr_t * m / (np.sqrt(v) + eps)
    return w


CASES = [
    ("sgd", lambda: tf.train.GradientDescentOptimizer(0.1), 0.1, {}),
    ("momentum", lambda: tf.train.MomentumOptimizer(0.05, 0.9), 0.05, {"momentum": 0.9}),
    (
        "momentum",
        lambda: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
        0.05,
        {"momentum": 0.9, "use_nesterov": True},
    ),
    ("adagrad", lambda: tf.train.AdagradOptimizer(0.5), 0.5, {}),
    ("rmsprop", lambda: tf.train.RMSPropOptimizer(0.01), 0.01, {}),
    (
        "rmsprop",
        lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
        0.01,
        {"momentum": 0.5, "centered": True},
    ),
    ("adadelta", lambda: tf.train.AdadeltaOptimizer(1.0), 1.0, {}),
    ("adam", lambda: tf.train.AdamOptimizer(), 0.001, {}),
    ("adam", lambda: tf.train.AdamOptimizer(0.1), 0.1, {}),
]


@pytest.mark.parametrize(
    ("kind", "make", "lr", "options"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_optimizer_matches_tf1_rule(kind, make, lr, options):
    with tf.Graph().as_default():
        w = tf.Variable(W0.astype(np.float32))
        loss = tf.reduce_sum(SCALE.astype(np.float32) * tf.square(w - TARGET.astype(np.float32)))
        train = make().minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(STEPS):
                sess.run(train)
            got = sess.run(w)
    want = _numpy_tf1(kind, lr, **options)
    assert np.abs(want - W0).max() > 1e-3  # the steps moved the weights
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)


def test_tensor_learning_rate_fed_at_run_time():
    with tf.Graph().as_default():
        w = tf.Variable(W0.astype(np.float32))
        lr = tf.placeholder(tf.float32, [], name="lr")
        loss = tf.reduce_sum(SCALE.astype(np.float32) * tf.square(w - TARGET.astype(np.float32)))
        train = tf.train.AdamOptimizer(lr).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(STEPS):
                sess.run(train, {lr: 0.1})
            got = sess.run(w)
    np.testing.assert_allclose(got, _numpy_tf1("adam", 0.1), rtol=2e-5, atol=1e-5)


def test_compute_and_apply_gradients_with_clipping():
    with tf.Graph().as_default():
        w = tf.Variable(W0.astype(np.float32))
        loss = tf.reduce_sum(SCALE.astype(np.float32) * tf.square(w - TARGET.astype(np.float32)))
        opt = tf.train.GradientDescentOptimizer(0.1)
        clipped = [(tf.clip_by_value(g, -1.0, 1.0), v) for g, v in opt.compute_gradients(loss)]
        step = tf.train.get_or_create_global_step()
        train = opt.apply_gradients(clipped, global_step=step)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(train)
            got, n = sess.run([w, step])
    np.testing.assert_allclose(got, W0 - 0.1 * np.clip(_grad(W0), -1, 1), rtol=1e-6)
    assert n == 1


def test_bad_optimizer_settings_are_reported():
    with tf.Graph().as_default():
        with pytest.raises(Exception, match="learning_rate"):
            tf.train.GradientDescentOptimizer(-1.0)
        c = tf.constant(1.0)
        with pytest.raises(ValueError, match="no variables to optimize"):
            tf.train.AdamOptimizer().minimize(c * 2.0)


def test_learning_rate_variable_decayed_by_assign():
    """The course's pattern: lr = tf.Variable(...); sess.run(tf.assign(lr, lr0 * 0.5**epoch))."""
    with tf.Graph().as_default():
        w = tf.Variable(W0.astype(np.float32))
        lr = tf.Variable(0.1, dtype=tf.float32)
        loss = tf.reduce_sum(SCALE.astype(np.float32) * tf.square(w - TARGET.astype(np.float32)))
        train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for epoch in range(3):
                sess.run(tf.assign(lr, 0.1 * 0.5**epoch))
                sess.run(train)
            got = sess.run(w)
    want = W0.copy()
    for epoch in range(3):
        want = want - 0.1 * 0.5**epoch * _grad(want)
    np.testing.assert_allclose(got, want, rtol=1e-5)
