"""Clear errors for TF names a compat module does not have (instead of an AttributeError)."""

from __future__ import annotations

import difflib
from collections.abc import Callable


def missing_names(tf_module: str, namespace: dict, nearest: dict[str, str]) -> Callable:
    """A module `__getattr__` raising NotImplementedError for public TF names it lacks,
    naming the TF API and the nearest supported one (from `nearest`, or the closest name)."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        public = sorted(n for n in namespace if not n.startswith("_"))
        hint = nearest.get(name) or next(iter(difflib.get_close_matches(name, public, 1)), "")
        suggestion = f"; the nearest supported API is {tf_module}.{hint}" if hint else ""
        raise NotImplementedError(
            f"{tf_module}.{name} is not supported by jaxcourse.compat.v1{suggestion} "
            "(see docs/compat_v1.md)"
        )

    return __getattr__
