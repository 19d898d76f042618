"""Datasets by name. Importing this package registers every dataset module."""

from jaxcourse.data import (
    captcha,  # noqa: F401, E402  (registers its datasets)
    synthetic,  # noqa: F401, E402  (registers its datasets)
)
from jaxcourse.data.registry import DATASETS, DataConfig, load
from jaxcourse.data.spec import Dataset, DataSpec

__all__ = ["DATASETS", "DataConfig", "DataSpec", "Dataset", "load"]
