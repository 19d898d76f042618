"""Reading TF checkpoints by tensor name: `tf.train.NewCheckpointReader`, `load_checkpoint`,
`list_variables`, `load_variable` (a checkpoint is a prefix or a directory with a state file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxcourse.compat.v1.checkpoint_management import latest_checkpoint
from jaxcourse.compat.v1.errors import NotFoundError
from jaxcourse.compat.v1.tensor_bundle import BundleReader


class CheckpointReader(BundleReader):
    """TF's `CheckpointReader` API on a V2 checkpoint."""

    def get_tensor(self, tensor_str: str) -> np.ndarray:
        return self.get(tensor_str)

    def has_tensor(self, tensor_str: str) -> bool:
        return tensor_str in self

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {name: self.shape(name) for name in self.keys()}

    def get_variable_to_dtype_map(self) -> dict[str, np.dtype]:
        return {name: self.dtype(name) for name in self.keys()}


def NewCheckpointReader(filepattern) -> CheckpointReader:  # noqa: N802  (TF's name)
    return CheckpointReader(filepattern)


def _prefix(ckpt_dir_or_file) -> str:
    if Path(ckpt_dir_or_file).is_dir():
        prefix = latest_checkpoint(ckpt_dir_or_file)
        if prefix is None:
            raise NotFoundError(
                f"no checkpoint in directory {ckpt_dir_or_file}: its 'checkpoint' state file is "
                "missing or names a checkpoint that does not exist"
            )
        return prefix
    return str(ckpt_dir_or_file)


def load_checkpoint(ckpt_dir_or_file) -> CheckpointReader:
    """A reader of the checkpoint `ckpt_dir_or_file` (a directory: its newest checkpoint)."""
    return CheckpointReader(_prefix(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file) -> list[tuple[str, list[int]]]:
    """[(name, shape)] of every tensor in the checkpoint, sorted by name."""
    reader = load_checkpoint(ckpt_dir_or_file)
    return [(name, reader.shape(name)) for name in reader.keys()]


def load_variable(ckpt_dir_or_file, name: str) -> np.ndarray:
    """The value of tensor `name` ('W' or 'W:0') in the checkpoint."""
    return load_checkpoint(ckpt_dir_or_file).get(name.removesuffix(":0"))
