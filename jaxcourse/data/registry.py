"""The dataset registry: `factory(cfg, seed) -> Dataset`."""

from __future__ import annotations

from pydantic import Field

from jaxcourse.config import Component
from jaxcourse.data.spec import Dataset
from jaxcourse.registry import Registry

DATASETS = Registry("dataset")


class DataConfig(Component):
    """Options every dataset has."""

    seed: int | None = Field(
        None, description="Seed for generating/shuffling the data; null = the run's seed."
    )


def load(cfg: DataConfig, run_seed: int) -> Dataset:
    """The dataset that `cfg` (a `data:` section) describes."""
    seed = run_seed if cfg.seed is None else cfg.seed
    return DATASETS.get(cfg.name)(cfg, seed)
