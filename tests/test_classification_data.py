"""IDX files and the MNIST-family loaders, on small IDX files written by the tests."""

from __future__ import annotations

import gzip
import struct
import time

import numpy as np
import pytest

from jaxcourse import data as data_lib
from jaxcourse.config import validate_component
from jaxcourse.data import idx, mnist
from jaxcourse.errors import ConfigError, DataError


def write_mnist_dir(directory, n_train=60, n_test=20, seed=0, splits=("train", "test")):
    """Write MNIST-layout IDX gz files of random images; returns {split: (images, labels)}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        if split not in splits:
            continue
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        stem_x, stem_y = mnist.FILES[split]
        idx.write_idx(directory / f"{stem_x}.gz", images)
        idx.write_idx(directory / f"{stem_y}.gz", labels)
        out[split] = (images, labels)
    return out


def load(name="mnist", **options):
    cfg = validate_component(data_lib.DATASETS, {"name": name, **options}, "data")
    return data_lib.load(cfg, run_seed=0)


# --------------------------------------------------------------------------- IDX format


def test_idx_header_matches_the_published_layout(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = idx.write_idx(tmp_path / "x.idx", images)
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"  # uint8, three dimensions
    assert struct.unpack(">III", raw[4:16]) == (2, 3, 4)
    assert raw[16:] == images.tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = (np.random.default_rng(1).standard_normal((5, 7)) * 100).astype(dtype)
    back = idx.read_idx(idx.write_idx(tmp_path / f"a-idx2{suffix}", array))
    assert back.dtype == np.dtype(dtype) and back.shape == (5, 7)
    np.testing.assert_array_equal(back, array)


def test_idx_rejects_an_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="int64"):
        idx.write_idx(tmp_path / "a.gz", np.zeros(3, np.int64))


def test_truncated_gzip_names_the_file(tmp_path):
    path = idx.write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*corrupt or truncated"):
        idx.read_idx(path)


def test_short_data_names_the_file_and_the_sizes(tmp_path):
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + bytes(7))
    with pytest.raises(DataError, match=r"labels.gz' is truncated.*needs 10 data bytes, found 7"):
        idx.read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "page.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"<html>not found</html>")
    with pytest.raises(DataError, match="page.gz' has no IDX header"):
        idx.read_idx(path)
    with pytest.raises(DataError, match="does not exist"):
        idx.read_idx(tmp_path / "missing.gz")


# --------------------------------------------------------------------------- loaders


def test_dir_source_loads_and_scales(tmp_path):
    raw = write_mnist_dir(tmp_path)
    ds = load(dir=str(tmp_path))
    train, test = ds.splits["train"], ds.splits["test"]
    assert train["x"].shape == (60, 28, 28, 1) and train["x"].dtype == np.float32
    np.testing.assert_allclose(train["x"][..., 0], raw["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(test["y"], raw["test"][1].astype(np.int32))
    assert ds.spec.num_outputs == 10 and ds.spec.input_shape == (28, 28, 1)

    std = load(dir=str(tmp_path), normalize="standard").splits
    pixels = raw["train"][0].astype(np.float64)
    expect = (raw["test"][0] - pixels.mean()) / pixels.std()
    np.testing.assert_allclose(std["test"]["x"][..., 0], expect, rtol=1e-4, atol=1e-4)
    none = load(dir=str(tmp_path), normalize="none", one_hot=True).splits
    np.testing.assert_array_equal(none["train"]["x"][..., 0], raw["train"][0])
    np.testing.assert_array_equal(none["train"]["y"].argmax(1), raw["train"][1])
    assert none["train"]["y"].sum() == 60 and none["train"]["y"].dtype == np.float32


def test_subsets_are_seeded_and_disjoint(tmp_path):
    raw = write_mnist_dir(tmp_path)
    a = load(dir=str(tmp_path), train_size=30, validation_size=10, test_size=5, seed=3).splits
    b = load(dir=str(tmp_path), train_size=30, validation_size=10, test_size=5, seed=3).splits
    c = load(dir=str(tmp_path), train_size=30, validation_size=10, seed=4).splits
    assert len(a["train"]["x"]) == 30 and len(a["validation"]["x"]) == 10
    assert len(a["test"]["x"]) == 5
    np.testing.assert_array_equal(a["train"]["x"], b["train"]["x"])
    assert not np.array_equal(a["train"]["x"], c["train"]["x"])

    def rows(split):  # which original training images a split holds
        flat = raw["train"][0].reshape(60, -1)
        picked = np.rint(split["x"].reshape(len(split["x"]), -1) * 255).astype(np.uint8)
        return {int(np.flatnonzero((flat == p).all(1))[0]) for p in picked}

    assert not rows(a["train"]) & rows(a["validation"])
    with pytest.raises(DataError, match="train_size"):
        load(dir=str(tmp_path), train_size=55, validation_size=10)


def test_split_test_set_needs_only_the_test_files(tmp_path):
    raw = write_mnist_dir(tmp_path, n_test=50, splits=("test",))
    ds = load(dir=str(tmp_path), split_test_set=40).splits
    assert len(ds["train"]["x"]) == 40 and len(ds["test"]["x"]) == 10
    together = np.concatenate([ds["train"]["y"], ds["test"]["y"]])
    np.testing.assert_array_equal(np.sort(together), np.sort(raw["test"][1]))
    with pytest.raises(DataError, match="split_test_set"):
        load(dir=str(tmp_path), split_test_set=50)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load(dir=str(tmp_path))  # the full dataset needs the train files too


def test_dir_comes_before_the_debian_package(tmp_path):
    raw = write_mnist_dir(tmp_path)
    ds = load("fashion_mnist", dir=str(tmp_path))
    assert len(ds.splits["train"]["x"]) == 60
    np.testing.assert_array_equal(ds.splits["test"]["y"], raw["test"][1])
    assert ds.spec.class_names[0] == "T-shirt/top"


def test_mismatched_files_name_both(tmp_path):
    write_mnist_dir(tmp_path)
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="t10k-images.*20 images.*t10k-labels.*19 labels"):
        load(dir=str(tmp_path))


def test_nothing_found_offline_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "_online", lambda timeout=2.0: False)
    start = time.perf_counter()
    with pytest.raises(DataError) as err:
        load(dir=str(tmp_path / "MNIST_data"), tfds_data_dir=str(tmp_path / "tfds"))
    message = str(err.value)
    assert "set data.dir" in message and "train-images-idx3-ubyte.gz" in message
    assert "MNIST_data: missing" in message and "offline" in message
    assert time.perf_counter() - start < 5
    with pytest.raises(DataError, match="Debian package: has only fashion_mnist"):
        load(source="debian", split_test_set=5)


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="normalize"):
        validate_component(data_lib.DATASETS, {"name": "mnist", "normalize": "z"}, "data")


def test_tfds_source_reads_a_prepared_dataset(tmp_path, monkeypatch):
    """The TFDS glue, with TFDS's builder replaced by one serving records from memory."""
    tfds = pytest.importorskip("tensorflow_datasets")
    rng = np.random.default_rng(5)
    records = {
        split: [
            {"image": rng.integers(0, 256, (28, 28, 1), dtype=np.uint8), "label": i % 10}
            for i in range(n)
        ]
        for split, n in (("train", 30), ("test", 10))
    }
    prepared = tmp_path / "fashion_mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text("{}")
    calls = {}

    class FakeBuilder:
        def as_data_source(self, split):
            return [records[s] for s in split]

    def fake_builder(name, data_dir, file_format):
        calls.update(name=name, data_dir=data_dir, file_format=file_format)
        return FakeBuilder()

    monkeypatch.setattr(tfds, "builder", fake_builder)
    ds = load("fashion_mnist", source="tfds", tfds_data_dir=str(tmp_path), normalize="none")
    assert calls == {
        "name": "fashion_mnist",
        "data_dir": str(tmp_path),
        "file_format": "array_record",
    }
    np.testing.assert_array_equal(ds.splits["train"]["x"][3], records["train"][3]["image"])
    np.testing.assert_array_equal(ds.splits["test"]["y"], np.arange(10))
