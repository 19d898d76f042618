"""`tf.train`: optimizers, the global step and `Saver`."""

from jaxcourse.compat.v1.namespace import module_getattr
from jaxcourse.compat.v1.optimizers import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    Optimizer,
    RMSPropOptimizer,
    create_global_step,
    get_global_step,
    get_or_create_global_step,
)
from jaxcourse.compat.v1.saver import Saver, latest_checkpoint

__all__ = [
    "AdadeltaOptimizer",
    "AdagradOptimizer",
    "AdamOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "Optimizer",
    "RMSPropOptimizer",
    "Saver",
    "create_global_step",
    "get_global_step",
    "get_or_create_global_step",
    "latest_checkpoint",
]


__getattr__ = module_getattr("tf.train", globals())
