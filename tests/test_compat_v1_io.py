"""compat.v1 files: summaries and the graph in TensorBoard, Saver checkpoints, graph views."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from tb_server_probe import served_graph

import jaxcourse.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


def _softmax_model():
    with tf.name_scope("input"):
        x = tf.placeholder(tf.float32, [None, 4], name="x-input")
        y = tf.placeholder(tf.float32, [None, 3], name="y-input")
    with tf.name_scope("layer"):
        w = tf.Variable(tf.zeros([4, 3]), name="W")
        b = tf.Variable(tf.zeros([3]), name="b")
        tf.summary.histogram("weights", w)
        logits = tf.matmul(x, w) + b
    with tf.name_scope("loss"):
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        tf.summary.scalar("loss", loss)
    with tf.name_scope("train"):
        train = tf.train.AdamOptimizer(0.1).minimize(loss)
    return x, y, w, b, loss, train


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 30)]
    return x, y


def test_summaries_and_graph_load_in_tensorboard(tmp_path):
    x, y, w, b, loss, train = _softmax_model()
    merged = tf.summary.merge_all()
    xs, ys = _data()
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        writer = tf.summary.FileWriter(str(tmp_path / "logs"), sess.graph)
        for step in range(5):
            summary, value, _ = sess.run([merged, loss, train], {x: xs, y: ys})
            assert isinstance(summary, bytes)
            writer.add_summary(summary, step)
            losses.append(value)
        writer.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "logs"))
    events.Reload()
    scalars = events.Scalars("loss/loss")
    assert [e.step for e in scalars] == list(range(5))
    np.testing.assert_allclose([e.value for e in scalars], losses, rtol=1e-6)
    assert "layer/weights" in events.Tags()["histograms"]

    served = served_graph(tmp_path / "logs")
    assert served["input/x-input"] == "Placeholder"
    assert served["layer/W"] == "VariableV2"
    assert served["layer/MatMul"] == "dot_general"  # the TF op, as one node in its scope
    assert any(name.startswith("train/Adam/gradients/") for name in served)
    assert "updates/layer/W" in served


def test_graph_views_jaxpr_dot_svg():
    x, y, w, b, loss, train = _softmax_model()
    graph = tf.get_default_graph()
    text = graph.as_jaxpr_text(loss)
    assert "dot_general" in text and "batch" in text  # the None dimension is symbolic
    dot = graph.to_dot(loss)
    assert 'label="layer"' in dot and '"input/x-input" -> "layer/MatMul"' in dot
    assert "float32[?,4]" in dot
    names = {n.name for n in graph.as_graph_def(loss).node}
    assert {"layer/MatMul", "loss/Mean/div", "outputs/loss/Mean"} <= names or (
        "layer/MatMul" in names
    )
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' not installed: SVG rendering not checked")
    assert "<svg" in graph.to_svg(loss)


def test_saver_round_trip_includes_optimizer_state(tmp_path):
    x, y, w, b, loss, train = _softmax_model()
    xs, ys = _data()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train, {x: xs, y: ys})
        path = saver.save(sess, str(tmp_path / "ckpt" / "model"), global_step=3)
        sess.run(train, {x: xs, y: ys})
        expected = sess.run([w, b, loss], {x: xs, y: ys})
    assert path.endswith("model-3")
    assert tf.train.latest_checkpoint(tmp_path / "ckpt") == path
    with tf.Session() as sess:  # a fresh session: restore instead of initialising
        saver.restore(sess, path)
        sess.run(train, {x: xs, y: ys})  # Adam's moments came back too
        got = sess.run([w, b, loss], {x: xs, y: ys})
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6)
