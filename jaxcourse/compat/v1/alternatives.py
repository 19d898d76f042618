"""Unknown names in the library modules (tf.layers, tf.losses, ...): h15core's
`UnsupportedAPIError`, with the nearest supported API registered per name."""

from __future__ import annotations

from collections.abc import Callable

from jaxcourse.compat.v1.namespace import ALTERNATIVES, module_getattr


def missing_names(qualname: str, namespace: dict, nearest: dict[str, str]) -> Callable:
    """A module `__getattr__` for `qualname`; `nearest` maps missing names to supported ones."""
    ALTERNATIVES.update({f"{qualname}.{k}": f"{qualname}.{v}" for k, v in nearest.items()})
    return module_getattr(qualname, namespace)
