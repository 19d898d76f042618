"""YAML configs: loading, `key.sub=value` overrides, strict validation and documentation.

A config file is a mapping whose `experiment` key picks the experiment; that experiment's
pydantic class (a `Section`) is the schema. Sections may hold *components*: a mapping whose
`name` picks an entry of a registry (model, dataset, optimizer, ...) and whose other keys are
validated by that entry's own config class. Every problem is collected and reported at once
as a `ConfigError` naming the key, what was expected and what was given.
"""

from __future__ import annotations

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


EXPERIMENTS = Registry("experiment")


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


def validate(raw: dict, source: str | None = None) -> Section:
    """Validate a raw config mapping; raise one `ConfigError` listing every problem."""
    name = raw.get("experiment")
    if name is None:
        raise ConfigError(
            f"missing key 'experiment' (one of: {', '.join(EXPERIMENTS.names())})", source
        )
    try:
        cls = EXPERIMENTS.config_class(name, "experiment")
    except ConfigError as err:
        raise ConfigError(err.problems, source) from None
    problems: list[str] = []
    config = _validate_section(cls, raw, "", problems)
    if problems:
        raise ConfigError(problems, source)
    return config


def load(path: str | Path | None = None, overrides: list[str] = (), raw: dict | None = None):
    """Read `path` (or take `raw`), apply overrides, validate; returns the experiment config."""
    import jaxcourse.runners  # noqa: F401  (registers experiments, models, datasets, ...)

    base = read_yaml(path) if path is not None else _deep_copy(raw or {})
    merged = apply_overrides(base, list(overrides))
    return validate(merged, str(path) if path is not None else None)


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
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("jaxcourse.", "")


class PerfConfig(Section):
    """Kernel choices that change speed, never results (docs/performance.md)."""

    conv_backend: typing.Literal["xla", "onednn", "auto"] = Field(
        "auto",
        description="2-D convolutions: xla = XLA's kernels; onednn = oneDNN on CPU (an error "
        "where it cannot run); auto = oneDNN where it can run, XLA elsewhere.",
    )


class ExperimentConfig(Section):
    """Keys every experiment has."""

    experiment: str = Field(description="Which experiment this config runs.")
    seed: int = Field(
        0, description="Seed of every random choice of the run (init, data, dropout)."
    )
    workdir: str | None = Field(
        None, description="Where the run writes its files; null = runs/<config file name>."
    )
    perf: PerfConfig = Field(default_factory=PerfConfig, description="Kernel choices (speed).")


def validate_component(registry: Registry, raw: dict, key: str) -> Component:
    """Validate one component mapping (with its `name`) outside a whole config."""
    problems: list[str] = []
    cls = registry.config_class(raw.get("name", ""), f"{key}.name") or Component
    config = _validate_section(cls, raw, f"{key}.", problems)
    if problems:
        raise ConfigError(problems)
    return config
