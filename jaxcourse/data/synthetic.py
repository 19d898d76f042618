"""Datasets generated on the fly: the course's regression toy data (no download)."""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt

from jaxcourse.data.registry import DATASETS, DataConfig
from jaxcourse.data.spec import Dataset, DataSpec


class LinearPointsConfig(DataConfig):
    num_points: PositiveInt = Field(100, description="How many points x ~ U[0, 1) to draw.")
    slope: float = Field(0.1, description="True slope k of y = k x + b.")
    intercept: float = Field(0.2, description="True intercept b of y = k x + b.")
    noise_std: float = Field(0.0, ge=0.0, description="Stddev of Gaussian noise added to y.")


@DATASETS.register("linear_points", LinearPointsConfig)
def linear_points(cfg: LinearPointsConfig, seed: int) -> Dataset:
    """Week 2: random x in [0, 1), y = slope·x + intercept (+ noise); train split only."""
    rng = np.random.default_rng(seed)
    x = rng.random((cfg.num_points, 1), dtype=np.float32)
    y = cfg.slope * x + cfg.intercept + cfg.noise_std * rng.standard_normal(x.shape)
    spec = DataSpec(input_shape=(1,), task="regression", num_outputs=1)
    return Dataset(spec, {"train": {"x": x, "y": y.astype(np.float32)}})


class QuadraticNoiseConfig(DataConfig):
    num_points: PositiveInt = Field(200, description="How many evenly spaced points.")
    low: float = Field(-0.5, description="Smallest x.")
    high: float = Field(0.5, description="Largest x.")
    noise_std: float = Field(0.02, ge=0.0, description="Stddev of the Gaussian noise on y.")


@DATASETS.register("quadratic_noise", QuadraticNoiseConfig)
def quadratic_noise(cfg: QuadraticNoiseConfig, seed: int) -> Dataset:
    """Week 3: x evenly spaced on [low, high], y = x² + N(0, noise_std²); train split only."""
    rng = np.random.default_rng(seed)
    x = np.linspace(cfg.low, cfg.high, cfg.num_points, dtype=np.float32)[:, None]
    y = np.square(x) + cfg.noise_std * rng.standard_normal(x.shape)
    spec = DataSpec(input_shape=(1,), task="regression", num_outputs=1)
    return Dataset(spec, {"train": {"x": x, "y": y.astype(np.float32)}})
