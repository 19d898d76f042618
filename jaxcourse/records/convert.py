"""`jaxcourse data convert`: write a dataset to sharded record files with a schema.

SOURCE is a registered dataset with options, ``NAME[:key=value,...]``, e.g. ``mnist`` or
``captcha:length=4,train_size=20000``. Datasets that can be generated one example at a time
(CAPTCHA) are streamed to disk; the others are loaded into memory first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import yaml

from jaxcourse.config import validate_component
from jaxcourse.data import DATASETS, captcha
from jaxcourse.data.registry import DataConfig
from jaxcourse.errors import ConfigError
from jaxcourse.records.files import SCHEMA_FILE, Format, write_arrays, write_split
from jaxcourse.records.schema import Encoding, FeatureSpec, Schema


def parse_source(text: str) -> DataConfig:
    """`NAME[:key=value,...]` as a validated dataset config (values parsed as YAML)."""
    name, _, opts = text.partition(":")
    raw: dict = {"name": name.strip()}
    for item in filter(None, (o.strip() for o in opts.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"source option '{item}' is not of the form key=value", "SOURCE")
        raw[key.strip()] = yaml.safe_load(value)
    return validate_component(DATASETS, raw, "source")


def _spec_metadata(spec, source: DataConfig) -> dict:
    return {"spec": dataclasses.asdict(spec), "source": source.model_dump(mode="json")}


def _captcha_stream(cfg: captcha.CaptchaConfig, seed: int, image_encoding: Encoding = "png"):
    """CAPTCHA examples streamed split by split (never all in memory)."""
    gen = captcha.CaptchaGenerator(cfg)
    schema = Schema(
        (
            FeatureSpec("image", "uint8", (cfg.height, cfg.width, 3), image_encoding),
            FeatureSpec("label", "int64", (cfg.length,), "list"),
            FeatureSpec("text", "bytes", (), "bytes"),
        ),
        {**_spec_metadata(captcha.spec_of(cfg), cfg), "x": "image", "y": "label"},
    )
    splits = {s: n for s, n in captcha.split_sizes(cfg).items() if n > 0}
    return schema, {s: (n, gen.examples(seed, s, n)) for s, n in splits.items()}


STREAMS: dict[str, Callable] = {"captcha": _captcha_stream}


def convert(
    source: DataConfig,
    out_dir: str | Path,
    fmt: Format = "tfrecord",
    num_shards: int = 1,
    seed: int = 0,
    image_encoding: Encoding = "png",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Write every split of `source` to `out_dir`; returns {split: [shard paths]} and counts."""
    out_dir = Path(out_dir)
    seed = source.seed if source.seed is not None else seed
    if source.name in STREAMS:
        schema, streams = STREAMS[source.name](source, seed, image_encoding)
        written = {}
        for split, (n, examples) in streams.items():
            records: Iterator[bytes] = (
                schema.encode(e) for e in _counted(examples, split, n, progress)
            )
            written[split] = write_split(out_dir, split, records, n, fmt, num_shards)
        schema.save(out_dir / SCHEMA_FILE)
    else:
        dataset = DATASETS.get(source.name)(source, seed)
        first = next(iter(dataset.splits.values()))
        encodings = {
            k: image_encoding
            for k, a in first.items()
            if a.dtype == np.uint8 and a.ndim in (3, 4) and image_encoding == "png"
        }
        schema = Schema.infer(
            first, encodings, **_spec_metadata(dataset.spec, source), x="x", y="y"
        )
        written = write_arrays(
            out_dir,
            schema,
            dataset.splits,
            fmt,
            num_shards,
            progress and (lambda s, i: progress(s, i, dataset.size(s))),
        )
    return {
        "directory": str(out_dir),
        "format": fmt,
        "features": {f.name: f"{f.dtype}{list(f.shape)} {f.encoding}" for f in schema.features},
        "shards": {s: [p.name for p in paths] for s, paths in written.items()},
    }


def _counted(examples, split, n, progress):
    for i, e in enumerate(examples):
        yield e
        if progress is not None:
            progress(split, i + 1, n)
