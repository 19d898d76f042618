"""GraphDefs made by real TensorFlow (tests/fixtures/graphdefs/, see make_graphdefs.py there)
imported with `tf.import_graph_def` and run by the shim's Session: outputs equal TF's."""

from __future__ import annotations

import io
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

import jaxcourse.compat.v1 as tf
from jaxcourse.compat.v1.converters import supported_op_types
from jaxcourse.compat.v1.converters.image_ops import decode_jpeg
from jaxcourse.compat.v1.errors import InvalidArgumentError
from jaxcourse.compat.v1.graph_def import (
    Node,
    NodeDef,
    TensorProto,
    fill_default_attrs,
    make_tensor_proto,
    to_numpy,
)

FIXTURES = Path(__file__).parent / "fixtures" / "graphdefs"
IMAGES = sorted((FIXTURES / "images").glob("*.jpg"))


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURES / "reference.npz") as data:
        return dict(data)


def load(name: str) -> tf.GraphDef:
    graph_def = tf.GraphDef()
    graph_def.ParseFromString((FIXTURES / f"{name}.pb").read_bytes())
    return graph_def


pytestmark = pytest.mark.usefixtures("fresh_tf_graph")


def test_every_converted_op_gives_tfs_values(reference):
    tf.import_graph_def(load("ops"), name="")
    keys = [k.removeprefix("ops/") for k in reference if k.startswith("ops/") and k != "ops/a"]
    with tf.Session() as sess:
        outs = sess.run({k: f"out_{k}:0" for k in keys}, {"a:0": reference["ops/a"]})
    assert len(keys) > 60
    for key in keys:
        want = reference[f"ops/{key}"]
        got = outs[key]
        assert got.dtype == jax.dtypes.canonicalize_dtype(want.dtype), key  # int64 -> int32
        assert got.shape == want.shape, key
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=key)


def test_week8_inception_script_gives_tfs_softmax(reference):
    graph_def = tf.GraphDef()
    graph_def.ParseFromString((FIXTURES / "inception_like.pb").read_bytes())
    tf.import_graph_def(graph_def, name="")
    with tf.Session() as sess:
        softmax_tensor = sess.graph.get_tensor_by_name("softmax:0")
        for path in IMAGES:
            image_data = path.read_bytes()
            predictions, decoded = sess.run(
                [softmax_tensor, "DecodeJpeg:0"], {"DecodeJpeg/contents:0": image_data}
            )
            np.testing.assert_array_equal(decoded, reference[f"inception_like/decoded/{path.name}"])
            want = reference[f"inception_like/softmax/{path.name}"]
            np.testing.assert_allclose(predictions, want, atol=1e-5, rtol=0)
            assert predictions.argmax() == want.argmax()
        assert sess.compile_count == len(IMAGES)  # one per decoded image size
    # TensorBoard's Graphs dashboard: the imported ops under their TF names and scopes
    groups = {node.name.split("/")[0] for node in sess.graph.as_graph_def().node}
    assert {"ResizeBilinear", "conv", "mixed", "pool_3", "softmax"} <= groups


def test_old_graph_def_gets_default_attributes_from_op_definitions():
    graph_def = load("inception_like")
    assert graph_def.versions.producer == 8
    conv = next(n for n in graph_def.node if n.op == "Conv2D")
    assert "data_format" not in conv.attr and "dilations" not in conv.attr  # stripped by TF
    copy = NodeDef()
    copy.CopyFrom(conv)
    fill_default_attrs(copy)
    node = Node(copy)
    assert node.attr("data_format") == "NHWC"
    assert node.attr("dilations") == [1, 1, 1, 1]


@pytest.mark.parametrize("method", ["INTEGER_FAST", "INTEGER_ACCURATE"])
def test_decode_jpeg_matches_tf_for_each_dct_method(reference, method):
    for path in IMAGES:
        got = decode_jpeg(path.read_bytes(), dct_method=method)
        np.testing.assert_array_equal(got, reference[f"decode_jpeg/{method}/{path.name}"])


def test_decode_jpeg_default_is_tfs_fast_dct_not_pils(reference):
    differences = []
    for path in IMAGES:
        data = path.read_bytes()
        np.testing.assert_array_equal(
            decode_jpeg(data), reference[f"decode_jpeg/INTEGER_FAST/{path.name}"]
        )
        pil = np.asarray(Image.open(io.BytesIO(data)))
        differences.append(np.abs(pil.reshape(-1).astype(int) - decode_jpeg(data).reshape(-1)))
    assert max(d.max() for d in differences) >= 3  # PIL's accurate DCT is not TF's default


def test_decode_jpeg_ratio_downscales_like_tf(reference):
    data = (FIXTURES / "images" / "gradient_420.jpg").read_bytes()
    for ratio in (2, 4):
        got = decode_jpeg(data, channels=3, ratio=ratio)
        np.testing.assert_array_equal(got, reference[f"decode_jpeg/ratio{ratio}"])


@pytest.mark.parametrize(
    ("model", "feeds"),
    [("softmax_model", {"x-input:0": "x"}), ("cnn_model", {"x:0": "x", "keep_prob:0": 1.0})],
)
def test_course_models_frozen_by_tf_give_tfs_outputs(reference, model, feeds):
    tf.import_graph_def(load(model), name="")
    feed_dict = {k: reference[f"{model}/x"] if v == "x" else v for k, v in feeds.items()}
    with tf.Session() as sess:
        got = sess.run("prediction:0", feed_dict)
    np.testing.assert_allclose(got, reference[f"{model}/prediction"], atol=1e-6, rtol=0)


def test_frozen_dynamic_rnn_runs_its_while_loop_and_tensor_arrays(reference):
    graph_def = load("dynamic_rnn")
    assert {"Enter", "Merge", "Switch", "NextIteration", "Exit", "LoopCond"} <= {
        n.op for n in graph_def.node
    }
    tf.import_graph_def(graph_def, name="")
    with tf.Session() as sess:
        prediction, outputs = sess.run(
            ["prediction:0", "outputs:0"], {"x:0": reference["dynamic_rnn/x"]}
        )
    np.testing.assert_allclose(prediction, reference["dynamic_rnn/prediction"], atol=1e-6)
    np.testing.assert_allclose(outputs, reference["dynamic_rnn/outputs"], atol=1e-5)


def test_import_prefix_input_map_and_return_elements(reference):
    images = tf.placeholder(tf.float32, [None, 784], name="images")
    (prediction, matmul) = tf.import_graph_def(
        load("softmax_model"),
        input_map={"x-input:0": images * 1.0},
        return_elements=["prediction:0", "MatMul"],
        name="model",
    )
    assert prediction.name == "model/prediction:0"
    assert isinstance(matmul, tf.Operation) and matmul.name == "model/MatMul"
    graph = tf.get_default_graph()
    assert graph.get_operation_by_name("model/W") in graph.get_operations()
    with tf.Session() as sess:
        got = sess.run(prediction, {images: reference["softmax_model/x"]})
    np.testing.assert_allclose(got, reference["softmax_model/prediction"], atol=1e-6)


def test_unknown_op_type_fails_at_import_naming_type_node_and_supported_types():
    graph_def = tf.GraphDef()
    graph_def.node.add(name="x", op="Placeholder").attr["dtype"].type = 1
    graph_def.node.add(name="odd/node", op="FancyNewOp", input=["x"])
    with pytest.raises(InvalidArgumentError) as info:
        tf.import_graph_def(graph_def, name="")
    message = str(info.value)
    assert "'FancyNewOp'" in message and "'odd/node'" in message
    assert "Conv2D" in message and "TensorArrayV3" in message
    assert tf.get_default_graph().get_operations() == []  # nothing was built


def test_control_inputs_and_check_numerics():
    graph_def = tf.GraphDef()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    graph_def.node.add(name="init", op="NoOp")
    check = graph_def.node.add(name="checked", op="CheckNumerics", input=["x", "^init"])
    check.attr["T"].type = 1
    check.attr["message"].s = b"x must be finite"
    tf.import_graph_def(graph_def, name="")
    graph = tf.get_default_graph()
    checked = graph.get_tensor_by_name("checked:0")
    assert graph.get_operation_by_name("init") in checked.op.control_inputs
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(checked, {"x:0": [1.0, 2.0]}), [1.0, 2.0])
        with pytest.raises(Exception, match="x must be finite"):
            sess.run(checked, {"x:0": [1.0, np.nan]})


def test_tensor_protos_convert_like_tf():
    for value in (
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([[True, False]]),
        np.array(7, np.int64),
        np.array([1.5, -2], np.float16),
        np.array([b"ab", b""], object),
    ):
        back = to_numpy(make_tensor_proto(value))
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    proto = TensorProto(dtype=1, float_val=[1.0, 2.0])  # TF repeats the last value
    proto.tensor_shape.dim.add().size = 4
    np.testing.assert_array_equal(to_numpy(proto), [1.0, 2.0, 2.0, 2.0])


def test_graph_def_serializes_back_to_the_same_message():
    graph_def = load("cnn_model")
    again = tf.GraphDef()
    again.ParseFromString(graph_def.SerializeToString())
    assert again == graph_def


def test_supported_types_cover_the_issue_list():
    listed = (
        "Const Placeholder PlaceholderWithDefault Identity NoOp MatMul BatchMatMulV2 Conv2D "
        "DepthwiseConv2dNative BiasAdd Add AddV2 Sub Mul RealDiv Maximum Minimum Relu Relu6 Elu "
        "Tanh Sigmoid Softmax LogSoftmax MaxPool AvgPool Mean Sum Max ConcatV2 Concat Reshape "
        "Squeeze ExpandDims Transpose Pad StridedSlice Slice Shape Pack Unpack Fill Cast ArgMax "
        "ResizeBilinear BatchNormWithGlobalNormalization FusedBatchNorm FusedBatchNormV3 "
        "DecodeJpeg DecodePng CheckNumerics Enter Merge Switch NextIteration Exit LoopCond "
        "TensorArrayV3 TensorArrayScatterV3 TensorArrayReadV3 TensorArrayWriteV3 "
        "TensorArrayGatherV3"
    ).split()
    assert set(listed) <= set(supported_op_types())


def test_decode_png_on_fed_bytes():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    graph_def = tf.GraphDef()
    contents = graph_def.node.add(name="contents", op="Const")
    contents.attr["dtype"].type = 7
    contents.attr["value"].tensor.CopyFrom(make_tensor_proto(np.array(b"", object)))
    decode = graph_def.node.add(name="png", op="DecodePng", input=["contents"])
    decode.attr["channels"].i = 3
    tf.import_graph_def(graph_def, name="")
    with tf.Session() as sess:
        got = sess.run("png:0", {"contents:0": buffer.getvalue()})
    np.testing.assert_array_equal(got, pixels)


def test_bad_imports_name_what_is_wrong():
    with pytest.raises(TypeError, match="expects a GraphDef, got bytes"):
        tf.import_graph_def(b"not a graph")
    graph_def = tf.GraphDef()
    graph_def.node.add(name="y", op="Identity", input=["missing:0"]).attr["T"].type = 1
    with pytest.raises(ValueError, match="node 'y' has input 'missing:0'.*no node 'missing'"):
        tf.import_graph_def(graph_def)
    graph_def = load("softmax_model")
    tf.import_graph_def(graph_def, name="")
    with pytest.raises(ValueError, match="already has an operation named 'x-input'"):
        tf.import_graph_def(graph_def, name="")
    first, second = (tf.import_graph_def(graph_def, return_elements=["W"])[0] for _ in "ab")
    assert (first.name, second.name) == ("import/W", "import_1/W")  # TF's uniquified prefix
    with pytest.raises(ValueError, match="input_map names tensors that no imported node uses"):
        tf.import_graph_def(graph_def, input_map={"nothing:0": tf.constant(1.0)}, name="m")


def test_frozen_tf_cond_selects_the_branch_tf_takes(reference):
    graph_def = load("cond")
    assert "Switch" in {n.op for n in graph_def.node}
    tf.import_graph_def(graph_def, name="")
    with tf.Session() as sess:
        for training in (False, True):
            for deep in (False, True):
                got = sess.run(
                    "y:0", {"x:0": reference["cond/x"], "training:0": training, "deep:0": deep}
                )
                want = reference[f"cond/y/{training}/{deep}"]
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
