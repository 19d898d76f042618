"""Learning-rate schedules: `step -> rate`, each scaling the optimizer's `learning_rate` η.

The step counts the updates already made (0 at the first update), like TensorFlow's
`global_step`. Every schedule is written with `jnp`, so η may be a traced scalar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from jaxcourse.config import Component
from jaxcourse.registry import Registry

SCHEDULES = Registry("schedule")

Schedule = Callable[[Any], Any]


class ScheduleConfig(Component):
    """A learning-rate schedule (`name` picks it)."""


class ExponentialDecayConfig(ScheduleConfig):
    decay_steps: PositiveInt = Field(
        description="Steps over which the rate is multiplied by `decay_rate` once."
    )
    decay_rate: PositiveFloat = Field(description="Factor per `decay_steps` steps.")
    staircase: bool = Field(False, description="Decay in whole steps (floor(step/decay_steps)).")


class InverseTimeDecayConfig(ScheduleConfig):
    decay_steps: PositiveInt = Field(description="Time scale of the decay, in steps.")
    decay_rate: NonNegativeFloat = Field(description="Decay coefficient.")
    staircase: bool = Field(False, description="Decay in whole steps (floor(step/decay_steps)).")


class PiecewiseConstantConfig(ScheduleConfig):
    boundaries: list[NonNegativeInt] = Field(
        description="Steps where the rate changes, increasing."
    )
    scales: list[NonNegativeFloat] = Field(
        description="η·scales[i] while boundaries[i-1] < step <= boundaries[i] (one more "
        "scale than boundaries)."
    )

    @model_validator(mode="after")
    def _lengths(self):
        if len(self.scales) != len(self.boundaries) + 1:
            raise ValueError(
                f"needs one more scale than boundaries, got {len(self.scales)} scales and "
                f"{len(self.boundaries)} boundaries"
            )
        if list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError(f"boundaries must increase strictly, got {self.boundaries}")
        return self


class PolynomialDecayConfig(ScheduleConfig):
    decay_steps: PositiveInt = Field(description="Steps to go from η to end_fraction·η.")
    end_fraction: NonNegativeFloat = Field(0.0, description="Final rate as a fraction of η.")
    power: PositiveFloat = Field(1.0, description="Exponent (1 = linear).")


class CosineDecayConfig(ScheduleConfig):
    decay_steps: PositiveInt = Field(description="Steps of the half cosine from η down.")
    end_fraction: NonNegativeFloat = Field(0.0, description="Final rate as a fraction of η.")


class WarmupCosineDecayConfig(ScheduleConfig):
    warmup_steps: NonNegativeInt = Field(description="Steps of the linear ramp from 0 to η.")
    decay_steps: PositiveInt = Field(description="Steps of the cosine decay after the warmup.")
    end_fraction: NonNegativeFloat = Field(0.0, description="Final rate as a fraction of η.")


def _float(step) -> Any:
    """The step count as a float (float64 when x64 is on)."""
    return jnp.asarray(step) * 1.0


def _progress(step, cfg) -> Any:
    p = _float(step) / cfg.decay_steps
    return jnp.floor(p) if getattr(cfg, "staircase", False) else p


@SCHEDULES.register("exponential_decay", ExponentialDecayConfig)
def exponential_decay(cfg: ExponentialDecayConfig, lr) -> Schedule:
    """η · decay_rate^(step / decay_steps)  (tf.train.exponential_decay)."""
    return lambda step: lr * cfg.decay_rate ** _progress(step, cfg)


@SCHEDULES.register("inverse_time_decay", InverseTimeDecayConfig)
def inverse_time_decay(cfg: InverseTimeDecayConfig, lr) -> Schedule:
    """η / (1 + decay_rate · step / decay_steps)  (tf.train.inverse_time_decay)."""
    return lambda step: lr / (1.0 + cfg.decay_rate * _progress(step, cfg))


@SCHEDULES.register("piecewise_constant", PiecewiseConstantConfig)
def piecewise_constant(cfg: PiecewiseConstantConfig, lr) -> Schedule:
    """η · scales[i], i = number of boundaries < step  (tf.train.piecewise_constant)."""
    boundaries = jnp.asarray(cfg.boundaries, jnp.int32)
    scales = jnp.asarray(cfg.scales)
    return lambda step: lr * scales[jnp.sum(boundaries < jnp.asarray(step, jnp.int32))]


@SCHEDULES.register("polynomial_decay", PolynomialDecayConfig)
def polynomial_decay(cfg: PolynomialDecayConfig, lr) -> Schedule:
    """(η − η_end) · (1 − min(step, T)/T)^power + η_end  (tf.train.polynomial_decay)."""
    end = cfg.end_fraction

    def rate(step):
        frac = 1.0 - jnp.minimum(_float(step), cfg.decay_steps) / cfg.decay_steps
        return lr * ((1.0 - end) * frac**cfg.power + end)

    return rate


@SCHEDULES.register("cosine_decay", CosineDecayConfig)
def cosine_decay(cfg: CosineDecayConfig, lr) -> Schedule:
    """η · (end + (1 − end) · ½(1 + cos(π · min(step, T)/T)))  (tf.train.cosine_decay)."""
    return lambda step: lr * _cosine(step, cfg.decay_steps, cfg.end_fraction)


@SCHEDULES.register("warmup_cosine_decay", WarmupCosineDecayConfig)
def warmup_cosine_decay(cfg: WarmupCosineDecayConfig, lr) -> Schedule:
    """η · step/W for step < W, then the cosine decay over the next `decay_steps` steps."""
    warm = cfg.warmup_steps

    def rate(step):
        s = _float(step)
        ramp = s / max(warm, 1)
        return lr * jnp.where(s < warm, ramp, _cosine(s - warm, cfg.decay_steps, cfg.end_fraction))

    return rate


def _cosine(step, steps: int, end: float):
    frac = jnp.minimum(_float(step), steps) / steps
    return end + (1.0 - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))


def build(cfg: ScheduleConfig, lr) -> Schedule:
    """The schedule `cfg` describes, scaling the base learning rate `lr`."""
    return SCHEDULES.get(cfg.name)(cfg, lr)
