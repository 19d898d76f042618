"""YAML configs: loading, `key.sub=value` overrides, strict validation and documentation.

A config file is a mapping whose `experiment` key picks the experiment; that experiment's
pydantic class (a `Section`, found in the experiments registry the caller passes:
`jaxcourse.runners.load_config` passes the runners') is the schema. A file may name a
`base:` file whose keys it overrides. Sections may hold *components*: a mapping whose
`name` picks an entry of a registry (model, dataset, optimizer, ...) and whose other keys are
validated by that entry's own config class. Every problem is collected and reported at once
as a `ConfigError` naming the key, what was expected and what was given.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from jaxcourse.errors import ConfigError
from jaxcourse.registry import Registry, did_you_mean


class Section(BaseModel):
    """A block of config keys: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Component(Section):
    """A section whose `name` selects a registry entry; subclasses add that entry's options."""

    name: str = Field(description="Which one to use (see `jaxcourse config schema`).")


@dataclass(frozen=True)
class RegistryRef:
    """Annotation marker: this `Component` field is resolved through `registry`."""

    registry: Registry


@dataclass(frozen=True)
class RegistryName:
    """Annotation marker: this `str` field must name an entry of `registry`."""

    registry: Registry


# --------------------------------------------------------------------------- YAML reading


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
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.load(path.read_text(), Loader=_StrictLoader)
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
    out = _deep_copy(base)
    for key, value in over.items():
        old = out.get(key)
        if (
            isinstance(old, dict)
            and isinstance(value, dict)
            and value.get("name", old.get("name")) == old.get("name")
        ):
            out[key] = merge(old, value)
        else:
            out[key] = _deep_copy(value)
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
    out = _deep_copy(raw)
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


def _deep_copy(value):
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


# --------------------------------------------------------------------------- validation


def _markers(field) -> tuple[RegistryRef | None, RegistryName | None]:
    ref = next((m for m in field.metadata if isinstance(m, RegistryRef)), None)
    name = next((m for m in field.metadata if isinstance(m, RegistryName)), None)
    return ref, name


def _section_class(annotation) -> type[Section] | None:
    """The Section class inside `annotation` (plain, Optional or list of), if any."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_class(arg)
        if found is not None:
            return found
    return None


def _is_list(annotation) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(a) is list for a in typing.get_args(annotation))


def _validate_section(cls: type[Section], raw: Any, prefix: str, problems: list[str]):
    """Validate `raw` against `cls`; append problems (keys prefixed) and return the instance."""
    if not isinstance(raw, dict):
        problems.append(
            f"config key '{prefix.rstrip('.') or '<top>'}': expected a mapping, got {raw!r}"
        )
        return None
    resolved = dict(raw)
    valid_keys = list(cls.model_fields)
    for key in raw:
        if key not in cls.model_fields:
            problems.append(
                f"unknown config key '{prefix}{key}'{did_you_mean(str(key), valid_keys)}"
                f"; valid keys here: {', '.join(valid_keys)}"
            )
            del resolved[key]
    before = len(problems)
    for fname, field in cls.model_fields.items():
        if fname not in raw or raw[fname] is None:
            continue
        ref, name_marker = _markers(field)
        key = f"{prefix}{fname}"
        if name_marker is not None:
            values = raw[fname] if isinstance(raw[fname], list) else [raw[fname]]
            for v in values:
                if v not in name_marker.registry:
                    try:
                        name_marker.registry.get(str(v), key)
                    except ConfigError as err:
                        problems.extend(err.problems)
            continue
        sub_cls = _section_class(field.annotation)
        if sub_cls is None:
            continue
        is_list = _is_list(field.annotation)
        items = raw[fname] if is_list else [raw[fname]]
        if is_list and not isinstance(raw[fname], list):
            problems.append(f"config key '{key}': expected a list, got {raw[fname]!r}")
            continue
        out = []
        for i, item in enumerate(items):
            item_key = f"{key}.{i}" if is_list else key
            item_cls = sub_cls
            if ref is not None:
                if not isinstance(item, dict) or "name" not in item:
                    problems.append(
                        f"config key '{item_key}': expected a mapping with a 'name' "
                        f"(one of: {', '.join(ref.registry.names())}), got {item!r}"
                    )
                    continue
                try:
                    item_cls = ref.registry.config_class(item["name"], f"{item_key}.name")
                except ConfigError as err:
                    problems.extend(err.problems)
                    continue
                item_cls = item_cls or sub_cls
            out.append(_validate_section(item_cls, item, f"{item_key}.", problems))
        resolved[fname] = out if is_list else (out[0] if out else None)
    if len(problems) > before:
        return None
    try:
        return cls.model_validate(resolved)
    except pydantic.ValidationError as err:
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            given = f" (got {e['input']!r})" if "input" in e and e["type"] != "missing" else ""
            key = f"{prefix}{loc}".rstrip(".") or "<top>"
            problems.append(f"config key '{key}': {e['msg']}{given}")
        return None


def validate(raw: dict, experiments: Registry, source: str | None = None) -> Section:
    """Validate a raw config mapping against the schema of its experiment (an entry of
    `experiments`); raise one `ConfigError` listing every problem."""
    name = raw.get("experiment")
    if name is None:
        raise ConfigError(
            f"missing key 'experiment' (one of: {', '.join(experiments.names())})", source
        )
    try:
        cls = experiments.config_class(name, "experiment")
    except ConfigError as err:
        raise ConfigError(err.problems, source) from None
    problems: list[str] = []
    config = _validate_section(cls, raw, "", problems)
    if problems:
        raise ConfigError(problems, source)
    return config


def load(
    experiments: Registry,
    path: str | Path | None = None,
    overrides: list[str] = (),
    raw: dict | None = None,
):
    """Read `path` (with its `base:`; or take `raw`), apply overrides, validate against
    `experiments`; returns the experiment config."""
    base = read_config(path) if path is not None else _deep_copy(raw or {})
    merged = apply_overrides(base, list(overrides))
    return validate(merged, experiments, str(path) if path is not None else None)


def to_dict(config: Section) -> dict:
    """Plain nested dict of a validated config (components with all their own keys)."""
    return config.model_dump(mode="json", serialize_as_any=True)


def dump_yaml(config: Section) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


# --------------------------------------------------------------------------- documentation


def describe_schema(cls: type[Section], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Rows (key, type, default, description) for every key of `cls`, nested sections included."""
    rows = []
    for fname, field in cls.model_fields.items():
        key = f"{prefix}{fname}"
        ref, name_marker = _markers(field)
        type_name = _type_name(field.annotation)
        if name_marker is not None:
            type_name = "one of: " + ", ".join(name_marker.registry.names())
        value = None if field.is_required() else field.get_default(call_default_factory=True)
        # a section's default is spelled out by its own keys, listed below it
        default = "" if field.is_required() or isinstance(value, Section) else repr(value)
        rows.append((key, type_name, default, field.description or ""))
        sub = _section_class(field.annotation)
        if ref is not None:
            for entry in ref.registry.names():
                entry_cls = ref.registry.config_class(entry) or sub
                sub_rows = describe_schema(entry_cls, f"{key}[name={entry}].")
                rows.extend(r for r in sub_rows if not r[0].endswith(".name"))
        elif sub is not None:
            rows.extend(describe_schema(sub, f"{key}{'.N' if _is_list(field.annotation) else ''}."))
    return rows


def _type_name(annotation) -> str:
    """The full type: `list[int]`, `int | None`, `'stop' | 'warn'`, `bool | int`, ..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def reference_yaml(cls: type[Section], title: str) -> str:
    """Every key of `cls` as commented YAML: its default (null where required), type and
    description; a component's `name` with the options of each of its registry entries."""
    lines = [
        f"# {title}",
        "# Every key with its default, type and description. Generated from the schema by",
        "# `jaxcourse config reference --write configs/reference`; tests keep it in sync.",
    ]
    _reference_lines(cls, "", lines)
    return "\n".join(lines) + "\n"


def _yaml_value(value) -> str:
    if isinstance(value, Section):
        value = value.model_dump(mode="json")
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _reference_lines(cls: type[Section], pad: str, out: list[str], skip=("",)) -> None:
    for fname, field in cls.model_fields.items():
        if fname in skip:
            continue
        ref, name_marker = _markers(field)
        required = field.is_required()
        default = None if required else field.get_default(call_default_factory=True)
        literal = (
            typing.get_args(field.annotation)
            if typing.get_origin(field.annotation) is typing.Literal
            else ()
        )
        if required and len(literal) == 1:  # the experiment's own name
            default = literal[0]
        type_name = _type_name(field.annotation)
        if name_marker is not None:
            type_name = "one of: " + ", ".join(name_marker.registry.names())
        comment = f"# {type_name}{' (required)' if required else ''}. {field.description or ''}"
        sub = _section_class(field.annotation)
        if ref is not None:
            names = ref.registry.names()
            chosen = getattr(default, "name", None) or "null"
            out.append(f"{pad}{fname}:  {comment}")
            out.append(f"{pad}  name: {chosen}  # one of: {', '.join(names)}")
            for entry in names:
                entry_cls = ref.registry.config_class(entry) or sub
                inner: list[str] = []
                _reference_lines(entry_cls, "", inner, skip=("name",))
                if inner:
                    out.append(f"{pad}  # name: {entry}")
                    out.extend(f"{pad}  #   {line}" for line in inner)
        elif sub is not None and _is_list(field.annotation):
            inner = []
            _reference_lines(sub, "", inner)
            out.append(f"{pad}{fname}:  {comment}")
            out.extend(f"{pad}  {'- ' if i == 0 else '  '}{line}" for i, line in enumerate(inner))
        elif sub is not None and (required or isinstance(default, Section)):
            out.append(f"{pad}{fname}:  {comment}")
            _reference_lines(sub, pad + "  ", out)
        else:
            out.append(f"{pad}{fname}: {_yaml_value(default)}  {comment}")


class ExperimentConfig(Section):
    """Keys every experiment has."""

    experiment: str = Field(description="Which experiment this config runs.")
    seed: int = Field(
        0, description="Seed of every random choice of the run (init, data, dropout)."
    )
    workdir: str | None = Field(
        None, description="Where the run writes its files; null = runs/<config file name>."
    )


def validate_component(registry: Registry, raw: dict, key: str) -> Component:
    """Validate one component mapping (with its `name`) outside a whole config."""
    problems: list[str] = []
    cls = registry.config_class(raw.get("name", ""), f"{key}.name") or Component
    config = _validate_section(cls, raw, f"{key}.", problems)
    if problems:
        raise ConfigError(problems)
    return config
