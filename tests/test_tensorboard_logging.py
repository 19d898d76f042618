"""TensorBoard logging without a server: writers, variable summaries, images, projector, hook."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import synthetic_images
from flax import linen as nn
from PIL import Image

from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import read_metrics
from jaxcourse.engine.writers import Histogram, JsonlWriter, MultiWriter, TensorBoardWriter
from jaxcourse.errors import ConfigError
from jaxcourse.runners import run_experiment
from jaxcourse.tensorboard import images, projector
from jaxcourse.tensorboard.summaries import variable_summaries

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package reads the event files back",
)


def read_events(logdir):
    acc = event_accumulator.EventAccumulator(
        str(logdir),
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.HISTOGRAMS: 0,
            event_accumulator.IMAGES: 0,
            event_accumulator.TENSORS: 0,
        },
    )
    return acc.Reload()


# --------------------------------------------------------------------------- statistics


def test_variable_summaries_match_numpy_float64():
    rng = np.random.default_rng(0)
    params = {
        "block": {"dense": {"kernel": rng.standard_normal((40, 30)) * 0.3 + 0.1}},
        "output": {"bias": rng.standard_normal(7)},
    }
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    scalars, histograms = variable_summaries(params, histogram_bins=12)
    for tag, array in [
        ("block/dense/kernel", params["block"]["dense"]["kernel"]),
        ("output/bias", params["output"]["bias"]),
    ]:
        v = np.asarray(array, np.float64).ravel()
        expected = {"mean": v.mean(), "stddev": v.std(), "max": v.max(), "min": v.min()}
        for stat, value in expected.items():
            assert scalars[f"{tag}/summaries/{stat}"] == pytest.approx(value, rel=1e-5, abs=1e-6)
        h = histograms[f"{tag}/summaries/histogram"]
        counts, edges = np.histogram(v, bins=12, range=(v.min(), v.max()))
        np.testing.assert_array_equal(h.counts, counts)
        np.testing.assert_allclose(h.edges, edges, rtol=1e-6)
        assert h.num == v.size
        assert h.sum == pytest.approx(v.sum(), rel=1e-5, abs=1e-5)
        assert h.sum_squares == pytest.approx(v @ v, rel=1e-5)
    assert len(scalars) == 8


def test_variable_summaries_without_histograms_and_of_a_constant():
    scalars, histograms = variable_summaries({"b": jnp.full((5,), 0.1)}, histogram_bins=0)
    assert histograms == {}
    assert scalars["b/summaries/stddev"] == 0.0
    _, histograms = variable_summaries({"b": jnp.full((5,), 0.1)}, histogram_bins=4)
    h = histograms["b/summaries/histogram"]
    assert h.counts.sum() == 5 and h.edges[0] < 0.1 < h.edges[-1]


def test_histogram_of_values_and_bad_edges():
    v = np.random.default_rng(1).normal(size=500)
    h = Histogram.of(v, bins=7)
    counts, edges = np.histogram(v, bins=7)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_allclose(h.edges, edges)
    with pytest.raises(ValueError, match="edges"):
        Histogram([0, 1], [1, 2], 0, 1, 3, 0, 0)
    with pytest.raises(ValueError, match="empty"):
        Histogram.of([])


# --------------------------------------------------------------------------- writers


def test_tensorboard_writer_round_trip(tmp_path):
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    w = TensorBoardWriter(tmp_path)
    w.write_scalars(3, {"train/loss": 0.25, "train/accuracy": 0.5})
    w.write_scalars(7, {"train/loss": 0.125})
    values = np.random.default_rng(2).normal(size=300)
    w.write_histograms(7, {"w/summaries/histogram": values})
    image = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 4).astype(np.uint8)
    w.write_images(7, {"picture": image})
    w.write_texts(0, {"config": "hello"})
    w.write_hparams({"lr": 0.1, "model": "mlp", "dropout": False}, ["train/loss"], "failure")
    w.close()

    acc = read_events(tmp_path)
    loss = acc.Scalars("train/loss")
    assert [(e.step, e.value) for e in loss] == [(3, 0.25), (7, 0.125)]
    (hist,) = acc.Histograms("w/summaries/histogram")
    assert hist.step == 7 and hist.histogram_value.num == 300
    assert sum(hist.histogram_value.bucket) == 300
    assert hist.histogram_value.min == pytest.approx(values.min())
    (img,) = acc.Images("picture")
    decoded = np.asarray(Image.open(__import__("io").BytesIO(img.encoded_image_string)))
    np.testing.assert_array_equal(decoded, image)
    contents = acc.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(contents["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["lr"].number_value == 0.1 and hp["model"].string_value == "mlp"
    assert hp["dropout"].bool_value is False
    end = HParamsPluginData.FromString(contents["_hparams_/session_end_info"])
    assert end.session_end_info.status == 2  # STATUS_FAILURE
    experiment = HParamsPluginData.FromString(contents["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["train/loss"]


def test_jsonl_and_multi_writer(tmp_path):
    a = JsonlWriter(tmp_path / "a" / "summaries.jsonl")
    b = JsonlWriter(tmp_path / "b" / "summaries.jsonl")
    w = MultiWriter([a, b])
    w.write_scalars(5, {"x": 1.5, "bad": float("nan")})
    image = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    w.write_images(5, {"layer/pic": image})
    w.write_histograms(5, {"h": np.arange(10.0)})
    w.write_hparams({"lr": 0.1}, ["x"])
    w.close()
    for sub in ("a", "b"):
        records = [json.loads(line) for line in (tmp_path / sub / "summaries.jsonl").open()]
        assert records[0] == {"step": 5, "scalars": {"x": 1.5, "bad": "nan"}}
        png = tmp_path / sub / records[1]["images"]["layer/pic"]
        expected = (image * 255 + 0.5).astype(np.uint8)
        np.testing.assert_array_equal(np.asarray(Image.open(png)), expected)
        assert sum(records[2]["histograms"]["h"]["counts"]) == 10
        assert records[3] == {"hparams": {"lr": 0.1}, "metrics": ["x"], "status": "success"}


def test_writer_rejects_bad_images_and_hparams(tmp_path):
    w = TensorBoardWriter(tmp_path)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        w.write_images(0, {"x": np.zeros((2, 3, 4, 5))})
    with pytest.raises(TypeError, match="hparam 'bad'"):
        w.write_hparams({"bad": [1, 2]})
    w.close()


# --------------------------------------------------------------------------- images


def test_confusion_matrix_picture():
    counts = np.arange(16).reshape(4, 4)
    picture = images.confusion_matrix_image(counts, ["a", "b", "c", "d"], "t")
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    assert picture.std() > 10  # something is drawn


def test_image_batches_and_grids():
    flat = np.arange(2 * 16, dtype=np.float32).reshape(2, 16)
    batch = images.as_image_batch(flat)
    assert batch.shape == (2, 4, 4, 1) and batch.min() == 0 and batch.max() == 1
    assert images.as_image_batch(np.zeros((2, 15))) is None  # not a square
    assert images.as_image_batch(np.zeros((2, 1))) is None
    picture = images.grid(batch, cols=2, pad=1)
    assert picture.shape == (6, 11, 1)
    np.testing.assert_array_equal(
        picture[1:5, 6:10, 0], (batch[1, :, :, 0] * 255 + 0.5).astype(np.uint8)
    )
    captioned = images.captioned_grid(batch, ["pred a / true b"] * 2)
    assert captioned.shape[2] == 3


# --------------------------------------------------------------------------- projector


class TwoLayer(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Dense(6, name="hidden")(x.reshape(len(x), -1)))
        x = nn.Dropout(0.5, deterministic=not train)(x)
        return nn.Dense(3, name="out")(x)


class Affine(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        w = self.param("w", nn.initializers.normal(1.0), (x.shape[-1], 2))
        return x @ w


def test_hidden_features_are_the_last_layers_input():
    x = np.random.default_rng(4).normal(size=(9, 2, 2)).astype(np.float32)
    model = TwoLayer()
    params = model.init(jax.random.key(0), x)["params"]
    hidden, outputs = projector.hidden_features(model, params, x, batch_size=4)
    k = np.asarray(params["hidden"]["kernel"], np.float64)
    b = np.asarray(params["hidden"]["bias"], np.float64)
    expected = np.maximum(x.reshape(9, -1).astype(np.float64) @ k + b, 0)
    np.testing.assert_allclose(hidden, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs, model.apply({"params": params}, x), rtol=1e-5)
    # a model whose only layer is itself: its "hidden layer" is the input
    model = Affine()
    params = model.init(jax.random.key(0), x[:, 0])["params"]
    hidden, _ = projector.hidden_features(model, params, x[:, 0])
    np.testing.assert_array_equal(hidden, x[:, 0])


def test_write_projector_files_parse_as_tensorboard_config(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    rng = np.random.default_rng(5)
    labels = np.array([0, 1, 2, 1, 0])
    features = rng.normal(size=(5, 3)).astype(np.float32)
    images = rng.random((5, 4, 4, 1)).astype(np.float32)
    for _ in range(2):  # a second call replaces, never appends
        path = projector.write_projector(
            tmp_path,
            {"hidden": features, "pixels": images.reshape(5, -1)},
            labels,
            ["zero", "one", "two"],
            images=images,
            predicted=[0, 1, 1, 1, 2],
        )
    config = text_format.Parse(path.read_text(), ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["hidden", "pixels"]
    hidden = config.embeddings[0]
    assert list(hidden.tensor_shape) == [5, 3]
    assert hidden.metadata_path == "projector/metadata.tsv"
    assert hidden.sprite.image_path == "projector/sprite.png"
    assert list(hidden.sprite.single_image_dim) == [4, 4]
    np.testing.assert_allclose(
        np.loadtxt(tmp_path / hidden.tensor_path, delimiter="\t"), features, rtol=1e-5
    )
    rows = (tmp_path / hidden.metadata_path).read_text().splitlines()
    assert rows[0] == "label\tlabel_index\tpredicted\tcorrect"
    assert rows[1:3] == ["zero\t0\tzero\tyes", "one\t1\tone\tyes"]
    assert rows[3] == "two\t2\tone\tno"
    assert len(rows) == 6
    sprite = np.asarray(Image.open(tmp_path / hidden.sprite.image_path))
    assert sprite.shape == (8, 12, 3)  # 3 columns, 2 rows of 4×4 thumbnails
    np.testing.assert_array_equal(
        sprite[:4, 4:8, 0], (images[1, :, :, 0] * 255 + 0.5).astype(np.uint8)
    )


def test_write_projector_rejects_mismatched_inputs(tmp_path):
    with pytest.raises(ValueError, match="embedding 'hidden' must be"):
        projector.write_projector(tmp_path, {"hidden": np.zeros((4, 2))}, [0, 1, 2])
    with pytest.raises(ValueError, match="name 'a b'"):
        projector.write_projector(tmp_path, {"a b": np.zeros((3, 2))}, [0, 1, 2])
    assert not (tmp_path / projector.CONFIG_FILE).exists()


def test_big_sprites_are_shrunk_to_the_projectors_limit():
    picture, (w, h) = projector.sprite(np.zeros((400, 50, 50, 1), np.float32))
    assert (w, h) == (50, 50) and picture.shape == (1000, 1000, 3)
    wide = np.ones((4, 3, 6000, 1), np.float32)  # 2 columns of 6000 pixels: too wide
    picture, (w, h) = projector.sprite(wide)
    assert w == 4096 and picture.shape == (2 * h, 2 * w, 3) and picture.min() == 255


# --------------------------------------------------------------------------- config and hook


def test_logging_config_errors_name_the_key():
    raw = synthetic_images.config()
    raw["logging"]["tensorbord"] = True
    with pytest.raises(ConfigError, match=r"logging\.tensorbord.*did you mean 'tensorboard'"):
        config_lib.load(raw=raw)
    raw = synthetic_images.config(projector={"sources": ["hiden"]})
    with pytest.raises(ConfigError, match=r"logging\.projector\.sources"):
        config_lib.load(raw=raw)


def test_logging_keys_are_documented():
    from jaxcourse.runners.supervised import SupervisedConfig

    rows = [r for r in config_lib.describe_schema(SupervisedConfig) if r[0].startswith("logging")]
    keys = {r[0] for r in rows}
    assert {"logging.tensorboard", "logging.every", "logging.histograms_every"} <= keys
    assert "logging.projector.samples" in keys
    assert all(doc.strip() for *_, doc in rows)


def test_training_writes_summaries_at_the_configured_steps(tmp_path):
    raw = synthetic_images.config(
        jsonl=True, projector={"samples": 50}, images={"every": 60}, histograms_every=50
    )
    raw["optimizer"]["schedule"] = {
        "name": "exponential_decay",
        "decay_steps": 100,
        "decay_rate": 0.5,
    }
    run_experiment(config_lib.load(raw=raw), tmp_path)
    acc = read_events(tmp_path / "tensorboard")
    rows = {r["step"]: r for r in read_metrics(tmp_path)}
    loss = {e.step: e.value for e in acc.Scalars("train/loss")}
    assert sorted(loss) == [20, 40, 60, 80, 100, 120]
    for step, value in loss.items():
        assert value == pytest.approx(rows[step]["loss"], rel=1e-6)
    test_acc = acc.Scalars("test/accuracy")
    assert [e.step for e in test_acc] == [120]
    assert test_acc[0].value == pytest.approx(rows[120]["test_accuracy"], rel=1e-6)
    for e in acc.Scalars("train/learning_rate"):  # exponential decay of the step's update
        assert e.value == pytest.approx(0.3 * 0.5 ** ((e.step - 1) / 100), rel=1e-6)
    assert all(e.value > 0 for e in acc.Scalars("train/steps_per_s"))
    means = acc.Scalars("hidden1/kernel/summaries/mean")
    assert [e.step for e in means] == [0, 20, 40, 60, 80, 100, 120]
    hist = acc.Histograms("output/bias/summaries/histogram")
    assert [e.step for e in hist] == [0, 50, 100, 120]  # and at the end
    tags = acc.Tags()
    assert [e.step for e in acc.Images("inputs")] == [0]
    assert [e.step for e in acc.Images("confusion_matrix")] == [60, 120]
    assert [e.step for e in acc.Images("misclassified")] == [60, 120]
    assert tags["graph"]
    assert (tmp_path / "tensorboard" / projector.CONFIG_FILE).is_file()
    # the JSONL writer got the same summaries (and no copy of the training rows)
    records = [json.loads(line) for line in (tmp_path / "summaries.jsonl").open()]
    scalar_steps = [
        r["step"] for r in records if "hidden1/kernel/summaries/mean" in r.get("scalars", {})
    ]
    assert scalar_steps == [0, 20, 40, 60, 80, 100, 120]
    assert records[-1]["hparams"]["optimizer.learning_rate"] == 0.3
    assert "train/loss" in records[-1]["metrics"]


def test_jsonl_only_writes_summaries_and_pngs_but_no_event_files(tmp_path):
    raw = synthetic_images.config(tensorboard=False, jsonl=True)
    raw["train"]["steps"] = 40
    run_experiment(config_lib.load(raw=raw), tmp_path)
    assert not (tmp_path / "tensorboard").exists()
    records = [json.loads(line) for line in (tmp_path / "summaries.jsonl").open()]
    images = {tag: path for r in records for tag, path in r.get("images", {}).items()}
    assert {"inputs", "confusion_matrix"} <= set(images)
    assert all((tmp_path / path).is_file() for path in images.values())


def test_logging_off_writes_no_event_files(tmp_path):
    raw = synthetic_images.config()
    raw["logging"] = {"tensorboard": False}
    raw["train"]["steps"] = 20
    run_experiment(config_lib.load(raw=raw), tmp_path)
    assert not (tmp_path / "tensorboard").exists()


def test_tensorboard_cli_explains_a_run_without_event_files(tmp_path, cli):
    result = cli("tensorboard", str(tmp_path))
    assert result.returncode == 1
    assert "no TensorBoard event files" in result.stderr and "logging.tensorboard" in result.stderr
    result = cli("tensorboard", str(tmp_path / "missing"))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_tensorboard_mnist_config_on_real_mnist(tmp_path):
    from pathlib import Path

    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    repo = Path(__file__).resolve().parents[1]
    mnist = repo.parent / "shared" / "data" / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the MNIST test set is not at {mnist}")
    overrides = [
        f"data.dir={mnist}",
        "train.steps=60",
        "train.eval_every=null",
        "train.progress=off",
        "logging.every=30",
        "logging.projector.samples=300",
        "plots=false",
    ]
    config = config_lib.load(repo / "configs" / "tensorboard_mnist.yaml", overrides)
    run_experiment(config, tmp_path)
    logdir = tmp_path / "tensorboard"
    projector_config = text_format.Parse(
        (logdir / projector.CONFIG_FILE).read_text(), ProjectorConfig()
    )
    shapes = {e.tensor_name: list(e.tensor_shape) for e in projector_config.embeddings}
    assert shapes == {"hidden": [300, 500], "pixels": [300, 784]}
    assert list(projector_config.embeddings[0].sprite.single_image_dim) == [28, 28]
    acc = read_events(logdir)
    assert [e.step for e in acc.Scalars("hidden1/kernel/summaries/stddev")] == [0, 30, 60]
    assert acc.Scalars("train/accuracy")[-1].value > 0.5  # 60 Adam steps on real digits
