"""Sharded record files of a dataset: writing splits, finding shards, random access.

A converted dataset is a directory holding ``schema.json`` and, per split, shards named like
TFDS's: ``{split}.tfrecord-00000-of-00004`` or ``{split}.array_record-00000-of-00004``.
Examples are dealt to shards in contiguous runs, so shard order + record order = example order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import numpy as np

from jaxcourse.errors import DataError
from jaxcourse.records.schema import Schema
from jaxcourse.records.tfrecord import OnError, ReadStats, TFRecordFile, TFRecordWriter

Format = Literal["tfrecord", "arrayrecord"]
SUFFIX = {"tfrecord": "tfrecord", "arrayrecord": "array_record"}
SCHEMA_FILE = "schema.json"


class RecordFilesError(DataError):
    """Record files that are missing or inconsistent."""


def shard_name(split: str, fmt: Format, index: int, count: int) -> str:
    return f"{split}.{SUFFIX[fmt]}-{index:05d}-of-{count:05d}"


class _ArrayRecordWriter:
    """An ArrayRecord file written to a temporary name, renamed when closed cleanly."""

    def __init__(self, path: Path):
        from array_record.python.array_record_module import ArrayRecordWriter

        self.path, self._tmp = path, path.with_name(f".{path.name}.tmp")
        self._writer = ArrayRecordWriter(str(self._tmp), "group_size:1")
        self.count = 0

    def write(self, data: bytes) -> None:
        self._writer.write(data)
        self.count += 1

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.close()
        if exc_type is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def _writer(path: Path, fmt: Format):
    return TFRecordWriter(path) if fmt == "tfrecord" else _ArrayRecordWriter(path)


def write_split(
    out_dir: str | Path,
    split: str,
    records: Iterable[bytes],
    num_records: int,
    fmt: Format = "tfrecord",
    num_shards: int = 1,
) -> list[Path]:
    """Write `num_records` serialized records into `num_shards` shard files; returns them."""
    if fmt not in SUFFIX:
        raise RecordFilesError(f"unknown record format '{fmt}'; valid: {', '.join(SUFFIX)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    num_shards = max(1, min(num_shards, num_records))
    bounds = np.linspace(0, num_records, num_shards + 1).astype(int)
    it = iter(records)
    paths = []
    for i in range(num_shards):
        path = out / shard_name(split, fmt, i, num_shards)
        with _writer(path, fmt) as writer:
            for _ in range(bounds[i + 1] - bounds[i]):
                writer.write(next(it))
        paths.append(path)
    return paths


def write_arrays(
    out_dir: str | Path,
    schema: Schema,
    splits: dict[str, dict[str, np.ndarray]],
    fmt: Format = "tfrecord",
    num_shards: int = 1,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, list[Path]]:
    """Encode in-memory splits ({'train': {'x': ..., 'y': ...}}) with `schema` and write them."""
    out = {}
    for split, arrays in splits.items():
        n = len(next(iter(arrays.values())))

        def examples(arrays=arrays, n=n, split=split):
            for i in range(n):
                yield schema.encode({k: v[i] for k, v in arrays.items()})
                if progress is not None:
                    progress(split, i + 1)

        out[split] = write_split(out_dir, split, examples(), n, fmt, num_shards)
    schema.save(Path(out_dir) / SCHEMA_FILE)
    return out


_SHARD_RE = re.compile(r"^(?P<split>.+)\.(?P<suffix>tfrecord|array_record)-(\d{5})-of-(\d{5})$")


def find_shards(directory: str | Path, split: str) -> tuple[Format, list[Path]]:
    """The format and sorted shard files of `split` in `directory`; checks none is missing."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordFilesError(f"record directory '{directory}' does not exist")
    found: dict[str, list[tuple[int, int, Path]]] = {}
    for p in directory.iterdir():
        m = _SHARD_RE.match(p.name)
        if m and m["split"] == split:
            found.setdefault(m["suffix"], []).append((int(m[3]), int(m[4]), p))
    if not found:
        raise RecordFilesError(f"no record shards of split '{split}' in '{directory}'")
    if len(found) > 1:
        raise RecordFilesError(f"split '{split}' in '{directory}' has both formats; keep one")
    suffix, shards = next(iter(found.items()))
    shards.sort()
    count = shards[0][1]
    if [s[0] for s in shards] != list(range(count)) or any(s[1] != count for s in shards):
        have = ", ".join(p.name for _, _, p in shards)
        raise RecordFilesError(
            f"split '{split}' in '{directory}': expected {count} shards, have {have}"
        )
    fmt = "tfrecord" if suffix == "tfrecord" else "arrayrecord"
    return fmt, [p for _, _, p in shards]


def list_splits(directory: str | Path) -> list[str]:
    """The splits that have shards in `directory`."""
    names = {m["split"] for p in Path(directory).iterdir() if (m := _SHARD_RE.match(p.name))}
    return sorted(names)


class _ArrayRecordFile:
    def __init__(self, path: Path):
        from array_record.python.array_record_module import ArrayRecordReader

        self.path = str(path)
        try:
            self._reader = ArrayRecordReader(self.path, "readahead_buffer_size:0")
            intact = self._reader.ok()
        except RuntimeError:
            intact = False
        if not intact:  # its footer (index) is missing: truncated, or not an ArrayRecord file
            raise RecordFilesError(
                f"'{path}' is not a complete ArrayRecord file ({path.stat().st_size} bytes, no "
                "valid index at its end: truncated or overwritten); convert the data again"
            )
        self._n = self._reader.num_records()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> bytes:
        return self._reader.read([i])[0]

    def read_many(self, indices: list[int]) -> list[bytes]:
        return self._reader.read(indices)


class RecordSource:
    """Random access to the serialized records of one split over all its shards.

    Implements `__len__` and `__getitem__` (a Grain `RandomAccessDataSource`). TFRecord data
    checksums are verified on every read; with ``on_error="skip"`` bad TFRecord records are
    found when the files are opened, left out, and counted in `stats`. (ArrayRecord files
    carry their own checksums, checked by the ArrayRecord reader.)
    """

    def __init__(
        self, directory: str | Path, split: str, verify: bool = True, on_error: OnError = "raise"
    ):
        self.directory, self.split = Path(directory), split
        self.format, self.paths = find_shards(directory, split)
        self.stats = ReadStats()
        if self.format == "tfrecord":
            opener = lambda p: TFRecordFile(p, verify, on_error, self.stats)
        else:
            opener = _ArrayRecordFile
        self._files = [opener(p) for p in self.paths]
        self._starts = np.cumsum([0] + [len(f) for f in self._files])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, i: int) -> tuple[int, int]:
        """(shard, index within the shard) of global record `i`."""
        if not 0 <= i < len(self):
            raise IndexError(f"record {i} out of range for {len(self)} records")
        shard = int(np.searchsorted(self._starts, i, side="right")) - 1
        return shard, i - int(self._starts[shard])

    def __getitem__(self, i: int) -> bytes:
        shard, j = self.locate(int(i))
        return self._files[shard][j]

    def where(self, i: int) -> str:
        """'file, record j' of global record `i` (for error messages)."""
        shard, j = self.locate(int(i))
        return f"'{self.paths[shard]}', record {j}"

    def __repr__(self) -> str:
        return f"RecordSource({str(self.directory)!r}, {self.split!r}, {len(self)} records)"


def load_schema(directory: str | Path) -> Schema:
    return Schema.load(Path(directory) / SCHEMA_FILE)


def read_arrays(directory: str | Path, split: str, schema: Schema | None = None) -> dict:
    """A whole split decoded into memory: {feature: array with a leading example axis}."""
    schema = schema or load_schema(directory)
    source = RecordSource(directory, split)
    rows = [schema.decode(source[i], source.where(i)) for i in range(len(source))]
    out = {}
    for spec in schema.features:
        values = [r[spec.name] for r in rows]
        out[spec.name] = (
            np.array(values, dtype=object) if spec.encoding == "bytes" else np.stack(values)
        )
    return out
