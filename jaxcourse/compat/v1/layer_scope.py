"""The variable scope a TF1 layer (or RNN cell) builds its variables in.

TF names a layer's scope after its `name`, or, without one, after its class in snake case,
made unique inside the enclosing variable scope: `dense`, `dense_1`, ... (`conv2d`,
`basic_lstm_cell`, ...). Counts restart when the enclosing scope is entered again, so a model
function called twice under `variable_scope('model', reuse=True)` finds the same names.
"""

from __future__ import annotations

import re

from jaxcourse.compat.v1 import variables


def snake_case(class_name: str) -> str:
    """`BasicLSTMCell` -> `basic_lstm_cell`, `Conv2D` -> `conv2d` (TF's rule)."""
    text = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()


def layer_scope(name: str | None, default_name: str, reuse=None):
    """Open the layer's variable scope: `name` as given, else a unique `default_name`."""
    return variables.variable_scope(name, default_name=default_name, reuse=reuse)
