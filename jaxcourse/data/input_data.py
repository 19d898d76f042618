"""TF1's `tensorflow.examples.tutorials.mnist.input_data`, behaving exactly like it.

`mnist = read_data_sets('MNIST_data', one_hot=True)` gives TF1's splits: the first
`validation_size` (5000) training images are the validation set, the rest (55,000) the train
set, the 10k test images the test set. Images are flat float32 rows scaled by `1/255` (or the
raw uint8 with `dtype=uint8`, or (N, 28, 28, 1) with `reshape=False`); labels are uint8
classes, or float64 one-hot rows with `one_hot=True`.

`DataSet.next_batch` draws TF1's batches: each `DataSet` re-seeds NumPy's global RNG when it is
built (with `seed`, else the graph seed of `tf.set_random_seed`, else from the OS, as TF1
does), the first batch shuffles with `numpy.random.shuffle`, and a batch that runs past the end
of an epoch takes the epoch's tail, reshuffles, and completes itself from the new epoch's head.

Files are read from `train_dir` (`train-images-idx3-ubyte.gz`, ...; Fashion-MNIST's files have
the same names); when they are not there, the `mnist` dataset's other sources are tried
(nothing is downloaded from `source_url`), and nothing found is one `DataError` saying where
to put them.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from jaxcourse.compat.tf_random import get_seed, shim_graph_seed
from jaxcourse.data.mnist import FILES, MnistConfig, find_raw

DEFAULT_SOURCE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"


def _image_dtype(dtype) -> np.dtype:
    """uint8 or float32 from a NumPy, TF or shim dtype (TF1 accepts only those two)."""
    try:
        found = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    except TypeError:
        found = None
    if found not in (np.dtype(np.uint8), np.dtype(np.float32)):
        raise TypeError(f"Invalid image dtype {dtype!r}, expected uint8 or float32")
    return found


def dense_to_one_hot(labels_dense: np.ndarray, num_classes: int) -> np.ndarray:
    """Class labels as float64 one-hot rows (TF1's dtype)."""
    one_hot = np.zeros((len(labels_dense), num_classes))
    one_hot[np.arange(len(labels_dense)), np.asarray(labels_dense).ravel()] = 1
    return one_hot


def _numpy_seed(seed: int | None) -> int | None:
    """What TF1's DataSet seeds NumPy's global RNG with: op seed, else graph seed, else None."""
    graph_seed, last_op = shim_graph_seed()
    seed1, seed2 = get_seed(seed, graph_seed, last_op)
    return seed1 if seed is None else seed2


class DataSet:
    """One split with TF1's `next_batch` (shuffled epochs from NumPy's global RNG)."""

    def __init__(
        self,
        images,
        labels,
        fake_data: bool = False,
        one_hot: bool = False,
        dtype=np.float32,
        reshape: bool = True,
        seed: int | None = None,
    ):
        np.random.seed(_numpy_seed(seed))
        dtype = _image_dtype(dtype)
        self.one_hot = one_hot
        self._fake = fake_data
        if fake_data:
            self._num_examples = 10000
        else:
            images, labels = np.asarray(images), np.asarray(labels)
            if images.shape[0] != labels.shape[0]:
                raise ValueError(
                    f"DataSet: images ({images.shape[0]}, shape {images.shape}) and labels "
                    f"({labels.shape[0]}, shape {labels.shape}) differ in number"
                )
            self._num_examples = images.shape[0]
            if reshape:
                if images.ndim != 4 or images.shape[3] != 1:
                    raise ValueError(
                        f"DataSet(reshape=True) needs images of shape (N, rows, cols, 1), "
                        f"got {images.shape}"
                    )
                images = images.reshape(images.shape[0], images.shape[1] * images.shape[2])
            if dtype == np.float32:  # [0, 255] -> [0, 1], by a float32 multiply as TF1
                images = np.multiply(images.astype(np.float32), 1.0 / 255.0)
        self._images = images
        self._labels = labels
        self._epochs_completed = 0
        self._index_in_epoch = 0

    @property
    def images(self):
        return self._images

    @property
    def labels(self):
        return self._labels

    @property
    def num_examples(self) -> int:
        return self._num_examples

    @property
    def epochs_completed(self) -> int:
        return self._epochs_completed

    def _shuffle(self) -> None:
        order = np.arange(self._num_examples)
        np.random.shuffle(order)
        self._images, self._labels = self._images[order], self._labels[order]

    def next_batch(self, batch_size: int, fake_data: bool = False, shuffle: bool = True):
        """The next `batch_size` (images, labels), as TF1 draws them."""
        if fake_data:
            image = [1] * 784
            label = [1] + [0] * 9 if self.one_hot else 0
            return [image] * batch_size, [label] * batch_size
        if self._fake:
            raise ValueError("this DataSet holds fake data: call next_batch(n, fake_data=True)")
        start, n = self._index_in_epoch, self._num_examples
        if self._epochs_completed == 0 and start == 0 and shuffle:
            self._shuffle()
        end = start + batch_size
        if end <= n:
            self._index_in_epoch = end
            return self._images[start:end], self._labels[start:end]
        self._epochs_completed += 1
        images_tail, labels_tail = self._images[start:n], self._labels[start:n]
        if shuffle:
            self._shuffle()
        self._index_in_epoch = end = batch_size - (n - start)
        return (
            np.concatenate((images_tail, self._images[:end]), axis=0),
            np.concatenate((labels_tail, self._labels[:end]), axis=0),
        )


class Datasets(NamedTuple):
    train: DataSet
    validation: DataSet
    test: DataSet


def _raw_splits(train_dir: str, dataset: str) -> dict:
    """uint8 (images, labels) of 'train' and 'test': `train_dir` first, then other sources."""
    names = [f"{stem}.gz" for split in ("train", "test") for stem in FILES[split]]
    if all(os.path.isfile(os.path.join(train_dir, name)) for name in names):
        for name in names:
            print("Extracting", os.path.join(train_dir, name))
    return find_raw(dataset, MnistConfig(name=dataset, dir=str(train_dir)))


def read_data_sets(
    train_dir,
    fake_data: bool = False,
    one_hot: bool = False,
    dtype=np.float32,
    reshape: bool = True,
    validation_size: int = 5000,
    seed: int | None = None,
    source_url: str = DEFAULT_SOURCE_URL,
    *,
    dataset: str = "mnist",
) -> Datasets:
    """TF1's MNIST splits from `train_dir`: train (after the first `validation_size`),
    validation (the first `validation_size`), test. `dataset='fashion_mnist'` names the other
    sources to try when `train_dir` lacks the files."""
    if fake_data:
        fake = lambda: DataSet([], [], True, one_hot, dtype, seed=seed)  # noqa: E731
        return Datasets(train=fake(), validation=fake(), test=fake())
    raw = _raw_splits(str(train_dir), dataset)
    (train_images, train_labels), (test_images, test_labels) = raw["train"], raw["test"]
    if one_hot:
        train_labels, test_labels = (dense_to_one_hot(y, 10) for y in (train_labels, test_labels))
    train_images, test_images = train_images[..., None], test_images[..., None]
    if not 0 <= validation_size <= len(train_images):
        raise ValueError(
            f"Validation size should be between 0 and {len(train_images)}. "
            f"Received: {validation_size}."
        )
    options = dict(dtype=dtype, reshape=reshape, seed=seed)
    train = DataSet(train_images[validation_size:], train_labels[validation_size:], **options)
    validation = DataSet(train_images[:validation_size], train_labels[:validation_size], **options)
    test = DataSet(test_images, test_labels, **options)
    return Datasets(train=train, validation=validation, test=test)


def load_mnist(train_dir: str = "MNIST-data") -> Datasets:
    return read_data_sets(train_dir)
