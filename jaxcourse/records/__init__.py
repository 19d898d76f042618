"""Record files: TFRecord (`tf.train.Example`, no TensorFlow needed) and ArrayRecord.

`tfrecord` is the container format with its checksums, `schema` maps arrays to Examples and
back, `files` writes and reads sharded splits, `grain_source` iterates them with Grain and
`convert` turns a registered dataset into record files (`jaxcourse data convert`).
"""

from jaxcourse.records.files import (
    RecordFilesError,
    RecordSource,
    find_shards,
    list_splits,
    load_schema,
    read_arrays,
    write_arrays,
    write_split,
)
from jaxcourse.records.schema import FeatureSpec, Schema, SchemaError
from jaxcourse.records.tfrecord import (
    CorruptRecordError,
    ReadStats,
    TFRecordFile,
    TFRecordWriter,
    masked_crc32c,
    read_tfrecord,
    write_tfrecord,
)

__all__ = [
    "CorruptRecordError",
    "FeatureSpec",
    "ReadStats",
    "RecordFilesError",
    "RecordSource",
    "Schema",
    "SchemaError",
    "TFRecordFile",
    "TFRecordWriter",
    "find_shards",
    "list_splits",
    "load_schema",
    "masked_crc32c",
    "read_arrays",
    "read_tfrecord",
    "write_arrays",
    "write_split",
    "write_tfrecord",
]
