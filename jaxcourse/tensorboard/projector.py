"""TensorBoard's embedding projector: features of N examples, their labels and a sprite.

`write_projector(logdir, ...)` writes, for the Projector tab:
- `projector/<name>.tsv`: one row of features per example, for each embedding;
- `projector/metadata.tsv`: a header and one row per example (label, label index, and the
  model's prediction when given), so points can be coloured and searched by label;
- `projector/sprite.png`: the examples' thumbnails tiled row-major;
- `projector_config.pbtxt` in `logdir` (the run directory), listing every embedding with its
  tensor, metadata and sprite. It is rewritten whole on each call (never appended to).

`hidden_features(model, params, x)` gives the last hidden layer of a Flax model: the input
of the last parameterised layer the forward pass calls (for a classifier, the features its
output layer reads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import numpy as np
from flax import linen as nn

from jaxcourse.engine.rundir import write_atomic

CONFIG_FILE = "projector_config.pbtxt"
ASSET_DIR = "projector"
MAX_SPRITE_SIDE = 8192  # pixels; the projector's front end cannot load larger sprites


def param_owners(params) -> set[tuple[str, ...]]:
    """Module paths that hold parameters directly (e.g. {('hidden1',), ('output',)})."""
    owners = set()
    for path, _ in jax.tree_util.tree_leaves_with_path(params):
        owners.add(tuple(str(getattr(k, "key", k)) for k in path[:-1]))
    return owners


def make_feature_fn(model: nn.Module):
    """Jitted `(params, x) -> (hidden, outputs)`: the last hidden layer (N, D) and the outputs."""

    def features(params, x):
        calls = []

        def record(next_fun, args, kwargs, context):
            if context.method_name == "__call__" and args:
                calls.append((tuple(context.module.path), args[0]))
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(record):
            outputs = model.apply({"params": params}, x, train=False)
        owners = param_owners(params)
        for path, inputs in reversed(calls):
            if path in owners:
                return inputs.reshape(inputs.shape[0], -1), outputs
        raise ValueError(f"{type(model).__name__} calls no layer that has parameters")

    return jax.jit(features)


def hidden_features(model: nn.Module, params, x: np.ndarray, batch_size: int = 500):
    """(hidden (N, D), outputs) of `model` on `x`, computed `batch_size` examples at a time."""
    fn = make_feature_fn(model)
    parts = [
        jax.device_get(fn(params, x[i : i + batch_size])) for i in range(0, len(x), batch_size)
    ]
    return (
        np.concatenate([p[0] for p in parts]).astype(np.float32),
        np.concatenate([p[1] for p in parts]),
    )


def sprite(images: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Thumbnails (N, H, W, C in [0, 1]) tiled row-major into a square-ish RGB sprite.

    Returns the uint8 sprite and the (width, height) of one thumbnail; thumbnails are shrunk
    when needed so that the sprite stays within the projector's 8192-pixel limit.
    """
    from PIL import Image

    n, h, w, c = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    shrink = min(1.0, MAX_SPRITE_SIDE / (cols * w), MAX_SPRITE_SIDE / (rows * h))
    tw, th = max(1, int(w * shrink)), max(1, int(h * shrink))
    out = np.zeros((rows * th, cols * tw, 3), np.uint8)
    pixels = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    for i, img in enumerate(pixels[..., :3]):
        if (tw, th) != (w, h):
            img = np.asarray(Image.fromarray(img).resize((tw, th), Image.BILINEAR))
        r, k = divmod(i, cols)
        out[r * th : (r + 1) * th, k * tw : (k + 1) * tw] = img
    return out, (tw, th)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cell(value) -> str:
    """A metadata cell: tabs and newlines would break the TSV, so they become spaces."""
    return " ".join(str(value).split()) or "-"


def write_projector(
    logdir: str | Path,
    embeddings: Mapping[str, np.ndarray],
    labels: Sequence[int],
    class_names: Sequence[str] = (),
    images: np.ndarray | None = None,
    predicted: Sequence[int] | None = None,
) -> Path:
    """Write embeddings, metadata, sprite and `projector_config.pbtxt`; return the config path.

    `embeddings` maps a name to an (N, D) array; `labels` are the N integer classes;
    `class_names[i]` names class i (default: the index); `images` (N, H, W, C in [0, 1]) make
    the sprite; `predicted` adds the model's predicted class and whether it was right.
    """
    logdir = Path(logdir)
    labels = np.asarray(labels).astype(int)
    n = len(labels)
    if not embeddings:
        raise ValueError("write_projector needs at least one embedding")
    for name, matrix in embeddings.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"embedding name '{name}' may only use letters, digits, _ . -")
        if np.ndim(matrix) != 2 or len(matrix) != n:
            raise ValueError(
                f"embedding '{name}' must be (N, D) with N = {n} labels, got {np.shape(matrix)}"
            )
    if images is not None and len(images) != n:
        raise ValueError(f"{len(images)} sprite images for {n} labels")
    assets = logdir / ASSET_DIR
    assets.mkdir(parents=True, exist_ok=True)
    name_of = lambda i: class_names[i] if 0 <= i < len(class_names) else str(i)

    header = ["label", "label_index"]
    rows = [[name_of(y), y] for y in labels]
    if predicted is not None:
        header += ["predicted", "correct"]
        for row, y, p in zip(rows, labels, np.asarray(predicted).astype(int), strict=True):
            row += [name_of(p), "yes" if p == y else "no"]
    lines = ["\t".join(header)] + ["\t".join(_cell(v) for v in row) for row in rows]
    write_atomic(assets / "metadata.tsv", "\n".join(lines) + "\n")

    sprite_entry = ""
    if images is not None:
        from PIL import Image

        picture, (tw, th) = sprite(images)
        Image.fromarray(picture).save(assets / "sprite.png")
        sprite_entry = (
            f"  sprite {{\n    image_path: {_quote(f'{ASSET_DIR}/sprite.png')}\n"
            f"    single_image_dim: {tw}\n    single_image_dim: {th}\n  }}\n"
        )
    entries = []
    for name, matrix in embeddings.items():
        matrix = np.asarray(matrix, np.float32)
        file_name = f"{name}.tsv"
        np.savetxt(assets / file_name, matrix, fmt="%.6g", delimiter="\t")
        entries.append(
            "embeddings {\n"
            f"  tensor_name: {_quote(name)}\n"
            f"  tensor_path: {_quote(f'{ASSET_DIR}/{file_name}')}\n"
            f"  tensor_shape: {matrix.shape[0]}\n  tensor_shape: {matrix.shape[1]}\n"
            f"  metadata_path: {_quote(f'{ASSET_DIR}/metadata.tsv')}\n"
            f"{sprite_entry}}}\n"
        )
    config = logdir / CONFIG_FILE
    write_atomic(config, "".join(entries))
    return config
