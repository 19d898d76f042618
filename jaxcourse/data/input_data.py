"""The course's data API: `mnist = read_data_sets('MNIST_data', one_hot=True)`.

A stand-in for TF1's `tensorflow.examples.tutorials.mnist.input_data`, so that course code
ports line by line: `mnist.train.next_batch(100)`, `mnist.test.images`, `mnist.test.labels`,
`mnist.train.num_examples`. Images are flat float32 rows of 784 pixels in [0, 1]. The files
are found as by the `mnist` dataset (the directory first, then the other sources).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxcourse.data.mnist import MnistConfig, make_dataset


class DataSet:
    """One split with the course's `next_batch`: shuffled epochs, seeded, no example skipped."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int = 0):
        self.images, self.labels = images, labels
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(images))
        self._pos = 0
        self.epochs_completed = 0

    @property
    def num_examples(self) -> int:
        return len(self.images)

    def next_batch(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The next `batch_size` (images, labels); a new shuffled epoch starts when one ends."""
        if not 0 < batch_size <= self.num_examples:
            raise ValueError(f"batch_size must be in 1..{self.num_examples}, got {batch_size}")
        take = []
        need = batch_size
        while need:
            chunk = self._order[self._pos : self._pos + need]
            take.append(chunk)
            self._pos += len(chunk)
            need -= len(chunk)
            if self._pos == self.num_examples:
                self.epochs_completed += 1
                self._order, self._pos = self._rng.permutation(self.num_examples), 0
        idx = np.concatenate(take)
        return self.images[idx], self.labels[idx]


class Datasets(NamedTuple):
    train: DataSet
    validation: DataSet
    test: DataSet


def read_data_sets(
    train_dir: str,
    one_hot: bool = False,
    validation_size: int = 5000,
    seed: int = 0,
    dataset: str = "mnist",
) -> Datasets:
    """The course's MNIST splits from `train_dir` (55k train, 5k validation, 10k test)."""
    cfg = MnistConfig(
        name=dataset, dir=str(train_dir), validation_size=validation_size, one_hot=one_hot
    )
    splits = make_dataset(dataset, cfg, seed).splits
    empty = {"x": np.zeros((0, 28, 28, 1), np.float32), "y": splits["test"]["y"][:0]}

    def flat(split: str, salt: int) -> DataSet:
        part = splits.get(split, empty)
        return DataSet(part["x"].reshape(len(part["x"]), -1), part["y"], seed + salt)

    return Datasets(train=flat("train", 0), validation=flat("validation", 1), test=flat("test", 2))
