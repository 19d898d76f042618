"""`tf.to_jax`: a TF1 graph as a pure function that jax.grad, jax.vmap and jax.export accept,
and a frozen .pb fine-tuned through it with optax."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

import jaxcourse.compat.v1 as tf

FIXTURES = Path(__file__).parent / "fixtures" / "graphdefs"


pytestmark = pytest.mark.usefixtures("fresh_tf_graph")


def _course_softmax_graph():
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.placeholder(tf.float32, [None, 3], name="y")
    w = tf.Variable(tf.random_normal([4, 3], seed=1), name="layer/W")
    b = tf.Variable(tf.constant([0.1, -0.2, 0.3]), name="layer/b")
    prediction = tf.nn.softmax(tf.nn.tanh(tf.matmul(x, w)) + b, name="prediction")
    loss = tf.reduce_mean(tf.square(y - prediction), name="loss")
    return x, y, prediction, loss


def _batch(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), np.eye(3, dtype=np.float32)[
        rng.integers(0, 3, n)
    ]


def test_to_jax_equals_session_and_passes_grad_check():
    x, y, prediction, loss = _course_softmax_graph()
    f = tf.to_jax({"loss": loss, "prediction": prediction}, [x, y])
    xv, yv = _batch()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        variables = f.initial_variables(sess)
        want = sess.run({"loss": loss, "prediction": prediction}, {x: xv, y: yv})
    assert sorted(variables) == ["layer/W", "layer/b"] == sorted(f.variable_names)
    got = f(variables, xv, yv)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)
    np.testing.assert_allclose(got["prediction"], want["prediction"], rtol=1e-6)

    @jax.jit
    def loss_fn(v):
        return f(v, xv, yv)["loss"]

    check_grads(loss_fn, (variables,), order=1, modes=["rev"], eps=1e-2, atol=2e-3, rtol=2e-2)
    grads = jax.grad(loss_fn)(variables)
    assert grads["layer/W"].shape == (4, 3) and float(jnp.abs(grads["layer/W"]).sum()) > 0


def test_to_jax_vmaps_and_round_trips_through_jax_export():
    x, y, prediction, loss = _course_softmax_graph()
    f = tf.to_jax(prediction, [x])
    xv, _ = _batch(6)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        variables = f.initial_variables(sess)
        want = sess.run(prediction, {x: xv})
    batched = jax.vmap(lambda rows: f(variables, rows))(xv.reshape(2, 3, 4))
    np.testing.assert_allclose(batched.reshape(6, 3), want, rtol=1e-6)
    (batch,) = jax.export.symbolic_shape("batch")
    exported = jax.export.export(jax.jit(f))(
        jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), variables),
        jax.ShapeDtypeStruct((batch, 4), np.float32),
    )
    restored = jax.export.deserialize(exported.serialize())
    np.testing.assert_allclose(restored.call(variables, xv), want, rtol=1e-6)
    np.testing.assert_allclose(restored.call(variables, xv[:2]), want[:2], rtol=1e-6)


def test_to_jax_needs_feeds_for_placeholders():
    x, y, prediction, loss = _course_softmax_graph()
    with pytest.raises(tf.errors.InvalidArgumentError, match="placeholder 'y'"):
        tf.to_jax(loss, [x])


def test_frozen_pb_fine_tunes_with_its_constants_lifted_to_parameters():
    graph_def = tf.GraphDef()
    graph_def.ParseFromString((FIXTURES / "softmax_model.pb").read_bytes())
    tf.import_graph_def(graph_def, name="")
    graph = tf.get_default_graph()
    x = graph.get_tensor_by_name("x-input:0")
    prediction = graph.get_tensor_by_name("prediction:0")
    labels = tf.placeholder(tf.float32, [None, 10], name="labels")
    loss = tf.reduce_mean(-tf.reduce_sum(labels * tf.log(prediction + 1e-7), 1))
    f = tf.to_jax(loss, [x, labels], lift_constants=True)
    params = f.initial_variables()
    assert set(params) == {"W", "b"}  # the Consts that freezing made of the variables
    rng = np.random.default_rng(1)
    images = rng.random((64, 784), dtype=np.float32)
    targets = np.eye(10, dtype=np.float32)[(images[:, :10].argmax(1))]
    optimizer = optax.adam(0.01)
    state = optimizer.init(params)

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(f)(params, images, targets)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(params, updates), state, value

    losses = []
    for _ in range(30):
        params, state, value = step(params, state)
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]


def test_to_jax_of_a_frozen_dynamic_rnn_vmaps_exports_and_differentiates():
    graph_def = tf.GraphDef()
    graph_def.ParseFromString((FIXTURES / "dynamic_rnn.pb").read_bytes())
    tf.import_graph_def(graph_def, name="")
    with np.load(FIXTURES / "reference.npz") as reference:
        x, want = reference["dynamic_rnn/x"], reference["dynamic_rnn/prediction"]
    f = tf.to_jax("prediction:0", ["x:0"])
    np.testing.assert_allclose(jax.vmap(lambda row: f({}, row[None])[0])(x), want, atol=1e-6)
    exported = jax.export.export(jax.jit(f))({}, jax.ShapeDtypeStruct(x.shape, x.dtype))
    restored = jax.export.deserialize(exported.serialize())
    np.testing.assert_allclose(restored.call({}, x), want, atol=1e-6)
    # the loop's trip count is known while tracing: a scan, which jax.grad goes through
    g = tf.to_jax("prediction:0", ["x:0"], lift_constants=True)
    params = g.initial_variables()
    assert "rnn/basic_lstm_cell/kernel" in params
    check_grads(
        jax.jit(lambda p: g(p, x)[:, 0].sum()), (params,), order=1, modes=["rev"], eps=1e-2,
        atol=2e-3, rtol=2e-2,
    )  # fmt: skip
