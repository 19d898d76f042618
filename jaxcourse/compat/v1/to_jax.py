"""`to_jax`: part of a TF1 graph as a pure JAX function `f(variables, *feeds) -> fetches`.

The function evaluates the ops the fetches need, as a `Session` would, but takes the
variables' values as an argument (a dict keyed by TF name) instead of keeping them, so
`jax.grad`, `jax.vmap`, `jax.jit` and `jax.export` apply to it. With `lift_constants=True`,
the float constants of a frozen GraphDef that are arrays (weights; not scalars such as an
input normalisation's 128.0) become variables too, keyed by the Const's name, so an
imported `.pb` can be fine-tuned.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxcourse.compat.v1.errors import InvalidArgumentError
from jaxcourse.compat.v1.evaluation import Evaluation, execution_order, fed_op_ids
from jaxcourse.compat.v1.graph import Graph, Tensor, get_default_graph


def _tensor(graph: Graph, element, what: str) -> Tensor:
    tensor = graph.as_graph_element(element)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_jax: {what} {element!r} must be a tensor (or a name like 'x:0')")
    return tensor


class GraphFunction:
    """`f(variables, *feeds)`: the fetches' values for the given variables and feeds.

    `variable_names` lists the keys `variables` must have; `initial_variables(session)` gives
    their current values (variables from `session`, lifted constants from the graph).
    """

    def __init__(self, fetches, feeds, graph: Graph, lift_constants: bool):
        self.graph = graph
        leaves, self._treedef = jax.tree_util.tree_flatten(fetches)
        self.fetches = [_tensor(graph, leaf, "fetch") for leaf in leaves]
        self.feeds = [_tensor(graph, feed, "feed") for feed in feeds]
        fed = fed_op_ids(self.feeds)
        targets = [t.op for t in self.fetches]
        needed = execution_order(targets, fed)
        self.constants = []
        if lift_constants:
            self.constants = [
                op.outputs[0]
                for op in needed
                if op.type == "Const"
                and op.outputs[0].dtype.kind == "f"
                and op.outputs[0].static_value is None
                and op.outputs[0].shape  # weights, not scalars (a normalisation's 128.0)
            ]
            fed = fed | {t.op.id for t in self.constants}
            needed = execution_order(targets, fed)
        for op in needed:
            if op.host:
                raise InvalidArgumentError(
                    f"to_jax: the fetches need host op '{op.name}' ({op.type}), which runs "
                    "outside JAX; feed its output instead"
                )
            if op.type == "Placeholder":
                raise InvalidArgumentError(
                    f"to_jax: the fetches need placeholder '{op.name}'; list it in feeds"
                )
        self.variables = [op.outputs[0] for op in needed if op.type == "VariableV2"]
        self.variable_names = [v.op.name for v in self.variables] + [
            c.op.name for c in self.constants
        ]
        self._order = execution_order(targets, fed, captures=False)
        self._base_key = jax.random.key(graph.seed or 0)

    def initial_variables(self, session=None) -> dict:
        """{name: value} of the variables (read from `session`) and the lifted constants."""
        values = {}
        if self.variables:
            if session is None:
                raise ValueError(
                    "initial_variables: the graph has variables; pass the session that holds "
                    "their values"
                )
            values = {v.op.name: session.variable_value(v) for v in self.variables}
        for tensor in self.constants:
            values[tensor.op.name] = np.asarray(tensor.op.compute(None))
        return values

    def __call__(self, variables: dict, *feeds):
        missing = [n for n in self.variable_names if n not in variables]
        if missing:
            raise KeyError(f"to_jax function: variables has no value for {', '.join(missing)}")
        if len(feeds) != len(self.feeds):
            names = ", ".join(t.name for t in self.feeds)
            raise TypeError(
                f"to_jax function takes {len(self.feeds)} feeds ({names}), got {len(feeds)}"
            )
        fed = {t.ref: v for t, v in zip(self.feeds, feeds, strict=True)}
        fed.update({t.ref: variables[t.op.name] for t in self.constants})
        ev = Evaluation(
            {v.op.name: variables[v.op.name] for v in self.variables},
            fed,
            self._base_key,
            np.uint32(0),
        )
        ev.evaluate(self._order)
        return jax.tree_util.tree_unflatten(self._treedef, [ev.values[t.ref] for t in self.fetches])


def to_jax(fetches, feeds=(), graph: Graph | None = None, lift_constants: bool = False):
    """A pure function `f(variables, *feeds) -> fetches` of the graph (default: the default
    graph): fetches are tensors (or names, in any nesting of lists/tuples/dicts), feeds a
    list of tensors; `variables` maps TF variable names (and, with `lift_constants`, the
    names of float Consts) to arrays."""
    return GraphFunction(fetches, list(feeds), graph or get_default_graph(), lift_constants)
