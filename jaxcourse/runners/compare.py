"""The `compare` experiment: several supervised variants of one config, plotted together.

The config is a `supervised` config plus `variants`, each a label and a mapping of dotted
keys to override (`{loss: softmax_mse}`, `{model.dropout: 0.5}`). Every variant is validated
before anything runs, trained into `<workdir>/<label>/` like a supervised run, and the metrics
named in `compare_metrics` are drawn on one plot (`compare.png`): a colour per variant, a line
style per metric. Overrides of the shared keys (`data.name=mnist`) apply to every variant.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from jaxcourse import config as config_lib
from jaxcourse import plots
from jaxcourse.config import EXPERIMENTS, Section
from jaxcourse.engine.rundir import RunDir, read_metrics
from jaxcourse.errors import ConfigError
from jaxcourse.runners import supervised


class Variant(Section):
    """One run of a comparison: the shared config with some keys changed."""

    label: str = Field(description="Name of the variant in plots, tables and its run folder.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted config keys to change for this variant, e.g. {model.dropout: 0.5}.",
    )

    @field_validator("label")
    @classmethod
    def _usable_as_folder(cls, v):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", v):
            raise ValueError("use letters, digits and _ . + - (it names the variant's folder)")
        return v


class CompareConfig(supervised.SupervisedConfig):
    """Train each of `variants` (the shared keys with its overrides) and plot them together."""

    experiment: Literal["compare"] = Field(description="Which experiment this config runs.")
    variants: list[Variant] = Field(
        min_length=1, description="The runs to compare: a label and the keys each one changes."
    )
    compare_metrics: list[str] = Field(
        ["test_accuracy"],
        description="Metrics (metrics.jsonl columns) drawn for every variant in compare.png.",
    )

    @field_validator("variants")
    @classmethod
    def _variants_valid(cls, variants: list[Variant], info: ValidationInfo):
        labels = [v.label for v in variants]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"variant labels must be unique; repeated: {', '.join(twice)}")
        shared = supervised.SupervisedConfig.model_fields
        if all(key in info.data for key in shared if key != "experiment"):
            raw = {key: _plain(info.data[key]) for key in shared if key != "experiment"}
            for variant in variants:
                variant_config(raw, variant)
        return variants


def _plain(value):
    return (
        value.model_dump(mode="json", serialize_as_any=True)
        if isinstance(value, Section)
        else value
    )


def variant_config(shared: dict | CompareConfig, variant: Variant) -> supervised.SupervisedConfig:
    """The validated supervised config of one variant (`shared`: the keys all variants share)."""
    raw = shared if isinstance(shared, dict) else config_lib.to_dict(shared)
    raw = {k: v for k, v in raw.items() if k not in ("variants", "compare_metrics")}
    raw["experiment"] = "supervised"
    overrides = [f"{key}={json.dumps(value)}" for key, value in variant.overrides.items()]
    try:
        return config_lib.validate(config_lib.apply_overrides(raw, overrides))
    except ConfigError as err:
        problems = "; ".join(err.problems)
        raise ValueError(f"variant '{variant.label}' overrides: {problems}") from None


def run(config: CompareConfig, rundir: RunDir) -> dict:
    """Train every variant in turn, then plot `compare_metrics` of all of them together."""
    t_start = time.perf_counter()
    results, curves = {}, {}
    for variant in config.variants:
        sub = RunDir(rundir.path / variant.label)
        vconfig = variant_config(config, variant)
        sub.start(config_lib.dump_yaml(vconfig))
        try:
            summary = supervised.run(vconfig, sub)
        finally:
            sub.close()
        curves[variant.label] = read_metrics(sub.path)
        results[variant.label] = {
            "overrides": variant.overrides,
            "status": summary["status"],
            "final": summary["final"],
            "wall_time_s": summary["wall_time_s"],
        }
    if config.plots:
        plots.compare_curves(
            curves,
            config.compare_metrics,
            rundir.file("compare.png"),
            " vs ".join(results) + f" on {config.data.name}",
        )
    summary = {
        "experiment": "compare",
        "status": "completed",
        "final": {label: r["final"] for label, r in results.items()},
        "variants": results,
        "wall_time_s": round(time.perf_counter() - t_start, 3),
    }
    rundir.write_summary(summary)
    return summary


EXPERIMENTS.register("compare", CompareConfig)(run)
