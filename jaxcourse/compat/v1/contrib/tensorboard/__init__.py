"""`tf.contrib.tensorboard`: the embedding projector plugin's API (`plugins.projector`)."""

from jaxcourse.compat.v1.contrib.tensorboard import plugins

__all__ = ["plugins"]
