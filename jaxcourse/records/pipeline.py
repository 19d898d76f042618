"""Input pipelines over record files that keep up with training.

`RecordPipeline` reads a split's records (TFRecord or ArrayRecord, random access), decodes
them (Example parsing, PNG decoding, grayscale, resize), augments (random shifts) and
batches, in a pool of threads that works `prefetch` batches ahead of the training loop;
`prefetch_to_device` then keeps the next batches already on the device. PNG decoding and
resizing run in Pillow's C code, which releases the GIL, so threads overlap with the
compiled train step without the cost of worker processes on a small machine.

Which examples step n gets is `BatchSchedule(seed).indices(n)`: a fresh shuffle each epoch,
deterministic, and resumable from any step. Augmentation of step n is drawn from (seed, n).
"""

from __future__ import annotations

import collections
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import jax
import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from jaxcourse.config import Section
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.errors import ConfigError
from jaxcourse.records.files import RecordSource, load_schema
from jaxcourse.records.schema import Schema


class ImageConfig(Section):
    """How stored images become model inputs."""

    size: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="Resize images to [height, width]; null = keep the stored size."
    )
    grayscale: bool = Field(True, description="Convert images to one gray channel (HxW).")


class PipelineConfig(Section):
    """Reading, decoding, augmenting and batching a split of record files."""

    path: str = Field(description="Directory of record shards + schema.json (`data convert`).")
    split: str = Field("train", description="Split to train on.")
    eval_split: str | None = Field("test", description="Split to evaluate on; null = none.")
    batch_size: PositiveInt = Field(64, description="Examples per training step.")
    shuffle: bool = Field(True, description="Reshuffle the training split every epoch.")
    image: ImageConfig = Field(default_factory=ImageConfig, description="Image decoding.")
    shift: NonNegativeInt = Field(
        0, description="Augmentation: shift each training image by up to N pixels (0 = off)."
    )
    threads: PositiveInt = Field(2, description="Decoding threads.")
    prefetch: PositiveInt = Field(4, description="Batches decoded ahead of the training step.")
    device_prefetch: NonNegativeInt = Field(
        2, description="Batches copied to the device ahead of the training step."
    )
    on_error: Literal["raise", "skip"] = Field(
        "raise", description="A corrupt record: stop with an error, or skip it and count it."
    )


class ImageDecoder:
    """Serialized Example -> {'x': uint8 image, 'y': target} following the schema."""

    def __init__(self, schema: Schema, image: ImageConfig):
        meta = schema.metadata or {}
        self.schema, self.image = schema, image
        self.x_name, self.y_name = meta.get("x", "x"), meta.get("y", "y")
        for key in (self.x_name, self.y_name):
            if key not in schema.names:
                raise ConfigError(f"records have no feature '{key}' (features: {schema.names})")
        x_spec = schema[self.x_name]
        self.png = x_spec.encoding == "png"
        h, w = image.size if image.size else x_spec.shape[:2]
        self.output_shape = (h, w) if image.grayscale else (h, w, 3)

    def __call__(self, data: bytes, where: str = "record") -> dict[str, np.ndarray]:
        from PIL import Image

        example = self.schema.decode(data, where, keep_png=True)
        x = example[self.x_name]
        img = Image.open(io.BytesIO(x)) if self.png else Image.fromarray(x)
        img = img.convert("L" if self.image.grayscale else "RGB")
        if self.image.size is not None and img.size != self.image.size[::-1]:
            img = img.resize(self.image.size[::-1], Image.BILINEAR)
        return {"x": np.asarray(img, dtype=np.uint8), "y": example[self.y_name]}

    def batch(self, records: list[bytes], where) -> dict[str, np.ndarray]:
        rows = [self(r, where(i)) for i, r in records]
        return {"x": np.stack([r["x"] for r in rows]), "y": np.stack([r["y"] for r in rows])}


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by up to `max_shift` pixels in each direction (edges repeated)."""
    n, h, w = images.shape[:3]
    pad = [(0, 0), (max_shift, max_shift), (max_shift, max_shift)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad, mode="edge")
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    return np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


class RecordPipeline:
    """Batches of a record split for training steps, decoded ahead in threads."""

    def __init__(self, cfg: PipelineConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.schema = load_schema(cfg.path)
        self.decoder = ImageDecoder(self.schema, cfg.image)
        self.source = RecordSource(cfg.path, cfg.split, on_error=cfg.on_error)
        try:
            self.schedule = BatchSchedule(len(self.source), cfg.batch_size, seed, cfg.shuffle)
        except ValueError as err:
            raise ConfigError(f"batch_size: {err} in '{cfg.path}' split '{cfg.split}'") from None

    @property
    def bad_records(self) -> int:
        return self.source.stats.num_bad

    def load_batch(self, step: int) -> dict[str, np.ndarray]:
        """The decoded, augmented batch of training step `step`."""
        idx = self.schedule.indices(step)
        batch = self.decoder.batch([(int(i), self.source[int(i)]) for i in idx], self.source.where)
        if self.cfg.shift:
            rng = np.random.default_rng([self.seed, step, 1])
            batch["x"] = random_shift(batch["x"], self.cfg.shift, rng)
        return batch

    def batches(self, start_step: int = 0, num_steps: int | None = None) -> Iterator[dict]:
        """Batches of steps start_step, start_step+1, ... decoded `prefetch` steps ahead."""
        end = None if num_steps is None else start_step + num_steps
        with ThreadPoolExecutor(self.cfg.threads, thread_name_prefix="pipeline") as pool:
            pending: collections.deque = collections.deque()
            step = start_step
            try:
                while end is None or step < end or pending:
                    while len(pending) < self.cfg.prefetch and (end is None or step < end):
                        pending.append(pool.submit(self.load_batch, step))
                        step += 1
                    yield pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()


def load_split(cfg: PipelineConfig, split: str) -> dict[str, np.ndarray]:
    """A whole split decoded (no augmentation) into memory, e.g. for evaluation."""
    schema = load_schema(cfg.path)
    decoder = ImageDecoder(schema, cfg.image)
    source = RecordSource(cfg.path, split, on_error=cfg.on_error)
    items = list(range(len(source)))
    with ThreadPoolExecutor(cfg.threads) as pool:
        chunks = [items[i : i + 256] for i in range(0, len(items), 256)]
        parts = list(
            pool.map(lambda c: decoder.batch([(i, source[i]) for i in c], source.where), chunks)
        )
    return {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y")}


def prefetch_to_device(items: Iterator, size: int, device=None) -> Iterator:
    """Yield `items` with their numpy arrays already on `device`, `size` items ahead.

    An item is any pytree (e.g. a batch dict, or a (task, batch) pair); leaves that are not
    numpy arrays pass through unchanged.
    """
    if size == 0:
        yield from items
        return
    device = device or jax.devices()[0]
    put = lambda a: jax.device_put(a, device) if isinstance(a, np.ndarray) else a
    queue: collections.deque = collections.deque()
    for item in items:
        queue.append(jax.tree_util.tree_map(put, item))
        if len(queue) > size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
