"""Flax models by name. Importing this package registers every model module.

A model entry is `factory(cfg, spec) -> flax.linen.Module`; every module's `__call__` takes
`(x, train: bool)` so that the train step can switch dropout on and off.
"""

from jaxcourse.models import (  # noqa: F401, E402  (register their models)
    conv,
    dense,
    fast_conv,
    graph_def,  # h18graph: a frozen TF1 .pb, fine-tuned
    inception_v3,
    multihead,
    recurrent,
)
from jaxcourse.models.registry import MODELS, ModelConfig, build, describe_params

__all__ = ["MODELS", "ModelConfig", "build", "describe_params"]
