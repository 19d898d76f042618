"""Optimizers beyond the course that users expect: AdamW, Lion, NAdam, RAdam, AdaBelief,
Adamax, LAMB. Each is Optax's, with Optax's defaults; the formulas are in Optax's docs."""

from __future__ import annotations

import optax
from pydantic import Field, PositiveFloat

from jaxcourse.optim.base import OPTIMIZERS, OptimizerConfig


class _AdamFamilyConfig(OptimizerConfig):
    learning_rate: PositiveFloat = Field(0.001, description="Step size η (must be > 0).")
    b1: float = Field(0.9, ge=0.0, lt=1.0, description="Decay β1 of the first moment.")
    b2: float = Field(0.999, ge=0.0, lt=1.0, description="Decay β2 of the second moment.")
    eps: float = Field(1e-8, ge=0.0, description="ε added to the root of the second moment.")


class AdamWConfig(_AdamFamilyConfig):
    decoupled_weight_decay = True
    weight_decay: float = Field(
        1e-4, ge=0.0, description="Decoupled weight decay λ: W ← W − η λ W besides the step."
    )


class LionConfig(OptimizerConfig):
    decoupled_weight_decay = True
    learning_rate: PositiveFloat = Field(1e-4, description="Step size η (must be > 0).")
    b1: float = Field(0.9, ge=0.0, le=1.0, description="Mix of momentum and gradient for the sign.")
    b2: float = Field(0.99, ge=0.0, le=1.0, description="Decay of the momentum.")
    weight_decay: float = Field(
        1e-3, ge=0.0, description="Decoupled weight decay λ: W ← W − η λ W besides the step."
    )


class RAdamConfig(_AdamFamilyConfig):
    threshold: float = Field(5.0, description="Variance-rectification threshold on the SMA length.")


class AdaBeliefConfig(_AdamFamilyConfig):
    eps: float = Field(1e-16, ge=0.0, description="ε added to the root of the belief s.")


class AdamaxConfig(_AdamFamilyConfig):
    learning_rate: PositiveFloat = Field(0.002, description="Step size η (must be > 0).")


class LambConfig(_AdamFamilyConfig):
    decoupled_weight_decay = True
    eps: float = Field(1e-6, ge=0.0, description="ε added to the root of the second moment.")
    weight_decay: float = Field(
        0.0, ge=0.0, description="Decoupled weight decay λ, inside the trust ratio."
    )


@OPTIMIZERS.register("adamw", AdamWConfig)
def adamw(cfg: AdamWConfig, lr) -> optax.GradientTransformation:
    """Adam with decoupled weight decay: W ← W − η (m̂ / (√v̂ + ε) + λ W)."""
    return optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("lion", LionConfig)
def lion(cfg: LionConfig, lr) -> optax.GradientTransformation:
    """Lion: W ← W − η (sign(β1 m + (1 − β1) g) + λ W);  m ← β2 m + (1 − β2) g."""
    return optax.lion(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("nadam", _AdamFamilyConfig)
def nadam(cfg: _AdamFamilyConfig, lr) -> optax.GradientTransformation:
    """Adam with a Nesterov look-ahead on the first moment."""
    return optax.nadam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)


@OPTIMIZERS.register("radam", RAdamConfig)
def radam(cfg: RAdamConfig, lr) -> optax.GradientTransformation:
    """Rectified Adam: momentum SGD until the variance estimate is reliable, then Adam."""
    return optax.radam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, threshold=cfg.threshold)


@OPTIMIZERS.register("adabelief", AdaBeliefConfig)
def adabelief(cfg: AdaBeliefConfig, lr) -> optax.GradientTransformation:
    """AdaBelief: Adam with s ← β2 s + (1 − β2)(g − m)² + 1e-16 in place of v."""
    return optax.adabelief(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)


@OPTIMIZERS.register("adamax", AdamaxConfig)
def adamax(cfg: AdamaxConfig, lr) -> optax.GradientTransformation:
    """Adamax: u ← max(β2 u, |g| + ε);  W ← W − η m̂ / u  (the infinity norm in place of √v)."""
    return optax.adamax(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)


@OPTIMIZERS.register("lamb", LambConfig)
def lamb(cfg: LambConfig, lr) -> optax.GradientTransformation:
    """LAMB: the Adam step rescaled per layer by the trust ratio ‖W‖ / ‖step‖."""
    return optax.lamb(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay)
