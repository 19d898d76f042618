"""Image ops: resizing as TF computes it, and JPEG/PNG decoding on the host.

`DecodeJpeg` decodes with libjpeg-turbo (through simplejpeg) using TF's settings: the fast
integer DCT unless `dct_method` is 'INTEGER_ACCURATE' (TF's default '' means INTEGER_FAST;
PIL's accurate DCT differs from it by a few grey levels), fancy upsampling unless
`fancy_upscaling` is false, and libjpeg's 1/`ratio` downscaling.
"""

from __future__ import annotations

import io

import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.converters import register, static_ints
from jaxcourse.compat.v1.errors import InvalidArgumentError

# ---------------------------------------------------------------------------------------------
# resizing


def _scale(out_size: int, in_size: int, align_corners: bool) -> np.float32:
    """TF's input/output size ratio (CalculateResizeScale), in float32."""
    if align_corners and out_size > 1:
        return np.float32((in_size - 1) / (out_size - 1))
    return np.float32(in_size / out_size)


def _source_coords(out_size: int, in_size: int, align_corners: bool, half_pixel: bool):
    """TF's source coordinate of each output row/column, as float32 (its arithmetic)."""
    scale = _scale(out_size, in_size, align_corners)
    index = np.arange(out_size, dtype=np.float32)
    if half_pixel:
        return (index + np.float32(0.5)) * scale - np.float32(0.5)
    return index * scale


def _resize_args(node):
    align = bool(node.attr("align_corners", False))
    half = bool(node.attr("half_pixel_centers", False))
    if align and half:
        raise InvalidArgumentError(
            f"op '{node.name}' ({node.op}): align_corners and half_pixel_centers cannot both "
            "be true"
        )
    return align, half


def _take(x, index: np.ndarray, axis: int):
    """x's entries at the (in-range, NumPy) `index` along `axis`."""
    return jnp.take(x, index, axis=axis, mode="clip")


@register("ResizeBilinear")
def _resize_bilinear(node):
    align, half = _resize_args(node)

    def axis_weights(out_size, in_size):
        src = _source_coords(out_size, in_size, align, half)
        low = np.floor(src)
        lerp = (src - low).astype(np.float32)
        low_i = np.clip(low.astype(np.int64), 0, in_size - 1)
        high_i = np.clip(np.ceil(src).astype(np.int64), 0, in_size - 1)
        return low_i, high_i, lerp

    def compute(images, size):
        out_h, out_w = static_ints(node, size, "size")
        x = images.astype(jnp.float32)
        top, bottom, y_lerp = axis_weights(out_h, x.shape[1])
        left, right, x_lerp = axis_weights(out_w, x.shape[2])

        def mix(rows):  # TF's order: left + (right - left) * x_lerp
            left_px, right_px = _take(rows, left, 2), _take(rows, right, 2)
            return left_px + (right_px - left_px) * x_lerp[None, None, :, None]

        top_mix, bottom_mix = mix(_take(x, top, 1)), mix(_take(x, bottom, 1))
        return top_mix + (bottom_mix - top_mix) * y_lerp[None, :, None, None]

    return compute


@register("ResizeNearestNeighbor")
def _resize_nearest(node):
    align, half = _resize_args(node)

    def axis_index(out_size, in_size):
        scale = _scale(out_size, in_size, align)
        index = np.arange(out_size, dtype=np.float32)
        if half:
            src = np.floor((index + np.float32(0.5)) * scale)
        elif align:
            src = np.round(index * scale)
        else:
            src = np.floor(index * scale)
        return np.clip(src.astype(np.int64), 0, in_size - 1)

    def compute(images, size):
        out_h, out_w = static_ints(node, size, "size")
        rows = axis_index(out_h, images.shape[1])
        cols = axis_index(out_w, images.shape[2])
        return _take(_take(images, rows, 1), cols, 2)

    return compute


# ---------------------------------------------------------------------------------------------
# decoding (host-side: the inputs are fed bytes)


def _contents(node, value) -> bytes:
    value = np.asarray(value, dtype=object)
    if value.shape != () or not isinstance(value[()], bytes | bytearray):
        raise InvalidArgumentError(
            f"op '{node.name}' ({node.op}): contents must be one encoded image as a bytes "
            f"scalar, got {type(value[()] if value.shape == () else value).__name__} of shape "
            f"{list(value.shape)}"
        )
    return bytes(value[()])


def decode_jpeg(
    data: bytes,
    channels: int = 0,
    dct_method: str = "",
    fancy_upscaling: bool = True,
    ratio: int = 1,
) -> np.ndarray:
    """A JPEG decoded as TF's DecodeJpeg does: uint8 [height, width, channels]."""
    import simplejpeg

    if dct_method not in ("", "INTEGER_FAST", "INTEGER_ACCURATE"):
        raise InvalidArgumentError(
            f"dct_method must be one of '', 'INTEGER_FAST', 'INTEGER_ACCURATE', got {dct_method!r}"
        )
    if ratio not in (1, 2, 4, 8):
        raise InvalidArgumentError(f"ratio must be 1, 2, 4 or 8, got {ratio}")
    try:
        height, width, _, colorspace = simplejpeg.decode_jpeg_header(data)
    except ValueError as err:
        raise InvalidArgumentError(f"the contents are not a JPEG image: {err}") from None
    if channels == 0:
        channels = 1 if colorspace == "Gray" else 3
    if channels not in (1, 3):
        raise InvalidArgumentError(f"channels must be 0, 1 or 3 for JPEG, got {channels}")
    return simplejpeg.decode_jpeg(
        data,
        colorspace="GRAY" if channels == 1 else "RGB",
        fastdct=dct_method != "INTEGER_ACCURATE",
        fastupsample=not fancy_upscaling,
        min_height=-(-height // ratio),
        min_width=-(-width // ratio),
    )


def _image_signature(node):
    channels = node.attr("channels", 0) or None
    return (None, None, channels), np.dtype(node.attr("dtype", np.dtype("uint8")))


@register("DecodeJpeg", host=True, signature=_image_signature)
def _decode_jpeg(node):
    options = {
        "channels": node.attr("channels", 0),
        "dct_method": node.attr("dct_method", ""),
        "fancy_upscaling": node.attr("fancy_upscaling", True),
        "ratio": node.attr("ratio", 1),
    }

    def compute(contents):
        try:
            return decode_jpeg(_contents(node, contents), **options)
        except InvalidArgumentError as err:
            raise InvalidArgumentError(f"op '{node.name}' (DecodeJpeg): {err}") from None

    return compute


@register("DecodePng", host=True, signature=_image_signature)
def _decode_png(node):
    channels = node.attr("channels", 0)
    dtype = np.dtype(node.attr("dtype", np.dtype("uint8")))

    def compute(contents):
        from PIL import Image

        try:
            image = Image.open(io.BytesIO(_contents(node, contents)))
            image.load()
        except OSError as err:
            raise InvalidArgumentError(
                f"op '{node.name}' (DecodePng): the contents are not a PNG image: {err}"
            ) from None
        modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
        if channels:
            wide = image.mode in ("I;16", "I;16B", "I") and channels == 1
            array = np.asarray(image if wide else image.convert(modes[channels]))
        else:
            array = np.asarray(image if image.mode in modes.values() else image.convert("RGBA"))
        array = array.reshape(array.shape[:2] + (-1,))
        if array.dtype == np.uint8 and dtype == np.uint16:
            return array.astype(np.uint16) * 257  # TF scales 8-bit PNGs to the 16-bit range
        return array.astype(dtype)

    return compute
