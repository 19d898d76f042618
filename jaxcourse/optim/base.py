"""The optimizer registry, the options every optimizer shares, and `build` / `make`.

A registered optimizer is a function `(cfg, learning_rate) -> GradientTransformation`, where
`learning_rate` is a float, a traced scalar (learning-rate grid searches vmap over it) or a
schedule `step -> rate`. `build` wraps it with the shared options, in this order:

    g ← g + λ·W                 (weight_decay, coupled: the gradient of a λ/2·‖W‖² loss term)
    g ← g · min(1, c/‖g‖)       (clip_norm, over all parameters together)
    g ← clip(g, −c, c)          (clip_value, element-wise)
    update ← optimizer(g)       (with the scheduled learning rate)

Optimizers whose weight decay is part of their own rule (adamw, lion, lamb) apply it
themselves, decoupled from the gradient.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import optax
from pydantic import Field, PositiveFloat, model_validator

from jaxcourse.config import Component, RegistryRef, validate_component
from jaxcourse.optim import schedules
from jaxcourse.registry import Registry

OPTIMIZERS = Registry("optimizer")

Flavour = Literal["optax", "tf1"]


class OptimizerConfig(Component):
    """Options every optimizer has."""

    decoupled_weight_decay: ClassVar[bool] = False

    learning_rate: PositiveFloat = Field(0.01, description="Step size η (must be > 0).")
    schedule: Annotated[schedules.ScheduleConfig | None, RegistryRef(schedules.SCHEDULES)] = Field(
        None,
        description="Learning-rate schedule (`name` picks it), scaling `learning_rate` over "
        "steps; null = constant.",
    )
    clip_norm: PositiveFloat | None = Field(
        None, description="Clip the gradient's global norm (all parameters together) to this."
    )
    clip_value: PositiveFloat | None = Field(
        None, description="Clip every gradient element to [-clip_value, clip_value]."
    )
    weight_decay: float = Field(
        0.0,
        ge=0.0,
        description="L2 penalty λ: adds λ·W to the gradient (like a λ/2·‖W‖² loss term).",
    )


class CourseConfig(OptimizerConfig):
    """An optimizer of the course family, in the `optax` or the `tf1` flavour.

    Options left out (or null) take the flavour's default, listed in `FLAVOUR_DEFAULTS`.
    """

    FLAVOUR_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {"optax": {}, "tf1": {}}

    flavour: Flavour = Field(
        "optax",
        description="'optax': Optax's defaults and formulas; 'tf1': TensorFlow 1's optimizer "
        "exactly (defaults, accumulator initial values, where epsilon sits).",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_flavour_defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        defaults = cls.FLAVOUR_DEFAULTS.get(raw.get("flavour", "optax"))
        if defaults is None:
            return raw  # an unknown flavour is reported by the field's own validation
        filled = dict(raw)
        for key, value in defaults.items():
            if filled.get(key) is None:
                filled[key] = value
        return filled


def build(
    cfg: OptimizerConfig, learning_rate: float | Any | None = None
) -> optax.GradientTransformation:
    """The Optax transformation that `cfg` (an `optimizer:` section) describes.

    `learning_rate`, when given, replaces `cfg.learning_rate` (it may be a traced scalar, so
    that a learning-rate grid can be vmapped); the schedule, if any, scales it.
    """
    rate = cfg.learning_rate if learning_rate is None else learning_rate
    if cfg.schedule is not None:
        rate = schedules.build(cfg.schedule, rate)
    parts = []
    if cfg.weight_decay and not cfg.decoupled_weight_decay:
        parts.append(optax.add_decayed_weights(cfg.weight_decay))
    if cfg.clip_norm is not None:
        parts.append(optax.clip_by_global_norm(cfg.clip_norm))
    if cfg.clip_value is not None:
        parts.append(optax.clip(cfg.clip_value))
    core = OPTIMIZERS.get(cfg.name)(cfg, rate)
    return optax.chain(*parts, core) if parts else core


def make(name: str, **options) -> optax.GradientTransformation:
    """Build optimizer `name` from keyword options, validated like a config section."""
    return build(validate(name, **options))


def validate(name: str, **options) -> OptimizerConfig:
    """The config section of optimizer `name` with `options` (a `ConfigError` if invalid)."""
    return validate_component(OPTIMIZERS, {"name": name, **options}, "optimizer")
