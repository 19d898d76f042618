"""TF1's run-time error classes (`tf.errors.*`), with messages that name what is at fault."""

from __future__ import annotations

from jaxcourse.compat.v1.namespace import module_getattr
from jaxcourse.errors import JaxcourseError


class OpError(JaxcourseError):
    """An error raised while building or running a graph."""


class InvalidArgumentError(OpError, ValueError):
    """A fetch or feed does not fit the graph: unfed placeholder, wrong shape or dtype."""


class FailedPreconditionError(OpError):
    """A variable was read before it was initialised."""


class NotFoundError(OpError, FileNotFoundError):
    """A checkpoint or a graph element does not exist."""


class DataLossError(OpError):
    """A file is truncated or corrupt (a checksum or a length does not match)."""


class UnimplementedError(OpError):
    """A valid input uses a feature this implementation does not support."""


class OutOfRangeError(OpError):
    """An input (an iterator, a queue) is exhausted."""


__getattr__ = module_getattr("tf.errors", globals())
