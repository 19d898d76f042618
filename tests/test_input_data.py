"""`read_data_sets` / `DataSet.next_batch` behave exactly like TF1's `input_data`.

The references: TF's seed rule as real TensorFlow computes it (tests/fixtures/tf_input, made by
its generate.py), and the batch order written as a stream — each epoch visits the previous
epoch's arrangement through one more `numpy.random.permutation` — rather than as TF's
slice-and-stitch loop.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxcourse.compat import tf_random
from jaxcourse.data import idx, input_data, mnist

REFERENCE = json.loads((Path(__file__).parent / "fixtures/tf_input/reference.json").read_text())


def write_files(directory: Path, n_train: int, n_test: int, distinct: bool = True) -> dict:
    """MNIST-layout gz files; with `distinct`, image i's first pixels spell its index."""
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = np.zeros((n, 28, 28), np.uint8)
        if distinct:
            rng = np.random.default_rng(n)
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
        labels = (np.arange(n) * 7 % 10).astype(np.uint8)
        stem_x, stem_y = mnist.FILES[split]
        idx.write_idx(directory / f"{stem_x}.gz", images)
        idx.write_idx(directory / f"{stem_y}.gz", labels)
        out[split] = (images, labels)
    return out


def index_of(rows: np.ndarray) -> np.ndarray:
    """The file index of flat uint8-or-float image rows written by `write_files`."""
    first = np.rint(np.asarray(rows, np.float64)[:, :2] * (255 if rows.dtype != np.uint8 else 1))
    return (first[:, 0] + 256 * first[:, 1]).astype(int)


def reference_stream(rng: np.random.RandomState, n: int, epochs: int) -> np.ndarray:
    arrangement, stream = np.arange(n), []
    for _ in range(epochs):
        arrangement = arrangement[rng.permutation(n)]
        stream.append(arrangement)
    return np.concatenate(stream)


def test_the_seed_rule_is_tensorflows():
    for graph_seed, op_seed, expected in REFERENCE["get_seed"]:
        assert list(tf_random.get_seed(op_seed, graph_seed, 0)) == expected, (graph_seed, op_seed)


def test_splits_dtypes_and_scaling_are_tf1s(tmp_path, capsys):
    raw = write_files(tmp_path, 30, 8)
    sets = input_data.read_data_sets(tmp_path, validation_size=10)
    assert "Extracting" in capsys.readouterr().out
    train_x, train_y = raw["train"]
    assert (sets.train.num_examples, sets.validation.num_examples) == (20, 10)
    assert sets.test.images.shape == (8, 784) and sets.test.images.dtype == np.float32
    expected = train_x[:10].reshape(10, 784).astype(np.float32) * np.float32(1.0 / 255.0)
    np.testing.assert_array_equal(sets.validation.images, expected)  # the first 10, bit-exact
    np.testing.assert_array_equal(sets.train.labels, train_y[10:])
    assert sets.train.labels.dtype == np.uint8

    hot = input_data.read_data_sets(tmp_path, one_hot=True, validation_size=10)
    assert hot.test.labels.dtype == np.float64 and hot.test.labels.shape == (8, 10)
    np.testing.assert_array_equal(hot.test.labels.argmax(1), raw["test"][1])
    assert hot.test.labels.sum() == 8

    raw_sets = input_data.read_data_sets(tmp_path, dtype=np.uint8, reshape=False, validation_size=5)
    assert raw_sets.train.num_examples == 25 and raw_sets.train.images.dtype == np.uint8
    np.testing.assert_array_equal(raw_sets.test.images, raw["test"][0][..., None])


def test_validation_size_must_fit(tmp_path):
    write_files(tmp_path, 30, 8)
    with pytest.raises(ValueError, match="between 0 and 30. Received: 31"):
        input_data.read_data_sets(tmp_path, validation_size=31)
    with pytest.raises(TypeError, match="Invalid image dtype .* expected uint8 or float32"):
        input_data.read_data_sets(tmp_path, validation_size=5, dtype=np.int32)


def test_default_is_55000_train_5000_validation(tmp_path):
    write_files(tmp_path, 60000, 10, distinct=False)
    sets = input_data.read_data_sets(tmp_path)
    assert sets.train.num_examples == 55000 and sets.validation.num_examples == 5000
    assert sets.train.images.shape == (55000, 784) and sets.test.num_examples == 10


@pytest.mark.parametrize("n, batch_size, calls", [(7, 3, 11), (20, 5, 9), (6, 6, 4), (9, 4, 7)])
def test_next_batch_draws_tf1s_batches(tmp_path, n, batch_size, calls):
    raw = write_files(tmp_path, n + 2, 3)
    sets = input_data.read_data_sets(tmp_path, validation_size=2, seed=5)
    # each DataSet seeded NumPy with seed 5 (TF's rule: op seed given -> seed2 = 5)
    stream = reference_stream(np.random.RandomState(5), n, epochs=calls * batch_size // n + 2)
    for k in range(calls):
        images, labels = sets.train.next_batch(batch_size)
        want = stream[k * batch_size : (k + 1) * batch_size] + 2  # + the 2 validation images
        np.testing.assert_array_equal(index_of(images), want)
        np.testing.assert_array_equal(labels, raw["train"][1][want])
    assert sets.train.epochs_completed == (calls * batch_size - 1) // n


def test_epoch_ends_draw_from_the_global_rng_when_reached(tmp_path):
    """TF1 draws the next permutation only when a batch runs past the end of an epoch, so
    NumPy draws of the script in between change it exactly as they would under TF."""
    write_files(tmp_path, 6, 3)
    sets = input_data.read_data_sets(tmp_path, validation_size=0, seed=11)
    rng = np.random.RandomState(11)
    first = rng.permutation(6)
    got = [index_of(sets.train.next_batch(3)[0]) for _ in range(2)]
    np.testing.assert_array_equal(np.concatenate(got), first)
    assert np.random.rand() == rng.rand()  # the script draws; so does the reference
    np.testing.assert_array_equal(
        index_of(sets.train.next_batch(3)[0]), first[rng.permutation(6)][:3]
    )


def test_no_shuffle_wraps_in_file_order(tmp_path):
    write_files(tmp_path, 5, 3)
    sets = input_data.read_data_sets(tmp_path, validation_size=0, dtype=np.uint8)
    got = np.concatenate([index_of(sets.train.next_batch(3, shuffle=False)[0]) for _ in range(4)])
    np.testing.assert_array_equal(got, np.arange(12) % 5)


def test_datasets_reseed_numpy_like_tf1(tmp_path):
    write_files(tmp_path, 5, 3)
    np.random.seed(123)
    input_data.read_data_sets(tmp_path, validation_size=1, seed=42)
    assert np.random.rand() == np.random.RandomState(42).rand()

    tf = pytest.importorskip("jaxcourse.compat.v1")
    with tf.Graph().as_default():
        tf.set_random_seed(3)  # no op seed: the graph seed seeds NumPy
        input_data.read_data_sets(tmp_path, validation_size=1)
        assert np.random.rand() == np.random.RandomState(3).rand()


def test_fake_data(tmp_path):
    sets = input_data.read_data_sets(tmp_path / "nothing", fake_data=True, one_hot=True)
    assert sets.train.num_examples == 10000
    images, labels = sets.train.next_batch(2, fake_data=True)
    assert np.shape(images) == (2, 784) and labels == [[1] + [0] * 9] * 2
    with pytest.raises(ValueError, match="fake data"):
        sets.train.next_batch(2)


def test_missing_files_name_the_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "_online", lambda timeout=2.0: False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(Exception, match="train-images-idx3-ubyte.gz") as err:
        input_data.read_data_sets(tmp_path / "MNIST_data")
    assert "MNIST_data" in str(err.value)


FASHION = Path(mnist.DEBIAN_DIRS["fashion_mnist"])


@pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt install dataset-fashion-mnist)",
)
def test_real_files_split_like_tf1():
    """On the real files: 55,000 / 5,000 / 10,000, validation = the first 5,000 images."""
    sets = input_data.read_data_sets(str(FASHION), one_hot=True)
    assert [s.num_examples for s in sets] == [55000, 5000, 10000]
    first = idx.read_idx(FASHION / "train-images-idx3-ubyte.gz")[:5000]
    np.testing.assert_array_equal(
        sets.validation.images, first.reshape(5000, 784).astype(np.float32) * np.float32(1 / 255)
    )
    assert sets.train.labels.dtype == np.float64 and sets.train.labels.sum() == 55000
