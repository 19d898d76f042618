"""jaxcourse.compat.v1 core mechanisms: multi-output ops, host ops and string tensors,
tensor-valued shapes and arguments inside the compiled run."""

from __future__ import annotations

import numpy as np
import pytest

import jaxcourse.compat.v1 as tf
from jaxcourse.compat.v1 import graph as graph_module


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


# -- multi-output ops --------------------------------------------------------------------------


def test_unstack_and_split_are_one_op_with_indexed_outputs(fresh_graph):
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    parts = tf.unstack(tf.constant(value), axis=1)
    assert [t.name for t in parts] == ["unstack:0", "unstack:1", "unstack:2", "unstack:3"]
    assert parts[0].op is parts[3].op and parts[0].op.outputs == parts
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    a, b = tf.split(x, [1, -1], axis=1)
    assert a.shape.as_list() == [None, 1] and b.shape.as_list() == [None, 3]
    assert fresh_graph.get_tensor_by_name("split:1") is b
    with tf.Session() as sess:
        got = sess.run([parts[2], "unstack:3", b], {x: value})
        np.testing.assert_array_equal(got[0], value[:, 2])
        np.testing.assert_array_equal(got[1], value[:, 3])
        np.testing.assert_array_equal(got[2], value[:, 1:])
        # feeding one output of a multi-output op replaces just that output
        np.testing.assert_array_equal(
            sess.run(parts[1] + parts[2], {parts[1]: np.zeros(3, np.float32)}), value[:, 2]
        )


def test_get_tensor_by_name_errors_name_the_op(fresh_graph):
    tf.unstack(tf.zeros([2, 2]))
    with pytest.raises(tf.errors.NotFoundError, match="has 2 output"):
        fresh_graph.get_tensor_by_name("unstack:2")
    with pytest.raises(ValueError, match="refers to an operation"):
        fresh_graph.get_tensor_by_name("unstack")


def test_make_op_with_several_outputs_and_their_gradients():
    x = tf.Variable([1.0, 2.0, 3.0])
    lo, hi = graph_module.make_op(
        "MinMax", lambda ev, a: (a.min(), a.max()), [x], "minmax", outputs=2
    )
    assert (lo.name, hi.name) == ("minmax:0", "minmax:1")
    (grad,) = tf.gradients(hi * 2.0 + lo, [x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run([lo, hi]) == [1.0, 3.0]
        np.testing.assert_array_equal(sess.run(grad), [1.0, 0.0, 2.0])


# -- host ops and strings ----------------------------------------------------------------------


def test_hello_tensorflow_string_constant_is_fetched_as_bytes():
    hello = tf.constant("Hello, TensorFlow!")
    assert str(hello) == 'Tensor("Const:0", shape=(), dtype=string)'
    with tf.Session() as sess:
        out = sess.run(hello)
    assert out == b"Hello, TensorFlow!" and isinstance(out, bytes)


def test_string_placeholders_joins_and_arrays():
    name = tf.placeholder(tf.string, name="name")
    greeting = tf.constant("Hello, ") + name + "!"
    words = tf.constant([["a", "bc"], ["def", "g"]])
    with tf.Session() as sess:
        assert sess.run(greeting, {name: "TF"}) == b"Hello, TF!"
        assert sess.run(greeting, {name: b"bytes"}) == b"Hello, bytes!"
        got = sess.run(words)
        assert got.dtype == object and got.tolist() == [[b"a", b"bc"], [b"def", b"g"]]
        assert sess.run(tf.strings.length(words)).tolist() == [[1, 2], [3, 1]]
        assert sess.run(tf.reduce_join(words, axis=1, separator="-")).tolist() == [
            b"a-bc",
            b"def-g",
        ]
        with pytest.raises(tf.errors.InvalidArgumentError, match="placeholder 'name'"):
            sess.run(greeting)


def test_strings_parsed_on_the_host_feed_the_compiled_part():
    text = tf.placeholder(tf.string, [None])
    numbers = tf.string_to_number(text)
    total = tf.reduce_sum(numbers * 2.0)
    mean_text = tf.as_string(tf.reduce_mean(numbers), precision=2)
    with tf.Session() as sess:
        got = sess.run([total, mean_text], {text: ["1.5", "2", "4.25"]})
        assert got == [15.5, b"2.58"]
        # the parsed numbers feed one compiled signature per shape
        assert sess.run(total, {text: ["3", "4", "5"]}) == 24.0
        count = sess.compile_count
        assert sess.run(total, {text: ["1", "1", "1"]}) == 6.0
        assert sess.compile_count == count
        with pytest.raises(tf.errors.InvalidArgumentError, match="could not correctly convert"):
            sess.run(total, {text: ["x"]})


def test_string_tensor_in_a_compiled_op_is_refused_at_build_time():
    with pytest.raises(TypeError, match="cannot take the string tensor"):
        tf.reduce_sum(tf.constant(["a"]))


def test_registering_a_host_op_with_per_session_state():
    """The API other modules build input pipelines and decoders on."""
    seen = []

    def next_index(hv, step):
        state = hv.state()
        state["i"] = state.get("i", 0) + int(step)
        seen.append(hv.session)
        return np.int32(state["i"])

    step = tf.placeholder(tf.int32, [])
    counter = graph_module.make_host_op(
        "Counter", next_index, [step], "counter", shape=(), dtype=tf.int32
    )
    doubled = counter * 2
    with tf.Session() as sess:
        assert [sess.run(doubled, {step: 1}) for _ in range(3)] == [2, 4, 6]
    with tf.Session() as other:
        assert other.run(counter, {step: 5}) == 5  # state is per session
    assert seen[0] is not seen[-1]


def test_host_op_output_is_checked_against_its_declared_shape():
    bad = graph_module.make_host_op(
        "Bad", lambda hv: np.zeros(3), (), "bad", shape=(2,), dtype=tf.float32
    )
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="'bad:0' produced shape"):
            sess.run(bad)


# -- tensor-valued arguments --------------------------------------------------------------------


def test_gan_style_xavier_init_with_a_tensor_stddev():
    def xavier_init(size):
        in_dim = size[0]
        xavier_stddev = 1.0 / tf.sqrt(in_dim / 2.0)
        return tf.random_normal(shape=size, stddev=xavier_stddev)

    w = tf.Variable(xavier_init([784, 128]))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        value = sess.run(w)
    assert value.shape == (784, 128)
    assert abs(value.std() - 1 / np.sqrt(392.0)) < 0.002


def test_shapes_from_tf_shape_inside_the_compiled_run():
    x = tf.placeholder(tf.float32, [None, 2, 3])
    batch = tf.shape(x)[0]
    noise = tf.random_uniform(tf.stack([batch, 10]), minval=-1.0, maxval=tf.constant(1.0))
    flat = tf.reshape(x, [batch, -1])
    zeros = tf.zeros(tf.shape(flat))
    filled = tf.fill([batch, 2], 7.0)
    assert noise.shape.as_list() == [None, 10] and zeros.shape.as_list() == [None, 6]
    assert filled.shape.as_list() == [None, 2]
    assert tf.random_normal([3, 4]).shape.as_list() == [3, 4]
    with tf.Session() as sess:
        for n in (1, 5):
            data = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3)
            got = sess.run([noise, flat, zeros, filled, batch / 2], {x: data})
            assert got[0].shape == (n, 10) and np.all(np.abs(got[0]) <= 1)
            np.testing.assert_array_equal(got[1], data.reshape(n, 6))
            assert got[2].shape == (n, 6) and got[3].shape == (n, 2) and got[4] == n / 2


def test_static_values_fold_at_build_time():
    s = tf.shape(tf.zeros([4, 5]))
    assert s.static_value.tolist() == [4, 5]
    assert (s[1] * 2).static_value == 10
    assert tf.placeholder(tf.float32).static_value is None
    assert tf.random_normal([2]).static_value is None
    assert tf.ones(tf.shape(tf.zeros([2, 3]))).shape.as_list() == [2, 3]


def test_shape_that_depends_on_computed_values_is_a_clear_error():
    v = tf.placeholder(tf.int32, [2])
    z = tf.zeros(v)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="the shape must be known"):
            sess.run(z, {v: [2, 3]})


def test_tensor_indices_and_slice_bounds():
    x = tf.constant(np.arange(10, dtype=np.float32))
    i = tf.placeholder(tf.int32, [])
    n = tf.shape(x)[0] // 2
    with tf.Session() as sess:
        assert sess.run(x[i], {i: 3}) == 3.0
        np.testing.assert_array_equal(sess.run(x[:n]), np.arange(5))
