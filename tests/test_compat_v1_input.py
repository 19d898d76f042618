"""Input pipelines of `jaxcourse.compat.v1`: tf.data, TFRecord files, queue-style input.

The references are TensorFlow's own numbers (tests/fixtures/tf_input/reference.json, made by
its generate.py with real TF): the orders of seeded `Dataset.shuffle`. Tutorial-style input
scripts (tf.data, TFRecordDataset, the week-10 queue runners) are in the TF1 corpus
(tests/tf1_corpus/scripts/, checked by tests/test_tf1_corpus.py).
"""

import json
from pathlib import Path

import numpy as np
import pytest

import jaxcourse.compat.v1 as tf
from jaxcourse.records import read_tfrecord

FIXTURES = Path(__file__).parent / "fixtures/tf_input"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())


@pytest.mark.parametrize("case", REFERENCE["shuffle"], ids=lambda c: str(c["args"]))
def test_seeded_shuffle_visits_tensorflows_order(case):
    n, buffer_size, seed, reshuffle, epochs = case["args"]
    with tf.Graph().as_default():
        dataset = tf.data.Dataset.range(n).shuffle(buffer_size, seed, reshuffle).repeat(epochs)
        iterator = dataset.make_initializable_iterator()
        element = iterator.get_next()
        with tf.Session() as sess:
            for expected in case["runs"]:  # re-initialising starts the same sequence again
                sess.run(iterator.initializer)
                got = []
                with pytest.raises(tf.errors.OutOfRangeError):
                    while True:
                        got.append(int(sess.run(element)))
                assert got == expected


def test_one_get_next_is_one_element_per_run():
    x = np.arange(10, dtype=np.float32)
    with tf.Graph().as_default():
        dataset = tf.data.Dataset.from_tensor_slices({"x": x, "twice": 2 * x}).batch(4)
        element = dataset.make_one_shot_iterator().get_next()
        total = tf.reduce_sum(element["x"])
        with tf.Session() as sess:
            a, b, t = sess.run([element["x"], element["twice"], total])
            np.testing.assert_array_equal(b, 2 * a)
            assert t == a.sum() == 6
            np.testing.assert_array_equal(sess.run(element["x"]), [4, 5, 6, 7])
            assert sess.run(total) == 17  # the short last batch
            with pytest.raises(tf.errors.OutOfRangeError, match="End of sequence"):
                sess.run(total)


def test_map_filter_take_skip_and_strings():
    with tf.Graph().as_default():
        dataset = (
            tf.data.Dataset.range(20)
            .filter(lambda v: tf.equal(v % 3, 0))
            .map(lambda v: (tf.cast(v, tf.float32) * 0.5, v))
            .skip(1)
            .take(3)
        )
        halves, values = dataset.make_one_shot_iterator().get_next()
        words = tf.data.Dataset.from_tensor_slices(["a", "bc"]).make_one_shot_iterator()
        word = words.get_next()
        with tf.Session() as sess:
            got = [sess.run([halves, values]) for _ in range(3)]
            assert [(float(h), int(v)) for h, v in got] == [(1.5, 3), (3.0, 6), (4.5, 9)]
            assert sess.run(word) == b"a" and sess.run(word) == b"bc"


def test_iterator_from_structure_switches_datasets():
    with tf.Graph().as_default():
        train = tf.data.Dataset.from_tensor_slices(np.arange(6.0, dtype=np.float32)).batch(3)
        test = tf.data.Dataset.from_tensor_slices(np.full(2, -1.0, np.float32)).batch(3)
        iterator = tf.data.Iterator.from_structure(train.output_types, train.output_shapes)
        batch = iterator.get_next()
        init_train, init_test = iterator.make_initializer(train), iterator.make_initializer(test)
        with tf.Session() as sess:
            with pytest.raises(tf.errors.FailedPreconditionError, match="initializer"):
                sess.run(batch)
            sess.run(init_train)
            assert sess.run(batch).tolist() == [0, 1, 2]
            sess.run(init_test)
            assert sess.run(batch).tolist() == [-1, -1]


def test_written_records_are_tensorflow_files_and_parse_back(tmp_path):
    path = tmp_path / "x.tfrecords"
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "v": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5, 2.5])),
                "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[7])),
            }
        )
    )
    with tf.python_io.TFRecordWriter(str(path)) as writer:
        writer.write(example.SerializeToString())
    records = list(read_tfrecord(path))  # checksums verified by the project's reader
    assert records == [example.SerializeToString()]
    with tf.Graph().as_default():
        serialized = tf.placeholder(tf.string, [])
        spec = {"v": tf.FixedLenFeature([2], tf.float32), "n": tf.FixedLenFeature([], tf.int64)}
        parsed = tf.parse_single_example(serialized, spec)
        missing = tf.parse_single_example(serialized, {"w": tf.FixedLenFeature([], tf.float32)})
        wrong = tf.parse_single_example(serialized, {"v": tf.FixedLenFeature([3], tf.float32)})
        with tf.Session() as sess:
            got = sess.run(parsed, {serialized: records[0]})
            assert got["v"].tolist() == [1.5, 2.5] and got["n"] == 7
            with pytest.raises(tf.errors.InvalidArgumentError, match="w .*required"):
                sess.run(missing, {serialized: records[0]})
            with pytest.raises(tf.errors.InvalidArgumentError, match="Key: v.*needs 3"):
                sess.run(wrong, {serialized: records[0]})


def test_shuffle_batch_reads_every_example_once_per_epoch(tmp_path):
    path = str(tmp_path / "n.tfrecords")
    with tf.python_io.TFRecordWriter(path) as writer:
        for i in range(23):
            feature = {"n": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    with tf.Graph().as_default():
        queue = tf.train.string_input_producer([path], num_epochs=1, seed=1)
        _, record = tf.TFRecordReader().read(queue)
        n = tf.parse_single_example(record, {"n": tf.FixedLenFeature([], tf.int64)})["n"]
        batch = tf.train.shuffle_batch(
            [n],
            batch_size=5,
            capacity=12,
            min_after_dequeue=6,
            seed=3,
            allow_smaller_final_batch=True,
        )
        with tf.Session() as sess:
            coord = tf.train.Coordinator()
            tf.train.start_queue_runners(sess, coord)
            seen = []
            with pytest.raises(tf.errors.OutOfRangeError):
                while not coord.should_stop():
                    seen += sess.run(batch)[0].tolist()
    assert sorted(seen) == list(range(23)) and seen != list(range(23))


def test_bad_input_is_named():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="same first dimension"):
            tf.data.Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
        with pytest.raises(NotImplementedError, match="FixedLenFeature"):
            tf.parse_single_example(
                tf.placeholder(tf.string, []), {"x": tf.VarLenFeature(tf.int64)}
            )
        with pytest.raises(TypeError, match="bytes"):
            tf.python_io.TFRecordWriter.write(None, "text")
        with pytest.raises(NotImplementedError, match="padded_batch.*nearest supported"):
            tf.data.Dataset.range(3).padded_batch(2, [None])
        with pytest.raises(NotImplementedError, match="tf.data.experimental"):
            tf.data.experimental.AUTOTUNE  # noqa: B018
        ph = tf.placeholder(tf.float32, [None])
        with pytest.raises(ValueError, match="one-shot iterator cannot capture a placeholder"):
            tf.data.Dataset.from_tensor_slices(ph).make_one_shot_iterator()


def test_pure_map_runs_vectorized_and_random_map_per_element():
    x = np.linspace(-1, 1, 300, dtype=np.float32).reshape(300, 1)
    with tf.Graph().as_default():
        pure = tf.data.Dataset.from_tensor_slices(x).map(lambda v: tf.square(v) + 1.0)
        noisy = tf.data.Dataset.from_tensor_slices(x).map(lambda v: v + tf.random_uniform([1]))
        pure_batch = pure.batch(300).make_one_shot_iterator().get_next()
        noisy_batch = noisy.batch(300).make_one_shot_iterator().get_next()
        with tf.Session() as sess:
            np.testing.assert_allclose(sess.run(pure_batch), x**2 + 1, rtol=1e-6)
            noise = sess.run(noisy_batch) - x
    assert 0 <= noise.min() and noise.max() < 1 and len(np.unique(noise)) > 250
