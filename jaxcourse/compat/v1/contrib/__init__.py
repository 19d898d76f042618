"""`tf.contrib`: the parts TF1 tutorials use — `rnn`, `layers` and the embedding projector
(`from jaxcourse.compat.v1.contrib.tensorboard.plugins import projector`)."""

from jaxcourse.compat.v1.contrib import layers, rnn, tensorboard

__all__ = ["layers", "rnn", "tensorboard"]
