# ruff: noqa: F401, E402  (the `tf` namespace: its imports are its API; NumPy's RNG is saved first)
"""TF1's graph API on JAX: run TensorFlow-1 course code with `import jaxcourse.compat.v1 as tf`.

Build a graph of ops (`tf.constant`, `tf.placeholder`, `tf.Variable`, math, `tf.nn`,
`tf.train` optimizers, `tf.summary`), then `tf.Session().run(fetches, feed_dict)` compiles
the part of the graph the fetches need with `jax.jit` (once per signature) and keeps variables
on the device. The graph's jaxpr can be shown as text (`graph.as_jaxpr_text()`), Graphviz
(`graph.to_dot()`, `graph.to_svg()`) or in TensorBoard (`tf.summary.FileWriter(logdir,
sess.graph)`). See docs/compat_v1.md for what is supported.
"""

import numpy as _np

_numpy_rng_state = _np.random.get_state()  # JAX draws from NumPy's global RNG at import

from jaxcourse.compat.v1 import errors, nn, strings, summary, train
from jaxcourse.compat.v1.dtypes import (
    as_dtype,
    bfloat16,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
    uint16,
)
from jaxcourse.compat.v1.dtypes import (
    bool_ as bool,  # noqa: A004  (TF's name)
)
from jaxcourse.compat.v1.gradients import gradients
from jaxcourse.compat.v1.graph import (
    Dimension,
    Graph,
    Operation,
    Tensor,
    TensorShape,
    control_dependencies,
    convert_to_tensor,
    get_default_graph,
    name_scope,
    reset_default_graph,
)
from jaxcourse.compat.v1.ops import (
    abs,  # noqa: A004
    add,
    add_n,
    argmax,
    argmin,
    cast,
    clip_by_value,
    concat,
    constant,
    div,
    divide,
    equal,
    exp,
    expand_dims,
    fill,
    floordiv,
    gather,
    greater,
    greater_equal,
    group,
    identity,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    matmul,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    no_op,
    not_equal,
    one_hot,
    ones,
    ones_like,
    placeholder,
    placeholder_with_default,
    pow,  # noqa: A004
    random_normal,
    random_uniform,
    rank,
    reduce_all,
    reduce_any,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    reshape,
    rsqrt,
    shape,
    sigmoid,
    sign,
    size,
    split,
    sqrt,
    square,
    squared_difference,
    squeeze,
    stack,
    subtract,
    tanh,
    transpose,
    truediv,
    truncated_normal,
    unstack,
    zeros,
    zeros_like,
)
from jaxcourse.compat.v1.session import InteractiveSession, Session, get_default_session
from jaxcourse.compat.v1.variables import (
    AUTO_REUSE,
    Variable,
    VariableScope,
    assign,
    assign_add,
    assign_sub,
    constant_initializer,
    get_variable,
    get_variable_scope,
    global_variables,
    global_variables_initializer,
    glorot_uniform_initializer,
    initialize_all_variables,
    local_variables,
    local_variables_initializer,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    trainable_variables,
    truncated_normal_initializer,
    variable_scope,
    variables_initializer,
    zeros_initializer,
)

string_join = strings.join
reduce_join = strings.reduce_join
string_to_number = strings.to_number
as_string = strings.as_string
regex_replace = strings.regex_replace
substr = strings.substr

sub = subtract
mul = multiply
neg = negative


def set_random_seed(seed: int) -> None:
    """Seed the default graph: sessions created afterwards draw reproducible random numbers."""
    get_default_graph().seed = int(seed)


def get_collection(key: str, scope: str | None = None) -> list:
    return get_default_graph().get_collection(key, scope)


def add_to_collection(name: str, value) -> None:
    get_default_graph().add_to_collection(name, value)


# h15core: module surface (namespaces, TF 1.13+ spellings, deprecated aliases) -----------------
import contextlib as _contextlib
import sys as _sys

import jax as _jax

from jaxcourse.compat.v1 import array_ops as _array_ops
from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1 import image_ops as _image_ops
from jaxcourse.compat.v1 import learning_rate_decay as _learning_rate_decay
from jaxcourse.compat.v1 import platform as _platform
from jaxcourse.compat.v1.array_ops import (
    Print,
    boolean_mask,
    clip_by_global_norm,
    clip_by_norm,
    cumprod,
    cumsum,
    diag,
    diag_part,
    einsum,
    eye,
    gather_nd,
    global_norm,
    linspace,
    matrix_determinant,
    matrix_inverse,
    matrix_transpose,
    multinomial,
    norm,
    pad,
    random_shuffle,
    range,  # noqa: A004
    reverse,
    sequence_mask,
    slice,  # noqa: A004
    tensordot,
    tile,
    trace,
)
from jaxcourse.compat.v1.array_ops import where_v1 as where
from jaxcourse.compat.v1.config import (
    ConfigProto,
    GPUOptions,
    GraphOptions,
    OptimizerOptions,
    RunMetadata,
    RunOptions,
)
from jaxcourse.compat.v1.control_flow import case, cond, map_fn, scan, while_loop
from jaxcourse.compat.v1.namespace import Namespace as _Namespace
from jaxcourse.compat.v1.namespace import module_getattr as _module_getattr
from jaxcourse.compat.v1.ops import (
    ceil,
    cos,
    count_nonzero,
    expm1,
    floor,
    is_finite,
    is_inf,
    is_nan,
    log1p,
    reciprocal,
    reduce_logsumexp,
    round,  # noqa: A004
    sin,
    stop_gradient,
    tan,
)

__version__ = VERSION = "1.15.0"  # the TF1 release whose API this shim follows
GIT_VERSION = "v1.15.0-jaxcourse"
COMPILER_VERSION = "jax " + _jax.__version__
newaxis = None


class GraphKeys:
    """TF1's standard collection names."""

    GLOBAL_VARIABLES = VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    GLOBAL_STEP = "global_step"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    UPDATE_OPS = "update_ops"
    TRAIN_OP = "train_op"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    SAVERS = "savers"
    ACTIVATIONS = "activations"
    WEIGHTS = "weights"
    BIASES = "biases"
    METRIC_VARIABLES = "metric_variables"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    TABLE_INITIALIZERS = "table_initializer"
    READY_OP = "ready_op"
    SUMMARY_OP = "summary_op"
    EVAL_STEP = "eval_step"


@_contextlib.contextmanager
def device(device_name):
    """Accepted and ignored: JAX runs the compiled graph on its default device."""
    yield


def executing_eagerly() -> bool:
    return False  # the shim is graph mode only


def disable_v2_behavior() -> None:
    """Accepted: the shim always has TF1's graph behaviour."""


disable_eager_execution = disable_v2_behavior
enable_resource_variables = disable_resource_variables = disable_v2_behavior


def _cast_to(dtype_, op_name):
    def convert(x, name=op_name):
        return cast(x, dtype_, name=name)

    convert.__name__ = convert.__qualname__ = op_name
    convert.__doc__ = f"Deprecated TF1 alias of tf.cast(x, tf.{dtypes.name_of(dtype_)})."
    return convert


to_float = _cast_to(float32, "ToFloat")
to_double = _cast_to(float64, "ToDouble")
to_int32 = _cast_to(int32, "ToInt32")
to_int64 = _cast_to(int64, "ToInt64")
to_bfloat16 = _cast_to(bfloat16, "ToBFloat16")
arg_max, arg_min = argmax, argmin
initialize_local_variables = local_variables_initializer
initialize_variables = variables_initializer
all_variables = global_variables
select = where
scalar_summary = summary.scalar
histogram_summary = summary.histogram
merge_summary = summary.merge
merge_all_summaries = summary.merge_all
train.SummaryWriter = summary.FileWriter
for _name in (
    "exponential_decay natural_exp_decay inverse_time_decay polynomial_decay cosine_decay "
    "piecewise_constant"
).split():
    setattr(train, _name, getattr(_learning_rate_decay, _name))

flags = _Namespace(
    "tf.flags",
    "absl's flags, parsed from sys.argv on first use (TF1's tf.app.flags / tf.flags).",
    FLAGS=_platform.FLAGS,
    **{
        n: getattr(_platform.absl_flags, n)
        for n in dir(_platform.absl_flags)
        if n.startswith("DEFINE") or n in ("Flag", "FlagValues", "mark_flag_as_required")
    },
)
app = _Namespace("tf.app", "tf.app.run and tf.app.flags.", run=_platform.run, flags=flags)
logging = _Namespace(
    "tf.logging",
    "TF1's logging: INFO:tensorflow:... lines on stderr (verbosity WARN by default).",
    **{
        n: getattr(_platform, n)
        for n in (
            "DEBUG INFO WARN ERROR FATAL set_verbosity get_verbosity log debug info warning "
            "warn error fatal vlog log_if log_every_n log_first_n flush"
        ).split()
    },
)
gfile = _Namespace("tf.gfile", "TF1's file helpers on local paths.", **_platform.CAMEL_CASE)
io = _Namespace(
    "tf.io", "TF 1.13+'s tf.io.", gfile=_Namespace("tf.io.gfile", "", **_platform.SNAKE_CASE)
)
random = _Namespace(
    "tf.random",
    "TF 1.13+'s spellings of the random ops.",
    normal=random_normal,
    uniform=random_uniform,
    truncated_normal=truncated_normal,
    shuffle=random_shuffle,
    multinomial=multinomial,
    categorical=multinomial,
    set_random_seed=set_random_seed,
    set_seed=set_random_seed,
)
math = _Namespace(
    "tf.math",
    "TF 1.13+'s tf.math spellings.",
    **{
        n: globals()[n]
        for n in (
            "abs add add_n argmax argmin ceil cos count_nonzero cumprod cumsum divide equal exp "
            "expm1 floor floordiv greater greater_equal is_finite is_inf is_nan less "
            "less_equal log log1p logical_and logical_not logical_or logical_xor maximum minimum "
            "mod multiply negative not_equal pow reciprocal reduce_all reduce_any "
            "reduce_logsumexp reduce_max reduce_mean reduce_min reduce_prod reduce_sum round "
            "rsqrt sigmoid sign sin sqrt square squared_difference subtract tan tanh truediv"
        ).split()
    },
    top_k=_array_ops.top_k,
    in_top_k=_array_ops.in_top_k,
    log_softmax=nn.log_softmax,
    softplus=nn.softplus,
)
linalg = _Namespace(
    "tf.linalg",
    "TF 1.13+'s tf.linalg spellings.",
    matmul=matmul,
    transpose=matrix_transpose,
    inv=matrix_inverse,
    det=matrix_determinant,
    eye=eye,
    diag=diag,
    diag_part=diag_part,
    trace=trace,
    norm=norm,
    tensordot=tensordot,
    einsum=einsum,
)
initializers = _Namespace(
    "tf.initializers",
    "TF1's initializer spellings.",
    zeros=zeros_initializer,
    ones=ones_initializer,
    constant=constant_initializer,
    random_normal=random_normal_initializer,
    random_uniform=random_uniform_initializer,
    truncated_normal=truncated_normal_initializer,
    glorot_uniform=glorot_uniform_initializer,
    global_variables=global_variables_initializer,
    local_variables=local_variables_initializer,
    variables=variables_initializer,
)
dtypes.cast = cast  # tf.dtypes is the dtypes module itself (others import it)
dtypes.bool = bool
test = _Namespace(
    "tf.test",
    "Device queries scripts print.",
    is_gpu_available=lambda cuda_only=False, min_cuda_compute_capability=None: any(
        d.platform == "gpu" for d in _jax.devices()
    ),
    is_built_with_cuda=lambda: any(d.platform == "gpu" for d in _jax.devices()),
    gpu_device_name=lambda: (
        "/device:GPU:0" if any(d.platform == "gpu" for d in _jax.devices()) else ""
    ),
)
nn.top_k = _array_ops.top_k
nn.in_top_k = _array_ops.in_top_k
image = _Namespace(
    "tf.image",
    "Image decoding, flips, standardisation and colour conversion.",
    **{
        n: getattr(_image_ops, n)
        for n in (
            "decode_jpeg decode_png flip_left_right flip_up_down transpose_image "
            "random_flip_left_right random_flip_up_down per_image_standardization "
            "rgb_to_grayscale grayscale_to_rgb convert_image_dtype"
        ).split()
    },
)
compat = _Namespace(
    "tf.compat",
    "tf.compat.v1 is this module itself; as_bytes/as_text as in TF.",
    v1=_sys.modules[__name__],
    as_bytes=lambda s, encoding="utf-8": s if isinstance(s, bytes) else str(s).encode(encoding),
    as_text=lambda s, encoding="utf-8": s.decode(encoding) if isinstance(s, bytes) else str(s),
)
compat.as_str = compat.as_text
# h15lib: libraries (tf.layers, tf.losses, tf.metrics, RNNs, tf.contrib)
from jaxcourse.compat.v1 import contrib, layers, losses, metrics  # noqa: E402

# isort: split
# h15input: input pipelines (tf.data, TFRecord files, queue-style input)
from jaxcourse.compat.v1 import data, io_ops, python_io  # noqa: E402
from jaxcourse.compat.v1.io_ops import (  # noqa: E402
    FixedLenFeature,
    VarLenFeature,
    decode_raw,
    parse_example,
    parse_single_example,
)
from jaxcourse.compat.v1.queues import TFRecordReader  # noqa: E402

for _name in (
    "FixedLenFeature TFRecordOptions TFRecordWriter VarLenFeature decode_raw parse_example "
    "parse_single_example tf_record_iterator"
).split():
    setattr(io, _name, getattr(io_ops, _name))
# end h15input

# isort: split
# -- h18graph: GraphDefs and TF1 graphs as pure JAX functions ---------------------------------
from jaxcourse.compat.v1.graph_def import GraphDef  # noqa: E402
from jaxcourse.compat.v1.importer import import_graph_def  # noqa: E402
from jaxcourse.compat.v1.to_jax import to_jax  # noqa: E402

__getattr__ = _module_getattr("tf", globals())

_np.random.set_state(_numpy_rng_state)
