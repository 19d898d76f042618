"""tf.summary.image against TensorFlow's pixels, and the week-5 projector API."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.tf1_lib.replay import replay, tf_meta

import jaxcourse.compat.v1 as tf
from jaxcourse.compat.v1.contrib.tensorboard.plugins import projector


def test_summary_image_matches_tensorflow():
    """Tags, sizes and every pixel (TF's scaling of floats, uint8 as is) equal TF's."""
    results, meta, reference = replay(tf, "summary_image")
    assert meta == tf_meta(reference)
    expected = {k: v for k, v in reference.items() if k.startswith("run")}
    assert sorted(results) == sorted(expected)
    for key, want in expected.items():
        np.testing.assert_array_equal(results[key], want, err_msg=key)


def test_summary_image_is_written_by_file_writer(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 28, 28, 1])
        summary = tf.summary.image("input", images, 2)
        with tf.Session() as sess, tf.summary.FileWriter(str(tmp_path)) as writer:
            writer.add_summary(sess.run(summary, {images: np.ones((5, 28, 28, 1))}), 3)
    events = accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.Tags()["images"] == ["input/image/0", "input/image/1"]
    assert events.Images("input/image/0")[0].step == 3


def test_week5_projector_script_writes_tensorflows_config(tmp_path):
    """The course's week-5 projector calls, with only the import changed."""
    with tf.Graph().as_default():
        embedding = tf.Variable(tf.zeros([100, 784]), trainable=False, name="embedding")
        with tf.Session() as sess:
            writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
            config = projector.ProjectorConfig()
            embed = config.embeddings.add()
            embed.tensor_name = embedding.name
            embed.metadata_path = str(tmp_path / "metadata.tsv")
            embed.sprite.image_path = "mnist_10k_sprite.png"
            embed.sprite.single_image_dim.extend([28, 28])
            projector.visualize_embeddings(writer, config)
            writer.close()
    text = (tmp_path / "projector_config.pbtxt").read_text()
    # the message TF's text_format writes for the same config
    assert text == (
        "embeddings {\n"
        '  tensor_name: "embedding:0"\n'
        f'  metadata_path: "{tmp_path / "metadata.tsv"}"\n'
        "  sprite {\n"
        '    image_path: "mnist_10k_sprite.png"\n'
        "    single_image_dim: 28\n"
        "    single_image_dim: 28\n"
        "  }\n"
        "}\n"
    )
    from google.protobuf import text_format

    projector_config_pb2 = pytest.importorskip("tensorboard.plugins.projector.projector_config_pb2")
    parsed = text_format.Parse(text, projector_config_pb2.ProjectorConfig())
    assert parsed.embeddings[0].sprite.single_image_dim == [28, 28]


def test_projector_errors_name_the_field():
    config = projector.ProjectorConfig()
    embed = config.embeddings.add()
    with pytest.raises(TypeError, match="FileWriter"):
        projector.visualize_embeddings(object(), config)
    with pytest.raises(ValueError, match="needs tensor_name"):
        config.to_text()
    embed.tensor_name = "embedding"
    embed.sprite.image_path = "sprite.png"
    with pytest.raises(ValueError, match=r"single_image_dim must hold \[width, height\]"):
        config.to_text()
