"""A fetch set that a compiled plan of a larger one covers compiles nothing (summaries next
to a train step, an accuracy next to its summary), and gives the same numbers."""

import numpy as np

import jaxcourse.compat.v1 as tf


def _model():
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.placeholder(tf.float32, [None, 3])
    w = tf.Variable(tf.truncated_normal([4, 3], stddev=0.5, seed=1))
    logits = tf.nn.dropout(tf.matmul(x, w), keep_prob=0.7, seed=2)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.3).minimize(loss)
    tf.summary.scalar("loss", loss)
    tf.summary.histogram("w", w)
    return x, y, w, loss, train, tf.summary.merge_all()


def _feeds(x, y, step):
    rng = np.random.RandomState(step)
    return {x: rng.rand(5, 4), y: np.eye(3)[rng.randint(0, 3, 5)]}


def test_subset_fetches_reuse_the_plan_and_match_a_plain_run():
    trajectories, compiles = [], []
    for with_summaries in (True, False):
        with tf.Graph().as_default():
            tf.set_random_seed(0)
            x, y, w, loss, train, merged = _model()
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                before = sess.compile_count
                losses = []
                for step in range(6):
                    feeds = _feeds(x, y, step)
                    if with_summaries and step % 2 == 0:
                        summary, value, _ = sess.run([merged, loss, train], feeds)
                        assert isinstance(summary, bytes)
                    else:
                        value, _ = sess.run([loss, train], feeds)
                    losses.append(value)
                compiles.append(sess.compile_count - before)
                trajectories.append((losses, sess.run(w)))
    assert compiles == [1, 1]  # [merged, loss, train] also serves [loss, train]
    np.testing.assert_array_equal(trajectories[0][0], trajectories[1][0])
    np.testing.assert_array_equal(trajectories[0][1], trajectories[1][1])


def test_a_plan_with_other_writes_is_not_reused():
    with tf.Graph().as_default():
        x, y, w, loss, train, merged = _model()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feeds = _feeds(x, y, 0)
            sess.run([loss, train], feeds)
            weights = sess.run(w)
            before = sess.compile_count
            sess.run(loss, feeds)  # reads only: its own plan, no update
            assert sess.compile_count == before + 1
            np.testing.assert_array_equal(sess.run(w), weights)
