# ruff: noqa: F401  (this module is a namespace: its imports are its API)
"""`tf.contrib.rnn`: TF1's RNN cells and `static_rnn` under their contrib names."""

from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.rnn import bidirectional_dynamic_rnn, static_rnn
from jaxcourse.compat.v1.rnn_cell import (
    BasicLSTMCell,
    BasicRNNCell,
    DropoutWrapper,
    GRUCell,
    LSTMCell,
    LSTMStateTuple,
    MultiRNNCell,
    RNNCell,
)

__getattr__ = missing_names(
    "tf.contrib.rnn",
    globals(),
    {
        "LayerNormBasicLSTMCell": "BasicLSTMCell",
        "LSTMBlockCell": "LSTMCell",
        "GRUBlockCell": "GRUCell",
        "static_bidirectional_rnn": "bidirectional_dynamic_rnn",
    },
)
