"""CAPTCHA generator, input pipeline, multi-head model, joint/alternating training, predict."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcourse import cli
from jaxcourse.data.captcha import CaptchaConfig, CaptchaGenerator
from jaxcourse.errors import ConfigError
from jaxcourse.records import Schema, write_arrays
from jaxcourse.records.convert import convert, parse_source
from jaxcourse.records.pipeline import PipelineConfig, RecordPipeline, load_split, random_shift
from jaxcourse.runners import load_config as load
from jaxcourse.runners.multitask import head_loss, head_metrics


def test_captcha_generator_is_reproducible_and_seeded():
    import secrets

    import captcha.image

    gen = CaptchaGenerator(CaptchaConfig(name="captcha", length=5, alphabet="ab", width=90))
    a, text_a = gen.example(0, "train", 3)
    b, text_b = gen.example(0, "train", 3)
    c, _ = gen.example(1, "train", 3)
    assert a.shape == (60, 90, 3) and a.dtype == np.uint8
    assert text_a == text_b and len(text_a) == 5 and set(text_a) <= {"a", "b"}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert captcha.image.secrets is secrets  # the patch is undone
    assert gen.labels("abba").tolist() == [0, 1, 1, 0]


def test_captcha_config_rejects_repeated_alphabet():
    with pytest.raises(ConfigError, match="source.alphabet.*distinct"):
        parse_source("captcha:alphabet=aab")


def test_random_shift_matches_a_direct_crop():
    images = np.arange(2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6)
    out = random_shift(images, 2, np.random.default_rng(0))
    dy, dx = np.random.default_rng(0).integers(0, 5, size=(2, 2))
    for i in range(2):
        padded = np.pad(images[i], 2, mode="edge")
        np.testing.assert_array_equal(out[i], padded[dy[i] : dy[i] + 5, dx[i] : dx[i] + 6])


@pytest.fixture(scope="module")
def captcha_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("captcha")
    convert(parse_source("captcha:train_size=24,test_size=8"), out, num_shards=2)
    return out


def test_pipeline_batches_are_deterministic_resumable_and_decoded(captcha_records):
    cfg = PipelineConfig(path=str(captcha_records), batch_size=8, image={"size": [30, 80]}, shift=1)
    pipe = RecordPipeline(cfg, seed=0)
    batches = list(pipe.batches(0, 6))
    assert batches[0]["x"].shape == (8, 30, 80) and batches[0]["x"].dtype == np.uint8
    assert batches[0]["y"].shape == (8, 4)
    resumed = list(RecordPipeline(cfg, seed=0).batches(4, 2))
    for a, b in zip(batches[4:], resumed, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
    # an epoch (3 steps) covers every example once; labels come from the text feature
    seen = np.concatenate([b["y"] for b in batches[:3]])
    test = load_split(cfg, "train")
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, test["y"].tolist()))
    gen = CaptchaGenerator(CaptchaConfig(name="captcha"))
    _, text = gen.example(0, "train", 0)
    assert test["y"][0].tolist() == gen.labels(text).tolist()


def test_head_loss_and_metrics_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 3, 4))
    labels = rng.integers(0, 4, (6, 3))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp, labels[..., None], -1)[..., 0].mean(0).sum()
    np.testing.assert_allclose(head_loss(jnp.asarray(logits), jnp.asarray(labels)), expected, 1e-5)
    m = head_metrics(jnp.asarray(logits), jnp.asarray(labels))
    correct = logits.argmax(-1) == labels
    np.testing.assert_allclose(m["head2_accuracy"], correct[:, 1].mean())
    np.testing.assert_allclose(m["char_accuracy"], correct.mean())
    np.testing.assert_allclose(m["string_accuracy"], correct.all(1).mean())


def _easy_records(path, seed, num_heads=2, num_classes=3, n=96):
    """Images whose i-th quarter's brightness encodes the i-th label: learnable in seconds."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, (n, num_heads))
    x = np.zeros((n, 8, 16), np.uint8)
    for i in range(num_heads):
        x[:, :, i * 4 : i * 4 + 4] = (y[:, i, None, None] * 100).astype(np.uint8)
    schema = Schema.infer(
        {"x": x, "y": y},
        spec={"num_outputs": num_classes, "class_names": list("abc"[:num_classes])},
        x="x",
        y="y",
    )
    write_arrays(path, schema, {"train": {"x": x, "y": y}, "test": {"x": x[:32], "y": y[:32]}})


def _config(tmp_path, mode, tasks, steps=60, schedule=None):
    raw = {
        "experiment": "multitask",
        "workdir": str(tmp_path / "run"),
        "mode": mode,
        "schedule": schedule,
        "tasks": [
            {"name": name, "data": {"path": str(path), "batch_size": 16, "prefetch": 2}}
            for name, path in tasks
        ],
        "model": {"name": "multihead_cnn", "channels": [4], "dense": 16, "dropout": 0.0},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"steps": steps, "log_every": 20},
        "plots": False,
    }
    return load(raw=raw)


def test_joint_training_learns_and_predict_reads_back(tmp_path, capsys):
    from jaxcourse.inference.captcha import CaptchaReader
    from jaxcourse.runners import run_experiment

    _easy_records(tmp_path / "easy", 0)
    summary = run_experiment(_config(tmp_path, "joint", [("easy", tmp_path / "easy")]))
    final = summary["final"]
    assert final["test/easy_string_accuracy"] > 0.9
    assert final["test/easy_char_accuracy"] >= final["test/easy_string_accuracy"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert rows[0]["train/loss"] > rows[-1]["train/loss"]
    reader = CaptchaReader(tmp_path / "run")
    image = np.zeros((8, 16, 3), np.uint8)
    image[:, 0:4] = 200  # classes 2 and 0 -> "ca"
    assert reader.read([image]) == ["ca"]
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "ca.png")
    assert cli.main(["captcha-predict", str(tmp_path / "run"), str(tmp_path / "ca.png")]) == 0
    assert capsys.readouterr().out.strip().endswith("ca")


def test_alternating_updates_only_the_scheduled_task(tmp_path):
    from jaxcourse.runners.multitask import build

    _easy_records(tmp_path / "a", 0)
    _easy_records(tmp_path / "b", 1, num_heads=3, num_classes=2)
    tasks = [("a", tmp_path / "a"), ("b", tmp_path / "b")]
    config = _config(tmp_path, "alternating", tasks, schedule=["a", "a", "b"])
    tr = build(config)
    assert set(tr.state.params) == {"trunk", "a_head1", "a_head2", "b_head1", "b_head2", "b_head3"}
    batch = next(tr.pipelines["a"].batches(0, 1))
    state, metrics = jax.jit(tr.train_steps["a"])(tr.state, batch)
    assert "a_string_accuracy" in metrics
    changed = jax.tree_util.tree_map(
        lambda p, q: bool(jnp.any(p != q)), tr.state.params, state.params
    )
    assert all(jax.tree_util.tree_leaves(changed["trunk"]))
    assert all(jax.tree_util.tree_leaves(changed["a_head1"]))
    assert not any(jax.tree_util.tree_leaves(changed["b_head1"]))
    # only task a's optimizer state moved
    assert int(jax.tree_util.tree_leaves(state.opt_state["b"])[0]) == 0


def test_alternating_run_trains_both_tasks(tmp_path):
    from jaxcourse.runners import run_experiment

    _easy_records(tmp_path / "a", 0)
    _easy_records(tmp_path / "b", 1, num_heads=3, num_classes=2)
    tasks = [("a", tmp_path / "a"), ("b", tmp_path / "b")]
    summary = run_experiment(_config(tmp_path, "alternating", tasks, steps=90))
    assert summary["final"]["test/a_char_accuracy"] > 0.9
    assert summary["final"]["test/b_char_accuracy"] > 0.9


def test_config_errors(tmp_path):
    _easy_records(tmp_path / "a", 0)
    with pytest.raises(ConfigError, match="schedule names unknown task 'c'"):
        _config(tmp_path, "alternating", [("a", tmp_path / "a")], schedule=["a", "c"])
    with pytest.raises(ConfigError, match="schedule is for mode: alternating"):
        _config(tmp_path, "joint", [("a", tmp_path / "a")], schedule=["a"])
    assert cli.main(["captcha-predict", str(tmp_path), "nothing.png"]) == 1


@pytest.mark.slow
def test_captcha_model_learns_real_captchas(tmp_path):
    """A bounded real run: 3,000 CAPTCHAs, 800 steps (80 s of CPU; 3.5 min on the shared box)."""
    from jaxcourse.runners import run_experiment

    records = tmp_path / "captcha"
    convert(parse_source("captcha:train_size=3000,test_size=500"), records)
    raw = {
        "experiment": "multitask",
        "workdir": str(tmp_path / "run"),
        "tasks": [
            {
                "name": "captcha",
                "data": {"path": str(records), "image": {"size": [30, 80]}, "shift": 2},
            }
        ],
        "model": {"channels": [16, 32, 64], "invert": True},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "train": {"steps": 800, "log_every": 200},
        "plots": False,
    }
    final = run_experiment(load(raw=raw))["final"]
    assert final["test/captcha_char_accuracy"] > 0.75
    assert final["test/captcha_string_accuracy"] > 0.3


@pytest.mark.parametrize("mode", ["joint", "alternating"])
def test_resumed_multitask_run_is_bit_identical(tmp_path, mode):
    from flax import serialization

    from jaxcourse.runners import run_experiment

    _easy_records(tmp_path / "a", 0)
    _easy_records(tmp_path / "b", 1, num_heads=3, num_classes=2)
    tasks = [("a", tmp_path / "a"), ("b", tmp_path / "b")]
    schedule = ["a", "a", "b"] if mode == "alternating" else None

    def run(workdir, steps):
        config = _config(tmp_path, mode, tasks, steps=steps, schedule=schedule)
        train = config.train.model_copy(update={"log_every": 10})
        checkpoint = config.checkpoint.model_copy(update={"enabled": True, "every": 10})
        update = {"workdir": str(workdir), "train": train, "checkpoint": checkpoint}
        return run_experiment(config.model_copy(update=update))

    straight = run(tmp_path / "straight", 40)
    assert run(tmp_path / "resumed", 20)["checkpoint"]["steps"] == [10, 20]  # keep_last 2
    resumed = run(tmp_path / "resumed", 40)  # the same workdir, trained further
    assert resumed["checkpoint"]["resumed_from_step"] == 20
    assert straight["checkpoint"]["resumed_from_step"] is None

    def params(workdir):
        return serialization.msgpack_restore((workdir / "params.msgpack").read_bytes())

    a, b = params(tmp_path / "straight"), params(tmp_path / "resumed")
    flat_a, flat_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(flat_a) == len(flat_b) > 0
    for x, y in zip(flat_a, flat_b, strict=True):
        np.testing.assert_array_equal(x, y)

    def losses(workdir):
        return [
            (r["step"], r["train/loss"])
            for r in map(json.loads, (workdir / "metrics.jsonl").open())
        ]

    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    assert [s for s, _ in losses(tmp_path / "straight")] == [10, 20, 30, 40]


def test_multitask_and_supervised_runs_log_the_same_names_and_summary(tmp_path):
    """One loop writes both: rows named `train/...`/`test/...`, one summary.json schema."""
    import synthetic_images

    from jaxcourse.engine.loop import Run, summary
    from jaxcourse.runners import run_experiment

    _easy_records(tmp_path / "a", 0)
    config = _config(tmp_path, "joint", [("a", tmp_path / "a")], steps=40)
    logging = config.logging.model_copy(update={"tensorboard": True, "every": 20})
    config = config.model_copy(update={"logging": logging, "plots": True})
    multitask = run_experiment(config, tmp_path / "multitask")
    supervised = run_experiment(
        load(
            raw={
                "experiment": "supervised",
                "data": {"name": synthetic_images.NAME, "num_train": 64, "num_test": 32},
                "model": {"name": "mlp", "hidden": [4]},
                "loss": "softmax_cross_entropy",
                "optimizer": {"name": "sgd", "learning_rate": 0.1},
                "train": {"steps": 40, "log_every": 20, "progress": False},
                "plots": False,
            }
        ),
        tmp_path / "supervised",
    )
    schema = set(summary(Run(None, "x"), "completed", 0, {}, {"start": 0.0}, 1))
    for result, workdir in ((multitask, "multitask"), (supervised, "supervised")):
        assert schema <= set(result)
        on_disk = json.loads((tmp_path / workdir / "summary.json").read_text())
        assert set(on_disk["device"]) == {"platform", "kind", "count"}
        rows = [json.loads(line) for line in (tmp_path / workdir / "metrics.jsonl").open()]
        assert [r["step"] for r in rows] == [20, 40]
        for row in rows:
            assert "train/loss" in row
            names = {k.split("/")[0] for k in row if "/" in k}
            assert names <= {"train", "test"}
        assert any(k.startswith("test/") for k in rows[-1])
        assert result["final"] == rows[-1]
    # TensorBoard and plots in a multi-task run, under the rows' own names
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "multitask" / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "train/loss" in tags and "test/a_string_accuracy" in tags
    assert [e.step for e in events.Scalars("train/loss")] == [20, 40]
    assert (tmp_path / "multitask" / "loss.png").is_file()
    assert (tmp_path / "multitask" / "accuracy.png").is_file()


def test_multitask_nan_policy_stops_the_run(tmp_path):
    from jaxcourse.errors import NonFiniteLossError
    from jaxcourse.runners import run_experiment

    _easy_records(tmp_path / "a", 0)
    config = _config(tmp_path, "joint", [("a", tmp_path / "a")], steps=40)
    optimizer = config.optimizer.model_copy(update={"learning_rate": 1e30})
    with pytest.raises(NonFiniteLossError):
        run_experiment(config.model_copy(update={"optimizer": optimizer}), tmp_path / "nan")
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert summary["status"].startswith("stopped: non-finite loss at step ")
