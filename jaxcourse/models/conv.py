"""Convolutional models: the course's two-layer CNN for 28×28 images (week 6)."""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn
from pydantic import Field, PositiveInt

from jaxcourse.data.spec import DataSpec
from jaxcourse.kernels.conv import conv2d
from jaxcourse.kernels.pool import max_pool_2x2
from jaxcourse.models.registry import MODELS, ModelConfig


class CNNConfig(ModelConfig):
    conv_features: list[PositiveInt] = Field(
        [32, 64], description="Output channels of each conv layer (each followed by 2×2 pool)."
    )
    kernel_size: PositiveInt = Field(5, description="Side of the square conv kernels.")
    dense: PositiveInt = Field(1024, description="Width of the fully connected hidden layer.")
    dropout: float = Field(
        0.5, ge=0.0, lt=1.0, description="Dropout rate before the output layer (0 = off)."
    )
    init: str = Field(
        "course",
        pattern="^(course|lecun)$",
        description="course = weights ~ truncated normal(0.1), biases 0.1 (the course's "
        "weight_variable/bias_variable); lecun = Flax's defaults (LeCun normal, zero bias).",
    )


class ConvReLU(nn.Module):
    """SAME convolution + bias → ReLU, with `nn.Conv`'s parameters (`kernel` HWIO, `bias`);
    by oneDNN with the bias and ReLU fused where `perf.conv_backend` allows (`kernels.conv`)."""

    features: int
    kernel_size: int
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        return conv2d(x, kernel, bias=bias, relu=True)


class CNN(nn.Module):
    """conv → ReLU → pool (per entry of `conv_features`), dense → ReLU → dropout → dense.

    Input NHWC (a flat batch of 784 is read as 28×28×1); SAME padding as in the course. The
    convolutions and 2×2 max-pools are oneDNN's or XLA's per `perf.conv_backend`
    (`kernels.conv`, `kernels.pool`).
    """

    conv_features: tuple[int, ...]
    kernel_size: int
    dense: int
    features: int
    dropout: float = 0.5
    course_init: bool = True

    @nn.compact
    def __call__(self, x, train: bool = False):
        x, init = as_image(x), course_initializers(self.course_init)
        for i, channels in enumerate(self.conv_features):
            x = max_pool_2x2(ConvReLU(channels, self.kernel_size, name=f"conv{i + 1}", **init)(x))
        return classifier_head(x, self.dense, self.features, self.dropout, train, init)


def as_image(x: jnp.ndarray) -> jnp.ndarray:
    """An NHWC batch as is; a flat batch of N·N pixels as N×N×1 images."""
    if x.ndim == 2:
        side = int(round(x.shape[1] ** 0.5))
        x = x.reshape(x.shape[0], side, side, 1)
    return x


def course_initializers(enabled: bool) -> dict:
    """The course's weight_variable/bias_variable initialisers as layer kwargs (or none)."""
    if not enabled:
        return {}
    return dict(
        kernel_init=nn.initializers.truncated_normal(0.1),
        bias_init=nn.initializers.constant(0.1),
    )


def classifier_head(x, dense: int, features: int, dropout: float, train: bool, init: dict):
    """flatten → fc1 → ReLU → dropout → fc2, inside the calling module (names fc1, fc2)."""
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(dense, name="fc1", **init)(x))
    if dropout > 0:
        x = nn.Dropout(dropout, deterministic=not train)(x)
    return nn.Dense(features, name="fc2", **init)(x)


def cnn_options(cfg: CNNConfig, spec: DataSpec) -> dict:
    """The module fields a `cnn`-style config sets, sized for `spec`."""
    return dict(
        conv_features=tuple(cfg.conv_features),
        kernel_size=cfg.kernel_size,
        dense=cfg.dense,
        features=spec.num_outputs,
        dropout=cfg.dropout,
        course_init=cfg.init == "course",
    )


@MODELS.register("cnn", CNNConfig)
def cnn(cfg: CNNConfig, spec: DataSpec) -> nn.Module:
    return CNN(**cnn_options(cfg, spec))
