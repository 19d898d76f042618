"""`tf.train.Saver`: save and restore a session's variables as one `.npz` file per checkpoint.

Files are written atomically (a temporary file, then a rename), so an interrupted save never
leaves a half-written checkpoint. As in TF, `save` returns the checkpoint prefix and keeps a
`checkpoint` index file in the directory for `latest_checkpoint`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

from jaxcourse.compat.v1.errors import InvalidArgumentError, NotFoundError
from jaxcourse.compat.v1.graph import get_default_graph
from jaxcourse.compat.v1.variables import GLOBAL_VARIABLES, Variable

INDEX = "checkpoint"
SUFFIX = ".npz"


def _key(variable: Variable, path) -> str:
    suffix = jax.tree_util.keystr(tuple(path), simple=True, separator="/")
    return variable.op.name + (f"/{suffix}" if suffix else "")


def _entries(variable: Variable, value) -> dict[str, np.ndarray]:
    """Arrays of `variable` keyed by `name` (plain) or `name/<path>` (pytree state)."""
    if isinstance(variable.template, jax.ShapeDtypeStruct):
        return {variable.op.name: np.asarray(value)}
    leaves = jax.tree_util.tree_flatten_with_path(value)[0]
    return {_key(variable, path): np.asarray(leaf) for path, leaf in leaves}


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Saver:
    """Saves `var_list` (default: all global variables, optimizer state included)."""

    def __init__(self, var_list=None, max_to_keep: int = 5, **_):
        if isinstance(var_list, dict):
            raise TypeError("Saver(var_list=dict) is not supported; pass a list of variables")
        self._var_list = list(var_list) if var_list is not None else None
        self.max_to_keep = max_to_keep

    def _variables(self, sess) -> list[Variable]:
        graph = sess.graph if sess is not None else get_default_graph()
        return self._var_list or graph.get_collection(GLOBAL_VARIABLES)

    def save(self, sess, save_path, global_step=None, write_meta_graph=True, **_) -> str:
        """Write the variables' values to `save_path[-step].npz`; return the prefix."""
        if global_step is not None:
            step = global_step if isinstance(global_step, int) else int(sess.run(global_step))
            save_path = f"{save_path}-{step}"
        prefix = Path(save_path)
        arrays: dict[str, np.ndarray] = {}
        for variable in self._variables(sess):
            arrays.update(_entries(variable, jax.device_get(sess.variable_value(variable))))
        _atomic_write(prefix.with_name(prefix.name + SUFFIX), lambda f: np.savez(f, **arrays))
        self._update_index(prefix)
        return str(prefix)

    def _update_index(self, prefix: Path) -> None:
        index_path = prefix.parent / INDEX
        kept = _read_index(prefix.parent)
        kept = [p for p in kept if p != prefix.name] + [prefix.name]
        for old in kept[: -self.max_to_keep] if self.max_to_keep else []:
            (prefix.parent / (old + SUFFIX)).unlink(missing_ok=True)
        kept = kept[-self.max_to_keep :] if self.max_to_keep else kept
        text = json.dumps({"latest": prefix.name, "all": kept}, indent=1)
        _atomic_write(index_path, lambda f: f.write(text.encode()))

    def restore(self, sess, save_path) -> None:
        """Set the variables from checkpoint `save_path`; nothing changes if it does not fit."""
        path = Path(str(save_path))
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        if not path.is_file():
            raise NotFoundError(f"checkpoint file {path} does not exist")
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
        values = {}
        for variable in self._variables(sess):
            template = variable.template
            leaves = jax.tree_util.tree_flatten_with_path(template)[0]
            restored = []
            for tree_path, want in leaves:
                key = _key(variable, tree_path)
                if key not in arrays:
                    raise NotFoundError(
                        f"checkpoint {path} has no value for '{key}' ({variable.describe()})"
                    )
                got = arrays[key]
                if got.shape != tuple(want.shape) or got.dtype != want.dtype:
                    raise InvalidArgumentError(
                        f"checkpoint {path}: '{key}' has shape {list(got.shape)} and dtype "
                        f"{got.dtype}, but {variable.describe()} expects shape "
                        f"{list(want.shape)} and dtype {np.dtype(want.dtype).name}"
                    )
                restored.append(got)
            values[variable] = jax.tree_util.tree_unflatten(
                jax.tree_util.tree_structure(template), restored
            )
        for variable, value in values.items():
            sess.load_variable(variable, value)


def _read_index(directory: Path) -> list[str]:
    try:
        return json.loads((directory / INDEX).read_text())["all"]
    except (FileNotFoundError, ValueError, KeyError):
        return []


def latest_checkpoint(checkpoint_dir) -> str | None:
    """The prefix of the newest checkpoint `Saver.save` wrote in `checkpoint_dir`, or None."""
    directory = Path(checkpoint_dir)
    kept = _read_index(directory)
    return str(directory / kept[-1]) if kept else None
