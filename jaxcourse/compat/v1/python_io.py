"""`tf.python_io`: TFRecord files (writer, iterator, options)."""

from jaxcourse.compat.v1.io_ops import TFRecordOptions, TFRecordWriter, tf_record_iterator
from jaxcourse.compat.v1.namespace import module_getattr

__all__ = ["TFRecordOptions", "TFRecordWriter", "tf_record_iterator"]

__getattr__ = module_getattr("tf.python_io", globals())
