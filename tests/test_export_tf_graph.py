"""`jaxcourse export --graph-def` (and `graph_serving.export_graph` for a graph built in a
script): `jaxcourse predict` serves a TF1 graph without TensorFlow or the graph code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import jaxcourse.compat.v1 as tf
from jaxcourse.cli import main
from jaxcourse.compat.v1.graph_serving import export_graph
from jaxcourse.inference.predict import Predictor, load_image

FIXTURES = Path(__file__).parent / "fixtures" / "graphdefs"


pytestmark = pytest.mark.usefixtures("fresh_tf_graph")


def _digits(folder: Path) -> list[Path]:
    rng = np.random.default_rng(5)
    paths = []
    for i in range(2):
        path = folder / f"digit{i}.png"
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_cli_exports_a_frozen_pb_that_predict_serves_with_the_graphs_outputs(cli, tmp_path):
    out = tmp_path / "export"
    done = cli(
        "export", "--graph-def", str(FIXTURES / "cnn_model.pb"), "--input", "x:0",
        "--output", "prediction:0", "--image-shape", "28,28,1", "--feed", "keep_prob:0=1.0",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    images = _digits(tmp_path)
    done = cli("predict", str(out), *map(str, images), "--json")
    assert done.returncode == 0, done.stderr
    served = np.array([row["probabilities"] for row in json.loads(done.stdout)])
    manifest = json.loads((out / "manifest.json").read_text())
    rows = np.stack([load_image(p, manifest["preprocessing"]).reshape(784) for p in images])
    graph_def = tf.GraphDef()
    graph_def.ParseFromString((FIXTURES / "cnn_model.pb").read_bytes())
    tf.import_graph_def(graph_def, name="")
    with tf.Session() as sess:
        want = sess.run("prediction:0", {"x:0": rows, "keep_prob:0": 1.0})
    np.testing.assert_allclose(served, want, atol=1e-6)


def test_cli_export_of_a_graph_def_names_what_is_missing(tmp_path, capsys):
    code = main(["export", "--graph-def", str(FIXTURES / "cnn_model.pb"), "--out", str(tmp_path)])
    assert code != 0
    assert "--input, --output, --image-shape" in capsys.readouterr().err


def test_a_graph_built_in_a_script_exports_with_its_session_variables(tmp_path):
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    w = tf.Variable(tf.random_normal([784, 10], stddev=0.05, seed=3), name="W")
    b = tf.Variable(tf.zeros([10]), name="b")
    prediction = tf.nn.softmax(tf.matmul(x, w) + b, name="prediction")
    rows = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        want = sess.run(prediction, {x: rows})
        out = export_graph(
            tmp_path / "export", prediction, x, image_shape=(28, 28, 1), session=sess,
            labels=[f"digit {i}" for i in range(10)],
        )  # fmt: skip
    predictor = Predictor.load(out)
    np.testing.assert_allclose(predictor.predict(rows.reshape(3, 28, 28, 1)), want, atol=1e-6)
    assert predictor.labels[3] == "digit 3"
