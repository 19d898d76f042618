"""Optimizers by name, each built as an Optax gradient transformation from its config section."""

from __future__ import annotations

import optax
from pydantic import Field, PositiveFloat

from jaxcourse.config import Component
from jaxcourse.registry import Registry

OPTIMIZERS = Registry("optimizer")


class OptimizerConfig(Component):
    """Options every optimizer has."""

    learning_rate: PositiveFloat = Field(0.01, description="Step size η (must be > 0).")


class MomentumConfig(OptimizerConfig):
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum coefficient γ.")


class AdamConfig(OptimizerConfig):
    learning_rate: PositiveFloat = Field(0.001, description="Step size η (must be > 0).")
    b1: float = Field(0.9, ge=0.0, lt=1.0, description="Decay of the first-moment average.")
    b2: float = Field(0.999, ge=0.0, lt=1.0, description="Decay of the second-moment average.")
    eps: float = Field(1e-8, gt=0.0, description="Added to the root of the second moment.")


@OPTIMIZERS.register("sgd", OptimizerConfig)
def sgd(cfg: OptimizerConfig) -> optax.GradientTransformation:
    """Plain gradient descent: W -= η ∇J."""
    return optax.sgd(cfg.learning_rate)


@OPTIMIZERS.register("momentum", MomentumConfig)
def momentum(cfg: MomentumConfig) -> optax.GradientTransformation:
    """Momentum: v = γv + ∇J; W -= η v."""
    return optax.sgd(cfg.learning_rate, momentum=cfg.momentum)


@OPTIMIZERS.register("adam", AdamConfig)
def adam(cfg: AdamConfig) -> optax.GradientTransformation:
    """Adam with bias-corrected first and second moments."""
    return optax.adam(cfg.learning_rate, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)


def build(cfg: OptimizerConfig) -> optax.GradientTransformation:
    """The Optax transformation that `cfg` (an `optimizer:` section) describes."""
    return OPTIMIZERS.get(cfg.name)(cfg)


def make(name: str, **options) -> optax.GradientTransformation:
    """Build optimizer `name` from keyword options, validated like a config section."""
    from jaxcourse.config import validate_component

    return build(validate_component(OPTIMIZERS, {"name": name, **options}, "optimizer"))
