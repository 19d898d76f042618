"""TF's V2 checkpoint format: fixtures written by real TensorFlow 2.21 (tf.compat.v1), read and
written without TensorFlow. Fixtures and their generator: tests/fixtures/tf_checkpoints/."""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxcourse.compat.v1 as tf
from jaxcourse.compat.v1 import sstable, tensor_bundle
from jaxcourse.compat.v1.graph_def import shape_proto
from jaxcourse.compat.v1.importer import import_graph_def

FIXTURES = Path(__file__).parent / "fixtures" / "tf_checkpoints"
sys.path.insert(0, str(FIXTURES))
import models  # noqa: E402

W0, SCALE = np.array([1.0, -2.0, 0.5]), np.array([1.0, 0.5, 2.0])
CNN = FIXTURES / "cnn" / "model.ckpt-3"
SOFTMAX = FIXTURES / "softmax" / "model.ckpt-3"
DTYPES = FIXTURES / "dtypes"


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()


def _files(prefix: Path) -> tuple[bytes, bytes]:
    return (
        tensor_bundle.index_path(prefix).read_bytes(),
        tensor_bundle.data_path(prefix).read_bytes(),
    )


@pytest.mark.parametrize("prefix", [CNN, SOFTMAX, DTYPES], ids=lambda p: p.parent.name + p.name)
def test_writer_reproduces_tf_files_byte_for_byte(prefix, tmp_path):
    reader = tensor_bundle.BundleReader(prefix)
    tensor_bundle.write_bundle(tmp_path / "copy", {k: reader.get(k) for k in reader.keys()})
    assert _files(tmp_path / "copy") == _files(prefix)


def test_reader_reads_every_dtype_tf_saves():
    reader = tf.train.NewCheckpointReader(str(DTYPES))
    expected = np.load(FIXTURES / "dtypes_values.npz")
    assert sorted(reader.get_variable_to_shape_map()) == sorted([*expected.files, "bf16"])
    for name in expected.files:
        got, want = reader.get_tensor(name), expected[name]
        assert got.shape == want.shape, name
        if want.dtype.kind == "S":
            assert got.dtype == object and list(got) == list(want)
        else:
            assert got.dtype == want.dtype and np.array_equal(got, want), name
    assert reader.dtype("bf16").name == "bfloat16"
    assert reader.get_tensor("bf16").astype(np.float32).tolist() == [1.0, 2.0]
    assert reader.has_tensor("u64") and not reader.has_tensor("nope")


def test_table_round_trip_over_many_blocks(monkeypatch):
    monkeypatch.setattr(sstable, "BLOCK_SIZE", 64)  # many data blocks and index entries
    items = [
        (f"layer{i // 7:02d}/w{i:03d}".encode(), bytes([i % 256]) * (i % 13)) for i in range(300)
    ]
    table = sstable.build_table(items)
    assert table.endswith(struct.pack("<Q", sstable.MAGIC))
    assert list(sstable.parse_table(table, "t").items()) == items
    with pytest.raises(ValueError, match="must increase"):
        sstable.build_table([(b"b", b""), (b"a", b"")])


def test_crc32c_and_its_mask():
    assert sstable.crc32c.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    for crc in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert sstable.unmask(sstable.mask(crc)) == crc
    assert sstable.mask(0) == 0xA282EAD8  # LevelDB's mask delta
    for value in (0, 1, 127, 128, 300, 2**63):
        assert sstable.get_varint(sstable.put_varint(value), 0, "v") == (
            value,
            len(sstable.put_varint(value)),
        )


def _copy(prefix: Path, tmp_path: Path) -> Path:
    for path in prefix.parent.glob(prefix.name + ".*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / prefix.name


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(tf.errors.NotFoundError, match="missing/model.ckpt"):
        tf.train.NewCheckpointReader(str(tmp_path / "missing" / "model.ckpt"))
    prefix = _copy(SOFTMAX, tmp_path)
    index, data = tensor_bundle.index_path(prefix), tensor_bundle.data_path(prefix)
    _flip(data, 100)  # inside 'W'
    reader = tf.train.NewCheckpointReader(str(prefix))
    with pytest.raises(tf.errors.DataLossError, match=r"data-00000-of-00001, tensor 'W'.*checksum"):
        reader.get_tensor("W")
    assert reader.get_tensor("b").shape == (10,)  # the other tensors still read
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(tf.errors.DataLossError, match="truncated"):
        tf.train.NewCheckpointReader(str(prefix)).get_tensor("global_step")
    good = index.read_bytes()
    _flip(index, 20)
    with pytest.raises(tf.errors.DataLossError, match=r"model.ckpt-3.index.*checksum"):
        tf.train.NewCheckpointReader(str(prefix))
    index.write_bytes(good[:-10])
    with pytest.raises(tf.errors.DataLossError, match=r"model.ckpt-3.index.*magic"):
        tf.train.NewCheckpointReader(str(prefix))
    index.write_bytes(b"")
    with pytest.raises(tf.errors.DataLossError, match="too short"):
        tf.train.NewCheckpointReader(str(prefix))


def test_snappy_block_is_reported_not_misread(tmp_path):
    table = bytearray(sstable.build_table([(b"", b"header"), (b"k", b"v")]))
    metaindex_at = sstable.get_varint(table, len(table) - sstable.FOOTER_SIZE, "")[0]
    size = metaindex_at - sstable.TRAILER_SIZE  # the one data block, at offset 0
    table[size] = sstable.SNAPPY
    crc = sstable.masked_crc(bytes(table[: size + 1]))
    table[size + 1 : size + 5] = struct.pack("<I", crc)
    with pytest.raises(tf.errors.UnimplementedError, match="Snappy"):
        sstable.parse_table(bytes(table), "x.index")


def _restore_and_step(build, prefix: Path, name: str) -> None:
    """Restore TF's checkpoint, check it bit for bit, take TF's next step."""
    model = build(tf)
    saved, after = np.load(FIXTURES / f"{name}_saved.npz"), np.load(FIXTURES / f"{name}_next.npz")
    assert sorted(v.op.name for v in tf.global_variables()) == sorted(saved.files)
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, str(prefix))
        for v in tf.global_variables():
            value = sess.run(v)
            assert np.array_equal(value, saved[v.op.name]), v.op.name
            assert v.saved_dtype == saved[v.op.name].dtype, v.op.name  # TF's, 64-bit too
        x, y = models.batch(1)
        feed = {model["x"]: x, model["y"]: y}
        np.testing.assert_allclose(sess.run(model["loss"], feed), after["loss_before"], rtol=1e-6)
        sess.run(model["train"], feed)
        for v in tf.global_variables():
            np.testing.assert_allclose(
                sess.run(v), after[v.op.name], rtol=1e-5, atol=1e-7, err_msg=v.op.name
            )
    return model


def test_tf_adam_cnn_checkpoint_restores_exactly_and_resumes_like_tf():
    _restore_and_step(models.build_cnn, CNN, "cnn")
    names = {v.op.name for v in tf.global_variables()}
    assert {"beta1_power", "beta2_power", "conv1/W/Adam", "conv1/W/Adam_1", "global_step"} <= names


def test_tf_momentum_checkpoint_and_slots_by_tf_names():
    model = _restore_and_step(models.build_softmax, SOFTMAX, "softmax")
    optimizer, w = model["optimizer"], model["W"]
    assert optimizer.get_slot_names() == ["momentum"]
    assert optimizer.get_slot(w, "momentum").op.name == "W/Momentum"
    assert optimizer.get_slot(w, "m") is None


@pytest.mark.parametrize("key", sorted(models.OPTIMIZERS))
def test_optimizer_variables_and_slots_are_named_as_in_tf(key):
    expected = json.loads((FIXTURES / "slot_names.json").read_text())[key]
    optimizer, (w, _) = models.OPTIMIZERS[key](tf), models.two_variables(tf)
    with tf.name_scope("train"):
        optimizer.minimize(tf.reduce_sum(w * w))
    assert sorted(v.op.name for v in tf.global_variables()) == expected["variables"]
    assert optimizer.get_slot_names() == expected["slots"]
    for slot in expected["slots"]:
        assert optimizer.get_slot(w, slot).op.name.startswith("layer/w/")
    if key == "adam":
        assert optimizer.get_slot(w, "m").op.name == "layer/w/Adam"
        assert optimizer.get_slot(w, "v").op.name == "layer/w/Adam_1"
        beta_powers = [v.op.name for v in optimizer._get_beta_accumulators()]
        assert beta_powers == ["train/beta1_power", "train/beta2_power"]


def test_saving_a_restored_tf_checkpoint_gives_tf_files(tmp_path):
    models.build_cnn(tf)
    saver = tf.train.Saver()
    with tf.Session() as sess:
        saver.restore(sess, str(CNN))
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=3)
    assert prefix == str(tmp_path / "model.ckpt-3")
    assert _files(Path(prefix)) == _files(CNN)


def test_list_and_load_variables_of_tf_checkpoints():
    saved = np.load(FIXTURES / "softmax_saved.npz")
    listed = tf.train.list_variables(str(FIXTURES / "softmax"))  # a directory: its newest
    assert listed == sorted((k, list(saved[k].shape)) for k in saved.files)
    np.testing.assert_array_equal(
        tf.train.load_variable(str(SOFTMAX), "W/Momentum:0"), saved["W/Momentum"]
    )
    assert tf.train.load_variable(str(SOFTMAX), "extras/scale").dtype == np.float64
    with pytest.raises(tf.errors.NotFoundError, match="'nope' not found.*model.ckpt-3"):
        tf.train.load_variable(str(SOFTMAX), "nope")
    assert tf.train.latest_checkpoint(FIXTURES / "cnn") == str(FIXTURES / "cnn" / "model.ckpt-3")
    state = tf.train.get_checkpoint_state(str(FIXTURES / "cnn"))
    assert list(state.all_model_checkpoint_paths) == [
        str(FIXTURES / "cnn" / f"model.ckpt-{i}") for i in (2, 3)
    ]


def test_saver_state_file_and_max_to_keep(tmp_path):
    v = tf.Variable(1.0, name="v")
    step = tf.Variable(0, name="global_step", dtype=tf.int64, trainable=False)
    saver = tf.train.Saver(max_to_keep=2)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for i in range(4):
            sess.run(v.assign(float(i)))
            saver.save(sess, str(tmp_path / "m"), global_step=i)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "checkpoint",
        *(f"m-{i}.{s}" for i in (2, 3) for s in ("data-00000-of-00001", "index")),
    ]
    text = (tmp_path / "checkpoint").read_text()
    assert text.startswith(
        'model_checkpoint_path: "m-3"\nall_model_checkpoint_paths: "m-2"\n'
        'all_model_checkpoint_paths: "m-3"\n'
    )
    assert tf.train.latest_checkpoint(tmp_path) == str(tmp_path / "m-3")
    assert tf.train.load_variable(str(tmp_path), "v") == 3.0
    assert tf.train.load_variable(str(tmp_path), "global_step").dtype == np.int64  # as TF's
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: [")
    with pytest.raises(tf.errors.DataLossError, match="checkpoint state file .*checkpoint"):
        tf.train.latest_checkpoint(tmp_path)
    del step


def test_restore_errors_leave_values_untouched(tmp_path):
    w = tf.Variable(tf.ones([2, 3]), name="W")
    tensor_bundle.write_bundle(tmp_path / "other", {"W": np.zeros((3, 2), np.float32)})
    tensor_bundle.write_bundle(tmp_path / "empty", {"V": np.zeros(1, np.float32)})
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.NotFoundError, match="checkpoint '.*missing' not found"):
            saver.restore(sess, str(tmp_path / "missing"))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"'W'.*\[3, 2\].*\[2, 3\]"):
            saver.restore(sess, str(tmp_path / "other"))
        with pytest.raises(tf.errors.NotFoundError, match="key 'W'.*not found in checkpoint"):
            saver.restore(sess, str(tmp_path / "empty"))
        np.testing.assert_array_equal(sess.run(w), np.ones((2, 3)))


CHECK_IN_TF = """
import sys, numpy as np, tensorflow as tf
reader = tf.train.load_checkpoint(sys.argv[1])
expected = np.load(sys.argv[2])
for name in expected.files:
    got = reader.get_tensor(name)
    assert got.dtype == expected[name].dtype and np.array_equal(got, expected[name]), name
assert sorted(reader.get_variable_to_shape_map()) == sorted(expected.files)
v1 = tf.compat.v1
v1.disable_v2_behavior()
sys.path.insert(0, sys.argv[3])
import models
with v1.Graph().as_default():
    model = models.build_cnn(v1)
    with v1.Session() as sess:
        v1.train.Saver().restore(sess, v1.train.latest_checkpoint(sys.argv[4]))
        for v in v1.global_variables():
            assert np.array_equal(sess.run(v), expected[v.op.name]), v.op.name
print("TF restored", len(expected.files), "tensors")
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow")
def test_jaxcourse_checkpoint_loads_in_tensorflow(tmp_path):
    model = models.build_cnn(tf)
    x, y = models.batch(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(2):
            sess.run(model["train"], {model["x"]: x, model["y"]: y})
        prefix = tf.train.Saver().save(
            sess, str(tmp_path / "ckpt" / "model.ckpt"), global_step=model["global_step"]
        )
        values = {v.op.name: np.asarray(sess.run(v)) for v in tf.global_variables()}
    values["global_step"] = values["global_step"].astype(np.int64)
    np.savez(tmp_path / "values.npz", **values)
    assert prefix.endswith("model.ckpt-2")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHECK_IN_TF,
            prefix,
            str(tmp_path / "values.npz"),
            str(FIXTURES),
            str(tmp_path / "ckpt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TF restored 27 tensors" in result.stdout


@pytest.mark.parametrize(
    ("name", "inputs", "train_op"),
    [
        pytest.param("cnn", "input/", "Adam", marks=pytest.mark.slow),  # conv gradients: ~10 s
        ("softmax", "", "Momentum"),
        ("softmax_resource", "", "Momentum"),
    ],
)
def test_meta_graph_made_by_tf_trains_like_tf(name, inputs, train_op):
    saver = tf.train.import_meta_graph(str(FIXTURES / name / "model.ckpt-3.meta"))
    saved, after = np.load(FIXTURES / f"{name}_saved.npz"), np.load(FIXTURES / f"{name}_next.npz")
    assert sorted(v.op.name for v in tf.global_variables()) == sorted(saved.files)
    assert all(
        not v.op.name.endswith(("Adam", "Adam_1", "power")) for v in tf.trainable_variables()
    )
    (train,) = tf.get_collection("train_op")
    assert train.name == train_op
    assert not [op for op in tf.get_default_graph().get_operations() if op.name.startswith("save/")]
    x, y = models.batch(1)
    feed = {f"{inputs}x:0": x, f"{inputs}y:0": y}
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint(str(FIXTURES / name)))
        np.testing.assert_allclose(sess.run("Mean:0", feed), after["loss_before"], rtol=1e-6)
        sess.run(train, feed)  # TF's own gradient and Apply* ops, run by JAX
        for v in tf.global_variables():
            np.testing.assert_allclose(
                sess.run(v), after[v.op.name], rtol=1e-5, atol=1e-7, err_msg=v.op.name
            )


def test_meta_graph_initializers_and_import_scope():
    saver = tf.train.import_meta_graph(str(SOFTMAX) + ".meta", import_scope="tf1")
    scale = tf.get_default_graph().get_tensor_by_name("tf1/extras/scale:0")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())  # the imported graph's own */Assign ops
        np.testing.assert_array_equal(sess.run(scale), [1.5, -2.25])
        assert sess.run("tf1/global_step:0") == 0
        saver.restore(sess, str(SOFTMAX))  # names in the checkpoint: without the scope
        np.testing.assert_array_equal(
            sess.run("tf1/W/Momentum:0"), np.load(FIXTURES / "softmax_saved.npz")["W/Momentum"]
        )


def test_bad_meta_graph_files(tmp_path):
    with pytest.raises(tf.errors.NotFoundError, match="nope.meta"):
        tf.train.import_meta_graph(str(tmp_path / "nope.meta"))
    broken = tmp_path / "broken.meta"
    broken.write_bytes((CNN.parent / "model.ckpt-3.meta").read_bytes()[:5000])
    with pytest.raises(tf.errors.DataLossError, match="broken.meta"):
        tf.train.import_meta_graph(str(broken))


def _gradient_op(op: str, **attrs):
    """The converter of a gradient op, for a node with `attrs` (TF's defaults filled in)."""
    from jaxcourse.compat.v1 import converters
    from jaxcourse.compat.v1.graph_def import AttrValue, Node, NodeDef, fill_default_attrs

    proto = NodeDef(name=op.lower(), op=op)
    for key, value in attrs.items():
        if isinstance(value, list):
            proto.attr[key].CopyFrom(AttrValue(list=AttrValue.ListValue(i=value)))
        else:
            proto.attr[key].CopyFrom(AttrValue(s=value.encode()))
    fill_default_attrs(proto)
    return converters.converter_for(op, proto.name)(Node(proto))


def test_gradient_ops_against_their_formulas():
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(2, 2, 4, 4, 3)).astype(np.float32)
    close = lambda got, want: np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)  # noqa: E731
    close(_gradient_op("ReluGrad")(g, x), np.where(x > 0, g, 0))
    close(_gradient_op("Relu6Grad")(g, 4 * x), np.where((4 * x > 0) & (4 * x < 6), g, 0))
    close(_gradient_op("TanhGrad")(np.tanh(x), g), g * (1 - np.tanh(x) ** 2))
    s = 1 / (1 + np.exp(-x))
    close(_gradient_op("SigmoidGrad")(s, g), g * s * (1 - s))
    close(_gradient_op("BiasAddGrad")(g), g.sum(axis=(0, 1, 2)))
    pool = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}
    small = g[:, ::2, ::2, :]
    close(
        _gradient_op("AvgPoolGrad", **pool)(np.array(x.shape), small),
        np.repeat(np.repeat(small, 2, axis=1), 2, axis=2) / 4,
    )
    routed = _gradient_op("MaxPoolGrad", **pool)(x, None, small)
    windows = x.reshape(2, 2, 2, 2, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 2, 3, 4)
    winner = windows.argmax(-1)
    expected = np.zeros_like(windows)
    np.put_along_axis(expected, winner[..., None], small[..., None], axis=-1)
    close(routed, expected.reshape(2, 2, 2, 3, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(x.shape))
    logits, labels = (
        rng.normal(size=(3, 5)).astype(np.float32),
        np.eye(5, dtype=np.float32)[[0, 3, 1]],
    )
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    loss, backprop = _gradient_op("SoftmaxCrossEntropyWithLogits")(logits, labels)
    close(loss, -(labels * log_p).sum(-1))
    close(backprop, np.exp(log_p) - labels)
    loss, backprop = _gradient_op("SparseSoftmaxCrossEntropyWithLogits")(
        logits, np.array([0, 3, 1])
    )
    close(loss, -(labels * log_p).sum(-1))
    close(backprop, np.exp(log_p) - labels)


def _grad(w):
    return 2 * SCALE * w


def _apply_graph(op: str, slots: list[float], *scalars: float, **bools):
    """A GraphDef: variable w = W0 and slots s0, s1, ... (constant vectors), then
    `op`(w, s0, ..., lr, grad G, *other scalars, **bools), TF's input order."""
    from jaxcourse.compat.v1.graph_def import AttrValue, GraphDef, dtype_enum, make_tensor_proto

    graph_def, f32 = GraphDef(), AttrValue(type=dtype_enum(np.float32))

    def node(name, kind, inputs=(), **attrs):
        n = graph_def.node.add(name=name, op=kind, input=list(inputs))
        for key, value in attrs.items():
            n.attr[key].CopyFrom(value)

    def const(name, value):
        tensor = make_tensor_proto(np.asarray(value, np.float32))
        node(name, "Const", dtype=f32, value=AttrValue(tensor=tensor))

    refs = ["w"] + [f"s{i}" for i in range(len(slots))]
    for name, value in zip(refs, [W0, *(np.full(3, s) for s in slots)], strict=True):
        node(name, "VariableV2", dtype=f32, shape=AttrValue(shape=shape_proto([3])))
        const(f"{name}/init", value)
        node(f"{name}/Assign", "Assign", [name, f"{name}/init"], T=f32)
    names = [f"c{i}" for i in range(len(scalars))]
    for name, value in zip(names, scalars, strict=True):
        const(name, value)
    const("grad", _grad(W0))
    inputs = refs + names[:1] + ["grad"] + names[1:]
    if op in ("ApplyRMSProp", "ApplyCenteredRMSProp", "ApplyAdadelta"):  # grad comes last
        inputs = refs + names + ["grad"]
    node("step", op, inputs, T=f32, **{k: AttrValue(b=v) for k, v in bools.items()})
    return graph_def


def _rmsprop(ms, mom, lr, rho, momentum, eps, mg=None):
    g = _grad(W0)
    ms = ms + (g * g - ms) * (1 - rho)
    denom = ms + eps if mg is None else ms - (mg + (g - mg) * (1 - rho)) ** 2 + eps
    return W0 - (mom * momentum + lr * g / np.sqrt(denom))


def _adadelta(accum, accum_update, lr, rho, eps):
    g = _grad(W0)
    accum = accum * rho + g * g * (1 - rho)
    return W0 - lr * np.sqrt(accum_update + eps) / np.sqrt(accum + eps) * g


@pytest.mark.parametrize(
    ("op", "slot", "scalars", "bools", "expected"),
    [
        ("ApplyGradientDescent", [], (0.1,), {}, W0 - 0.1 * _grad(W0)),
        ("ApplyAdagrad", [0.1], (0.1,), {}, W0 - 0.1 * _grad(W0) / np.sqrt(0.1 + _grad(W0) ** 2)),
        (
            "ApplyRMSProp",
            [1.0, 0.5],
            (0.1, 0.9, 0.5, 1e-6),
            {},
            _rmsprop(1, 0.5, 0.1, 0.9, 0.5, 1e-6),
        ),
        (
            "ApplyCenteredRMSProp",
            [0.2, 1.0, 0.5],
            (0.1, 0.9, 0.5, 1e-6),
            {},
            _rmsprop(1, 0.5, 0.1, 0.9, 0.5, 1e-6, mg=0.2),
        ),
        ("ApplyAdadelta", [0.3, 0.2], (0.1, 0.95, 1e-6), {}, _adadelta(0.3, 0.2, 0.1, 0.95, 1e-6)),
        (
            "ApplyMomentum",
            [0.5],
            (0.1, 0.9),
            {"use_nesterov": True},
            W0 - 0.1 * (_grad(W0) + 0.9 * (0.9 * 0.5 + _grad(W0))),
        ),
    ],
)
def test_apply_kernels_of_imported_graphs(op, slot, scalars, bools, expected):
    import_graph_def(_apply_graph(op, slot, *scalars, **bools), name="")
    graph = tf.get_default_graph()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(graph.get_operation_by_name("step"))
        np.testing.assert_allclose(sess.run("w:0"), expected, rtol=1e-6)


@pytest.mark.parametrize("key", sorted(models.OPTIMIZERS))
def test_each_optimizers_meta_graph_steps_like_tf(key):
    directory = FIXTURES / "optimizers" / key
    saver = tf.train.import_meta_graph(str(directory / "model.ckpt-1.meta"))
    after = np.load(FIXTURES / "optimizers_next.npz")
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint(str(directory)))
        sess.run(tf.get_collection("train_op")[0])  # TF's Apply* kernel of this optimizer
        for v in tf.global_variables():
            np.testing.assert_allclose(
                sess.run(v), after[f"{key}/{v.op.name}"], rtol=1e-6, err_msg=v.op.name
            )
    assert len(tf.global_variables()) == sum(k.startswith(f"{key}/") for k in after.files)


def test_checkpoints_of_an_imported_meta_graph_carry_it(tmp_path):
    saver = tf.train.import_meta_graph(str(SOFTMAX) + ".meta")
    with tf.Session() as sess:
        saver.restore(sess, str(SOFTMAX))
        sess.run(
            tf.get_collection("train_op")[0],
            dict(zip(["x:0", "y:0"], models.batch(1), strict=True)),
        )
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=4)
    assert (
        Path(prefix + ".meta").read_bytes()
        == (FIXTURES / "softmax" / "model.ckpt-3.meta").read_bytes()
    )
    tf.reset_default_graph()  # the next run: import what this one saved
    saver = tf.train.import_meta_graph(prefix + ".meta")
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
        np.testing.assert_allclose(
            sess.run("W:0"), np.load(FIXTURES / "softmax_next.npz")["W"], rtol=1e-5, atol=1e-7
        )
    tf.reset_default_graph()
    tf.Variable(1.0, name="v")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = tf.train.Saver().save(sess, str(tmp_path / "python" / "m"))
    assert not Path(prefix + ".meta").exists()  # a graph built in Python has no MetaGraphDef


@pytest.mark.parametrize("key", sorted(models.OPTIMIZERS))
def test_each_optimizer_resumes_from_tf_slots(key):
    """The shim's own optimizer, restored from TF's slots, takes TF's next step."""
    model = models.quadratic(tf, models.OPTIMIZERS[key](tf))
    after = np.load(FIXTURES / "optimizers_next.npz")
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, str(FIXTURES / "optimizers" / key / "model.ckpt-1"))
        sess.run(model["train"])
        for v in tf.global_variables():
            np.testing.assert_allclose(
                sess.run(v), after[f"{key}/{v.op.name}"], rtol=1e-6, err_msg=v.op.name
            )


def test_int64_beyond_int32_is_refused_without_x64(tmp_path):
    step = tf.Variable(0, name="global_step", dtype=tf.int64, trainable=False)
    tensor_bundle.write_bundle(tmp_path / "big", {"global_step": np.array(2**40, np.int64)})
    tensor_bundle.write_bundle(tmp_path / "fits", {"global_step": np.array(7, np.int64)})
    with tf.Session() as sess:
        sess.run(step.initializer)
        with pytest.raises(tf.errors.InvalidArgumentError, match="'global_step'.*outside int32"):
            tf.train.Saver().restore(sess, str(tmp_path / "big"))
        tf.train.Saver().restore(sess, str(tmp_path / "fits"))
        assert sess.run(step) == 7
