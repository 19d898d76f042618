"""jaxcourse.compat.v1: the course's week-2 snippets, ops, feeds, compile caching, errors."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxcourse.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


def test_week2_constants_variables_and_fetch_lists():
    x = tf.Variable([1, 2])
    a = tf.constant([3, 3])
    sub = tf.subtract(x, a)
    add = tf.add(x, sub)
    input1, input2, input3 = tf.constant(3.0), tf.constant(2.0), tf.constant(5.0)
    add2 = tf.add(input2, input3)
    mul = tf.multiply(input1, add2)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(sub), [-2, -1])
        # the course's `add = tf.add(x, sub)`: x + (x - a) = [-1, 1], what TF prints
        np.testing.assert_array_equal(sess.run(add), [-1, 1])
        assert sess.run([mul, add2]) == [21.0, 7.0]
        assert sess.run(sub).dtype == np.int32


def test_week2_placeholders_and_feeds():
    input1 = tf.placeholder(tf.float32)
    input2 = tf.placeholder(tf.float32)
    output = tf.multiply(input1, input2)
    with tf.Session() as sess:
        np.testing.assert_array_equal(
            sess.run(output, feed_dict={input1: [2.0], input2: [6.0]}), [12.0]
        )


def test_week2_counter_with_assign():
    state = tf.Variable(0, name="counter")
    new_value = tf.add(state, 1)
    update = tf.assign(state, new_value)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        seen = [int(sess.run(state))]
        for _ in range(4):
            sess.run(update)
            seen.append(int(sess.run(state)))
    assert seen == [0, 1, 2, 3, 4]


def test_operators_indexing_and_nested_fetches():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    m = tf.constant(np.arange(6, dtype=np.float32).reshape(3, 2))
    y = -(x @ m) * 2 + 1.5 / (x[:, :1] + 1)
    z = tf.reduce_sum(y, axis=1, keepdims=True)
    data = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    expected_y = -(data @ np.arange(6.0).reshape(3, 2)) * 2 + 1.5 / (data[:, :1] + 1)
    with tf.Session() as sess:
        out = sess.run({"y": y, "pair": (z, [tf.argmax(y, 1)])}, {x: data})
    np.testing.assert_allclose(out["y"], expected_y, rtol=1e-6)
    np.testing.assert_allclose(out["pair"][0], expected_y.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(out["pair"][1][0], expected_y.argmax(1))
    assert y.shape.as_list() == [None, 2] and z.shape.as_list() == [None, 1]


def test_math_ops_against_numpy():
    a = np.array([[0.5, -1.0], [2.0, 3.0]], np.float32)
    t = tf.constant(a)
    cases = {
        "square": (tf.square(t), a**2),
        "sqrt": (tf.sqrt(tf.abs(t)), np.sqrt(np.abs(a))),
        "tanh": (tf.tanh(t), np.tanh(a)),
        "sigmoid": (tf.sigmoid(t), 1 / (1 + np.exp(-a))),
        "relu": (tf.nn.relu(t), np.maximum(a, 0)),
        "softmax": (tf.nn.softmax(t), np.exp(a) / np.exp(a).sum(1, keepdims=True)),
        "mean0": (tf.reduce_mean(t, 0), a.mean(0)),
        "max": (tf.reduce_max(t), a.max()),
        "min1": (tf.reduce_min(t, reduction_indices=[1]), a.min(1)),
        "reshape": (tf.reshape(t, [-1]), a.reshape(-1)),
        "equal": (tf.cast(tf.equal(t, 2.0), tf.float32), (a == 2.0).astype(np.float32)),
        "matmul_t": (tf.matmul(t, t, transpose_b=True), a @ a.T),
        "zeros": (tf.zeros([2, 3]), np.zeros((2, 3))),
        "ones": (tf.ones([2]) * 3, np.full(2, 3.0)),
    }
    with tf.Session() as sess:
        got = sess.run({k: v[0] for k, v in cases.items()})
    for key, (_, want) in cases.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-6, err_msg=key)


def test_cross_entropies_against_numpy():
    logits = np.array([[2.0, 1.0, -1.0], [0.0, 3.0, 0.5]], np.float32)
    labels = np.array([[0.0, 1.0, 0.0], [0.2, 0.5, 0.3]], np.float32)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    ce2 = tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    sig = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    with tf.Session() as sess:
        got_ce, got_ce2, got_sig = sess.run([ce, ce2, sig])
    np.testing.assert_allclose(got_ce, -(labels * logp).sum(1), rtol=1e-5)
    np.testing.assert_allclose(got_ce2, got_ce)
    p = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(
        got_sig, -(labels * np.log(p) + (1 - labels) * np.log(1 - p)), rtol=1e-5
    )
    with pytest.raises(ValueError, match="labels=... and logits="):
        tf.nn.softmax_cross_entropy_with_logits(labels, logits)


def test_conv2d_and_max_pool_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    conv = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")
    pool = tf.nn.max_pool(conv, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    with tf.Session() as sess:
        got_conv, got_pool = sess.run([conv, pool])
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.zeros((2, 6, 6, 4))
    for i in range(6):
        for j in range(6):
            want[:, i, j, :] = np.einsum("nhwc,hwco->no", padded[:, i : i + 3, j : j + 3], w)
    np.testing.assert_allclose(got_conv, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        got_pool, want.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4)), rtol=1e-4, atol=1e-4
    )
    assert conv.shape.as_list() == [2, 6, 6, 4] and pool.shape.as_list() == [2, 3, 3, 4]


def test_tiled_max_pool_gradient_goes_to_the_first_tied_maximum():
    """TF's MaxPoolGrad rule for any tiled window (here 3×3): all of a tie's gradient goes to
    the first maximum in row-major order."""
    x = np.zeros((1, 6, 6, 1), np.float32)  # every window is one tie of nine zeros
    x[0, 4, 5, 0] = 1.0  # except the bottom-right one, whose max is at (4, 5)
    image = tf.constant(x)
    pool = tf.nn.max_pool(image, ksize=[1, 3, 3, 1], strides=[1, 3, 3, 1], padding="VALID")
    (grad,) = tf.gradients(tf.reduce_sum(pool), [image])
    with tf.Session() as sess:
        got = sess.run(grad)[0, :, :, 0]
    want = np.zeros((6, 6))
    want[0, 0] = want[0, 3] = want[3, 0] = want[4, 5] = 1.0
    np.testing.assert_array_equal(got, want)


def test_dropout_is_random_per_run_and_identity_at_keep_one():
    tf.set_random_seed(7)
    keep = tf.placeholder(tf.float32)
    x = tf.ones([1000])
    dropped = tf.nn.dropout(x, keep)
    with tf.Session() as sess:
        a = sess.run(dropped, {keep: 0.5})
        b = sess.run(dropped, {keep: 0.5})
        full = sess.run(dropped, {keep: 1.0})
    assert set(np.unique(a)) <= {0.0, 2.0} and 400 < np.count_nonzero(a) < 600
    assert not np.array_equal(a, b)  # a fresh mask every run
    np.testing.assert_array_equal(full, np.ones(1000))
    with tf.Session() as sess:  # seeded: a new session repeats the sequence
        np.testing.assert_array_equal(sess.run(dropped, {keep: 0.5}), a)


def test_random_ops_are_seeded_and_differ_between_runs():
    tf.set_random_seed(1)
    r = tf.random_normal([2000], mean=1.0, stddev=2.0)
    t = tf.truncated_normal([2000], stddev=0.5)
    with tf.Session() as sess:
        a, ta = sess.run([r, t])
        b = sess.run(r)
    assert abs(a.mean() - 1.0) < 0.2 and abs(a.std() - 2.0) < 0.2
    assert np.abs(ta).max() <= 1.0 + 1e-6
    assert not np.array_equal(a, b)


def test_gradients():
    x = tf.placeholder(tf.float32, [3])
    y = tf.reduce_sum(tf.square(x) * 3.0)
    (dx,) = tf.gradients(y, x)
    c = tf.constant(1.0)
    assert tf.gradients(y, c) == [None]
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(dx, {x: [1.0, -2.0, 0.5]}), [6.0, -12.0, 3.0])


def test_variable_scope_and_get_variable_reuse():
    with tf.variable_scope("layer"):
        w = tf.get_variable("w", [3, 2], initializer=tf.constant_initializer(0.5))
    with tf.variable_scope("layer", reuse=True):
        w_again = tf.get_variable("w", [3, 2])
    assert w is w_again and w.name == "layer/w:0"
    with pytest.raises(ValueError, match="already exists"), tf.variable_scope("layer"):
        tf.get_variable("w", [3, 2])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(w), np.full((3, 2), 0.5))


def test_name_scopes_name_ops():
    with tf.name_scope("layer1"):
        a = tf.constant(1.0, name="a")
        b = tf.add(a, a)
    with tf.name_scope("layer1"):
        c = tf.multiply(b, 2.0)
    assert (a.op.name, b.op.name, c.op.name) == ("layer1/a", "layer1/Add", "layer1_1/Mul")
    assert tf.get_default_graph().get_tensor_by_name("layer1/Add:0") is b
    with tf.Session() as sess:
        assert sess.run("layer1_1/Mul:0") == 4.0


# --- compilation cache ----------------------------------------------------------------------


class _CompileCounter:
    """Counts XLA backend compilations (an independent check of Session.compile_count)."""

    def __init__(self):
        self.count, self.active = 0, False
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event, duration, **kwargs):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


_COUNTER = _CompileCounter()


def test_repeated_runs_do_not_recompile():
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    w = tf.Variable(tf.ones([4, 2]))
    loss = tf.reduce_mean(tf.square(x @ w))
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    data = np.ones((8, 4), np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run([train, loss], {x: data})
        before = sess.compile_count
        _COUNTER.count, _COUNTER.active = 0, True
        try:
            for _ in range(20):
                sess.run([train, loss], {x: data})
            assert (_COUNTER.count, sess.compile_count) == (0, before)
            sess.run([train, loss], {x: np.ones((5, 4))})  # new shape (and dtype): one compile
            assert sess.compile_count == before + 1 and _COUNTER.count == 1
            sess.run(loss, {x: data})  # other fetches: one more
            assert sess.compile_count == before + 2
        finally:
            _COUNTER.active = False


# --- errors ---------------------------------------------------------------------------------


def test_unfed_placeholder_is_named_with_dtype_and_shape():
    x = tf.placeholder(tf.float32, [None, 784], name="x-input")
    y = tf.reduce_sum(x)
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError) as err:
        sess.run(y)
    message = str(err.value)
    assert "'x-input'" in message and "float32" in message and "[None, 784]" in message


def test_wrong_feed_shape_and_dtype_are_named():
    x = tf.placeholder(tf.float32, [None, 784], name="images")
    n = tf.placeholder(tf.int32, [2], name="counts")
    with tf.Session() as sess:
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"'images'.*\[None, 784\].*"
            r"shape \[10, 28, 28\]",
        ):
            sess.run(x, {x: np.zeros((10, 28, 28))})
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"'counts'.*int32.*float64"):
            sess.run(n, {n: np.array([1.5, 2.0])})
        # a safe conversion is accepted, as in TF: float64 data into a float32 placeholder
        assert sess.run(x, {x: np.zeros((2, 784))}).dtype == np.float32


def test_uninitialised_variable_is_named():
    w = tf.Variable(tf.zeros([3, 2]), name="weights")
    with (
        tf.Session() as sess,
        pytest.raises(tf.errors.FailedPreconditionError, match=r"'weights'.*\[3, 2\]"),
    ):
        sess.run(w * 2.0)


def test_build_time_shape_and_dtype_errors():
    a = tf.placeholder(tf.float32, [None, 3], name="a")
    with pytest.raises(tf.errors.InvalidArgumentError, match="MatMul"):
        tf.matmul(tf.ones([4, 5]), tf.ones([3, 2]))
    with pytest.raises(TypeError, match="different dtypes"):
        tf.add(a, tf.constant(1, tf.int32))
    with pytest.raises(TypeError, match="cannot fetch"):
        with tf.Session() as sess:
            sess.run(3.0)


def test_run_prunes_to_what_fetches_need_and_keeps_variables_on_device():
    x = tf.placeholder(tf.float32, [2], name="x")
    unused = tf.placeholder(tf.float32, [2], name="unused")
    w = tf.Variable([1.0, 2.0])
    other = tf.Variable([5.0, 5.0])  # never initialised: not needed by the fetches below
    y = x * w
    _ = unused + other
    with tf.Session() as sess:
        sess.run(w.initializer)
        np.testing.assert_array_equal(sess.run(y, {x: [3.0, 4.0]}), [3.0, 8.0])
        assert isinstance(sess.variable_value(w), jax.Array)
        text = tf.get_default_graph().as_jaxpr_text(y)
        assert text.count("mul") == 1 and "add" not in text


def test_variables_never_share_a_donated_buffer():
    v = tf.Variable([1.0, 2.0])
    w = tf.Variable([0.0, 0.0])
    copy = tf.assign(w, v)  # w's new value is v's value, unchanged
    bump = tf.assign_add(v, [1.0, 1.0])  # donates v's buffer: w must not be holding it
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(copy)
        sess.run(bump)
        sess.run(bump)
        got_v, got_w = sess.run([v, w])
    np.testing.assert_array_equal(got_v, [3.0, 4.0])
    np.testing.assert_array_equal(got_w, [1.0, 2.0])


def test_eval_and_run_use_the_default_session():
    v = tf.Variable(3.0)
    doubled = v * 2.0
    with pytest.raises(ValueError, match="no default session"):
        doubled.eval()
    sess = tf.InteractiveSession()
    try:
        v.initializer.run()
        assert doubled.eval() == 6.0
        v.load(5.0)
        assert doubled.eval() == 10.0
    finally:
        sess.close()
    with pytest.raises(ValueError, match="no default session"):
        doubled.eval()
