"""Bad inputs and faults, as a table: each ends in the documented exit code with one message
naming the culprit, no traceback, and every file already in the run directory unchanged.

Cases call the CLI's `main` in this process (argparse's exits caught); `{run}` is a fresh copy
of a finished, checkpointed run, `{cls}` of a classifier run, `{export}` of its export,
`{records}` of converted record files, `{mnist}` of tiny IDX files, `{tmp}` the case's own
directory. A case's `damage` changes those copies before the command runs.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import synthetic_images  # noqa: F401  (registers tb_blobs)
import yaml

from jaxcourse import cli as jaxcourse_cli
from jaxcourse.data.idx import write_idx
from jaxcourse.engine.rundir import read_metrics

REGRESSION = {
    "experiment": "supervised",
    "seed": 1,
    "data": {"name": "quadratic_noise", "num_points": 64},
    "model": {"name": "mlp", "hidden": [16]},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "train": {"steps": 20, "batch_size": 16, "log_every": 5},
    "plots": False,
    "checkpoint": {"enabled": True, "every": 10},
    "logging": {"tensorboard": False},
}
CLASSIFIER = {
    **synthetic_images.config(),
    "model": {"name": "cnn", "conv_features": [4], "dense": 8, "kernel_size": 3},
    "train": {"steps": 10, "batch_size": 50, "log_every": 5},
    "logging": {"tensorboard": False},
    "checkpoint": {"enabled": True, "every": 5},
}
MNIST = {
    **REGRESSION,
    "data": {"name": "mnist", "dir": "{mnist}", "source": "dir"},
    "model": {"name": "mlp", "hidden": [8]},
    "loss": "softmax_cross_entropy",
    "train": {"steps": 2, "batch_size": 4, "log_every": 1},
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The originals every case gets fresh copies of."""
    base = tmp_path_factory.mktemp("pristine")
    (base / "regression.yaml").write_text(yaml.safe_dump(REGRESSION))
    (base / "mnist.yaml").write_text(yaml.safe_dump(MNIST))
    assert (
        jaxcourse_cli.main(["run", str(base / "regression.yaml"), f"workdir={base / 'run'}"]) == 0
    )
    from jaxcourse.runners import load_config, run_experiment

    run_experiment(load_config(raw={**CLASSIFIER, "workdir": str(base / "cls")}))
    assert jaxcourse_cli.main(["export", str(base / "cls"), "--out", str(base / "export")]) == 0
    source = "captcha:train_size=6,test_size=2,height=20,width=40"
    for fmt in ("tfrecord", "arrayrecord"):
        out = str(base / f"records_{fmt}")
        assert (
            jaxcourse_cli.main(["data", "convert", source, out, "--to", fmt, "--shards", "2"]) == 0
        )
    rng = np.random.default_rng(0)
    (base / "mnist").mkdir()
    for stem, n in (("train", 12), ("t10k", 6)):
        write_idx(
            base / "mnist" / f"{stem}-images-idx3-ubyte.gz",
            rng.integers(0, 255, (n, 28, 28), np.uint8),
        )
        write_idx(base / "mnist" / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, np.uint8))
    from PIL import Image

    Image.fromarray(rng.integers(0, 255, (8, 8), np.uint8)).save(base / "image.png")
    return base


@dataclass
class Case:
    id: str
    argv: str  # split on spaces after the placeholders are filled in
    code: int
    culprit: str  # in stderr (placeholders filled in)
    damage: Callable[[dict[str, Path]], None] | None = None


def files(places: dict[str, Path]) -> dict[str, bytes]:
    """SHA-256 of every file under the copied directories."""
    out = {}
    for name in ("run", "cls", "export", "records", "mnist"):
        for path in sorted(places[name].rglob("*")):
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).digest()
    return out


# ---------------------------------------------------------------- damage helpers


def write(rel: str, data: bytes | str) -> Callable:
    def damage(p):
        path = Path(rel.format(**p))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return damage


def remove(pattern: str, under: str = "run") -> Callable:
    def damage(p):
        for path in p[under].glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    return damage


def truncate(rel: str, keep: float = 0.5) -> Callable:
    def damage(p):
        path = Path(rel.format(**p))
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return damage


def flip(rel: str, at: float = 0.5) -> Callable:
    def damage(p):
        path = Path(rel.format(**p))
        data = bytearray(path.read_bytes())
        data[int(len(data) * at)] ^= 0xFF
        path.write_bytes(bytes(data))

    return damage


def edit_json(rel: str, change: Callable[[dict], object]) -> Callable:
    def damage(p):
        path = Path(rel.format(**p))
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return damage


def every(pattern: str, how: Callable[[bytes], bytes], under: str = "run") -> Callable:
    def damage(p):
        for path in p[under].glob(pattern):
            if path.is_file():
                path.write_bytes(how(path.read_bytes()))

    return damage


def mnist_file(name: str, array: np.ndarray) -> Callable:
    return lambda p: write_idx(p["mnist"] / name, array)


def both(*damages: Callable) -> Callable:
    def damage(p):
        for d in damages:
            d(p)

    return damage


RUN = "run {tmp}/regression.yaml workdir={run}"
SHOW = "config show {tmp}/regression.yaml"
MNIST_RUN = "run {tmp}/mnist.yaml workdir={run}"
TR = "{records}/train.tfrecord-00000-of-00002"
AR = "{records_ar}/train.array_record-00000-of-00002"
RNG = np.random.default_rng(1)

CASES = [
    # ---- the command line itself (argparse: exit 2, names the argument)
    Case("no-command", "", 2, "required: command"),
    Case("unknown-command", "fly", 2, "invalid choice: 'fly'"),
    Case("run-no-config", "run", 2, "config"),
    Case("export-step-word", "export {run} --step banana", 2, "--step: expected latest, best"),
    Case("export-step-negative", "export {run} --step -3", 2, "--step"),
    Case("export-step-float", "export {run} --step 1.5", 2, "'1.5'"),
    Case("export-platform-unknown", "export {run} --platforms nosuch", 2, "'nosuch'"),
    Case("export-platform-one-bad", "export {run} --platforms cpu,tpux", 2, "'tpux'"),
    Case("export-platform-empty", "export {run} --platforms ,", 2, "--platforms"),
    Case("predict-top-k-negative", "predict {export} {image} --top-k -1", 2, "--top-k"),
    Case("predict-top-k-zero", "predict {export} {image} --top-k 0", 2, "got 0"),
    Case("predict-top-k-word", "predict {export} {image} --top-k many", 2, "'many'"),
    Case("predict-unknown-model", "predict {image} --model vgg", 2, "'vgg'"),
    Case("tensorboard-port-word", "tensorboard {run} --port http", 2, "--port"),
    Case("convert-unknown-format", "data convert captcha {tmp}/o --to zip", 2, "'zip'"),
    Case("convert-zero-shards", "data convert captcha {tmp}/o --shards 0", 2, "--shards"),
    Case("graph-no-logdir", "graph {tmp}/regression.yaml", 2, "--logdir"),
    Case("sweep-no-grid", "sweep {tmp}/regression.yaml", 2, "key.sub=v1,v2"),
    Case("schema-unknown-experiment", "config schema nosuch", 2, "'nosuch'"),
    # ---- config files (exit 2, names the file)
    Case("config-missing", "run {tmp}/nope.yaml", 2, "nope.yaml' does not exist"),
    Case("config-directory", "config show {tmp}", 2, "is a directory"),
    Case(
        "config-not-utf8", SHOW, 2, "not UTF-8", write("{tmp}/regression.yaml", b"seed: 1 # \xe9\n")
    ),
    Case("config-bad-yaml", SHOW, 2, "not valid YAML", write("{tmp}/regression.yaml", "a: [1,\n")),
    Case("config-list", SHOW, 2, "expected a mapping", write("{tmp}/regression.yaml", "- 1\n")),
    Case("config-empty", SHOW, 2, "missing key 'experiment'", write("{tmp}/regression.yaml", "")),
    Case(
        "config-duplicate-key",
        SHOW,
        2,
        "key 'seed' is set twice",
        write("{tmp}/regression.yaml", "experiment: supervised\nseed: 1\nseed: 2\n"),
    ),
    Case(
        "config-unsafe-tag",
        SHOW,
        2,
        "not valid YAML",
        write("{tmp}/regression.yaml", "experiment: !!python/object/apply:os.system [ls]\n"),
    ),
    Case("config-unknown-experiment", SHOW + " experiment=fly", 2, "'fly'"),
    Case("config-unknown-key", SHOW + " train.stepz=3", 2, "did you mean 'steps'"),
    Case("override-no-equals", SHOW + " train.steps", 2, "not of the form key.sub=value"),
    Case("override-twice", SHOW + " seed=1 seed=2", 2, "set twice on the command line"),
    Case("override-into-value", SHOW + " seed.x=1", 2, "'seed' is a value"),
    # ---- config values (exit 2, names the key)
    Case("steps-true", SHOW + " train.steps=true", 2, "'train.steps': expected a number"),
    Case("steps-zero", SHOW + " train.steps=0", 2, "'train.steps'"),
    Case("steps-negative", SHOW + " train.steps=-1", 2, "'train.steps'"),
    Case("steps-fraction", SHOW + " train.steps=1.5", 2, "'train.steps'"),
    Case("steps-and-epochs", SHOW + " train.epochs=2", 2, "exactly one of train.steps"),
    Case("epochs-inf", SHOW + " train.steps=null train.epochs=.inf", 2, "'train.epochs'"),
    Case("lr-inf", SHOW + " optimizer.learning_rate=.inf", 2, "'optimizer.learning_rate'"),
    Case("lr-nan", SHOW + " optimizer.learning_rate=.nan", 2, "finite number"),
    Case("lr-true", SHOW + " optimizer.learning_rate=true", 2, "the boolean True"),
    Case("lr-word", SHOW + " optimizer.learning_rate=fast", 2, "'optimizer.learning_rate'"),
    Case("hidden-negative", SHOW + " model.hidden=[-5]", 2, "'model.hidden.0'"),
    Case("hidden-zero", SHOW + " model.hidden=[0]", 2, "'model.hidden.0'"),
    Case("hidden-bool", SHOW + " model.hidden=[true]", 2, "'model.hidden'"),
    Case("hidden-scalar", SHOW + " model.hidden=5", 2, "'model.hidden'"),
    Case("dropout-one", SHOW + " model.dropout=1.0", 2, "'model.dropout'"),
    Case("dropout-true", SHOW + " model.dropout=true", 2, "'model.dropout'"),
    Case("activation-unknown", SHOW + " model.activation=swish2", 2, "unknown activation"),
    Case("model-unknown", SHOW + " model.name=resnet", 2, "'resnet'"),
    Case("data-unknown", SHOW + " data.name=imagenet", 2, "'imagenet'"),
    Case("loss-unknown", SHOW + " loss=hinge2", 2, "'hinge2'"),
    Case("optimizer-unknown", SHOW + " optimizer.name=lion2", 2, "'lion2'"),
    Case("batch-true", SHOW + " train.batch_size=true", 2, "'train.batch_size'"),
    Case("batch-zero", SHOW + " train.batch_size=0", 2, "'train.batch_size'"),
    Case("log-every-false", SHOW + " train.log_every=false", 2, "'train.log_every'"),
    Case("seed-true", SHOW + " seed=true", 2, "'seed'"),
    Case("seed-fraction", SHOW + " seed=1.5", 2, "'seed'"),
    Case("nan-policy-unknown", SHOW + " train.nan_policy=maybe", 2, "'train.nan_policy'"),
    Case("ckpt-every-zero", SHOW + " checkpoint.every=0", 2, "'checkpoint.every'"),
    Case("ckpt-keep-true", SHOW + " checkpoint.keep_last=true", 2, "'checkpoint.keep_last'"),
    Case("shuffle-two", SHOW + " train.shuffle=2", 2, "'train.shuffle'"),
    Case("eval-splits-string", SHOW + " train.eval_splits=test", 2, "'train.eval_splits'"),
    Case("workdir-number", SHOW + " workdir=[1]", 2, "'workdir'"),
    Case("points-true", SHOW + " data.num_points=true", 2, "'data.num_points'"),
    Case("unroll-negative", SHOW + " train.unroll=-2", 2, "'train.unroll'"),
    # ---- checks before a run writes anything (the existing run dir stays as it was)
    Case("batch-larger-than-data", RUN + " train.batch_size=1000", 2, "'train.batch_size'"),
    Case("too-many-devices", RUN + " parallel.devices=64", 2, "'parallel.devices'"),
    Case(
        "cnn-on-1d-data",
        "run {tmp}/cnn.yaml workdir={run}",
        2,
        "empty weights",
        write("{tmp}/cnn.yaml", yaml.safe_dump({**REGRESSION, "model": {"name": "cnn"}})),
    ),
    Case(
        "other-model-than-ckpt", RUN + " model.hidden=[8]", 4, "model.hidden: checkpoint has [16]"
    ),
    Case("other-optimizer-than-ckpt", RUN + " optimizer.name=sgd", 4, "does not fit this run"),
    Case("resume-false", RUN + " checkpoint.resume=false", 4, "checkpoint.resume is false"),
    Case("all-ckpt-meta-gone", RUN, 4, "can be read", remove("ckpt/*/meta")),
    Case("all-ckpt-state-gone", RUN, 4, "/state", remove("ckpt/*/state")),
    Case(
        "all-ckpt-garbage",
        RUN,
        4,
        "can be read",
        every("ckpt/*/state/**/d/*", lambda b: b"garbage"),
    ),
    Case(
        "metrics-middle-line-broken",
        RUN + " train.steps=30",
        4,
        "metrics.jsonl' line 2",
        lambda p: (p["run"] / "metrics.jsonl").write_text(
            (p["run"] / "metrics.jsonl").read_text().replace('{"step": 10', '{"step": 1x', 1)
        ),
    ),
    Case("mnist-dir-empty", MNIST_RUN, 4, "{mnist}", remove("*", "mnist")),
    Case("mnist-train-size-too-big", MNIST_RUN + " data.train_size=100", 4, "data.train_size"),
    Case(
        "mnist-validation-too-big",
        MNIST_RUN + " data.validation_size=12",
        4,
        "data.validation_size",
    ),
    Case(
        "mnist-gzip-corrupt",
        MNIST_RUN,
        4,
        "train-images-idx3-ubyte.gz",
        write("{mnist}/train-images-idx3-ubyte.gz", b"\x1f\x8bnot really gzip"),
    ),
    Case(
        "mnist-truncated",
        MNIST_RUN,
        4,
        "is truncated",
        lambda p: (p["mnist"] / "t10k-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(
                gzip.decompress((p["mnist"] / "t10k-images-idx3-ubyte.gz").read_bytes())[:-100]
            )
        ),
    ),
    Case(
        "mnist-test-images-other-shape",
        MNIST_RUN,
        4,
        "different shapes",
        mnist_file("t10k-images-idx3-ubyte.gz", RNG.integers(0, 255, (6, 14, 14), np.uint8)),
    ),
    Case(
        "mnist-labels-count",
        MNIST_RUN,
        4,
        "train",
        mnist_file("train-labels-idx1-ubyte.gz", RNG.integers(0, 10, 5, np.uint8)),
    ),
    # ---- output paths (exit 5, names the path)
    Case("workdir-is-file", "run {tmp}/regression.yaml workdir={run}/config.yaml", 5, "is a file"),
    Case(
        "workdir-below-file",
        "run {tmp}/regression.yaml workdir={run}/metrics.jsonl/x",
        5,
        "lies below",
    ),
    Case("workdir-name-too-long", "run {tmp}/regression.yaml workdir={tmp}/" + "n" * 300, 5, "255"),
    Case("export-out-is-file", "export {cls} --out {cls}/config.yaml", 5, "--out"),
    Case("export-out-below-file", "export {cls} --out {cls}/config.yaml/e", 5, "lies below"),
    Case(
        "graph-logdir-is-file",
        "graph {tmp}/regression.yaml --logdir {run}/config.yaml",
        5,
        "--logdir",
    ),
    Case(
        "sweep-workdir-is-file",
        "sweep {tmp}/regression.yaml seed=1,2 --workdir {run}/config.yaml",
        5,
        "--workdir",
    ),
    Case("convert-out-is-file", "data convert captcha {run}/config.yaml", 5, "OUT"),
    Case("convert-out-below-file", "data convert captcha {run}/config.yaml/r", 5, "lies below"),
    # ---- record files (exit 4, names the file)
    Case("inspect-missing", "data inspect {tmp}/none", 4, "none"),
    Case(
        "inspect-no-schema",
        "data inspect {records}",
        4,
        "schema.json",
        remove("schema.json", "records"),
    ),
    Case(
        "inspect-schema-not-json",
        "data inspect {records}",
        4,
        "schema.json",
        write("{records}/schema.json", "{"),
    ),
    Case(
        "inspect-schema-list",
        "data inspect {records}",
        4,
        "schema.json",
        write("{records}/schema.json", "[]"),
    ),
    Case("tfrecord-truncated", "data inspect {records}", 4, "train.tfrecord-00000", truncate(TR)),
    Case(
        "tfrecord-random",
        "data inspect {records}",
        4,
        "train.tfrecord-00000",
        write(TR, RNG.bytes(3000)),
    ),
    Case("tfrecord-flipped", "data inspect {records}", 4, "train.tfrecord-00000", flip(TR)),
    Case(
        "tfrecord-shard-missing",
        "data inspect {records}",
        4,
        "expected 2 shards",
        remove("train.tfrecord-00001*", "records"),
    ),
    Case(
        "arrayrecord-truncated",
        "data inspect {records_ar}",
        4,
        "train.array_record-00000",
        truncate(AR),
    ),
    Case(
        "arrayrecord-random",
        "data inspect {records_ar}",
        4,
        "not a complete ArrayRecord",
        write(AR, RNG.bytes(5000)),
    ),
    Case(
        "arrayrecord-empty",
        "data inspect {records_ar}",
        4,
        "train.array_record-00000",
        write(AR, b""),
    ),
    Case(
        "records-both-formats",
        "data inspect {records}",
        4,
        "both formats",
        lambda p: shutil.copy(p["records_ar"] / "train.array_record-00000-of-00002", p["records"]),
    ),
    Case("convert-unknown-source", "data convert imagenet {tmp}/o", 2, "'imagenet'"),
    Case("convert-unknown-option", "data convert captcha:sizes=3 {tmp}/o", 2, "'source.sizes'"),
    Case(
        "convert-bool-option",
        "data convert captcha:train_size=true {tmp}/o",
        2,
        "'source.train_size'",
    ),
    Case("convert-option-syntax", "data convert captcha:train_size {tmp}/o", 2, "key=value"),
    # ---- checkpoints for export (exit 4)
    Case("export-no-checkpoints", "export {tmp}", 4, "no checkpoints"),
    Case("export-step-missing", "export {cls} --step 999", 4, "no checkpoint for step 999"),
    Case("export-regression-run", "export {run}", 4, "only classifiers"),
    Case("export-ckpt-meta-gone", "export {cls}", 4, "/meta", remove("ckpt/10/meta", "cls")),
    Case(
        "export-ckpt-flipped",
        "export {cls} --out {tmp}/e",
        4,
        "ckpt/10/state",
        every("ckpt/10/state/**/d/*", lambda b: b[:64] + bytes(x ^ 0x55 for x in b[64:]), "cls"),
    ),
    Case("export-ckpt-no-best", "export {run} --step best", 4, "'test/accuracy'"),
    # ---- exports and prediction
    Case("predict-not-export", "predict {tmp} {image}", 4, "not an export directory"),
    Case("predict-no-image", "predict {export}", 1, "at least one image"),
    Case("predict-image-missing", "predict {export} {tmp}/nope.png", 1, "skipped '"),
    Case("predict-image-not-image", "predict {export} {tmp}/regression.yaml", 1, "regression.yaml"),
    Case(
        "manifest-not-json",
        "predict {export} {image}",
        4,
        "manifest.json",
        write("{export}/manifest.json", "{"),
    ),
    Case(
        "manifest-format",
        "predict {export} {image}",
        4,
        "has format",
        edit_json("{export}/manifest.json", lambda m: m.update(format="x/9")),
    ),
    Case(
        "manifest-key-missing",
        "predict {export} {image}",
        4,
        "lacks the keys labels",
        edit_json("{export}/manifest.json", lambda m: m.pop("labels")),
    ),
    Case(
        "stablehlo-flipped",
        "predict {export} {image}",
        4,
        "model.stablehlo' is corrupt",
        flip("{export}/model.stablehlo"),
    ),
    Case(
        "stablehlo-truncated",
        "predict {export} {image}",
        4,
        "model.stablehlo",
        truncate("{export}/model.stablehlo"),
    ),
    Case(
        "stablehlo-garbage-no-digest",
        "predict {export} {image}",
        4,
        "model.stablehlo",
        both(
            write("{export}/model.stablehlo", RNG.bytes(4000)),
            edit_json("{export}/manifest.json", lambda m: m.pop("sha256")),
        ),
    ),
    Case(
        "stablehlo-missing",
        "predict {export} {image}",
        4,
        "model.stablehlo",
        remove("model.stablehlo", "export"),
    ),
    Case(
        "params-corrupt",
        "predict {export} {image}",
        4,
        "params.npz",
        flip("{export}/params.npz", 0.2),
    ),
    Case(
        "params-missing",
        "predict {export} {image}",
        4,
        "params.npz",
        remove("params.npz", "export"),
    ),
    Case(
        "captcha-predict-not-run",
        "captcha-predict {tmp} {image}",
        1,
        "not a finished multitask run",
    ),
    Case("tensorboard-missing", "tensorboard {tmp}/none", 1, "does not exist"),
    Case("tensorboard-no-events", "tensorboard {run}", 1, "no TensorBoard event files"),
]


@pytest.fixture
def places(pristine, tmp_path):
    p = {"tmp": tmp_path}
    for name, src in (
        ("run", "run"),
        ("cls", "cls"),
        ("export", "export"),
        ("records", "records_tfrecord"),
        ("records_ar", "records_arrayrecord"),
        ("mnist", "mnist"),
    ):
        p[name] = tmp_path / name
        shutil.copytree(pristine / src, p[name])
    for name in ("regression.yaml", "image.png"):
        shutil.copy(pristine / name, tmp_path / name)
    (tmp_path / "mnist.yaml").write_text(
        (pristine / "mnist.yaml").read_text().replace("'{mnist}'", str(p["mnist"]))
    )
    p["image"] = tmp_path / "image.png"
    return p


def test_the_table_is_large():
    assert len(CASES) + len(SHIM_CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, places, capsys, monkeypatch):
    monkeypatch.setenv("JAXCOURSE_XLA_TUNING", "0")
    if case.damage is not None:
        case.damage(places)
    before = files(places)
    fill = {k: str(v) for k, v in places.items()}
    argv = case.argv.format(**fill).split()
    try:
        code = jaxcourse_cli.main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err, err
    assert case.culprit.format(**fill) in err, err
    assert files(places) == before, "a failed command changed files that were already there"


# ---------------------------------------------------------------- faults during a run


def test_torn_metrics_tail_is_dropped_and_the_run_resumes(places, capsys):
    metrics = places["run"] / "metrics.jsonl"
    rows = read_metrics(metrics)
    metrics.write_bytes(metrics.read_bytes() + b'{"step": 25, "lo')  # power loss mid-line
    with pytest.warns(UserWarning, match="torn last line"):
        code = jaxcourse_cli.main(
            [
                "run",
                str(places["tmp"] / "regression.yaml"),
                f"workdir={places['run']}",
                "train.steps=30",
            ]
        )
    assert code == 0, capsys.readouterr().err
    assert [r["step"] for r in read_metrics(metrics)] == [r["step"] for r in rows] + [25, 30]


def test_stray_checkpoint_falls_back_with_a_warning_naming_both(places, capsys):
    stray = places["run"] / "ckpt" / "99"
    stray.mkdir()
    with pytest.warns(UserWarning) as warned:
        code = jaxcourse_cli.main(
            [
                "run",
                str(places["tmp"] / "regression.yaml"),
                f"workdir={places['run']}",
                "train.steps=30",
            ]
        )
    assert code == 0, capsys.readouterr().err
    text = " ".join(str(w.message) for w in warned)
    assert str(stray) in text and str(places["run"] / "ckpt" / "20") in text
    assert (places["run"] / "ckpt_corrupt" / "99").is_dir() and not stray.exists()


class FullDisk:
    """A file wrapper whose writes fail with ENOSPC once `budget` bytes went through."""

    def __init__(self, real, budget: list[int], name: str):
        self.real, self.budget, self.name = real, budget, name

    def write(self, text):
        self.budget[0] -= len(text)
        if self.budget[0] < 0:
            self.real.write(text[: len(text) // 2])  # a torn line, as a full disk leaves it
            self.real.flush()
            raise OSError(errno.ENOSPC, "No space left on device", self.name)
        return self.real.write(text)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_disk_full_while_logging_stops_cleanly_and_resumes(tmp_path, monkeypatch, capsys):
    import jaxcourse.engine.writers as writers_lib

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**REGRESSION, "train": {**REGRESSION["train"], "log_every": 1}}))
    budget = [2600]  # bytes of metrics rows (~170 each): the disk fills after step 10's save
    monkeypatch.setattr(
        writers_lib,
        "open",
        lambda path, *a, **k: FullDisk(open(path, *a, **k), budget, str(path)),
        raising=False,
    )
    code = jaxcourse_cli.main(["run", str(cfg), f"workdir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 5 and "Traceback" not in err
    assert f"cannot write '{tmp_path / 'run' / 'metrics.jsonl'}': the disk is full" in err
    assert (tmp_path / "run" / "ckpt" / "10").is_dir()
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="torn last line"):
        assert jaxcourse_cli.main(["run", str(cfg), f"workdir={tmp_path / 'run'}"]) == 0
    assert [r["step"] for r in read_metrics(tmp_path / "run")] == list(range(1, 21))


def test_disk_full_during_a_save_without_a_small_disk(tmp_path, monkeypatch, capsys):
    """The same fault as below, injected where Orbax reports it (for machines without mount)."""
    import orbax.checkpoint as ocp

    real_save, calls = ocp.CheckpointManager.save, []

    def save(self, step, *args, **kwargs):
        calls.append(step)
        if len(calls) == 2:  # TensorStore's words for a full disk, as a real one gives them
            raise ValueError(
                f'RESOURCE_EXHAUSTED: Error writing "params.x/0" in OCDBT database at local file '
                f'"{self.directory}/{step}.orbax-checkpoint-tmp/": Failed to write 352225 bytes '
                "to file 5: No space left on device [os_error_code='28']"
            )
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(REGRESSION))
    code = jaxcourse_cli.main(["run", str(cfg), f"workdir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 5 and "Traceback" not in err, err
    assert f"cannot write '{tmp_path / 'run' / 'ckpt'}': the disk is full" in err
    monkeypatch.undo()
    assert jaxcourse_cli.main(["run", str(cfg), f"workdir={tmp_path / 'run'}"]) == 0
    assert "resuming from checkpoint" in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(tmp_path / "run")] == [5, 10, 15, 20]


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "3m")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_disk_full_during_a_checkpoint_save_keeps_the_previous_ones(small_disk, tmp_path, cli):
    big = {
        **REGRESSION,
        "model": {"name": "mlp", "hidden": [300, 300]},
        "train": {**REGRESSION["train"], "steps": 60},
    }
    big["checkpoint"] = {"enabled": True, "every": 10, "keep_last": 9}
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(big))
    run = small_disk / "run"
    done = cli("run", str(tmp_path / "big.yaml"), f"workdir={run}")
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr
    assert f"cannot write '{run / 'ckpt'}': the disk is full" in done.stderr
    kept = sorted(int(p.name) for p in (run / "ckpt").iterdir() if p.name.isdigit())
    assert kept, "no checkpoint fitted on the disk"
    # Moved to a bigger disk, the run resumes from the last complete checkpoint and finishes.
    shutil.copytree(run, tmp_path / "moved")
    done = cli("run", str(tmp_path / "big.yaml"), f"workdir={tmp_path / 'moved'}")
    assert done.returncode == 0, done.stderr
    assert f"ckpt/{kept[-1]}'" in done.stderr
    assert [r["step"] for r in read_metrics(tmp_path / "moved")] == list(range(5, 61, 5))


def test_read_only_filesystem_is_named(small_disk, tmp_path, cli):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(REGRESSION))
    done = cli("run", str(tmp_path / "r.yaml"), f"workdir={small_disk / 'run'}")
    assert done.returncode == 5 and "Traceback" not in done.stderr
    assert f"'{small_disk}' is a read-only filesystem" in done.stderr
    done = cli("data", "convert", "captcha", str(small_disk / "rec"))
    assert done.returncode == 5 and "read-only" in done.stderr


def test_errors_in_a_fresh_process_have_no_traceback(tmp_path, cli):
    (tmp_path / "latin1.yaml").write_bytes(b"experiment: supervised # caf\xe9\n")
    done = cli("run", str(tmp_path / "latin1.yaml"))
    assert done.returncode == 2 and "not UTF-8" in done.stderr and "Traceback" not in done.stderr
    done = cli("export", str(tmp_path), "--step", "banana")
    assert done.returncode == 2 and "--step" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- the TF1 shim


def _graph():
    import jaxcourse.compat.v1 as tf

    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    v = tf.Variable([1.0, 2.0], name="v")
    return tf, x, tf.reduce_sum(x * v, name="total"), v


def _session_run(feed=None, fetch=None, init=True):
    def go(tmp):
        tf, x, total, _ = _graph()
        with tf.Session() as sess:
            if init:
                sess.run(tf.global_variables_initializer())
            sess.run(total if fetch is None else fetch(tf), feed(x) if feed else None)

    return go


def _restore(damage=None, graph_change=None):
    def go(tmp):
        tf, *_ = _graph()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            prefix = tf.train.Saver().save(sess, str(tmp / "model.ckpt"))
        if callable(damage):
            damage(Path(prefix))
        tf, *_ = _graph()
        if graph_change:
            graph_change(tf)
        with tf.Session() as sess:
            tf.train.Saver().restore(sess, prefix if damage != "missing" else str(tmp / "no.ckpt"))

    return go


def _cut(suffix):
    def damage(prefix: Path):
        path = prefix.with_name(prefix.name + suffix)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return damage


SHIM_CASES = [
    ("run-none", _session_run(fetch=lambda tf: None), "TypeError", "None"),
    ("feed-ragged", _session_run(lambda x: {x: [[1, 2], [3]]}), "InvalidArgumentError", "'x'"),
    ("feed-shape", _session_run(lambda x: {x: [[1, 2, 3]]}), "InvalidArgumentError", "'x'"),
    ("feed-missing", _session_run(), "InvalidArgumentError", "placeholder 'x'"),
    (
        "fetch-unknown",
        _session_run(lambda x: {x: [[1, 2]]}, lambda tf: "nope:0"),
        "NotFoundError",
        "'nope'",
    ),
    ("restore-index-truncated", _restore(_cut(".index")), "DataLossError", "model.ckpt.index"),
    (
        "restore-data-truncated",
        _restore(_cut(".data-00000-of-00001")),
        "DataLossError",
        "model.ckpt",
    ),
    ("restore-missing", _restore("missing"), "NotFoundError", "no.ckpt"),
]


@pytest.mark.parametrize("name, build, error, culprit", SHIM_CASES, ids=[c[0] for c in SHIM_CASES])
def test_tf1_shim_bad_input(name, build, error, culprit, tmp_path):
    with pytest.raises(Exception) as caught:
        build(tmp_path)
    assert type(caught.value).__name__ == error, repr(caught.value)
    assert culprit in str(caught.value), str(caught.value)
