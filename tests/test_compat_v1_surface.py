"""jaxcourse.compat.v1's module surface: version, namespaces and spellings tutorials use,
scopes, control flow, printing, platform helpers, and how unsupported names fail."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import jaxcourse.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default() as graph:
        yield graph


def test_version_is_a_tf1_release_scripts_accept():
    assert tf.__version__ == tf.VERSION == "1.15.0"
    assert tf.__version__.startswith("1.") and int(tf.__version__.split(".")[1]) >= 13


def test_compat_v1_is_the_module_and_tf113_spellings_resolve():
    assert tf.compat.v1 is tf
    assert tf.compat.v1.placeholder is tf.placeholder
    assert tf.random.truncated_normal is tf.truncated_normal
    assert tf.random.normal is tf.random_normal and tf.random.uniform is tf.random_uniform
    assert tf.math.reduce_sum is tf.reduce_sum and tf.math.log is tf.log
    assert tf.io.gfile.exists is tf.gfile.Exists
    assert tf.dtypes.float32 is tf.float32 and tf.dtypes.cast is tf.cast
    assert tf.initializers.global_variables is tf.global_variables_initializer
    assert tf.compat.as_bytes("ab") == b"ab" and tf.compat.as_text(b"ab") == "ab"


def test_deprecated_aliases_compute_like_their_targets():
    x = tf.constant([[1.0, 5.0, 3.0]])
    y = tf.constant([[2.0, 1.0, 1.0]])
    with tf.Session() as sess:
        got = sess.run(
            [
                tf.mul(x, y),
                tf.sub(x, y),
                tf.neg(x),
                tf.arg_max(x, 1),
                tf.arg_min(x, 1),
                tf.to_int32(x),
                tf.to_float(tf.constant([1, 2])),
                tf.div(tf.constant(7), tf.constant(2)),
                tf.select(x > y, x, y),
            ]
        )
        sess.run(tf.initialize_all_variables())
    np.testing.assert_array_equal(got[0], [[2, 5, 3]])
    np.testing.assert_array_equal(got[1], [[-1, 4, 2]])
    np.testing.assert_array_equal(got[2], [[-1, -5, -3]])
    assert got[3].tolist() == [1] and got[4].tolist() == [0] and got[5].dtype == np.int32
    assert got[6].dtype == np.float32 and got[7] == 3
    np.testing.assert_array_equal(got[8], [[2, 5, 3]])
    assert tf.train.SummaryWriter is tf.summary.FileWriter
    assert tf.merge_all_summaries is tf.summary.merge_all
    assert tf.scalar_summary is tf.summary.scalar


def test_print_tensor_looks_like_tf():
    a = tf.constant([[3, 3]])
    b = tf.constant([[2], [3]])
    product = tf.matmul(a, b)
    assert str(product) == 'Tensor("MatMul:0", shape=(1, 1), dtype=int32)'
    x = tf.placeholder(tf.float32, [None, 784])
    assert str(x) == 'Tensor("Placeholder:0", shape=(?, 784), dtype=float32)'
    assert str(x + 1.0) == 'Tensor("add:0", shape=(?, 784), dtype=float32)'
    assert str(tf.placeholder(tf.float32)) == (
        'Tensor("Placeholder_1:0", shape=<unknown>, dtype=float32)'
    )
    assert repr(tf.Variable([1, 2])) == "<tf.Variable 'Variable:0' shape=(2,) dtype=int32_ref>"
    assert str(tf.unstack(tf.zeros([2, 3]))[1]) == (
        'Tensor("unstack:1", shape=(3,), dtype=float32)'
    )


def test_variable_scope_object_reuse_and_get_variable_scope():
    assert tf.get_variable_scope().name == ""
    with tf.variable_scope("gen") as scope:
        assert isinstance(scope, tf.VariableScope)
        assert (scope.name, scope.reuse) == ("gen", False)
        w = tf.get_variable("w", [2, 3])
        scope.reuse_variables()
        assert tf.get_variable_scope().reuse is True
        assert tf.get_variable("w", [2, 3]) is w
        with tf.variable_scope("inner", reuse=False) as inner:
            assert inner.name == "gen/inner" and inner.reuse is True  # reuse is inherited
    assert w.name == "gen/w:0"
    with tf.variable_scope(scope, reuse=True):
        assert tf.get_variable("w") is w
    with tf.variable_scope("gen", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("w", [2, 3]) is w
        assert tf.get_variable("new", [1]).name == "gen/new:0"
    with pytest.raises(ValueError, match="already exists"):
        with tf.variable_scope("gen"):
            tf.get_variable("w", [2, 3])
    with tf.variable_scope(None, default_name="d") as first:
        pass
    with tf.variable_scope(None, default_name="d") as second:
        pass
    assert (first.name, second.name) == ("d", "d_1")


def test_gan_style_shared_discriminator():
    def discriminator(x):
        with tf.variable_scope("discriminator", reuse=tf.AUTO_REUSE):
            w = tf.get_variable("w", [4, 1], initializer=tf.constant_initializer(0.5))
            return tf.matmul(x, w)

    real = discriminator(tf.ones([2, 4]))
    fake = discriminator(tf.zeros([2, 4]))
    assert len(tf.trainable_variables()) == 1
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(real), [[2.0], [2.0]])
        np.testing.assert_array_equal(sess.run(fake), [[0.0], [0.0]])


def test_cond_case_and_while_loop():
    x = tf.placeholder(tf.float32, [])
    y = tf.cond(x > 0, lambda: x * 2, lambda: x - 1)
    z = tf.case(
        [(x < 0, lambda: tf.constant(-1.0)), (x < 1, lambda: tf.constant(0.0))],
        default=lambda: tf.constant(1.0),
    )
    i, total = tf.while_loop(
        lambda i, s: i < 5,
        lambda i, s: (i + 1, s + tf.cast(i, tf.float32) * x),
        (tf.constant(0), tf.constant(0.0)),
    )
    counted = tf.while_loop(
        lambda i: i < 100, lambda i: i + 1, [tf.constant(0)], maximum_iterations=7
    )
    (grad,) = tf.gradients(y, [x])
    (loop_grad,) = tf.gradients(
        tf.while_loop(
            lambda i, s: i < 3, lambda i, s: (i + 1, s * x), (0, 1.0), maximum_iterations=10
        )[1],
        [x],
    )
    assert str(y) == 'Tensor("cond/Merge:0", shape=(), dtype=float32)'
    with tf.Session() as sess:
        for value in (-3.0, 0.5, 3.0):
            got = sess.run([y, z, i, total, counted, grad], {x: value})
            assert got[0] == (value * 2 if value > 0 else value - 1)
            assert got[1] == (-1.0 if value < 0 else 0.0 if value < 1 else 1.0)
            assert got[2] == 5 and got[3] == pytest.approx(10 * value) and got[4] == 7
            assert got[5] == (2.0 if value > 0 else 1.0)
        assert sess.run(loop_grad, {x: 2.0}) == pytest.approx(12.0)  # d(x³)/dx


def test_map_fn_and_scan():
    rows = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    x = tf.constant(rows)
    w = tf.Variable(2.0)
    mapped = tf.map_fn(lambda r: tf.reduce_sum(r) * w, x)
    sums = tf.scan(lambda acc, r: acc + r, x, initializer=tf.zeros([2]))
    pairs = tf.map_fn(
        lambda r: (r[0], r[1] * 2.0), (x[:, 0] * 1.0, x), dtype=(tf.float32, tf.float32)
    )
    (grad,) = tf.gradients(tf.reduce_sum(mapped), [w])
    assert mapped.shape.as_list() == [3] and sums.shape.as_list() == [3, 2]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run([mapped, sums, grad, pairs])
    np.testing.assert_array_equal(got[0], rows.sum(1) * 2)
    np.testing.assert_array_equal(got[1], np.cumsum(rows, 0))
    assert got[2] == rows.sum()
    np.testing.assert_array_equal(got[3][0], rows[:, 0])
    np.testing.assert_array_equal(got[3][1], rows * 2)


def test_cond_assigns_only_in_the_taken_branch():
    v = tf.Variable(0.0)
    flag = tf.placeholder(tf.bool, [])
    out = tf.cond(flag, lambda: tf.assign(v, 5.0), lambda: tf.identity(v))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(out, {flag: False}) == 0.0 and sess.run(v) == 0.0
        assert sess.run(out, {flag: True}) == 5.0 and sess.run(v) == 5.0


def test_config_run_options_and_metadata_are_accepted():
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
    config.gpu_options.allow_growth = True
    config.gpu_options.per_process_gpu_memory_fraction = 0.4
    with pytest.raises(ValueError, match='no "not_a_field" field'):
        tf.ConfigProto(not_a_field=1)
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    metadata = tf.RunMetadata()
    x = tf.constant(2.0)
    with tf.device("/cpu:0"):
        y = x * 3
    with tf.Session(config=config) as sess:
        assert sess.run(y, options=options, run_metadata=metadata) == 6.0
    assert tf.GraphKeys.TRAINABLE_VARIABLES == "trainable_variables"
    assert tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES) == []


def test_gfile_and_io_gfile(tmp_path):
    root = tmp_path / "logs"
    tf.gfile.MakeDirs(str(root / "a" / "b"))
    assert tf.gfile.Exists(str(root / "a" / "b")) and tf.gfile.IsDirectory(str(root / "a"))
    with tf.gfile.GFile(str(root / "a" / "f.txt"), "w") as f:
        f.write("hello\n")
    with tf.gfile.FastGFile(str(root / "a" / "f.txt"), "rb") as f:
        assert f.read() == b"hello\n"
    assert tf.io.gfile.GFile(str(root / "a" / "f.txt")).size() == 6
    assert tf.gfile.Glob(str(root / "a" / "*.txt")) == [str(root / "a" / "f.txt")]
    assert sorted(tf.gfile.ListDirectory(str(root / "a"))) == ["b", "f.txt"]
    tf.io.gfile.copy(str(root / "a" / "f.txt"), str(root / "g.txt"))
    with pytest.raises(tf.errors.OpError, match="already exists"):
        tf.gfile.Copy(str(root / "a" / "f.txt"), str(root / "g.txt"))
    tf.gfile.DeleteRecursively(str(root))
    assert not tf.io.gfile.exists(str(root))
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.DeleteRecursively(str(root))
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.GFile(str(root / "missing"))


SCRIPT = """
import numpy as np
np.random.seed(7)
import jaxcourse.compat.v1 as tf
flags = tf.app.flags
flags.DEFINE_integer("steps", 3, "number of steps")
flags.DEFINE_string("name", "x", "a name")
FLAGS = flags.FLAGS
tf.logging.set_verbosity(tf.logging.INFO)
def main(argv):
    tf.logging.info("steps=%d name=%s", FLAGS.steps, FLAGS.name)
    print(FLAGS.steps, FLAGS.name, np.random.randint(1000), argv[1:])
if __name__ == "__main__":
    tf.app.run()
"""


def test_app_run_flags_logging_and_numpy_rng_left_alone(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), "--steps=5", "extra"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    np.random.seed(7)
    expected = np.random.randint(1000)
    assert out.stdout.split() == ["5", "x", str(expected), "['extra']"]
    assert "INFO:tensorflow:steps=5 name=x" in out.stderr


def test_unsupported_names_fail_with_notimplementederror_naming_the_api():
    with pytest.raises(NotImplementedError, match=r"tf\.keras is not supported.*tf\.layers"):
        tf.keras  # noqa: B018
    with pytest.raises(
        NotImplementedError, match=r"tf\.nn\.conv3d .*nearest supported: tf\.nn\.conv2d"
    ):
        tf.nn.conv3d  # noqa: B018
    with pytest.raises(NotImplementedError, match=r"tf\.random\.poisson"):
        tf.random.poisson  # noqa: B018
    with pytest.raises(NotImplementedError, match=r"tf\.train\.MonitoredTrainingSession"):
        tf.train.MonitoredTrainingSession  # noqa: B018
    assert not hasattr(tf, "estimator")  # hasattr/getattr defaults keep working
    assert getattr(tf.gfile, "NoSuchThing", None) is None


def test_session_run_none_and_ragged_feeds_raise_clear_errors():
    x = tf.placeholder(tf.float32, [None, 2], name="pairs")
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="Fetch argument None has invalid type"):
            sess.run(None)
        with pytest.raises(TypeError, match="Fetch argument None"):
            sess.run([x, None], {x: [[1, 2]]})
        with pytest.raises(tf.errors.InvalidArgumentError, match="'pairs'.*not a rectangular"):
            sess.run(x, {x: [[1, 2], [3]]})


def test_more_ops_against_numpy():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    x = tf.constant(a)
    values, indices = tf.nn.top_k(x, 2)
    with tf.Session() as sess:
        got = sess.run(
            {
                "tile": tf.tile(x, [2, 1]),
                "slice": tf.slice(x, [1, 1], [2, -1]),
                "pad": tf.pad(x, [[1, 0], [0, 2]]),
                "range": tf.range(0, 10, 3),
                "cumsum": tf.cumsum(x, axis=1, exclusive=True),
                "reverse": tf.reverse(x, [0]),
                "mask": tf.boolean_mask(x, x > 0),
                "where": tf.where(x > 4),
                "seq": tf.sequence_mask([1, 3], 4),
                "topv": values,
                "topi": indices,
                "norm": tf.norm(x),
                "lse": tf.reduce_logsumexp(x, axis=1),
                "clip": tf.clip_by_norm(x, 1.0),
                "round": tf.round(tf.constant([0.5, 1.5, 2.5])),
            }
        )
    np.testing.assert_array_equal(got["tile"], np.tile(a, (2, 1)))
    np.testing.assert_array_equal(got["slice"], a[1:3, 1:])
    np.testing.assert_array_equal(got["pad"], np.pad(a, [(1, 0), (0, 2)]))
    np.testing.assert_array_equal(got["range"], [0, 3, 6, 9])
    np.testing.assert_array_equal(got["cumsum"], np.cumsum(a, 1) - a)
    np.testing.assert_array_equal(got["reverse"], a[::-1])
    np.testing.assert_array_equal(got["mask"], a[a > 0])
    np.testing.assert_array_equal(got["where"], np.argwhere(a > 4))
    assert got["seq"].tolist() == [[True, False, False, False], [True, True, True, False]]
    np.testing.assert_array_equal(got["topv"], np.sort(a, 1)[:, ::-1][:, :2])
    np.testing.assert_array_equal(got["topi"], [[3, 2]] * 3)
    np.testing.assert_allclose(got["norm"], np.linalg.norm(a), rtol=1e-6)
    np.testing.assert_allclose(got["lse"], np.log(np.exp(a).sum(1)), rtol=1e-5)
    np.testing.assert_allclose(got["clip"], a / np.linalg.norm(a), rtol=1e-5)
    np.testing.assert_array_equal(got["round"], [0.0, 2.0, 2.0])


# TF 1.15 names that the classic tutorials use (TF's own mnist_softmax / mnist_deep /
# mnist_with_summaries / word2vec_basic / fully_connected_feed, the course's notebooks, the
# well-known example collections): each must resolve; what they compute is tested above, in
# test_compat_v1_core.py, test_compat_v1_basics.py and the TF1 corpus.
TUTORIAL_NAMES = """
Session InteractiveSession Graph get_default_graph reset_default_graph set_random_seed
placeholder placeholder_with_default constant Variable get_variable variable_scope name_scope
get_variable_scope VariableScope AUTO_REUSE global_variables_initializer
initialize_all_variables local_variables_initializer variables_initializer global_variables
trainable_variables local_variables get_collection add_to_collection GraphKeys
control_dependencies group no_op identity cond case while_loop map_fn scan gradients
stop_gradient
float32 float64 int32 int64 uint8 bool string as_dtype cast to_float to_int32 to_int64
zeros ones zeros_like ones_like fill eye range linspace random_normal random_uniform
truncated_normal random_shuffle multinomial reshape transpose expand_dims squeeze concat stack
unstack split tile slice pad reverse gather gather_nd one_hot shape size rank where
boolean_mask sequence_mask matmul add subtract multiply divide truediv div floordiv mod pow
square sqrt rsqrt exp log log1p abs sign negative maximum minimum tanh sigmoid floor ceil
round sin cos reciprocal squared_difference equal not_equal less less_equal greater
greater_equal logical_and logical_or logical_not reduce_sum reduce_mean reduce_max reduce_min
reduce_prod reduce_any reduce_all reduce_logsumexp argmax argmin arg_max arg_min
count_nonzero cumsum clip_by_value clip_by_norm clip_by_global_norm global_norm add_n norm
einsum tensordot Print assign assign_add assign_sub ConfigProto GPUOptions RunOptions
RunMetadata device TensorShape Dimension Tensor Operation convert_to_tensor
nn.relu nn.relu6 nn.elu nn.leaky_relu nn.selu nn.softplus nn.sigmoid nn.tanh nn.softmax
nn.log_softmax nn.bias_add nn.xw_plus_b nn.l2_loss nn.l2_normalize nn.dropout nn.moments
nn.batch_normalization nn.lrn nn.local_response_normalization nn.conv2d nn.conv2d_transpose
nn.max_pool nn.avg_pool nn.top_k nn.in_top_k nn.embedding_lookup
nn.softmax_cross_entropy_with_logits nn.softmax_cross_entropy_with_logits_v2
nn.sparse_softmax_cross_entropy_with_logits nn.sigmoid_cross_entropy_with_logits
nn.weighted_cross_entropy_with_logits
train.GradientDescentOptimizer train.MomentumOptimizer train.AdamOptimizer
train.AdagradOptimizer train.RMSPropOptimizer train.AdadeltaOptimizer train.Saver
train.latest_checkpoint train.get_or_create_global_step train.SummaryWriter
train.exponential_decay train.piecewise_constant train.polynomial_decay
summary.scalar summary.histogram summary.merge summary.merge_all summary.FileWriter
app.run app.flags flags.DEFINE_string flags.DEFINE_integer flags.DEFINE_float
flags.DEFINE_boolean flags.DEFINE_bool flags.FLAGS logging.set_verbosity logging.info
logging.INFO logging.warn gfile.GFile gfile.FastGFile gfile.Exists gfile.MakeDirs
gfile.DeleteRecursively gfile.Glob gfile.ListDirectory io.gfile.GFile io.gfile.exists
random.normal random.uniform random.truncated_normal random.set_random_seed math.log
math.reduce_sum math.argmax linalg.matmul initializers.global_variables compat.v1.placeholder
compat.as_bytes errors.OutOfRangeError errors.InvalidArgumentError errors.NotFoundError
scalar_summary histogram_summary merge_all_summaries merge_summary
""".split()


@pytest.mark.parametrize("name", TUTORIAL_NAMES)
def test_tutorial_name_resolves(name):
    value = tf
    for part in name.split("."):
        value = getattr(value, part)
    assert value is not None or name == "newaxis"


def test_tensor_shape_dimensions_have_tf1_values():
    x = tf.placeholder(tf.float32, [None, 784])
    assert x.get_shape()[1].value == 784 and int(x.shape[1]) == 784
    assert x.get_shape()[0] is None and x.shape[1:].as_list() == [784]
    assert str(x.shape) == "(?, 784)" and x.shape.num_elements() is None


def test_nn_extras_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 5, 3)).astype(np.float32)
    x = tf.constant(a)
    mean, variance = tf.nn.moments(x, [0, 1, 2])
    normalised = tf.nn.batch_normalization(x, mean, variance, None, None, 1e-3)
    transposed = tf.nn.conv2d_transpose(x, tf.constant(kernel), [2, 8, 8, 5], [1, 2, 2, 1])
    with tf.Session() as sess:
        got = sess.run([mean, variance, normalised, transposed, tf.nn.l2_normalize(x, 3)])
        got.append(sess.run(tf.nn.leaky_relu(x, 0.1)))
    np.testing.assert_allclose(got[0], a.mean((0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(got[1], a.var((0, 1, 2)), atol=1e-5)
    expected = (a - a.mean((0, 1, 2))) / np.sqrt(a.var((0, 1, 2)) + 1e-3)
    np.testing.assert_allclose(got[2], expected, atol=1e-5)
    # conv2d_transpose scatters each input pixel's kernel into the output (stride 2, SAME)
    out = np.zeros((2, 9, 9, 5), np.float64)
    for i in range(4):
        for j in range(4):
            out[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :] += np.einsum(
                "nc,hwoc->nhwo", a[:, i, j, :], kernel
            )
    np.testing.assert_allclose(got[3], out[:, :8, :8, :], atol=1e-4)
    np.testing.assert_allclose(got[4], a / np.linalg.norm(a, axis=3, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(got[5], np.where(a > 0, a, 0.1 * a), atol=1e-7)


def test_learning_rate_decays_follow_tf1s_formulas():
    step = tf.placeholder(tf.int32, [])
    lr = {
        "exp": tf.train.exponential_decay(0.1, step, 100, 0.96),
        "stair": tf.train.exponential_decay(0.1, step, 100, 0.96, staircase=True),
        "natural": tf.train.natural_exp_decay(0.1, step, 100, 0.5),
        "inverse": tf.train.inverse_time_decay(0.1, step, 100, 0.5),
        "poly": tf.train.polynomial_decay(0.1, step, 1000, 0.01, power=2.0),
        "cosine": tf.train.cosine_decay(0.1, step, 1000, alpha=0.1),
        "piecewise": tf.train.piecewise_constant(step, [100, 200], [1.0, 0.5, 0.1]),
    }
    with tf.Session() as sess:
        for s in (0, 150, 200, 1500):
            got = sess.run(lr, {step: s})
            c = min(s, 1000) / 1000
            expected = {
                "exp": 0.1 * 0.96 ** (s / 100),
                "stair": 0.1 * 0.96 ** (s // 100),
                "natural": 0.1 * np.exp(-0.5 * s / 100),
                "inverse": 0.1 / (1 + 0.5 * s / 100),
                "poly": (0.1 - 0.01) * (1 - c) ** 2 + 0.01,
                "cosine": 0.1 * (0.9 * 0.5 * (1 + np.cos(np.pi * c)) + 0.1),
                "piecewise": 1.0 if s <= 100 else 0.5 if s <= 200 else 0.1,
            }
            for key, value in expected.items():
                assert got[key] == pytest.approx(value, rel=1e-5), (key, s)


def test_image_ops_against_numpy():
    import io as std_io

    from PIL import Image

    pixels = (np.arange(4 * 6 * 3) * 7 % 256).astype(np.uint8).reshape(4, 6, 3)
    buffer = std_io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    contents = tf.placeholder(tf.string)
    decoded = tf.image.decode_png(contents, channels=3)
    batch = tf.stack([decoded, decoded])
    standardised = tf.image.per_image_standardization(tf.image.flip_left_right(decoded))
    gray = tf.image.rgb_to_grayscale(tf.image.convert_image_dtype(decoded, tf.float32))
    flips = tf.image.random_flip_left_right(batch)
    with tf.Session() as sess:
        feed = {contents: buffer.getvalue()}
        got = sess.run([decoded, standardised, gray, tf.image.flip_up_down(decoded)], feed)
        flipped = [sess.run(flips, feed) for _ in range(8)]
    np.testing.assert_array_equal(got[0], pixels)
    x = pixels[:, ::-1].astype(np.float32)
    expected = (x - x.mean()) / max(x.std(), 1 / np.sqrt(x.size))
    np.testing.assert_allclose(got[1], expected, atol=1e-5)
    weights = np.array([0.2989, 0.5870, 0.1140], np.float32)
    np.testing.assert_allclose(got[2][..., 0], (pixels / 255.0) @ weights, atol=1e-6)
    np.testing.assert_array_equal(got[3], pixels[::-1])
    for out in flipped:
        for image in out:
            assert np.array_equal(image, pixels) or np.array_equal(image, pixels[:, ::-1])
    assert len({out.tobytes() for out in flipped}) > 1  # a fresh coin per run
