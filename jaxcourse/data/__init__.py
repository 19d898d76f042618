"""Datasets by name. Importing this package registers every dataset module."""

from jaxcourse.data import captcha, mnist, subset, synthetic  # noqa: F401, E402  (registers datasets)
from jaxcourse.data.registry import DATASETS, DataConfig, load
from jaxcourse.data.spec import Dataset, DataSpec

__all__ = ["DATASETS", "DataConfig", "DataSpec", "Dataset", "load"]
