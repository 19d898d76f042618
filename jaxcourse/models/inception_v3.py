"""Inception-v3 (Szegedy et al. 2015) in Flax, laid out like Keras's `InceptionV3`.

Every convolution is followed by batch normalisation without a scale (`gamma`) and a ReLU.
The layers are created in Keras's order, so conv-BN unit `conv{i}` is Keras's i-th
`conv2d`/`batch_normalization` pair and `jaxcourse.inference.pretrained` can map the published
ImageNet weights onto it by rank.

Batch normalisation always uses its stored statistics (inference mode): they live in `params`
(`mean`, `var`) behind a `stop_gradient`, so the model trains with the plain train step as a
pretrained backbone (the statistics stay fixed; freeze or fine-tune the rest).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from pydantic import Field, PositiveInt

from jaxcourse.data.spec import DataSpec
from jaxcourse.models.registry import MODELS, ModelConfig

BN_EPSILON = 1e-3  # Keras's BatchNormalization default, which the published weights use


class ConvBN(nn.Module):
    """Conv (no bias) → batch norm with fixed statistics and no scale → ReLU."""

    features: int
    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel",
            nn.initializers.glorot_uniform(),
            (*self.kernel, x.shape[-1], self.features),
        )
        x = jax.lax.conv_general_dilated(
            x,
            kernel.astype(x.dtype),
            self.strides,
            self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        beta = self.param("beta", nn.initializers.zeros, (self.features,))
        mean = jax.lax.stop_gradient(self.param("mean", nn.initializers.zeros, (self.features,)))
        var = jax.lax.stop_gradient(self.param("var", nn.initializers.ones, (self.features,)))
        return nn.relu((x - mean) * jax.lax.rsqrt(var + BN_EPSILON) + beta)


def _avg_pool_same(x):
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding="SAME", count_include_pad=False)


def _max_pool_valid(x):
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class InceptionV3(nn.Module):
    """Inception-v3 on NHWC images scaled to [-1, 1] (at least 75×75).

    `num_classes = 0` returns the 2048 pooled features instead of class logits. Smaller or
    grey inputs are resized to `resize_to` and repeated to three channels first.
    """

    num_classes: int = 1000
    resize_to: int | None = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        count = iter(range(1, 95))

        def conv(y, features, kh, kw, strides=(1, 1), padding="SAME"):
            return ConvBN(features, (kh, kw), strides, padding, name=f"conv{next(count)}")(y)

        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        if self.resize_to and x.shape[1:3] != (self.resize_to, self.resize_to):
            size = (x.shape[0], self.resize_to, self.resize_to, x.shape[-1])
            x = jax.image.resize(x, size, "bilinear")

        x = conv(x, 32, 3, 3, (2, 2), "VALID")
        x = conv(x, 32, 3, 3, padding="VALID")
        x = conv(x, 64, 3, 3)
        x = _max_pool_valid(x)
        x = conv(x, 80, 1, 1, padding="VALID")
        x = conv(x, 192, 3, 3, padding="VALID")
        x = _max_pool_valid(x)

        for pool_features in (32, 64, 64):  # mixed 0-2: 35×35
            b1 = conv(x, 64, 1, 1)
            b5 = conv(conv(x, 48, 1, 1), 64, 5, 5)
            b3 = conv(conv(conv(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
            bp = conv(_avg_pool_same(x), pool_features, 1, 1)
            x = jnp.concatenate([b1, b5, b3, bp], axis=-1)

        b3 = conv(x, 384, 3, 3, (2, 2), "VALID")  # mixed 3: down to 17×17
        b3d = conv(conv(conv(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, (2, 2), "VALID")
        x = jnp.concatenate([b3, b3d, _max_pool_valid(x)], axis=-1)

        for width in (128, 160, 160, 192):  # mixed 4-7: 17×17, factorised 7×7
            b1 = conv(x, 192, 1, 1)
            b7 = conv(conv(conv(x, width, 1, 1), width, 1, 7), 192, 7, 1)
            b7d = conv(x, width, 1, 1)
            b7d = conv(conv(b7d, width, 7, 1), width, 1, 7)
            b7d = conv(conv(b7d, width, 7, 1), 192, 1, 7)
            bp = conv(_avg_pool_same(x), 192, 1, 1)
            x = jnp.concatenate([b1, b7, b7d, bp], axis=-1)

        b3 = conv(conv(x, 192, 1, 1), 320, 3, 3, (2, 2), "VALID")  # mixed 8: down to 8×8
        b7 = conv(conv(conv(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
        b7 = conv(b7, 192, 3, 3, (2, 2), "VALID")
        x = jnp.concatenate([b3, b7, _max_pool_valid(x)], axis=-1)

        for _ in range(2):  # mixed 9-10: 8×8, expanded filter banks
            b1 = conv(x, 320, 1, 1)
            b3 = conv(x, 384, 1, 1)
            b3 = jnp.concatenate([conv(b3, 384, 1, 3), conv(b3, 384, 3, 1)], axis=-1)
            b3d = conv(conv(x, 448, 1, 1), 384, 3, 3)
            b3d = jnp.concatenate([conv(b3d, 384, 1, 3), conv(b3d, 384, 3, 1)], axis=-1)
            bp = conv(_avg_pool_same(x), 192, 1, 1)
            x = jnp.concatenate([b1, b3, b3d, bp], axis=-1)

        x = jnp.mean(x, axis=(1, 2))
        if self.num_classes:
            x = nn.Dense(self.num_classes, name="predictions")(x)
        return x


class InceptionV3Config(ModelConfig):
    resize_to: PositiveInt | None = Field(
        None,
        description="Resize inputs to this square size inside the model (>= 75; null = "
        "use them as they are). Grey inputs are repeated to 3 channels.",
    )


@MODELS.register("inception_v3", InceptionV3Config)
def inception_v3(cfg: InceptionV3Config, spec: DataSpec) -> nn.Module:
    """Inception-v3 with a `spec.num_outputs`-way head (weights: see `transfer` configs)."""
    return InceptionV3(num_classes=spec.num_outputs, resize_to=cfg.resize_to)
