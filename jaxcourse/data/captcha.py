"""CAPTCHA images from the `captcha` package, made reproducible, written as record files.

The package draws its randomness from `secrets`; here every image gets its own
`random.Random`, seeded from (seed, split, index), swapped in for `secrets` while it is drawn.
So an image depends only on those three numbers: regenerating gives identical pixels, and
splits can be written in any order or in parts.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pydantic import Field, PositiveInt, field_validator

from jaxcourse.data.registry import DATASETS, DataConfig
from jaxcourse.data.spec import Dataset, DataSpec

SPLIT_IDS = {"train": 0, "test": 1, "validation": 2}


@dataclass(frozen=True)
class MultiHeadSpec(DataSpec):
    """A DataSpec whose target is `num_heads` labels (one per character), each of num_outputs."""

    num_heads: int = 1


class CaptchaConfig(DataConfig):
    length: PositiveInt = Field(4, description="Characters per CAPTCHA.")
    alphabet: str = Field("0123456789", description="Characters to draw from (no repeats).")
    width: PositiveInt = Field(160, description="Image width in pixels.")
    height: PositiveInt = Field(60, description="Image height in pixels.")
    train_size: int = Field(10000, ge=0, description="Number of training images.")
    test_size: int = Field(1000, ge=0, description="Number of test images.")

    @field_validator("alphabet")
    @classmethod
    def _distinct(cls, v):
        if len(v) < 2 or len(set(v)) != len(v):
            raise ValueError(f"alphabet needs at least 2 distinct characters, got {v!r}")
        return v


class _SeededSecrets:
    """The part of the `secrets` module that `captcha.image` uses, drawn from a seeded rng."""

    def __init__(self, rng: random.Random):
        self._rng = rng

    def randbelow(self, n: int) -> int:
        return self._rng.randrange(n)

    def randbits(self, k: int) -> int:
        return self._rng.getrandbits(k)

    def choice(self, seq):
        return self._rng.choice(seq)


_PATCH_LOCK = threading.Lock()


@contextmanager
def _seeded_captcha(rng: random.Random):
    import captcha.image as captcha_image

    with _PATCH_LOCK:
        saved = captcha_image.secrets
        captcha_image.secrets = _SeededSecrets(rng)
        try:
            yield captcha_image
        finally:
            captcha_image.secrets = saved


def example_rng(seed: int, split: str, index: int) -> random.Random:
    state = np.random.SeedSequence([seed, SPLIT_IDS.get(split, 3), index]).generate_state(2)
    return random.Random(int(state[0]) << 32 | int(state[1]))


class CaptchaGenerator:
    """Draws (image HxWx3 uint8, text) pairs; `image(seed, split, i)` is reproducible."""

    def __init__(self, cfg: CaptchaConfig):
        import captcha.image as captcha_image

        self.cfg = cfg
        self._maker = captcha_image.ImageCaptcha(width=cfg.width, height=cfg.height)

    def example(self, seed: int, split: str, index: int) -> tuple[np.ndarray, str]:
        rng = example_rng(seed, split, index)
        text = "".join(rng.choice(self.cfg.alphabet) for _ in range(self.cfg.length))
        with _seeded_captcha(rng):
            image = self._maker.generate_image(text)
        return np.asarray(image.convert("RGB"), dtype=np.uint8), text

    def labels(self, text: str) -> np.ndarray:
        return np.array([self.cfg.alphabet.index(c) for c in text], dtype=np.int64)

    def examples(self, seed: int, split: str, count: int) -> Iterator[dict]:
        """`count` examples {'image', 'label', 'text'} of `split`."""
        for i in range(count):
            image, text = self.example(seed, split, i)
            yield {"image": image, "label": self.labels(text), "text": text.encode()}


def spec_of(cfg: CaptchaConfig) -> MultiHeadSpec:
    return MultiHeadSpec(
        input_shape=(cfg.height, cfg.width, 3),
        task="classification",
        num_outputs=len(cfg.alphabet),
        class_names=tuple(cfg.alphabet),
        num_heads=cfg.length,
    )


def split_sizes(cfg: CaptchaConfig) -> dict[str, int]:
    return {"train": cfg.train_size, "test": cfg.test_size}


@DATASETS.register("captcha", CaptchaConfig)
def captcha(cfg: CaptchaConfig, seed: int) -> Dataset:
    """CAPTCHA images in memory: x uint8 (H, W, 3), y (length,) character indices."""
    gen = CaptchaGenerator(cfg)
    splits = {}
    for split, n in split_sizes(cfg).items():
        if n == 0:
            continue
        rows = list(gen.examples(seed, split, n))
        splits[split] = {
            "x": np.stack([r["image"] for r in rows]),
            "y": np.stack([r["label"] for r in rows]),
        }
    return Dataset(spec_of(cfg), splits)
