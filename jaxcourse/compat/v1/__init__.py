# ruff: noqa: F401  (this module is the `tf` namespace: its imports are its API)
"""TF1's graph API on JAX: run TensorFlow-1 course code with `import jaxcourse.compat.v1 as tf`.

Build a graph of ops (`tf.constant`, `tf.placeholder`, `tf.Variable`, math, `tf.nn`,
`tf.train` optimizers, `tf.summary`), then `tf.Session().run(fetches, feed_dict)` compiles
the part of the graph the fetches need with `jax.jit` (once per signature) and keeps variables
on the device. The graph's jaxpr can be shown as text (`graph.as_jaxpr_text()`), Graphviz
(`graph.to_dot()`, `graph.to_svg()`) or in TensorBoard (`tf.summary.FileWriter(logdir,
sess.graph)`). See docs/compat_v1.md for what is supported.
"""

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
    where,
    zeros,
    zeros_like,
)
from jaxcourse.compat.v1.session import InteractiveSession, Session, get_default_session
from jaxcourse.compat.v1.variables import (
    AUTO_REUSE,
    Variable,
    assign,
    assign_add,
    assign_sub,
    constant_initializer,
    get_variable,
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


# h15lib: libraries (tf.layers, tf.losses, tf.metrics, RNNs, tf.contrib)
from jaxcourse.compat.v1 import contrib, layers, losses, metrics  # noqa: E402

# isort: split
# h15input: input pipelines (tf.data, TFRecord files, queue-style input)
from jaxcourse.compat.v1 import data, io, python_io  # noqa: E402
from jaxcourse.compat.v1.io_ops import (  # noqa: E402
    FixedLenFeature,
    VarLenFeature,
    decode_raw,
    parse_example,
    parse_single_example,
)
from jaxcourse.compat.v1.queues import TFRecordReader  # noqa: E402

# end h15input
