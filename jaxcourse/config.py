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

from jaxcourse.config_files import apply_overrides, deep_copy, merge, read_config, read_yaml
from jaxcourse.errors import ConfigError
from jaxcourse.registry import Registry, did_you_mean

# re-exported: YAML reading lives in config_files
__all__ = ["apply_overrides", "merge", "read_config", "read_yaml"]


class Section(BaseModel):
    """A block of config keys: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


def _admits_bool(annotation) -> bool:
    """Whether a field of this type may hold True/False (bool, Any, a Literal of them...)."""
    if annotation is bool or annotation is Any or annotation is object:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return any(isinstance(a, bool) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) in (list, tuple, dict, set):
        return False
    return any(_admits_bool(a) for a in typing.get_args(annotation))


def _admits(annotation, types: tuple[type, ...]) -> bool:
    """Whether `annotation` (or a type inside it) is one of `types`."""
    if isinstance(annotation, type) and issubclass(annotation, types):
        return True
    return any(_admits(a, types) for a in typing.get_args(annotation))


def _stray_bool(annotation, value) -> bool:
    """True where `value` (or an item of a list value) is a bool that the type only takes as
    a number (pydantic reads True as 1): `train.steps=true` must not mean one step."""
    if isinstance(value, bool):
        return not _admits_bool(annotation)
    if isinstance(value, list):
        item_types = [
            a
            for t in [annotation, *typing.get_args(annotation)]
            if typing.get_origin(t) in (list, tuple)
            for a in typing.get_args(t)
            if a is not Ellipsis
        ]
        return bool(item_types) and any(_stray_bool(t, v) for v in value for t in item_types[:1])
    return False


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
        if _stray_bool(field.annotation, raw[fname]):
            wanted = "a number" if _admits(field.annotation, (int, float)) else "a string"
            problems.append(
                f"config key '{key}': expected {wanted}, got the boolean {raw[fname]!r} "
                f"(true/false are not {wanted[2:]}s here)"
            )
            continue
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
        by_key: dict[str, list[str]] = {}
        given: dict[str, str] = {}
        for e in err.errors():
            loc = ".".join(str(p) for p in _key_path(cls, e["loc"]))
            key = f"{prefix}{loc}".rstrip(".") or "<top>"
            by_key.setdefault(key, []).append(e["msg"])
            if "input" in e and e["type"] != "missing":
                given[key] = f" (got {e['input']!r})"
        for key, messages in by_key.items():  # a union's members each add one
            problems.append(f"config key '{key}': {' or '.join(messages)}{given.get(key, '')}")
        return None


def _key_path(cls: type[Section], loc: tuple) -> list:
    """`loc` of a pydantic error without the tags it gives union members ('bool', ...)."""
    out, node = [], cls
    for part in loc:
        if isinstance(part, int):
            out.append(part)
        elif isinstance(node, type) and issubclass(node, Section) and part in node.model_fields:
            out.append(part)
            node = _section_class(node.model_fields[part].annotation)
    return out


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
    source: str | None = None,
):
    """Read `path` (with its `base:`; or take `raw`, read from `source`), apply overrides,
    validate against `experiments`; returns the experiment config."""
    base = read_config(path) if path is not None else deep_copy(raw or {})
    merged = apply_overrides(base, list(overrides))
    return validate(merged, experiments, str(path) if path is not None else source)


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


class PerfConfig(Section):
    """Kernel choices that change speed, never results (docs/performance.md)."""

    conv_backend: typing.Literal["xla", "onednn", "auto"] = Field(
        "auto",
        description="2-D convolutions and the CNNs' 2×2 max-pooling: xla = XLA's kernels; "
        "onednn = oneDNN on CPU (an error where it cannot run); auto = oneDNN where it can "
        "run, XLA elsewhere.",
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
