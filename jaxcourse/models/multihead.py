"""Multi-task models: a shared CNN trunk with one softmax head per output character.

`MultiHeadCNN` maps an image batch to logits of shape (batch, heads, classes) for one task;
with several tasks (alternating training) every task has its own heads on the same trunk and
`task=` picks which heads a call uses.
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
from flax import linen as nn
from pydantic import Field, PositiveInt

from jaxcourse.data.spec import DataSpec
from jaxcourse.models.registry import MODELS, ModelConfig


def max_pool_2x2(x):
    """2x2 max pooling as a reshape-max (odd edges dropped): faster than reduce_window on CPU."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def as_float_image(x, invert: bool = False):
    """uint8 images to float in [0, 1] (1 - that if `invert`), with a channel axis (NHWC)."""
    if x.dtype == jnp.uint8:
        x = x.astype(jnp.float32) / 255.0
    if invert:
        x = 1.0 - x
    return x[..., None] if x.ndim == 3 else x


class ConvTrunk(nn.Module):
    """conv3x3-ReLU-maxpool blocks, then a dense ReLU layer with dropout: the shared features."""

    channels: tuple[int, ...] = (32, 64, 64)
    dense: int = 256
    dropout: float = 0.25
    invert: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = as_float_image(x, self.invert)
        for i, c in enumerate(self.channels):
            x = nn.relu(nn.Conv(c, (3, 3), padding="SAME", name=f"conv{i + 1}")(x))
            x = max_pool_2x2(x)
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.dense, name="dense")(x))
        return nn.Dropout(self.dropout, deterministic=not train)(x)


class MultiHeadCNN(nn.Module):
    """A shared `ConvTrunk` and, per task, `num_heads` softmax heads of `num_classes` each.

    `tasks` is ((task name, num_heads, num_classes), ...); `task=None` means the first task.
    """

    tasks: tuple[tuple[str, int, int], ...]
    channels: tuple[int, ...] = (32, 64, 64)
    dense: int = 256
    dropout: float = 0.25
    invert: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False, task: str | None = None):
        trunk = ConvTrunk(self.channels, self.dense, self.dropout, self.invert, name="trunk")
        features = trunk(x, train)
        task = task or self.tasks[0][0]
        names = [t[0] for t in self.tasks]
        if task not in names:
            raise ValueError(f"unknown task '{task}'; the model has heads for {names}")
        out = None
        for name, num_heads, num_classes in self.tasks:
            # all heads exist from initialisation on; a call evaluates only its task's heads
            if name != task and not self.is_initializing():
                continue
            logits = jnp.stack(
                [
                    nn.Dense(num_classes, name=f"{name}_head{i + 1}")(features)
                    for i in range(num_heads)
                ],
                axis=1,
            )
            if name == task:
                out = logits
        return out


class MultiHeadCNNConfig(ModelConfig):
    name: Literal["multihead_cnn"] = Field("multihead_cnn", description="The model.")
    channels: list[PositiveInt] = Field(
        [32, 64, 64], description="Filters of each conv3x3+pool block."
    )
    dense: int = Field(256, gt=0, description="Width of the shared dense layer.")
    dropout: float = Field(0.25, ge=0.0, lt=1.0, description="Dropout after the dense layer.")
    invert: bool = Field(
        False, description="Feed 1 - pixel/255: dark text on light paper becomes ink on zero."
    )


def build_multihead(cfg: MultiHeadCNNConfig, tasks) -> MultiHeadCNN:
    """The model for `tasks` = ((name, num_heads, num_classes), ...)."""
    return MultiHeadCNN(
        tasks=tuple(tasks),
        channels=tuple(cfg.channels),
        dense=cfg.dense,
        dropout=cfg.dropout,
        invert=cfg.invert,
    )


@MODELS.register("multihead_cnn", MultiHeadCNNConfig)
def multihead_cnn(cfg: MultiHeadCNNConfig, spec: DataSpec) -> nn.Module:
    """One task whose heads are `spec.num_heads` (1 for a plain classifier) x num_outputs."""
    return build_multihead(cfg, [("main", getattr(spec, "num_heads", 1), spec.num_outputs)])
