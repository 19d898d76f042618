"""`tf.train`: optimizers, the global step, `Saver` and TF checkpoint files."""

from jaxcourse.compat.v1.checkpoint_management import (
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from jaxcourse.compat.v1.checkpoint_utils import (
    NewCheckpointReader,
    list_variables,
    load_checkpoint,
    load_variable,
)
from jaxcourse.compat.v1.meta_graph import import_meta_graph
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
from jaxcourse.compat.v1.saver import Saver

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
    "NewCheckpointReader",
    "Optimizer",
    "RMSPropOptimizer",
    "Saver",
    "checkpoint_exists",
    "create_global_step",
    "get_checkpoint_state",
    "get_global_step",
    "get_or_create_global_step",
    "import_meta_graph",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "update_checkpoint_state",
]


__getattr__ = module_getattr("tf.train", globals())
