"""`tf.train.Saver`: save and restore a session's variables in TensorFlow's V2 checkpoint format.

A checkpoint `prefix` is `prefix.index` + `prefix.data-00000-of-00001` (see `tensor_bundle`),
keyed by TF's names: a variable by its op name (`conv1/W`), an optimizer's state by TF's slot
names (`conv1/W/Adam`, `beta1_power`, `W/Momentum`). TF reads what this Saver writes and this
Saver restores what TF's wrote. The `checkpoint` state file lists this Saver's last
`max_to_keep` checkpoints, newest last, for `tf.train.latest_checkpoint`; older ones are deleted.
Files are replaced atomically, so an interrupted save leaves the previous checkpoint intact.
`prefix.meta` is written for a graph that `tf.train.import_meta_graph` built (the imported
`MetaGraphDef`, so the next run can import it again); graphs built in Python get none.
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path

import jax
import numpy as np

from jaxcourse.compat.v1 import checkpoint_management, tensor_bundle
from jaxcourse.compat.v1.errors import InvalidArgumentError, NotFoundError
from jaxcourse.compat.v1.graph import get_default_graph
from jaxcourse.compat.v1.variables import GLOBAL_VARIABLES, Variable
from jaxcourse.engine.rundir import write_atomic

_META_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember_meta_graph(graph, serialized: bytes) -> None:
    """Write this `MetaGraphDef` (the graph's whole content) beside `graph`'s checkpoints."""
    _META_GRAPHS[graph] = serialized


def _keys(name: str, variable: Variable) -> list[tuple[str, jax.ShapeDtypeStruct]]:
    """[(checkpoint key, shape and stored dtype)]: `name`, or `name/<path>` per pytree leaf."""
    if isinstance(variable.template, jax.ShapeDtypeStruct):
        return [(name, jax.ShapeDtypeStruct(variable.template.shape, variable.saved_dtype))]
    leaves = jax.tree_util.tree_flatten_with_path(variable.template)[0]
    return [
        (f"{name}/{jax.tree_util.keystr(tuple(path), simple=True, separator='/')}", leaf)
        for path, leaf in leaves
    ]


def _narrowed(value: np.ndarray, leaf, variable: Variable, key: str, save_path) -> np.ndarray:
    """`value` in the dtype the session computes `leaf` in (int64 → int32 without x64, if it
    fits)."""
    if value.dtype == leaf.dtype or value.dtype.kind != "i":
        return value
    info = np.iinfo(leaf.dtype)
    if value.size and (value.min() < info.min or value.max() > info.max):
        raise InvalidArgumentError(
            f"checkpoint '{save_path}': '{key}' holds values outside {leaf.dtype}, the dtype "
            f"{variable.describe()} has here (enable jax_enable_x64 for 64-bit integers)"
        )
    return value


class Saver:
    """Saves `var_list` (default: all global variables, optimizer slots included).

    `var_list` may also be a dict {checkpoint name: variable}, to read or write other names.
    """

    def __init__(self, var_list=None, max_to_keep: int = 5, **_):
        if isinstance(var_list, dict):
            self._named = dict(var_list)
            bad = {k: v for k, v in self._named.items() if not isinstance(v, Variable)}
        else:
            self._named = None if var_list is None else {v.op.name: v for v in var_list}
            bad = [v for v in var_list or [] if not isinstance(v, Variable)]
        if bad:
            raise TypeError(f"Saver(var_list=...) takes tf.Variable objects, got {bad!r}")
        self.max_to_keep = max_to_keep
        self._last: list[tuple[str, float]] = []

    def _variables(self, sess) -> dict[str, Variable]:
        if self._named is not None:
            return self._named
        graph = sess.graph if sess is not None else get_default_graph()
        return {v.op.name: v for v in graph.get_collection(GLOBAL_VARIABLES)}

    @property
    def last_checkpoints(self) -> list[str]:
        """The prefixes this Saver keeps, oldest first."""
        return [prefix for prefix, _ in self._last]

    def recover_last_checkpoints(self, checkpoint_paths) -> None:
        """Take over `checkpoint_paths` (e.g. a state file's list) as if this Saver wrote them."""
        self._last = [(str(p), time.time()) for p in checkpoint_paths]

    def save(
        self,
        sess,
        save_path,
        global_step=None,
        latest_filename=None,
        meta_graph_suffix="meta",
        write_meta_graph=True,
        write_state=True,
        **_,
    ) -> str:
        """Write the variables as checkpoint `save_path[-step]`; return that prefix."""
        if global_step is not None:
            step = global_step if isinstance(global_step, int) else int(sess.run(global_step))
            save_path = f"{save_path}-{step}"
        prefix = str(save_path)
        tensors = {}
        for name, variable in self._variables(sess).items():
            value = jax.device_get(sess.variable_value(variable))
            for (key, stored), leaf in zip(
                _keys(name, variable), jax.tree_util.tree_leaves(value), strict=True
            ):
                tensors[key] = np.asarray(leaf).astype(stored.dtype)
        tensor_bundle.write_bundle(prefix, tensors)
        meta = _META_GRAPHS.get(sess.graph) if write_meta_graph else None
        if meta is not None:
            write_atomic(Path(f"{prefix}.{meta_graph_suffix}"), meta)
        self._last = [(p, t) for p, t in self._last if p != prefix] + [(prefix, time.time())]
        if self.max_to_keep:
            for old, _ in self._last[: -self.max_to_keep]:
                checkpoint_management.remove_checkpoint(old)
            self._last = self._last[-self.max_to_keep :]
        if write_state:
            checkpoint_management.update_checkpoint_state(
                Path(prefix).parent,
                prefix,
                self.last_checkpoints,
                latest_filename,
                all_model_checkpoint_timestamps=[t for _, t in self._last],
            )
        return prefix

    def restore(self, sess, save_path) -> None:
        """Set the variables from checkpoint `save_path`; nothing changes if one does not fit."""
        if save_path is None:
            raise ValueError("Saver.restore: save_path is None (no checkpoint found?)")
        reader = tensor_bundle.BundleReader(save_path)
        values = {}
        for name, variable in self._variables(sess).items():
            leaves = []
            computed = jax.tree_util.tree_leaves(variable.template)
            for (key, want), leaf in zip(_keys(name, variable), computed, strict=True):
                if key not in reader:
                    raise NotFoundError(
                        f"key '{key}' ({variable.describe()}) not found in checkpoint '{save_path}'"
                    )
                shape, dtype = reader.shape(key), reader.dtype(key)
                if tuple(shape) != tuple(want.shape) or dtype != want.dtype:
                    raise InvalidArgumentError(
                        f"checkpoint '{save_path}': '{key}' has shape {shape} and dtype "
                        f"{dtype}, but {variable.describe()} expects shape "
                        f"{list(want.shape)} and dtype {np.dtype(want.dtype).name}"
                    )
                leaves.append(_narrowed(reader.get(key), leaf, variable, key, save_path))
            structure = jax.tree_util.tree_structure(variable.template)
            values[variable] = jax.tree_util.tree_unflatten(structure, leaves)
        for variable, value in values.items():
            sess.load_variable(variable, value)
