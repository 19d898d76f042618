"""Read CAPTCHA images with a trained multi-task run: `jaxcourse captcha-predict RUN IMAGE...`.

A `multitask` run directory holds everything needed: `config.yaml` (the model), `tasks.json`
(heads, alphabet and image preprocessing of each task) and `params.msgpack`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from jaxcourse.errors import JaxcourseError


class PredictError(JaxcourseError):
    """A run directory or image that cannot be used for prediction."""


class CaptchaReader:
    """A trained multi-head model that turns images into strings."""

    def __init__(self, run_dir: str | Path, task: str | None = None):
        from jaxcourse import config as config_lib
        from jaxcourse.models.multihead import build_multihead
        from jaxcourse.runners.multitask import PARAMS_FILE, TASKS_FILE

        run_dir = Path(run_dir)
        for name in ("config.yaml", TASKS_FILE, PARAMS_FILE):
            if not (run_dir / name).is_file():
                raise PredictError(
                    f"'{run_dir}' is not a finished multitask run: {name} is missing"
                )
        config = config_lib.load(run_dir / "config.yaml")
        tasks = json.loads((run_dir / TASKS_FILE).read_text())
        names = [t["name"] for t in tasks]
        if task is not None and task not in names:
            raise PredictError(f"run '{run_dir}' has no task '{task}'; tasks: {names}")
        self.task = next(t for t in tasks if task in (None, t["name"]))
        if not self.task["class_names"]:
            raise PredictError(f"task '{self.task['name']}' has no class names to print")
        heads = [(t["name"], t["num_heads"], t["num_classes"]) for t in tasks]
        self.model = build_multihead(config.model, heads)
        image_cfg = self.task["image"]
        shape = tuple(image_cfg["size"]) if image_cfg["size"] else None
        self.size, self.grayscale = shape, image_cfg["grayscale"]
        sample = self.preprocess_array(np.zeros((60, 160, 3), np.uint8))[None]
        target = self.model.init({"params": jax.random.key(0)}, sample, train=False)["params"]
        self.params = serialization.from_bytes(target, (run_dir / PARAMS_FILE).read_bytes())
        self._apply = jax.jit(
            lambda p, x: self.model.apply({"params": p}, x, task=self.task["name"])
        )

    def preprocess_array(self, image: np.ndarray) -> np.ndarray:
        """The same decoding the training pipeline did: gray (or RGB) and resized, uint8."""
        from PIL import Image

        img = Image.fromarray(image).convert("L" if self.grayscale else "RGB")
        if self.size is not None:
            img = img.resize(self.size[::-1], Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)

    def read(self, images: list[np.ndarray]) -> list[str]:
        """The strings in `images` (HxWx3 uint8 arrays)."""
        x = np.stack([self.preprocess_array(im) for im in images])
        logits = np.asarray(self._apply(self.params, x))
        alphabet = self.task["class_names"]
        return ["".join(alphabet[c] for c in row) for row in logits.argmax(-1)]

    def read_files(self, paths: list[str | Path]) -> list[str]:
        from PIL import Image, UnidentifiedImageError

        images = []
        for p in paths:
            try:
                images.append(np.asarray(Image.open(p).convert("RGB")))
            except (FileNotFoundError, UnidentifiedImageError) as err:
                raise PredictError(f"cannot read image '{p}': {err}") from None
        return self.read(images)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="directory of a finished `multitask` run")
    p.add_argument("images", nargs="+", help="CAPTCHA image files (PNG, JPEG, ...)")
    p.add_argument("--task", default=None, help="which task's heads to use (default: first)")


def handle(args) -> int:
    reader = CaptchaReader(args.run_dir, args.task)
    texts = reader.read_files(args.images)
    for path, text in zip(args.images, texts, strict=True):
        print(text if len(args.images) == 1 else f"{path}\t{text}")
    return 0
