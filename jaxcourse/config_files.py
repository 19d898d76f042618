"""Reading config files: YAML mappings (a key given twice is an error), `base:` chains and
`key.sub=value` overrides. Kept free of pydantic and JAX, so that a config file's problems are
reported fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jaxcourse.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"key '{key}' is set twice (lines {seen[key]} and {line})")
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping from `path`, with errors that name the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a directory, expected a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
            "save the config file as UTF-8",
            source=str(path),
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read the file: {err.strerror}", source=str(path)) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except ConfigError as err:
        raise ConfigError(err.problems, source=str(path)) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", source=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys, got {type(data).__name__}", str(path))
    return data


def merge(base: dict, over: dict) -> dict:
    """`over`'s keys over `base`'s, section by section; a section that names another registry
    entry (`name:`) than the base's replaces it whole, and lists replace lists."""
    out = deep_copy(base)
    for key, value in over.items():
        old = out.get(key)
        if (
            isinstance(old, dict)
            and isinstance(value, dict)
            and value.get("name", old.get("name")) == old.get("name")
        ):
            out[key] = merge(old, value)
        else:
            out[key] = deep_copy(value)
    return out


def read_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a config file with its `base:` chain (a path relative to the file) merged in."""
    path = Path(path)
    raw = read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"config key 'base': expected a file name, got {base!r}", str(path))
    base_path = path.parent / base
    if base_path.resolve() in (*_seen, path.resolve()):
        raise ConfigError(f"config key 'base': '{base}' includes this file again", str(path))
    return merge(read_config(base_path, (*_seen, path.resolve())), raw)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Return a copy of `raw` with `a.b.c=value` overrides applied (values parsed as YAML)."""
    out = deep_copy(raw)
    seen: set[str] = set()
    problems = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"override '{item}' is not of the form key.sub=value")
            continue
        if key in seen:
            problems.append(f"override key '{key}' is set twice on the command line")
            continue
        seen.add(key)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                problems.append(f"override '{key}': '{where}' is a value, not a section")
                break
            node = child
        else:
            node[parts[-1]] = value
    if problems:
        raise ConfigError(problems, source="command line")
    return out


def deep_copy(value):
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value
