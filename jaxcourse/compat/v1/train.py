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

# isort: split
# h15input
from jaxcourse.compat.v1.io_ops import BytesList, Example, Feature, Features, FloatList, Int64List
from jaxcourse.compat.v1.queues import (
    Coordinator,
    batch,
    shuffle_batch,
    start_queue_runners,
    string_input_producer,
)

# end h15input
# isort: split

__all__ = [
    "BytesList",
    "Coordinator",
    "Example",
    "Feature",
    "Features",
    "FloatList",
    "Int64List",
    "batch",
    "shuffle_batch",
    "start_queue_runners",
    "string_input_producer",
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
