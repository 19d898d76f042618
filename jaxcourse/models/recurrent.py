"""Recurrent models: an LSTM that reads an image row by row (week 7)."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
from flax import linen as nn
from flax.linen.recurrent import DenseParams
from pydantic import Field, PositiveInt

from jaxcourse.data.spec import DataSpec
from jaxcourse.errors import ConfigError
from jaxcourse.kernels import onednn
from jaxcourse.kernels.lstm import lstm_layer
from jaxcourse.kernels.onednn_lstm import lstm_onednn
from jaxcourse.models.registry import MODELS, ModelConfig


class LSTMConfig(ModelConfig):
    units: PositiveInt = Field(128, description="Size of the LSTM's hidden and cell state.")
    implementation: Literal["auto", "onednn", "hoisted", "flax"] = Field(
        "auto",
        description="auto = onednn where it can run (extension built, CPU, float32), else "
        "flax; onednn = oneDNN's LSTM primitive for the whole sequence (kernels.onednn_lstm); "
        "hoisted = the time-independent matmuls out of the time loop (kernels.lstm); flax = "
        "Flax's OptimizedLSTMCell in nn.RNN. Same parameters, same results; speeds in "
        "docs/performance.md.",
    )
    unroll: PositiveInt = Field(1, description="Time steps per loop iteration (hoisted only).")


class HoistedLSTM(nn.Module):
    """An LSTM over a sequence by `kernels.lstm.lstm_layer` (or by oneDNN), with the parameters
    of Flax's `OptimizedLSTMCell` (ii..io kernels, hi..ho kernels and biases; same inits)."""

    units: int
    unroll: int = 1

    onednn: bool = False

    @nn.compact
    def __call__(self, xs):
        def gate(prefix, init, use_bias, inputs):
            return [
                DenseParams(self.units, use_bias, kernel_init=init, name=f"{prefix}{g}")(inputs)
                for g in "ifgo"
            ]

        cell = nn.OptimizedLSTMCell
        inputs = gate("i", cell.kernel_init, False, xs[:, 0])
        hidden = gate("h", cell.recurrent_kernel_init, True, jnp.zeros((1, self.units)))
        w_x = jnp.concatenate([k for k, _ in inputs], axis=-1)
        w_h = jnp.concatenate([k for k, _ in hidden], axis=-1)
        b = jnp.concatenate([bias for _, bias in hidden], axis=-1)
        if self.onednn:
            return lstm_onednn(xs, w_x, w_h, b)
        return lstm_layer(xs, w_x, w_h, b, self.unroll)


class RowLSTM(nn.Module):
    """An LSTM over the rows of an image (H steps of W·C inputs); the last output → logits."""

    units: int
    features: int
    implementation: str = "auto"
    unroll: int = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], x.shape[1], -1)  # (N, rows, row pixels)
        implementation = self.implementation
        if implementation == "auto":
            implementation = "onednn" if onednn.usable_for(x) == "" else "flax"
        if implementation == "onednn" and (why_not := onednn.usable_for(x)):
            raise ValueError(f"model.implementation 'onednn' cannot run here: {why_not}")
        if implementation == "flax":
            outputs = nn.RNN(nn.OptimizedLSTMCell(self.units, name="lstm"))(x)
        else:
            lstm = HoistedLSTM(self.units, self.unroll, implementation == "onednn", name="lstm")
            outputs = lstm(x)
        return nn.Dense(self.features, name="output")(outputs[:, -1])


@MODELS.register("lstm", LSTMConfig)
def lstm(cfg: LSTMConfig, spec: DataSpec) -> nn.Module:
    if len(spec.input_shape) < 2:
        raise ConfigError(
            f"config key 'model.name': 'lstm' reads images row by row, but the dataset's "
            f"examples have shape {spec.input_shape}"
        )
    return RowLSTM(cfg.units, spec.num_outputs, cfg.implementation, cfg.unroll)
