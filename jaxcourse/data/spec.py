"""What a dataset is: named splits of arrays, and a spec that sizes the model and picks metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from jaxcourse.errors import DataError


@dataclass(frozen=True)
class DataSpec:
    """Shape of one example and the kind of target it has."""

    input_shape: tuple[int, ...]
    task: Literal["regression", "classification"]
    num_outputs: int
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """In-memory splits, each a dict of equally long arrays {'x': inputs, 'y': targets}."""

    spec: DataSpec
    splits: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    source: str = ""  # where the data came from, for error messages

    def __post_init__(self):
        """Every split's arrays are equally long, and all splits hold examples of one shape."""
        where = f" ({self.source})" if self.source else ""
        shapes = {}
        for name, arrays in self.splits.items():
            lengths = {key: len(a) for key, a in arrays.items()}
            if len(set(lengths.values())) > 1:
                raise DataError(f"split '{name}'{where} has arrays of unequal length: {lengths}")
            if "x" in arrays:
                shapes[name] = tuple(np.shape(arrays["x"])[1:])
        if len(set(shapes.values())) > 1:
            listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
            raise DataError(f"the splits{where} hold examples of different shapes: {listed}")

    def size(self, split: str) -> int:
        return len(self.splits[split]["x"])
