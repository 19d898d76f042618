"""`tf.train.import_meta_graph`: rebuild a graph saved by TF's `Saver` (a `.meta` file) in the
default graph, with its variables, collections and a `Saver` for its checkpoints.

A `MetaGraphDef` holds the `GraphDef` (imported with `import_graph_def`, variables and training
ops included, see `converters.state_ops`), the collections (`variables`, `trainable_variables`,
`train_op`, ... : `VariableDef`s or node names) and the `SaverDef`. The Saver's own nodes (its
name scope, `save/...`: string ops, `SaveV2`, `RestoreV2`) are not imported: the `Saver` that
`import_meta_graph` returns does their work, on the same files.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import message

from jaxcourse.compat.v1.checkpoint_protos import MetaGraphDef, VariableDef
from jaxcourse.compat.v1.errors import DataLossError, NotFoundError
from jaxcourse.compat.v1.graph import get_default_graph
from jaxcourse.compat.v1.graph_def import GraphDef
from jaxcourse.compat.v1.importer import import_graph_def
from jaxcourse.compat.v1.saver import Saver, remember_meta_graph
from jaxcourse.compat.v1.variables import GLOBAL_VARIABLES, TRAINABLE_VARIABLES

# collections of VariableDefs (TF's ops.GraphKeys that hold variables)
VARIABLE_COLLECTIONS = {
    "variables",
    "trainable_variables",
    "local_variables",
    "model_variables",
    "moving_average_variables",
    "global_step",
}


def read_meta_graph(path) -> tuple[MetaGraphDef, bytes]:
    """The `MetaGraphDef` in `path` (binary, as `Saver.save` writes it) and the file's bytes."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"meta graph file {path} does not exist")
    data = path.read_bytes()
    meta = MetaGraphDef()
    try:
        meta.ParseFromString(data)
    except message.DecodeError as error:
        raise DataLossError(
            f"{path} is not a MetaGraphDef (truncated or corrupt?): {error}"
        ) from None
    if not meta.graph_def.node:
        raise DataLossError(f"{path}: the meta graph has no graph (empty graph_def)")
    return meta, data


def _scoped(scope: str | None, name: str) -> str:
    return f"{scope}/{name}" if scope else name


def _restore_collections(graph, meta, scope) -> None:
    for entry in meta.collection_def:
        key, kind = entry.key, entry.value.WhichOneof("kind")
        if key in VARIABLE_COLLECTIONS and kind == "bytes_list":
            for raw in entry.value.bytes_list.value:
                name = VariableDef.FromString(raw).variable_name.partition(":")[0]
                variable = graph.get_tensor_by_name(_scoped(scope, name) + ":0")
                target = {"variables": GLOBAL_VARIABLES, "trainable_variables": TRAINABLE_VARIABLES}
                collection = target.get(key, key)
                if variable not in graph.get_collection(collection):
                    graph.add_to_collection(collection, variable)
                if key == "trainable_variables":
                    variable.trainable = True
        elif kind == "node_list":
            for name in entry.value.node_list.value:
                full = _scoped(scope, name)
                element = (
                    graph.get_tensor_by_name(full)
                    if ":" in name
                    else graph.get_operation_by_name(full)
                )
                graph.add_to_collection(key, element)
        elif kind is not None:
            for value in getattr(entry.value, kind).value:
                graph.add_to_collection(key, value)


def _without_saver(meta) -> GraphDef:
    """The meta graph's GraphDef without the nodes of its Saver's name scope."""
    if not meta.HasField("saver_def"):
        return meta.graph_def
    scope = meta.saver_def.restore_op_name.rpartition("/")[0]
    kept = GraphDef()
    kept.CopyFrom(meta.graph_def)
    del kept.node[:]
    kept.node.extend(n for n in meta.graph_def.node if not n.name.startswith(f"{scope}/"))
    return kept


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **_):
    """Import a `.meta` file (or `MetaGraphDef`) into the default graph; return a `Saver` for
    its variables (None if it has none), to `restore` the checkpoint beside it."""
    if isinstance(meta_graph_or_file, MetaGraphDef):
        meta, data = meta_graph_or_file, meta_graph_or_file.SerializeToString()
    else:
        meta, data = read_meta_graph(meta_graph_or_file)
    graph = get_default_graph()
    whole = not import_scope and not graph.get_operations()
    import_graph_def(_without_saver(meta), name=import_scope or "")
    if whole:  # the graph is the meta graph: its checkpoints get it as `prefix.meta`
        remember_meta_graph(graph, data)
    _restore_collections(graph, meta, import_scope)
    variables = graph.get_collection(GLOBAL_VARIABLES, import_scope)
    if not variables:
        return None
    strip = len(import_scope) + 1 if import_scope else 0  # checkpoints keep the saved names
    keep = meta.saver_def.max_to_keep if meta.HasField("saver_def") else 5
    return Saver({v.op.name[strip:]: v for v in variables}, max_to_keep=keep)
