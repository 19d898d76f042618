"""Metric writers: one small interface, several destinations (TensorBoard, JSON lines, both).

In the spirit of CLU's `metric_writers`: code that produces summaries calls
`write_scalars / write_images / write_histograms / write_texts / write_hparams` and does not
care where they go. `TensorBoardWriter` writes event files with tensorboardX, `JsonlWriter`
writes one JSON object per call (images as PNG files beside it), `MultiWriter` fans out.
"""

from __future__ import annotations

import abc
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxcourse.engine.rundir import write_atomic

Scalar = int | float
HParam = bool | int | float | str


class MetricWriter(abc.ABC):
    """Where summaries go. `step` is the training step they describe."""

    @abc.abstractmethod
    def write_scalars(self, step: int, scalars: Mapping[str, Scalar]) -> None:
        """One number per tag."""

    @abc.abstractmethod
    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """One image per tag: (H, W) or (H, W, C) with C in 1, 3, 4; uint8 or float in [0, 1]."""

    @abc.abstractmethod
    def write_histograms(self, step: int, histograms: Mapping[str, Histogram | np.ndarray]) -> None:
        """One histogram per tag: a `Histogram` or raw values (bucketed by the writer)."""

    @abc.abstractmethod
    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        """One (markdown) text per tag."""

    @abc.abstractmethod
    def write_hparams(
        self,
        hparams: Mapping[str, HParam],
        metrics: Sequence[str] = (),
        status: str = "success",
    ) -> None:
        """The run's hyper-parameters and the scalar tags that measure it (final values)."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Make everything written so far visible to readers."""

    def close(self) -> None:
        """Flush and release files; the writer is unusable afterwards."""
        self.flush()


class Histogram:
    """A bucketed distribution: `counts[i]` values fell in `[edges[i], edges[i+1])`."""

    def __init__(self, edges, counts, minimum, maximum, total, sum_, sum_squares):
        self.edges = np.asarray(edges, np.float64)
        self.counts = np.asarray(counts, np.float64)
        if self.edges.shape != (len(self.counts) + 1,):
            raise ValueError(
                f"histogram needs len(counts) + 1 edges, got {len(self.edges)} edges for "
                f"{len(self.counts)} counts"
            )
        self.min, self.max = float(minimum), float(maximum)
        self.num, self.sum, self.sum_squares = float(total), float(sum_), float(sum_squares)

    @classmethod
    def of(cls, values, bins: int = 30) -> Histogram:
        """Histogram of `values` with `bins` equal-width buckets spanning [min, max]."""
        v = np.asarray(values, np.float64).ravel()
        if v.size == 0:
            raise ValueError("cannot make a histogram of an empty array")
        lo, hi = float(v.min()), float(v.max())
        counts, edges = np.histogram(v, bins=bins, range=widen_range(lo, hi))
        return cls(edges, counts, lo, hi, v.size, v.sum(), np.dot(v, v))

    def to_dict(self) -> dict:
        return {
            "min": self.min,
            "max": self.max,
            "num": self.num,
            "sum": self.sum,
            "sum_squares": self.sum_squares,
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
        }


def widen_range(lo: float, hi: float) -> tuple[float, float]:
    """A non-empty range containing [lo, hi] (a constant array gets a unit-wide bucket range)."""
    if hi > lo:
        return lo, hi
    return lo - 0.5, hi + 0.5


def as_image(image) -> np.ndarray:
    """`image` as (H, W, C) uint8 with C in 1, 3, 4; floats are read as [0, 1]."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image must be (H, W) or (H, W, C) with C in 1, 3, 4; got {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * 255.0 + 0.5, 0, 255)
        img = img.astype(np.uint8)
    return img


class TensorBoardWriter(MetricWriter):
    """Event files in `logdir`, written by tensorboardX (read by the real TensorBoard)."""

    def __init__(self, logdir: str | Path, flush_secs: int = 30, start_step: int | None = None):
        """`start_step`: the first step this writer may write. Events that earlier runs in
        `logdir` wrote at this step or later are hidden by TensorBoard (a run resumed from a
        checkpoint of step N passes N + 1; 0 hides a previous run entirely)."""
        from tensorboardX import SummaryWriter

        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        # tensorboardX names event files by the second; a nanosecond suffix keeps two runs in
        # the same second (a quick resume) from writing one file, and orders them for TensorBoard
        self._writer = SummaryWriter(
            str(self.logdir),
            flush_secs=flush_secs,
            purge_step=start_step,
            filename_suffix=f".{time.time_ns()}",
        )

    def write_scalars(self, step, scalars):
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, float(value), step)

    def write_images(self, step, images):
        for tag, image in images.items():
            self._writer.add_image(tag, as_image(image), step, dataformats="HWC")

    def write_histograms(self, step, histograms):
        for tag, h in histograms.items():
            h = h if isinstance(h, Histogram) else Histogram.of(h)
            self._writer.add_histogram_raw(
                tag,
                min=h.min,
                max=h.max,
                num=h.num,
                sum=h.sum,
                sum_squares=h.sum_squares,
                bucket_limits=h.edges[1:].tolist(),
                bucket_counts=h.counts.tolist(),
                global_step=step,
            )

    def write_texts(self, step, texts):
        for tag, text in texts.items():
            self._writer.add_text(tag, text, step)

    def write_hparams(self, hparams, metrics=(), status="success"):
        file_writer = self._writer._get_file_writer()
        for summary in _hparams_summaries(hparams, metrics, status):
            file_writer.add_summary(summary)

    def write_graph(self, graph_def) -> None:
        """A TensorBoard `GraphDef` protobuf (shown in the Graphs dashboard)."""
        self._writer._get_file_writer().add_onnx_graph(graph_def)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def _hparams_summaries(hparams: Mapping[str, HParam], metrics: Sequence[str], status: str):
    """The hparams plugin's three summaries: experiment, session start and session end."""
    from tensorboardX.proto import api_pb2, plugin_hparams_pb2, summary_pb2

    start = plugin_hparams_pb2.SessionStartInfo(start_time_secs=time.time())
    infos = []
    for name, value in hparams.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
            kind = api_pb2.DATA_TYPE_BOOL
        elif isinstance(value, int | float):
            start.hparams[name].number_value = float(value)
            kind = api_pb2.DATA_TYPE_FLOAT64
        elif isinstance(value, str):
            start.hparams[name].string_value = value
            kind = api_pb2.DATA_TYPE_STRING
        else:
            raise TypeError(f"hparam '{name}' must be a bool, number or string, got {value!r}")
        infos.append(api_pb2.HParamInfo(name=name, type=kind))
    experiment = api_pb2.Experiment(
        hparam_infos=infos,
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in metrics],
    )
    end = plugin_hparams_pb2.SessionEndInfo(
        status=api_pb2.STATUS_SUCCESS if status == "success" else api_pb2.STATUS_FAILURE,
        end_time_secs=time.time(),
    )
    out = []
    for tag, field, message in (
        ("_hparams_/experiment", "experiment", experiment),
        ("_hparams_/session_start_info", "session_start_info", start),
        ("_hparams_/session_end_info", "session_end_info", end),
    ):
        content = plugin_hparams_pb2.HParamsPluginData(version=0, **{field: message})
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name="hparams", content=content.SerializeToString()
            )
        )
        out.append(
            summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=metadata)])
        )
    return out


class JsonlWriter(MetricWriter):
    """One JSON object per call in `path`; images go to PNG files in `image_dir`."""

    def __init__(
        self, path: str | Path, image_dir: str | Path | None = None, start_step: int | None = None
    ):
        """`start_step`: the first step this writer may write; records an earlier run wrote at
        this step or later (and its step-less hparams record) are removed first. None keeps
        everything."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.image_dir = Path(image_dir) if image_dir else self.path.parent / "images"
        if start_step is not None and self.path.is_file():
            kept = [line for line in self.path.read_text().splitlines(keepends=True)
                    if _record_step(line, start_step) < start_step]  # fmt: skip
            write_atomic(self.path, "".join(kept))
        self._file = open(self.path, "a", buffering=1)

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record, default=_json_default) + "\n")

    def write_scalars(self, step, scalars):
        self._write({"step": step, "scalars": {k: _finite(v) for k, v in scalars.items()}})

    def write_images(self, step, images):
        from PIL import Image

        self.image_dir.mkdir(parents=True, exist_ok=True)
        files = {}
        for tag, image in images.items():
            img = as_image(image)
            name = f"{tag.replace('/', '_')}_{step:07d}.png"
            Image.fromarray(img[:, :, 0] if img.shape[-1] == 1 else img).save(self.image_dir / name)
            files[tag] = str(Path(self.image_dir.name) / name)
        self._write({"step": step, "images": files})

    def write_histograms(self, step, histograms):
        out = {
            tag: (h if isinstance(h, Histogram) else Histogram.of(h)).to_dict()
            for tag, h in histograms.items()
        }
        self._write({"step": step, "histograms": out})

    def write_texts(self, step, texts):
        self._write({"step": step, "texts": dict(texts)})

    def write_hparams(self, hparams, metrics=(), status="success"):
        self._write({"hparams": dict(hparams), "metrics": list(metrics), "status": status})

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


def _finite(value) -> Any:
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class MultiWriter(MetricWriter):
    """Writes everything to each of `writers`."""

    def __init__(self, writers: Sequence[MetricWriter]):
        self.writers = list(writers)

    def write_scalars(self, step, scalars):
        for w in self.writers:
            w.write_scalars(step, scalars)

    def write_images(self, step, images):
        for w in self.writers:
            w.write_images(step, images)

    def write_histograms(self, step, histograms):
        for w in self.writers:
            w.write_histograms(step, histograms)

    def write_texts(self, step, texts):
        for w in self.writers:
            w.write_texts(step, texts)

    def write_hparams(self, hparams, metrics=(), status="success"):
        for w in self.writers:
            w.write_hparams(hparams, metrics, status)

    def flush(self):
        for w in self.writers:
            w.flush()

    def close(self):
        for w in self.writers:
            w.close()


def _record_step(line: str, default: int) -> int:
    """The step of one JSONL record; `default` for a step-less one or a cut-off last line."""
    try:
        return json.loads(line).get("step", default)
    except json.JSONDecodeError:
        return default
