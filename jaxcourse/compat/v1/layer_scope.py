"""The variable scope a TF1 layer (or RNN cell) builds its variables in.

TF names a layer's scope after its `name`, or, without one, after its class in snake case,
made unique inside the enclosing variable scope: `dense`, `dense_1`, ... (`conv2d`,
`basic_lstm_cell`, ...). Counts restart when the enclosing scope is entered again, so a model
function called twice under `variable_scope('model', reuse=True)` finds the same names.
"""

from __future__ import annotations

import contextlib
import re

from jaxcourse.compat.v1 import variables
from jaxcourse.compat.v1.graph import get_default_graph


def snake_case(class_name: str) -> str:
    """`BasicLSTMCell` -> `basic_lstm_cell`, `Conv2D` -> `conv2d` (TF's rule)."""
    text = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()


def _unique_default(base: str) -> str:
    graph = get_default_graph()
    scopes = variables._scopes(graph)
    owner = scopes.stack[-1] if scopes.stack else None
    counts = graph.__dict__.setdefault("_layer_scope_counts", {})
    prefix = scopes.prefix()
    entry = counts.get(prefix)
    if entry is None or entry[0] is not owner:
        entry = counts[prefix] = (owner, {})
    taken = entry[1]
    index = taken.get(base, 0)
    taken[base] = index + 1
    return base if index == 0 else f"{base}_{index}"


@contextlib.contextmanager
def layer_scope(name: str | None, default_name: str, reuse=None):
    """Open the layer's variable scope: `name` as given, else a unique `default_name`."""
    scope_name = name if name else _unique_default(default_name)
    with variables.variable_scope(scope_name, reuse=reuse) as scope:
        yield scope
