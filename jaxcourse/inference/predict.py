"""Classify image files with an exported model, without importing any model code.

`Predictor.load(export_dir)` reads `manifest.json`, `params.npz` and `model.stablehlo` (see
`jaxcourse.inference.export`) and checks them against each other. `classify(paths)` decodes
each image with Pillow (any size or format), converts and resizes it as the manifest says, and
runs the deserialized StableHLO function on the batch. Unreadable images are reported and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from jaxcourse.inference.export import FORMAT, MANIFEST_FILE, ExportError

RESAMPLE = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "box": "BOX"}


@dataclass
class Prediction:
    """The classes of one image, best first."""

    image: str
    top_k: list[tuple[str, int, float]]  # (label, class index, probability)
    probabilities: np.ndarray


@dataclass
class Result:
    predictions: list[Prediction] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (image, why)


def load_image(path: str | Path, preprocessing: dict) -> np.ndarray:
    """One input row (H, W, C) float32 from an image file, as `preprocessing` says."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        img = img.convert(preprocessing["color"])
        height, width = preprocessing["resize"]
        if img.size != (width, height):
            method = getattr(Image.Resampling, RESAMPLE[preprocessing.get("resample", "bilinear")])
            img = img.resize((width, height), method)
        x = np.asarray(img, dtype=np.float32)
    if x.ndim == 2:
        x = x[..., None]
    if preprocessing.get("invert"):  # dark-on-light photos for a light-on-dark model
        x = 255.0 - x
    x = x * np.float32(preprocessing["scale"]) + np.float32(preprocessing.get("offset", 0.0))
    return x.astype(np.float32)


class Predictor:
    """An inference function `images (N, H, W, C) -> probabilities (N, classes)` with its labels."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], manifest: dict, where: str):
        self.fn, self.manifest, self.where = fn, manifest, where
        self.labels: list[str] = manifest["labels"]
        self.input_shape = tuple(manifest["input"]["shape"][1:])

    @classmethod
    def load(cls, export_dir: str | Path) -> Predictor:
        """The predictor saved in `export_dir` by `jaxcourse export`."""
        export_dir = Path(export_dir)
        manifest_path = export_dir / MANIFEST_FILE
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise ExportError(
                f"'{export_dir}' is not an export directory (no {MANIFEST_FILE}; make one with "
                "`jaxcourse export RUN_DIR`)"
            ) from None
        except (OSError, json.JSONDecodeError) as err:
            raise ExportError(f"manifest '{manifest_path}' is unreadable: {err}") from None
        if manifest.get("format") != FORMAT:
            raise ExportError(
                f"manifest '{manifest_path}' has format {manifest.get('format')!r}, "
                f"expected {FORMAT!r}"
            )
        function_path = export_dir / manifest["function"]
        try:
            exported = jax.export.deserialize(bytearray(function_path.read_bytes()))
        except Exception as err:  # noqa: BLE001  (missing or corrupt: both the file's fault)
            raise ExportError(
                f"exported function '{function_path}' is missing or corrupt "
                f"({type(err).__name__}: {err})"
            ) from None
        here = jax.devices()[0].platform
        if not ({here} | ({"cuda", "rocm"} if here == "gpu" else set())) & set(exported.platforms):
            raise ExportError(
                f"export '{export_dir}' was made for {', '.join(exported.platforms)}; this "
                f"machine runs on {here}: export again with `--platforms cpu,cuda` (or tpu)"
            )
        params = _load_params(export_dir / manifest["params"], manifest["param_names"])
        _check_against(exported, params, manifest, export_dir)
        return cls(lambda x: exported.call(params, x), manifest, str(export_dir))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) of a batch of preprocessed images (N, H, W, C)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 1 + len(self.input_shape) or images.shape[1:] != self.input_shape:
            raise ExportError(
                f"export '{self.where}' takes input '{self.manifest['input']['name']}' of "
                f"shape (batch, {', '.join(map(str, self.input_shape))}); got {images.shape}"
            )
        return np.asarray(self.fn(images))

    def classify(self, paths: Sequence[str | Path], top_k: int = 5) -> Result:
        """Top-k labels of each readable image in `paths`; the others are listed as failures."""
        result = Result()
        rows, names = [], []
        for path in paths:
            try:
                rows.append(load_image(path, self.manifest["preprocessing"]))
                names.append(str(path))
            except Exception as err:  # noqa: BLE001  (any decode error: skip, report, go on)
                result.failures.append((str(path), f"{type(err).__name__}: {err}"))
        if not rows:
            return result
        probs = self.predict(np.stack(rows))
        for name, p in zip(names, probs, strict=True):
            best = np.argsort(-p, kind="stable")[:top_k]
            top = [(self.labels[i], int(i), float(p[i])) for i in best]
            result.predictions.append(Prediction(name, top, p))
        return result


def _load_params(path: Path, names: list[str]) -> list[np.ndarray]:
    try:
        with np.load(path) as npz:
            missing = [n for n in names if n not in npz.files]
            if missing:
                raise ExportError(
                    f"params file '{path}' lacks {len(missing)} arrays: {missing[:3]}"
                )
            return [npz[n] for n in names]
    except ExportError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ExportError(
            f"params file '{path}' is missing or corrupt ({type(err).__name__}: {err})"
        ) from None


def _check_against(exported, params: list[np.ndarray], manifest: dict, export_dir: Path) -> None:
    """The function, params and manifest of an export must describe the same shapes."""
    param_avals, input_aval = exported.in_avals[:-1], exported.in_avals[-1]
    problems = []
    if len(param_avals) != len(params):
        problems.append(f"the function takes {len(param_avals)} params, the file has {len(params)}")
    for name, aval, value in zip(manifest["param_names"], param_avals, params, strict=False):
        if tuple(aval.shape) != value.shape or aval.dtype != value.dtype:
            problems.append(
                f"param {name}: function expects {aval.dtype}{list(aval.shape)}, "
                f"file has {value.dtype}{list(value.shape)}"
            )
    declared = tuple(manifest["input"]["shape"][1:])
    if tuple(input_aval.shape[1:]) != declared:
        problems.append(
            f"input: function takes (batch, {', '.join(map(str, input_aval.shape[1:]))}), "
            f"the manifest says (batch, {', '.join(map(str, declared))})"
        )
    if problems:
        raise ExportError(
            f"export '{export_dir}' is inconsistent (files from different exports?):\n  "
            + "\n  ".join(problems[:10])
        )


def format_result(result: Result, as_json: bool = False) -> str:
    """Each image with its top-k labels and probabilities (or JSON with every probability)."""
    if as_json:
        return json.dumps(
            [
                {
                    "image": p.image,
                    "top_k": [
                        {"label": name, "index": i, "probability": q} for name, i, q in p.top_k
                    ],
                    "probabilities": p.probabilities.tolist(),
                }
                for p in result.predictions
            ]
            + [{"image": image, "error": why} for image, why in result.failures]
        )
    lines = []
    for p in result.predictions:
        lines.append(p.image)
        lines += [f"  {q:8.4f}  {label}" for label, _, q in p.top_k]
    return "\n".join(lines)
