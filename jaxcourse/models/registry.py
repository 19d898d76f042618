"""The model registry and the pieces every model shares."""

from __future__ import annotations

import functools

import jax
import numpy as np
from flax import linen as nn
from pydantic import Field, field_validator

from jaxcourse.config import Component
from jaxcourse.data.spec import DataSpec
from jaxcourse.registry import Registry

MODELS = Registry("model")


class ModelConfig(Component):
    """Options every model has (none beyond its name)."""


INITIALIZERS = {
    "lecun_normal": lambda scale: nn.initializers.variance_scaling(scale, "fan_in", "normal"),
    "glorot_uniform": lambda scale: nn.initializers.variance_scaling(scale, "fan_avg", "uniform"),
    "normal": nn.initializers.normal,
    "truncated_normal": nn.initializers.truncated_normal,
    "zeros": lambda scale: nn.initializers.zeros,
}


class InitConfigMixin(ModelConfig):
    kernel_init: str = Field(
        "lecun_normal",
        description="Weight initialiser: lecun_normal, glorot_uniform, normal (stddev = "
        "init_scale, like tf.random_normal), truncated_normal or zeros.",
    )
    init_scale: float = Field(
        1.0,
        gt=0,
        description="Scale of kernel_init: the stddev for normal/truncated_normal, "
        "the variance multiplier for lecun_normal/glorot_uniform.",
    )

    @field_validator("kernel_init")
    @classmethod
    def _known_init(cls, v):
        if v not in INITIALIZERS:
            raise ValueError(f"unknown kernel_init '{v}'; valid: {', '.join(INITIALIZERS)}")
        return v

    def kernel_initializer(self):
        return _initializer(self.kernel_init, self.init_scale)


@functools.cache
def _initializer(name: str, scale: float):
    """One initialiser object per (name, scale), so equal configs build equal (hashable)
    modules and share compiled programs."""
    return INITIALIZERS[name](scale)


def build(cfg: ModelConfig, spec: DataSpec) -> nn.Module:
    """The Flax module that `cfg` (a `model:` section) describes, sized for `spec`."""
    return MODELS.get(cfg.name)(cfg, spec)


def describe_params(params) -> dict[str, float]:
    """Every parameter that holds a single number, by its path (e.g. {'k': 0.1, 'b': 0.2})."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if np.size(leaf) == 1:
            name = jax.tree_util.keystr(path, simple=True, separator="/")
            out[name] = float(np.asarray(leaf).reshape(()))
    return out
