"""The text `checkpoint` state file beside TF checkpoints: which prefixes exist, which is newest.

It is a `CheckpointState` protobuf in text format, as TF writes it:

    model_checkpoint_path: "model.ckpt-3"
    all_model_checkpoint_paths: "model.ckpt-2"
    all_model_checkpoint_paths: "model.ckpt-3"

Paths inside the directory are stored relative to it (TF's `save_relative_paths=True`), so the
directory can be moved; `get_checkpoint_state` returns them joined to the directory, as TF does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from google.protobuf import text_format

from jaxcourse.compat.v1 import tensor_bundle
from jaxcourse.compat.v1.checkpoint_protos import CheckpointState
from jaxcourse.compat.v1.errors import DataLossError
from jaxcourse.engine.rundir import write_atomic

STATE_FILE = "checkpoint"


def _state_path(checkpoint_dir, latest_filename) -> Path:
    return Path(checkpoint_dir) / (latest_filename or STATE_FILE)


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The `CheckpointState` of `checkpoint_dir` (absolute paths), or None if it has none."""
    path = _state_path(checkpoint_dir, latest_filename)
    if not path.is_file():
        return None
    try:
        state = text_format.Parse(path.read_text(), CheckpointState())
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise DataLossError(
            f"checkpoint state file {path} is corrupt ({error}); expected lines like "
            'model_checkpoint_path: "model.ckpt-3"'
        ) from None
    if not state.model_checkpoint_path:
        raise DataLossError(f"checkpoint state file {path} names no model_checkpoint_path")
    directory = str(checkpoint_dir)
    state.model_checkpoint_path = os.path.join(directory, state.model_checkpoint_path)
    paths = [os.path.join(directory, p) for p in state.all_model_checkpoint_paths]
    del state.all_model_checkpoint_paths[:]
    state.all_model_checkpoint_paths.extend(paths)
    return state


def update_checkpoint_state(
    save_dir,
    model_checkpoint_path,
    all_model_checkpoint_paths=None,
    latest_filename=None,
    all_model_checkpoint_timestamps=None,
) -> None:
    """Write the state file of `save_dir` (atomically); the newest path is listed last."""
    directory = Path(save_dir).resolve()

    def relative(prefix) -> str:
        prefix = Path(prefix)
        absolute = prefix if prefix.is_absolute() else Path.cwd() / prefix
        return absolute.name if absolute.resolve().parent == directory else str(absolute)

    paths = [relative(p) for p in (all_model_checkpoint_paths or [])]
    newest = relative(model_checkpoint_path)
    state = CheckpointState(
        model_checkpoint_path=newest,
        all_model_checkpoint_paths=[p for p in paths if p != newest] + [newest],
    )
    if all_model_checkpoint_timestamps is not None:
        state.all_model_checkpoint_timestamps.extend(all_model_checkpoint_timestamps)
        state.last_preserved_timestamp = time.time()
    write_atomic(_state_path(save_dir, latest_filename), text_format.MessageToString(state))


def checkpoint_exists(checkpoint_prefix) -> bool:
    """Whether the V2 checkpoint `checkpoint_prefix` exists (its `.index` file)."""
    return tensor_bundle.exists(checkpoint_prefix)


def latest_checkpoint(checkpoint_dir, latest_filename=None) -> str | None:
    """The newest checkpoint prefix named by `checkpoint_dir`'s state file, if it exists."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not checkpoint_exists(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path


def remove_checkpoint(checkpoint_prefix) -> None:
    """Delete the files of checkpoint `checkpoint_prefix` (index, data shards, meta graph)."""
    prefix = Path(checkpoint_prefix)
    for path in prefix.parent.glob(prefix.name + ".*"):
        suffix = path.name[len(prefix.name) :]
        if suffix in (".index", ".meta") or suffix.startswith(".data-"):
            path.unlink(missing_ok=True)
