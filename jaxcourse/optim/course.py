"""The course's optimizers (week 4): SGD, Momentum, NAG, Adagrad, RMSprop, Adadelta, Adam.

Notation: g = ∇J(W) the gradient, η the learning rate (scheduled if a schedule is set),
t = 1, 2, ... the update number. All states start at 0 unless stated. Each optimizer's
docstring gives its update in both flavours; `tests/test_optim_parity.py` checks every one
against a float64 numpy implementation of exactly these formulas.
"""

from __future__ import annotations

import optax
from pydantic import Field, PositiveFloat

from jaxcourse.optim import tf1
from jaxcourse.optim.base import OPTIMIZERS, CourseConfig


class SGDConfig(CourseConfig):
    """Plain gradient descent (the same in both flavours)."""


class MomentumConfig(CourseConfig):
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum coefficient γ.")


class AdagradConfig(CourseConfig):
    FLAVOUR_DEFAULTS = {
        "optax": {"initial_accumulator": 0.1, "eps": 1e-7},
        "tf1": {"initial_accumulator": 0.1, "eps": 0.0},
    }
    initial_accumulator: float | None = Field(
        None, ge=0.0, description="Starting value of the sum of squares (both flavours: 0.1)."
    )
    eps: float | None = Field(
        None,
        ge=0.0,
        description="Added to the sum of squares inside the root (optax: 1e-7; tf1: 0, none).",
    )


class RMSpropConfig(CourseConfig):
    FLAVOUR_DEFAULTS = {
        "optax": {"eps": 1e-8, "initial_scale": 0.0},
        "tf1": {"eps": 1e-10, "initial_scale": 1.0},
    }
    learning_rate: PositiveFloat = Field(0.001, description="Step size η (must be > 0).")
    decay: float = Field(0.9, ge=0.0, lt=1.0, description="Decay ρ of the mean of squares.")
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="Momentum coefficient γ (0: none).")
    centered: bool = Field(
        False, description="Divide by the root of the variance (subtract the squared mean)."
    )
    eps: float | None = Field(
        None, ge=0.0, description="Added inside the root (optax: 1e-8; tf1: 1e-10)."
    )
    initial_scale: float | None = Field(
        None, ge=0.0, description="Starting value of the mean of squares (optax: 0; tf1: 1)."
    )


class AdadeltaConfig(CourseConfig):
    FLAVOUR_DEFAULTS = {
        "optax": {"learning_rate": 1.0, "rho": 0.9, "eps": 1e-6},
        "tf1": {"learning_rate": 0.001, "rho": 0.95, "eps": 1e-8},
    }
    learning_rate: PositiveFloat | None = Field(
        None, description="Step size η (must be > 0; optax: 1.0, Zeiler's rule; tf1: 0.001)."
    )
    rho: float | None = Field(
        None, ge=0.0, lt=1.0, description="Decay ρ of both running means (optax: 0.9; tf1: 0.95)."
    )
    eps: float | None = Field(
        None, gt=0.0, description="Added inside both roots (optax: 1e-6; tf1: 1e-8)."
    )


class AdamConfig(CourseConfig):
    learning_rate: PositiveFloat = Field(0.001, description="Step size η (must be > 0).")
    b1: float = Field(0.9, ge=0.0, lt=1.0, description="Decay β1 of the first moment.")
    b2: float = Field(0.999, ge=0.0, lt=1.0, description="Decay β2 of the second moment.")
    eps: float = Field(
        1e-8,
        ge=0.0,
        description="ε added to the root of the second moment (tf1: TF's 'epsilon hat', added "
        "to the uncorrected root).",
    )


@OPTIMIZERS.register("sgd", SGDConfig)
def sgd(cfg: SGDConfig, lr) -> optax.GradientTransformation:
    """Gradient descent, both flavours:  W ← W − η g."""
    return optax.sgd(lr)


@OPTIMIZERS.register("momentum", MomentumConfig)
def momentum(cfg: MomentumConfig, lr) -> optax.GradientTransformation:
    """Momentum (tf.train.MomentumOptimizer), both flavours:

        a ← γ a + g;  W ← W − η a

    The course writes it v = γv + η∇J; W −= v, the same thing (v = η a) for a constant η.
    """
    return optax.sgd(lr, momentum=cfg.momentum)


@OPTIMIZERS.register("nag", MomentumConfig)
def nag(cfg: MomentumConfig, lr) -> optax.GradientTransformation:
    """Nesterov accelerated gradient (MomentumOptimizer(use_nesterov=True)), both flavours:

        a ← γ a + g;  W ← W − η (g + γ a)

    The course's look-ahead form v = γv + η∇J(W − γv); W −= v is the same algorithm on the
    shifted variable W' = W − γv (the gradient is taken where the parameters are stored).
    """
    return optax.sgd(lr, momentum=cfg.momentum, nesterov=True)


@OPTIMIZERS.register("adagrad", AdagradConfig)
def adagrad(cfg: AdagradConfig, lr) -> optax.GradientTransformation:
    """Adagrad, accumulated squares; the sum s starts at `initial_accumulator` (0.1):

        s ← s + g²;  W ← W − η g / √(s + ε)

    optax: ε = 1e-7.  tf1 (tf.train.AdagradOptimizer): ε = 0, there is none.
    """
    return optax.adagrad(lr, initial_accumulator_value=cfg.initial_accumulator, eps=cfg.eps)


@OPTIMIZERS.register("rmsprop", RMSpropConfig)
def rmsprop(cfg: RMSpropConfig, lr) -> optax.GradientTransformation:
    """RMSprop, a running mean of squares n (and of gradients m when centered):

        n ← ρ n + (1 − ρ) g²;  m ← ρ m + (1 − ρ) g;  d = n − m² (centered) or n
        a ← γ a + η g / √(d + ε);  W ← W − a

    optax: n starts at 0, ε = 1e-8.  tf1 (tf.train.RMSPropOptimizer): n starts at 1,
    ε = 1e-10. Both keep η inside the momentum accumulator a.
    """
    return optax.rmsprop(
        lr,
        decay=cfg.decay,
        eps=cfg.eps,
        initial_scale=cfg.initial_scale,
        centered=cfg.centered,
        momentum=cfg.momentum or None,
    )


@OPTIMIZERS.register("adadelta", AdadeltaConfig)
def adadelta(cfg: AdadeltaConfig, lr) -> optax.GradientTransformation:
    """Adadelta, the ratio of two RMS values (running means of g² and of the steps δ²):

        n ← ρ n + (1 − ρ) g²;  δ = √(u + ε) / √(n + ε) · g;  u ← ρ u + (1 − ρ) δ²
        W ← W − η δ

    optax: η = 1, ρ = 0.9, ε = 1e-6.  tf1 (tf.train.AdadeltaOptimizer): η = 0.001,
    ρ = 0.95, ε = 1e-8.
    """
    return optax.adadelta(lr, rho=cfg.rho, eps=cfg.eps)


@OPTIMIZERS.register("adam", AdamConfig)
def adam(cfg: AdamConfig, lr) -> optax.GradientTransformation:
    """Adam, bias-corrected first and second moments:

        m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
        optax: W ← W − η m̂ / (√v̂ + ε),  m̂ = m / (1 − β1ᵗ), v̂ = v / (1 − β2ᵗ)
        tf1:   W ← W − η_t m / (√v + ε̂),  η_t = η √(1 − β2ᵗ) / (1 − β1ᵗ)

    TF1's ε̂ equals an Optax ε of ε̂ / √(1 − β2ᵗ): it changes with t, so tf1 has its own rule.
    """
    if cfg.flavour == "tf1":
        return tf1.adam(lr, cfg.b1, cfg.b2, cfg.eps)
    return optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
