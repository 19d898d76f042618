"""Test helper: a small synthetic image-classification dataset, registered as `tb_blobs`.

Each class is a random 8×8 prototype; examples are prototypes plus Gaussian noise, so a small
MLP learns them in a few hundred steps but still gets some test examples wrong.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt

from jaxcourse.data.registry import DATASETS, DataConfig
from jaxcourse.data.spec import Dataset, DataSpec

NAME = "tb_blobs"
CLASS_NAMES = ("ring", "bar", "dot", "cross")


class BlobsConfig(DataConfig):
    num_train: PositiveInt = Field(800, description="Training examples.")
    num_test: PositiveInt = Field(200, description="Test examples.")
    noise: float = Field(0.9, ge=0.0, description="Stddev of the noise added to prototypes.")


def blobs(cfg: BlobsConfig, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    prototypes = rng.random((len(CLASS_NAMES), 8, 8, 1)).astype(np.float32)

    def split(n: int) -> dict[str, np.ndarray]:
        y = rng.integers(0, len(CLASS_NAMES), n).astype(np.int32)
        x = prototypes[y] + cfg.noise * rng.standard_normal((n, 8, 8, 1)).astype(np.float32)
        return {"x": x, "y": y}

    spec = DataSpec((8, 8, 1), "classification", len(CLASS_NAMES), CLASS_NAMES)
    return Dataset(spec, {"train": split(cfg.num_train), "test": split(cfg.num_test)})


if NAME not in DATASETS:
    DATASETS.register(NAME, BlobsConfig)(blobs)


def config(**logging) -> dict:
    """A raw supervised config on `tb_blobs` (an MLP) with TensorBoard logging on."""
    return {
        "experiment": "supervised",
        "seed": 0,
        "data": {"name": NAME},
        "model": {"name": "mlp", "hidden": [16], "activation": "relu"},
        "loss": "softmax_cross_entropy",
        "optimizer": {"name": "sgd", "learning_rate": 0.3},
        "train": {"steps": 120, "batch_size": 50, "log_every": 20, "progress": "off"},
        "plots": False,
        "logging": {"tensorboard": True, "every": 20, "histograms_every": 60, **logging},
    }
