"""Recurrent models: an LSTM that reads an image row by row (week 7)."""

from __future__ import annotations

from flax import linen as nn
from pydantic import Field, PositiveInt

from jaxcourse.data.spec import DataSpec
from jaxcourse.errors import ConfigError
from jaxcourse.models.registry import MODELS, ModelConfig


class LSTMConfig(ModelConfig):
    units: PositiveInt = Field(128, description="Size of the LSTM's hidden and cell state.")


class RowLSTM(nn.Module):
    """An LSTM over the rows of an image (H steps of W·C inputs); the last output → logits."""

    units: int
    features: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], x.shape[1], -1)  # (N, rows, row pixels)
        outputs = nn.RNN(nn.OptimizedLSTMCell(self.units, name="lstm"))(x)
        return nn.Dense(self.features, name="output")(outputs[:, -1])


@MODELS.register("lstm", LSTMConfig)
def lstm(cfg: LSTMConfig, spec: DataSpec) -> nn.Module:
    if len(spec.input_shape) < 2:
        raise ConfigError(
            f"config key 'model.name': 'lstm' reads images row by row, but the dataset's "
            f"examples have shape {spec.input_shape}"
        )
    return RowLSTM(units=cfg.units, features=spec.num_outputs)
