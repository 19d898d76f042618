"""A dataset restricted to some of its classes, relabelled 0..k-1, with k examples per class.

For transfer experiments: pre-train on classes 0-4 of Fashion-MNIST, then learn classes 5-9
from 100 labelled examples each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from jaxcourse.config import validate_component
from jaxcourse.data.registry import DATASETS, DataConfig, load
from jaxcourse.data.spec import Dataset, DataSpec
from jaxcourse.errors import ConfigError


class ClassSubsetConfig(DataConfig):
    base: dict[str, Any] = Field(
        description="The classification dataset to take classes from: a `data:` section "
        "(`name` + its options)."
    )
    classes: list[NonNegativeInt] = Field(
        description="Original class indices to keep, in the order of their new labels 0..k-1."
    )
    train_per_class: PositiveInt | None = Field(
        None, description="Labelled training examples per class (seeded draw); null = all."
    )
    test_per_class: PositiveInt | None = Field(
        None, description="Test examples per class (the first ones); null = all."
    )

    @field_validator("base")
    @classmethod
    def _valid_base(cls, v):
        try:
            validate_component(DATASETS, v, "data.base")
        except ConfigError as err:
            raise ValueError("; ".join(err.problems)) from None
        return v

    @field_validator("classes")
    @classmethod
    def _distinct(cls, v):
        if not v or len(set(v)) != len(v):
            raise ValueError(f"expected a non-empty list of distinct classes, got {v}")
        return v


def _labels(y: np.ndarray) -> np.ndarray:
    return np.argmax(y, axis=-1) if y.ndim == 2 else y


def _select(split: dict, classes: list[int], per_class: int | None, rng) -> dict:
    labels = _labels(split["y"])
    keep = []
    for c in classes:
        where = np.flatnonzero(labels == c)
        if per_class is not None:
            if len(where) < per_class:
                raise ConfigError(
                    f"config key 'data': class {c} has {len(where)} examples, "
                    f"fewer than the {per_class} asked for"
                )
            where = (
                np.sort(rng.choice(where, per_class, replace=False)) if rng else where[:per_class]
            )
        keep.append(where)
    index = np.sort(np.concatenate(keep))
    relabel = {c: i for i, c in enumerate(classes)}
    y = split["y"][index]
    if y.ndim == 2:
        y = y[:, classes]
    else:
        y = np.array([relabel[int(v)] for v in y], dtype=y.dtype)
    return {"x": split["x"][index], "y": y}


@DATASETS.register("class_subset", ClassSubsetConfig)
def class_subset(cfg: ClassSubsetConfig, seed: int) -> Dataset:
    """Only `classes` of `base`, relabelled in the order given."""
    base_cfg = validate_component(DATASETS, cfg.base, "data.base")
    base = load(base_cfg, seed)
    spec = base.spec
    if spec.task != "classification":
        raise ConfigError(f"config key 'data.base': '{base_cfg.name}' is not a classification set")
    bad = [c for c in cfg.classes if c >= spec.num_outputs]
    if bad:
        raise ConfigError(
            f"config key 'data.classes': {bad} not in '{base_cfg.name}' "
            f"(classes 0..{spec.num_outputs - 1})"
        )
    rng = np.random.default_rng([seed, 7])
    splits = {}
    for name, split in base.splits.items():
        per_class = cfg.train_per_class if name == "train" else cfg.test_per_class
        splits[name] = _select(split, cfg.classes, per_class, rng if name == "train" else None)
    names = tuple(spec.class_names[c] for c in cfg.classes) if spec.class_names else ()
    new_spec = DataSpec(spec.input_shape, "classification", len(cfg.classes), names)
    return Dataset(new_spec, splits)
