"""`tf.io` (TF 1.13+ spellings): TFRecord files, Example parsing, `decode_raw`."""

from jaxcourse.compat.v1.io_ops import (
    FixedLenFeature,
    TFRecordOptions,
    TFRecordWriter,
    VarLenFeature,
    decode_raw,
    parse_example,
    parse_single_example,
    tf_record_iterator,
)

__all__ = [
    "FixedLenFeature",
    "TFRecordOptions",
    "TFRecordWriter",
    "VarLenFeature",
    "decode_raw",
    "parse_example",
    "parse_single_example",
    "tf_record_iterator",
]
