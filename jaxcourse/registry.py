"""Named registries (models, datasets, optimizers, losses, experiments) with helpful errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from jaxcourse.errors import ConfigError


def did_you_mean(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry:
    """Maps names to objects, each with an optional pydantic config class for its options."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, tuple[Any, type | None]] = {}

    def register(self, name: str, config_class: type | None = None) -> Callable:
        """Decorator: `@REG.register("name", ConfigClass)` adds the decorated object."""

        def add(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = (obj, config_class)
            return obj

        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def _entry(self, name: str, key: str | None = None) -> tuple[Any, type | None]:
        if name not in self._entries:
            where = f"config key '{key}': " if key else ""
            raise ConfigError(
                f"{where}unknown {self.kind} '{name}'{did_you_mean(str(name), self.names())}; "
                f"valid: {', '.join(self.names())}"
            )
        return self._entries[name]

    def get(self, name: str, key: str | None = None) -> Any:
        return self._entry(name, key)[0]

    def config_class(self, name: str, key: str | None = None) -> type | None:
        return self._entry(name, key)[1]
