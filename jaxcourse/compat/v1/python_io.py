"""`tf.python_io`: TFRecord files (writer, iterator, options)."""

from jaxcourse.compat.v1.io_ops import TFRecordOptions, TFRecordWriter, tf_record_iterator

__all__ = ["TFRecordOptions", "TFRecordWriter", "tf_record_iterator"]
