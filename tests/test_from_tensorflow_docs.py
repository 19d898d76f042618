"""docs/from_tensorflow.md's week-8 script, run as printed there, gives TF's softmax."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

import jaxcourse.compat.v1 as tf

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "graphdefs"
WEEK8 = """\
with tf.gfile.FastGFile('inception_model/classify_image_graph_def.pb', 'rb') as f:
    graph_def = tf.GraphDef()
    graph_def.ParseFromString(f.read())
    tf.import_graph_def(graph_def, name='')
with tf.Session() as sess:
    softmax_tensor = sess.graph.get_tensor_by_name('softmax:0')
    predictions = sess.run(softmax_tensor, {'DecodeJpeg/contents:0': image_data})
"""


def test_docs_show_the_week8_script_verbatim_and_it_runs(tmp_path, monkeypatch, fresh_tf_graph):
    page = (ROOT / "docs" / "from_tensorflow.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert blocks[0] == WEEK8
    (tmp_path / "inception_model").mkdir()
    shutil.copy(
        FIXTURES / "inception_like.pb", tmp_path / "inception_model" / "classify_image_graph_def.pb"
    )
    monkeypatch.chdir(tmp_path)
    with np.load(FIXTURES / "reference.npz") as reference:
        for name in ("gradient_420.jpg", "grey.jpg"):
            tf.reset_default_graph()
            scope = {"tf": tf, "image_data": (FIXTURES / "images" / name).read_bytes()}
            exec(blocks[0], scope)  # noqa: S102  (the documented script itself)
            want = reference[f"inception_like/softmax/{name}"]
            np.testing.assert_allclose(scope["predictions"], want, atol=1e-5, rtol=0)
