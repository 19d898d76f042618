"""`tf.contrib.tensorboard.plugins`: `projector`."""

from jaxcourse.compat.v1.contrib.tensorboard.plugins import projector

__all__ = ["projector"]
