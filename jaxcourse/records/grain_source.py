"""Record files through Grain: random access, per-epoch shuffling, checkpointable iteration.

`grain_dataset` builds a `grain.MapDataset` over a split's shards (TFRecord or ArrayRecord,
both random access through `RecordSource`) that shuffles with a seed (a fresh order every
epoch), decodes with the schema and batches. Its iterator's `get_state()` / `set_state()`
resume iteration exactly, so the position can be saved with a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grain

from jaxcourse.records.files import RecordSource, load_schema
from jaxcourse.records.schema import Schema


def grain_dataset(
    directory: str | Path,
    split: str,
    *,
    seed: int = 0,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    batch_size: int | None = None,
    drop_remainder: bool = True,
    schema: Schema | None = None,
    transform: Callable[[dict], dict] | None = None,
) -> grain.MapDataset:
    """A Grain `MapDataset` of decoded (and optionally batched) examples of `split`.

    `num_epochs=None` repeats forever. `transform(example) -> example` runs after decoding.
    """
    schema = schema or load_schema(directory)
    source = RecordSource(directory, split)
    ds = grain.MapDataset.source(source)
    if shuffle:
        ds = ds.shuffle(seed=seed)
    ds = ds.repeat(num_epochs)
    ds = ds.map(schema.decode)
    if transform is not None:
        ds = ds.map(transform)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds


def iterate(ds: grain.MapDataset, num_threads: int = 2, prefetch: int = 8):
    """A checkpointable iterator over `ds` that decodes ahead in `num_threads` threads."""
    options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
    return iter(ds.to_iter_dataset(options))
