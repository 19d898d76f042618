"""TF's nested namespaces (`tf.random`, `tf.io.gfile`, ...) and the error for names the shim
does not have.

Every namespace answers an unknown public name with `UnsupportedAPIError`, a
`NotImplementedError` that names the TF API and the nearest supported names (and is also an
`AttributeError`, so `hasattr(tf, name)` and `getattr(tf, name, default)` keep working).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable

DOCS = "docs/compat_v1.md"

# TF names the shim deliberately leaves out, with what to use instead
ALTERNATIVES = {
    "tf.keras": "tf.layers (TF1 layers) or flax.linen",
    "tf.estimator": "a Session training loop, or jaxcourse's configs (`jaxcourse run`)",
    "tf.enable_eager_execution": "graph mode with tf.Session (the shim has no eager mode)",
    "tf.py_func": "jaxcourse.compat.v1.graph.make_host_op (a Python function on the host)",
    "tf.numpy_function": "jaxcourse.compat.v1.graph.make_host_op",
    "tf.SparseTensor": "dense tensors (tf.one_hot, tf.gather)",
    "tf.sparse_placeholder": "a dense tf.placeholder",
    "tf.device": "nothing: JAX places the compiled run on its default device",
}


class UnsupportedAPIError(NotImplementedError, AttributeError):
    """A TF name that `jaxcourse.compat.v1` does not implement."""


def unsupported(qualname: str, available) -> UnsupportedAPIError:
    """The error for the missing TF API `qualname`, naming the nearest supported names."""
    parent, _, name = qualname.rpartition(".")
    hint = ALTERNATIVES.get(qualname)
    if hint is None:
        public = sorted(n for n in available if not n.startswith("_"))
        close = difflib.get_close_matches(name, public, n=3, cutoff=0.6)
        hint = ", ".join(f"{parent}.{n}" for n in close) if close else None
    nearest = f"; nearest supported: {hint}" if hint else ""
    return UnsupportedAPIError(
        f"{qualname} is not supported by jaxcourse.compat.v1{nearest} (see {DOCS} for what is)"
    )


def module_getattr(qualname: str, namespace: dict) -> Callable[[str], object]:
    """A module-level `__getattr__` raising `unsupported` for public names (dunder and
    private names stay plain AttributeErrors, for Python's own probing)."""

    def __getattr__(name: str):
        if name.startswith("_"):
            raise AttributeError(f"module {qualname!r} has no attribute {name!r}")
        raise unsupported(f"{qualname}.{name}", namespace)

    return __getattr__


class Namespace(types.ModuleType):
    """A TF sub-namespace made of existing functions (`tf.random`, `tf.math`, ...)."""

    def __init__(self, qualname: str, doc: str = "", **members):
        super().__init__(qualname, doc)
        self.__dict__.update(members)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(f"namespace {self.__name__!r} has no attribute {name!r}")
        raise unsupported(f"{self.__name__}.{name}", self.__dict__)

    def __dir__(self):
        return sorted(n for n in self.__dict__ if not n.startswith("_"))
