"""A TF1 graph as a JAX function, so `jaxcourse.graph.export` can show its jaxpr.

Every op is evaluated inside `jax.named_scope(op.name)`, so the jaxpr's equations carry the
TF names (`layer1/MatMul`) and TensorBoard shows name scopes as groups. Variables and
placeholders are the inputs (a `None` dimension is traced as a symbolic size `batch`); the
outputs are the values of the ops nothing else consumes and the variables' new values.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxcourse.compat.v1.graph import Graph, Operation, Tensor, symbolic_batch_dim
from jaxcourse.compat.v1.session import Evaluation, execution_order
from jaxcourse.graph import export as graph_export


def _targets(graph: Graph, fetches) -> list[Operation]:
    if fetches is None:
        return graph.get_operations()
    leaves = jax.tree_util.tree_leaves(fetches)
    return [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in leaves]


def _placeholder_aval(tensor: Tensor, symbolic: bool):
    """The abstract value a placeholder is traced with: a `None` size becomes the symbolic
    `batch` (or 1), an unknown rank a scalar."""
    if tensor.shape is None:
        return jax.ShapeDtypeStruct((), tensor.dtype)
    batch = symbolic_batch_dim() if symbolic else 1
    return jax.ShapeDtypeStruct(
        tuple(batch if d is None else d for d in tensor.shape), tensor.dtype
    )


def trace_graph(graph: Graph, fetches=None):
    """(closed jaxpr, input names, input op types, output names) of the graph, or of the part
    that `fetches` need."""
    targets = _targets(graph, fetches)
    needed = execution_order(targets, set())
    order = execution_order(targets, set(), captures=False)
    variables = [op.outputs[0] for op in needed if op.type == "VariableV2"]
    placeholders = [op.outputs[0] for op in needed if op.type == "Placeholder"]
    consumed = {t.op.id for op in order for t in op.inputs + op.captures}
    sinks = [op for op in order if op.outputs and op.id not in consumed]
    base_key = jax.random.key(graph.seed or 0)

    def graph_fn(var_values, fed_values, counter):
        fed = {t.op.id: v for t, v in zip(placeholders, fed_values, strict=True)}
        ev = Evaluation(
            dict(zip([v.op.name for v in variables], var_values, strict=True)),
            fed,
            base_key,
            counter,
        )
        ev.evaluate(order)
        return [ev.values[op.id] for op in sinks], ev.writes

    var_avals = [v.template for v in variables]
    counter = jax.ShapeDtypeStruct((), np.uint32)
    try:
        ph = [_placeholder_aval(t, True) for t in placeholders]
        closed, out_shape = jax.make_jaxpr(graph_fn, return_shape=True)(var_avals, ph, counter)
    except Exception:  # an op that symbolic sizes do not support: trace with size 1
        ph = [_placeholder_aval(t, False) for t in placeholders]
        closed, out_shape = jax.make_jaxpr(graph_fn, return_shape=True)(var_avals, ph, counter)
    input_names = []
    for variable, template in zip(variables, var_avals, strict=True):
        for path, _ in jax.tree_util.tree_flatten_with_path(template)[0]:
            suffix = jax.tree_util.keystr(tuple(path), simple=True, separator="/")
            input_names.append(variable.op.name + (f"/{suffix}" if suffix else ""))
    input_ops = ["VariableV2"] * len(input_names) + ["Placeholder"] * len(placeholders)
    input_names += [t.op.name for t in placeholders] + ["run_counter"]
    input_ops.append("Input")
    output_names = []
    for op, value in zip(sinks, out_shape[0], strict=True):
        output_names += [f"outputs/{op.name}"] * len(jax.tree_util.tree_leaves(value))
    for path, _ in jax.tree_util.tree_flatten_with_path(out_shape[1])[0]:
        output_names.append("updates/" + jax.tree_util.keystr(path, simple=True, separator="/"))
    return closed, input_names, input_ops, output_names


def nodes(graph: Graph, fetches=None) -> list[graph_export.GraphNode]:
    closed, input_names, input_ops, output_names = trace_graph(graph, fetches)
    return graph_export.build_graph(closed, input_names, output_names, input_ops=input_ops)


def jaxpr_text(graph: Graph, fetches=None) -> str:
    return str(trace_graph(graph, fetches)[0])


def to_dot(graph: Graph, fetches=None) -> str:
    return graph_export.dot_from_nodes(nodes(graph, fetches))


def to_graph_def(graph: Graph, fetches=None):
    return graph_export.graph_def_from_nodes(nodes(graph, fetches))
