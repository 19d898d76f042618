"""Export -> predict round trip in a fresh process; clear errors for mismatched exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from jaxcourse import config as config_lib
from jaxcourse import models
from jaxcourse.data import idx, mnist
from jaxcourse.data.spec import DataSpec
from jaxcourse.engine.checkpoint import load_checkpoint
from jaxcourse.inference.export import ExportError, export_run
from jaxcourse.inference.predict import Predictor
from jaxcourse.runners import run_experiment

REPO = Path(__file__).resolve().parents[1]


def write_digits(directory: Path, n_train=64, n_test=8, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        stem_x, stem_y = mnist.FILES[split]
        idx.write_idx(directory / f"{stem_x}.gz", images)
        idx.write_idx(directory / f"{stem_y}.gz", (np.arange(n) % 10).astype(np.uint8))
    return images  # the test images


def train_small_cnn(tmp_path):
    data_dir = tmp_path / "data"
    test_images = write_digits(data_dir)
    raw = {
        "experiment": "supervised",
        "workdir": str(tmp_path / "run"),
        "data": {"name": "fashion_mnist", "dir": str(data_dir), "source": "dir"},
        "model": {"name": "cnn", "conv_features": [4, 8], "dense": 16},
        "loss": "softmax_cross_entropy",
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"steps": 6, "batch_size": 16, "log_every": 3},
        "plots": False,
        "checkpoint": {"enabled": True, "every": 3},
    }
    config = config_lib.load(raw=raw)
    run_experiment(config, tmp_path / "run")
    return config, test_images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("export")
    config, test_images = train_small_cnn(tmp_path)
    out = export_run(tmp_path / "run")
    return tmp_path, config, test_images, out


def reference_probabilities(run_dir, config, images_uint8):
    """The training code's probabilities: the Flax model on the checkpoint's params."""
    params, meta, _ = load_checkpoint(run_dir)
    spec = DataSpec(input_shape=(28, 28, 1), task="classification", num_outputs=10)
    model = models.build(config.model, spec)
    x = images_uint8.astype(np.float32)[..., None] / 255.0
    return np.asarray(jax.nn.softmax(model.apply({"params": params}, x, train=False)))


PREDICT_SCRIPT = """
import json, sys
from jaxcourse.inference.predict import Predictor, format_result
result = Predictor.load(sys.argv[1]).classify(sys.argv[2:], top_k=3)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("flax", "optax", "orbax")
                or m.startswith(("jaxcourse.models", "jaxcourse.train", "jaxcourse.runners")))
print(json.dumps({"result": json.loads(format_result(result, as_json=True)), "loaded": loaded}))
"""


def test_round_trip_in_a_fresh_process(exported):
    tmp_path, config, test_images, out = exported
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"] == {
        "name": "images",
        "shape": [None, 28, 28, 1],
        "dtype": "float32",
        "layout": "NHWC",
    }
    assert manifest["labels"][9] == "Ankle boot"
    assert manifest["outputs"][0]["name"] == "probabilities"

    images = tmp_path / "images"
    images.mkdir()
    paths = []
    for i in range(3):
        paths.append(images / f"test{i}.png")
        Image.fromarray(test_images[i]).save(paths[-1])
    big = images / "big.jpg"  # another size and format: decoded, converted, resized
    Image.fromarray(test_images[3]).resize((90, 70)).convert("RGB").save(big, quality=95)
    broken = images / "broken.png"
    broken.write_bytes(b"\x89PNG not really")

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [str(out), *map(str, paths), str(broken), str(big)]
    proc = subprocess.run(
        [sys.executable, "-c", PREDICT_SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["loaded"] == []  # no model, optimizer or training code in that process
    by_image = {r["image"]: r for r in report["result"]}
    assert "UnidentifiedImageError" in by_image[str(broken)]["error"]

    expected = reference_probabilities(tmp_path / "run", config, test_images[:3])
    got = np.array([by_image[str(p)]["probabilities"] for p in paths])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    top = by_image[str(paths[0])]["top_k"]
    assert [t["index"] for t in top] == list(np.argsort(-expected[0], kind="stable")[:3])
    assert top[0]["label"] == manifest["labels"][top[0]["index"]]
    assert np.isclose(sum(by_image[str(big)]["probabilities"]), 1.0, atol=1e-5)

    # The CLI prints top-k labels, reports the broken image and still classifies the rest.
    cli = subprocess.run(
        [sys.executable, "-m", "jaxcourse", "predict", *args, "--top-k", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1
    assert f"skipped '{broken}'" in cli.stderr
    assert len(cli.stdout.splitlines()) == 4 * 3  # 4 images x (name + 2 labels)


def test_batch_dimension_is_symbolic(exported):
    _, config, test_images, out = exported
    predictor = Predictor.load(out)
    x = test_images.astype(np.float32)[..., None] / 255.0
    for n in (1, 5, 8):
        assert predictor.predict(x[:n]).shape == (n, 10)


def test_wrong_input_shape_is_named(exported):
    _, _, _, out = exported
    with pytest.raises(ExportError, match=r"shape \(batch, 28, 28, 1\); got \(2, 32, 32, 3\)"):
        Predictor.load(out).predict(np.zeros((2, 32, 32, 3), np.float32))


def test_export_for_other_shapes_is_named(exported, tmp_path):
    _, _, _, out = exported
    # A manifest claiming other shapes than the serialized function was made for.
    other = tmp_path / "other"
    other.mkdir()
    for f in out.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["input"]["shape"] = [None, 32, 32, 1]
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match=r"function takes \(batch, 28, 28, 1\), the manifest"):
        Predictor.load(other)
    # Params of another model next to this function.
    manifest["input"]["shape"] = [None, 28, 28, 1]
    (other / "manifest.json").write_text(json.dumps(manifest))
    with np.load(out / "params.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["0005:fc1/kernel"] = np.zeros((10, 3), np.float32)
    np.savez(other / "params.npz", **arrays)
    with pytest.raises(ExportError, match=r"param 0005:fc1/kernel: function expects"):
        Predictor.load(other)
    (other / "model.stablehlo").write_bytes(b"corrupt")
    with pytest.raises(ExportError, match="model.stablehlo' is missing or corrupt"):
        Predictor.load(other)
    with pytest.raises(ExportError, match="not an export directory"):
        Predictor.load(tmp_path)


def test_export_without_checkpoints_says_how(tmp_path):
    with pytest.raises(Exception, match="checkpoint.enabled=true"):
        export_run(tmp_path)


def test_platforms(exported, tmp_path):
    run_tmp, _, test_images, out = exported
    x = test_images[:2].astype(np.float32)[..., None] / 255.0
    both = export_run(run_tmp / "run", tmp_path / "both", platforms=("cpu", "cuda"))
    assert json.loads((both / "manifest.json").read_text())["platforms"] == ["cpu", "cuda"]
    np.testing.assert_allclose(
        Predictor.load(both).predict(x), Predictor.load(out).predict(x), rtol=1e-6
    )
    tpu = export_run(run_tmp / "run", tmp_path / "tpu", platforms=("tpu",))
    with pytest.raises(ExportError, match=r"was made for tpu; this machine runs on cpu"):
        Predictor.load(tpu)
