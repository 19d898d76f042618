"""`fast_cnn`: the course CNN (`cnn`) computed in a cheaper order, with the same parameters.

Same architecture, options and parameter tree as `cnn` (a trained `cnn` checkpoint loads into
it and vice versa), and the same outputs; two changes make its training step faster on CPU:

1. Pool first, then add the bias and apply the ReLU: `pool(relu(conv + b)) ==
   relu(pool(conv) + b)` because max-pooling commutes with adding a per-channel constant and
   with any increasing function. The bias and ReLU (and their gradients) then touch a tensor
   four times smaller.
2. Optionally, the first convolution as patches × matmul (`first_conv: patches`): with one
   input channel its patches are small (25 values a pixel), and a matmul can beat XLA's
   convolution there. The measured effect of each change is in docs/performance.md.

The 2×2 max-pool is `cnn`'s (`kernels.pool.max_pool_2x2`: oneDNN's or XLA's per
`perf.conv_backend`, each window's gradient to its first maximum).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
from flax import linen as nn
from pydantic import Field

from jaxcourse.data.spec import DataSpec
from jaxcourse.kernels.conv import conv2d
from jaxcourse.kernels.pool import max_pool_2x2
from jaxcourse.models.conv import (
    CNNConfig,
    as_image,
    classifier_head,
    cnn_options,
    course_initializers,
)
from jaxcourse.models.registry import MODELS


def conv_same(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
    """Stride-1 SAME convolution of an NHWC batch with an HWIO kernel (`perf.conv_backend`'s)."""
    return conv2d(x, kernel)


def conv_same_patches(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
    """The same convolution as patches × matmul: each pixel's kh·kw·C neighbourhood is laid out
    as one row (zero padded like SAME) and multiplied by the kernel as a (kh·kw·C, O) matrix."""
    kh, kw, c, o = kernel.shape
    n, h, w, _ = x.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = jnp.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    taps = [padded[:, i : i + h, j : j + w, :] for i in range(kh) for j in range(kw)]
    patches = jnp.stack(taps, axis=3).reshape(n * h * w, kh * kw * c)
    return (patches @ kernel.reshape(kh * kw * c, o)).reshape(n, h, w, o)


class PooledConv(nn.Module):
    """conv (no bias) → 2×2 max-pool → + bias → ReLU; parameters named like `nn.Conv`'s."""

    features: int
    kernel_size: int
    lowering: str = "conv"
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        conv = conv_same_patches if self.lowering == "patches" else conv_same
        return nn.relu(max_pool_2x2(conv(x, kernel)) + bias)


class FastCNNConfig(CNNConfig):
    first_conv: Literal["conv", "patches"] = Field(
        "conv",
        description="Lowering of the first convolution: conv = a convolution kernel (oneDNN's "
        "or XLA's, per perf.conv_backend), patches = "
        "patches × matmul (see docs/performance.md for which is faster here).",
    )


class FastCNN(nn.Module):
    """The `cnn` model's function and parameters, computed pool-first (see module docstring)."""

    conv_features: tuple[int, ...]
    kernel_size: int
    dense: int
    features: int
    dropout: float = 0.5
    course_init: bool = True
    first_conv: str = "conv"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x, init = as_image(x), course_initializers(self.course_init)
        for i, channels in enumerate(self.conv_features):
            lowering = self.first_conv if i == 0 else "conv"
            x = PooledConv(channels, self.kernel_size, lowering, name=f"conv{i + 1}", **init)(x)
        return classifier_head(x, self.dense, self.features, self.dropout, train, init)


@MODELS.register("fast_cnn", FastCNNConfig)
def fast_cnn(cfg: FastCNNConfig, spec: DataSpec) -> nn.Module:
    return FastCNN(**cnn_options(cfg, spec), first_conv=cfg.first_conv)
