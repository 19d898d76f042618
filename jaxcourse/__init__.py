"""jaxcourse: a functional JAX training toolkit for a classic TensorFlow-1 deep-learning course."""

__version__ = "0.1.0"
