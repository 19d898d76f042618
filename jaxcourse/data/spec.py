"""What a dataset is: named splits of arrays, and a spec that sizes the model and picks metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


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

    def size(self, split: str) -> int:
        return len(self.splits[split]["x"])
