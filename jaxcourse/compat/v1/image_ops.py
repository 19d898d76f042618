"""`tf.image`: the image ops input pipelines and CNN tutorials use, with TF's formulas.

Decoding runs on the host (JPEG with TF's libjpeg settings, through the GraphDef importer's
decoder); flips, standardisation and colour conversions are graph ops on [h, w, c] images or
[n, h, w, c] batches. Random flips draw a fresh coin per run (per image for a batch).
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1 import dtypes, ops
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_host_op, make_op


def decode_jpeg(contents, channels=0, ratio=1, fancy_upscaling=True, dct_method="", name=None):
    """A JPEG's pixels, uint8 [height, width, channels], decoded as TF's DecodeJpeg does."""
    from jaxcourse.compat.v1.converters.image_ops import decode_jpeg as decode

    def compute(hv, data):
        return decode(
            bytes(np.asarray(data, dtype=object)[()]),
            channels=int(channels),
            dct_method=dct_method,
            fancy_upscaling=fancy_upscaling,
            ratio=int(ratio),
        )

    return make_host_op(
        "DecodeJpeg",
        compute,
        [contents],
        name,
        shape=(None, None, int(channels) or None),
        dtype=np.uint8,
    )


def decode_png(contents, channels=0, dtype=dtypes.uint8, name=None):
    """A PNG's pixels, [height, width, channels] (uint8 or uint16)."""
    from PIL import Image

    out = np.dtype(dtype)
    modes = {1: "L", 3: "RGB", 4: "RGBA"}

    def compute(hv, data):
        image = Image.open(io.BytesIO(bytes(np.asarray(data, dtype=object)[()])))
        if channels:
            image = image.convert(modes[int(channels)])
        pixels = np.asarray(image)
        return (pixels if pixels.ndim == 3 else pixels[..., None]).astype(out)

    return make_host_op(
        "DecodePng", compute, [contents], name, shape=(None, None, int(channels) or None), dtype=out
    )


def _spatial(image) -> tuple[Tensor, int]:
    """The image tensor and the axis of its width (images are [h, w, c] or [n, h, w, c])."""
    image = convert_to_tensor(image)
    if image.shape is None or len(image.shape) not in (3, 4):
        raise ValueError(
            f"tf.image: expected a [h, w, c] or [n, h, w, c] image, got {image.describe()}"
        )
    return image, len(image.shape) - 2


def flip_left_right(image) -> Tensor:
    image, width = _spatial(image)
    return ops._unary("ReverseV2", lambda a: jnp.flip(a, width), image, "flip_left_right")


def flip_up_down(image) -> Tensor:
    image, width = _spatial(image)
    return ops._unary("ReverseV2", lambda a: jnp.flip(a, width - 1), image, "flip_up_down")


def transpose_image(image) -> Tensor:
    image, width = _spatial(image)
    return ops._unary(
        "transpose", lambda a: jnp.swapaxes(a, width - 1, width), image, "transpose_image"
    )


def _random_flip(image, axis_offset: int, seed, name: str) -> Tensor:
    image, width = _spatial(image)
    axis = width + axis_offset

    def compute(ev, a):
        coins = jax.random.uniform(ev.key(), a.shape[:1] if a.ndim == 4 else ()) < 0.5
        coins = coins.reshape(coins.shape + (1,) * (a.ndim - coins.ndim))
        return jnp.where(coins, jnp.flip(a, axis), a)

    op_seed = None if seed is None else (1 << 30) + int(seed)
    return make_op(
        "RandomFlip", compute, [image], name, shape=image.shape, dtype=image.dtype, seed=op_seed
    )


def random_flip_left_right(image, seed=None) -> Tensor:
    return _random_flip(image, 0, seed, "random_flip_left_right")


def random_flip_up_down(image, seed=None) -> Tensor:
    return _random_flip(image, -1, seed, "random_flip_up_down")


def per_image_standardization(image) -> Tensor:
    """(x - mean) / max(stddev, 1/sqrt(N)) per image, in float32."""
    image, width = _spatial(image)
    axes = tuple(range(width - 1, width + 2))

    def compute(a):
        a = a.astype(jnp.float32)
        n = np.prod([a.shape[i] for i in axes])
        mean = jnp.mean(a, axis=axes, keepdims=True)
        stddev = jnp.std(a, axis=axes, keepdims=True)
        return (a - mean) / jnp.maximum(stddev, 1.0 / np.sqrt(n))

    return ops._unary("per_image_standardization", compute, image, "per_image_standardization")


def rgb_to_grayscale(images, name=None) -> Tensor:
    """TF's luma weights (0.2989, 0.5870, 0.1140), computed in float, keeping the dtype."""
    weights = np.array([0.2989, 0.5870, 0.1140], np.float32)

    def compute(a):
        gray = jnp.sum(a.astype(jnp.float32) * weights, axis=-1, keepdims=True)
        return (jnp.round(gray) if jnp.issubdtype(a.dtype, jnp.integer) else gray).astype(a.dtype)

    return ops._unary("rgb_to_grayscale", compute, images, name)


def grayscale_to_rgb(images, name=None) -> Tensor:
    return ops._unary(
        "grayscale_to_rgb", lambda a: jnp.concatenate([a, a, a], axis=-1), images, name
    )


def convert_image_dtype(image, dtype, saturate=False, name=None) -> Tensor:
    """Integers are scaled to [0, 1] floats by their maximum (floats back to integers by it)."""
    image = convert_to_tensor(image)
    target = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype))
    source = image.dtype

    def compute(a):
        if source == target:
            return a
        if source.kind in "iu" and target.kind == "f":
            return a.astype(target) / np.float32(np.iinfo(source).max)
        if source.kind == "f" and target.kind in "iu":
            return jnp.round(a * np.iinfo(target).max).astype(target)
        return a.astype(target)

    return ops._unary("convert_image", compute, image, name, dtype=target)
