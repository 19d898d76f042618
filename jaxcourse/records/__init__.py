"""Record files: TFRecord (`tf.train.Example`, no TensorFlow needed) and ArrayRecord.

`tfrecord` is the container format with its checksums, `schema` maps arrays to Examples and
back, `files` writes and reads sharded splits, `grain_source` iterates them with Grain and
`convert` turns a registered dataset into record files (`jaxcourse data convert`).

The names below are imported on first use, so that `jaxcourse data --help` needs no NumPy.
"""

import importlib

_HOMES = {
    "files": (
        "RecordFilesError",
        "RecordSource",
        "find_shards",
        "list_splits",
        "load_schema",
        "read_arrays",
        "write_arrays",
        "write_split",
    ),
    "schema": ("FeatureSpec", "Schema", "SchemaError"),
    "tfrecord": (
        "CorruptRecordError",
        "ReadStats",
        "TFRecordFile",
        "TFRecordWriter",
        "masked_crc32c",
        "read_tfrecord",
        "write_tfrecord",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
