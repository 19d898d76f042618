"""Pictures for the Images dashboard: input grids, labelled misclassified examples, and the
confusion matrix. Every function returns an (H, W, C) uint8 array for `write_images`."""

from __future__ import annotations

import math

import numpy as np


def as_image_batch(x: np.ndarray) -> np.ndarray | None:
    """Inputs as (N, H, W, C) floats in [0, 1], or None when they are not images.

    Accepts (N, H, W), (N, H, W, C) with C in 1, 3, 4, and flat (N, D) with D a perfect
    square (MNIST's 784 = 28²). Values are scaled by the batch's min and max.
    """
    x = np.asarray(x, np.float32)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side < 2 or side * side != x.shape[1]:
            return None
        x = x.reshape(len(x), side, side, 1)
    elif x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or x.shape[1] < 2 or x.shape[2] < 2:
        return None
    lo, hi = float(np.min(x)), float(np.max(x))
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def grid(images: np.ndarray, cols: int | None = None, pad: int = 1, scale: int = 1) -> np.ndarray:
    """(N, H, W, C) images in [0, 1] tiled row-major into one uint8 (H', W', C) picture,
    enlarged `scale` times (nearest neighbour)."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.float32)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y : y + h, x : x + w] = img
    out = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    return out.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else out


def captioned_grid(
    images: np.ndarray, captions: list[str], cols: int = 4, scale: int = 3
) -> np.ndarray:
    """Images (N, H, W, C in [0, 1]) enlarged `scale` times, each with a caption beneath."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    n, h, w, _ = images.shape
    cw, ch = max(w * scale, 60), h * scale + 14
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    canvas = Image.new("RGB", (cols * (cw + 4) + 4, rows * (ch + 4) + 4), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (img, caption) in enumerate(zip(images, captions, strict=True)):
        r, k = divmod(i, cols)
        x0, y0 = 4 + k * (cw + 4), 4 + r * (ch + 4)
        pixels = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        pil = Image.fromarray(pixels[:, :, 0] if pixels.shape[-1] == 1 else pixels[:, :, :3])
        pil = pil.convert("RGB").resize((w * scale, h * scale), Image.NEAREST)
        canvas.paste(pil, (x0 + (cw - w * scale) // 2, y0))
        draw.text((x0 + 2, y0 + h * scale + 1), caption, fill="black", font=font)
    return np.asarray(canvas)


def confusion_matrix_image(
    counts: np.ndarray, class_names: list[str], title: str = ""
) -> np.ndarray:
    """The confusion matrix drawn with matplotlib: rows true, columns predicted, counts shown."""
    from jaxcourse import plots

    size = max(4.0, 0.45 * len(counts) + 2)
    fig, ax = plots.new_figure(figsize=(size, size), dpi=80)
    plots.draw_confusion_matrix(ax, counts, class_names, title)
    return plots.to_rgb(fig)
