"""`tf.contrib`: the parts TF1 tutorials use — `rnn`, `layers` and the embedding projector
(`from jaxcourse.compat.v1.contrib.tensorboard.plugins import projector`)."""

from jaxcourse.compat.v1.alternatives import missing_names
from jaxcourse.compat.v1.contrib import layers, rnn, tensorboard

__all__ = ["layers", "rnn", "tensorboard"]


__getattr__ = missing_names(
    "tf.contrib", globals(), {"slim": "layers", "learn": "layers", "keras": "layers"}
)
