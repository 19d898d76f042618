"""Fully connected models: the course's linear model and multi-layer perceptrons."""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn
from pydantic import Field, PositiveInt, field_validator

from jaxcourse.data.spec import DataSpec
from jaxcourse.models.registry import MODELS, InitConfigMixin, ModelConfig

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "sigmoid": nn.sigmoid, "gelu": nn.gelu}


class Linear(nn.Module):
    """y = x·k + b, with `k` and `b` starting at zero (the week-2 model `k*x + b`)."""

    features: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], -1)
        k = self.param("k", nn.initializers.zeros, (x.shape[-1], self.features))
        b = self.param("b", nn.initializers.zeros, (self.features,))
        return x @ k + b


@MODELS.register("linear", ModelConfig)
def linear(cfg: ModelConfig, spec: DataSpec) -> nn.Module:
    return Linear(features=spec.num_outputs)


@MODELS.register("softmax", ModelConfig)
def softmax(cfg: ModelConfig, spec: DataSpec) -> nn.Module:
    """Softmax regression (week 3): logits = x·W + b from zeros; the loss applies the softmax."""
    return Linear(features=spec.num_outputs)


class MLPConfig(InitConfigMixin):
    hidden: list[PositiveInt] = Field(
        [10], description="Width of each hidden layer, input to output."
    )
    activation: str = Field("tanh", description=f"Hidden activation: {', '.join(ACTIVATIONS)}.")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout rate after each hidden layer (0 = off)."
    )
    input_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout rate on the input pixels (0 = off)."
    )

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, v):
        if v not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{v}'; valid: {', '.join(ACTIVATIONS)}")
        return v


class MLP(nn.Module):
    """Dense layers with an activation (and optional dropout) between them."""

    hidden: tuple[int, ...]
    features: int
    activation: str = "tanh"
    dropout: float = 0.0
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    input_dropout: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = jnp.reshape(x, (x.shape[0], -1))
        if self.input_dropout > 0:
            x = nn.Dropout(self.input_dropout, deterministic=not train)(x)
        for i, width in enumerate(self.hidden):
            x = nn.Dense(width, kernel_init=self.kernel_init, name=f"hidden{i + 1}")(x)
            x = ACTIVATIONS[self.activation](x)
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.features, kernel_init=self.kernel_init, name="output")(x)


@MODELS.register("mlp", MLPConfig)
def mlp(cfg: MLPConfig, spec: DataSpec) -> nn.Module:
    return MLP(
        hidden=tuple(cfg.hidden),
        features=spec.num_outputs,
        activation=cfg.activation,
        dropout=cfg.dropout,
        kernel_init=cfg.kernel_initializer(),
        input_dropout=cfg.input_dropout,
    )
