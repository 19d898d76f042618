"""MNIST and Fashion-MNIST: 28×28 grey images in 10 classes, from IDX files or TFDS.

Sources are tried in this order (`data.source: auto`), the first that has the data wins:

1. `dir` — a local directory holding the four IDX files of the course's
   `read_data_sets('MNIST_data')` layout: `train-images-idx3-ubyte.gz`,
   `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`
   (uncompressed files without `.gz` work too);
2. `debian` — Debian's `dataset-fashion-mnist` package, `/usr/share/datasets/fashion-mnist`
   (Fashion-MNIST only);
3. `tfds` — a TensorFlow Datasets copy already prepared in `tfds_data_dir` (read with
   `tfds.data_source`, no TensorFlow needed); when none is prepared and the machine is
   online, TFDS downloads and prepares it first.

Nothing found gives one `DataError` listing every place looked at and where to put the files.
Images come out as float32 arrays (N, 28, 28, 1) (NHWC), labels as int32 classes or one-hot.
"""

from __future__ import annotations

import functools
import glob
import os
import socket
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from jaxcourse.data.idx import read_idx
from jaxcourse.data.registry import DATASETS, DataConfig
from jaxcourse.data.spec import Dataset, DataSpec
from jaxcourse.errors import DataError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}
TFDS_HOST = ("storage.googleapis.com", 443)


class MnistConfig(DataConfig):
    """Options of the `mnist` and `fashion_mnist` datasets."""

    dir: str | None = Field(
        None,
        description="Directory with the four IDX files (train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz); "
        "tried first.",
    )
    source: Literal["auto", "dir", "debian", "tfds"] = Field(
        "auto",
        description="Where to read from: auto = try dir, then Debian's "
        "/usr/share/datasets/fashion-mnist, then TFDS; or only the one named.",
    )
    tfds_data_dir: str | None = Field(
        None, description="TFDS data directory; null = TFDS's default (~/tensorflow_datasets)."
    )
    split_test_set: PositiveInt | None = Field(
        None,
        description="Use only the 10k test images: N of them (seeded shuffle) become the "
        "train split, the rest the test split. For when only the test files are at hand.",
    )
    train_size: PositiveInt | None = Field(
        None, description="Keep only this many training examples (seeded random subset)."
    )
    validation_size: NonNegativeInt = Field(
        0, description="Hold out this many training examples as a 'validation' split."
    )
    test_size: PositiveInt | None = Field(
        None, description="Keep only the first N test examples (null = all)."
    )
    normalize: Literal["unit", "standard", "none"] = Field(
        "unit",
        description="Pixel scaling: unit = [0, 1] (the course's), standard = zero mean and "
        "unit variance using the train split's statistics, none = raw 0..255.",
    )
    one_hot: bool = Field(False, description="Labels as one-hot float rows instead of classes.")


# --------------------------------------------------------------------------- sources


def _idx_path(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _read_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of one split (cached while unchanged)."""
    return _read_pair_cached(images, labels, images.stat().st_mtime_ns, labels.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_pair_cached(images: Path, labels: Path, *mtimes: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(
            f"IDX file '{images}' should hold uint8 images (N, rows, cols); got {x.dtype} {x.shape}"
        )
    if y.ndim != 1 or y.dtype != np.uint8:
        raise DataError(
            f"IDX file '{labels}' should hold uint8 labels (N,); got {y.dtype} {y.shape}"
        )
    if len(x) != len(y):
        raise DataError(
            f"IDX files '{images}' ({len(x)} images) and '{labels}' ({len(y)} labels) "
            "do not match in length"
        )
    if y.size and y.max() > 9:
        raise DataError(f"IDX file '{labels}' has label {int(y.max())}; expected classes 0..9")
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _from_dir(directory: Path, splits: tuple[str, ...]) -> dict | str:
    """The raw splits from IDX files in `directory`, or why they are not there."""
    paths = {}
    missing = []
    for split in splits:
        found = [_idx_path(directory, stem) for stem in FILES[split]]
        missing += [stem + ".gz" for stem, p in zip(FILES[split], found, strict=True) if p is None]
        paths[split] = found
    if missing:
        return f"{directory}: missing {', '.join(missing)}"
    return {split: _read_pair(*paths[split]) for split in splits}


def _online(timeout: float = 2.0) -> bool:
    try:
        socket.create_connection(TFDS_HOST, timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_tfds(name: str, data_dir: str | None, splits: tuple[str, ...]) -> dict | str:
    """The raw splits from a prepared TFDS dataset (prepared first if online), or why not."""
    root = Path(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()
    prepared = glob.glob(str(root / name / "*" / "dataset_info.json"))
    if not prepared and not _online():
        return f"TFDS: no prepared '{name}' under {root}, and offline (cannot download)"
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=str(root), file_format="array_record")
        if not prepared:
            builder.download_and_prepare()
        sources = builder.as_data_source(split=list(splits))
    except Exception as err:  # noqa: BLE001  (TFDS raises many kinds; all mean "not here")
        return f"TFDS ({root}): {type(err).__name__}: {err}"
    out = {}
    for split, source in zip(splits, sources, strict=True):
        records = [source[i] for i in range(len(source))]
        x = np.stack([r["image"][..., 0] for r in records]).astype(np.uint8)
        y = np.asarray([r["label"] for r in records], np.uint8)
        out[split] = (x, y)
    return out


def find_raw(name: str, cfg: MnistConfig) -> dict:
    """Raw uint8 splits of dataset `name` from the first source that has them."""
    splits = ("test",) if cfg.split_test_set else ("train", "test")
    tried = []
    want = lambda source: cfg.source in ("auto", source)  # noqa: E731
    if want("dir"):
        if cfg.dir:
            found = _from_dir(Path(cfg.dir).expanduser(), splits)
            if isinstance(found, dict):
                return found
            tried.append(f"data.dir {found}")
        else:
            tried.append("data.dir: not set")
    if want("debian") and name not in DEBIAN_DIRS:
        tried.append(f"Debian package: has only {', '.join(DEBIAN_DIRS)}")
    elif want("debian"):
        found = _from_dir(Path(DEBIAN_DIRS[name]), splits)
        if isinstance(found, dict):
            return found
        tried.append(f"Debian package {found}")
    if want("tfds"):
        found = _from_tfds(name, cfg.tfds_data_dir, splits)
        if isinstance(found, dict):
            return found
        tried.append(found)
    files = ", ".join(f"{stem}.gz" for split in splits for stem in FILES[split])
    hint = " (or `apt install dataset-fashion-mnist`)" if name in DEBIAN_DIRS else ""
    raise DataError(
        f"dataset '{name}' not found. Put {files} in a directory and set data.dir to it"
        f"{hint}. Looked at:\n" + "\n".join(f"  - {t}" for t in tried)
    )


# --------------------------------------------------------------------------- preparing


def _seeded_split(x, y, first: int, seed: int, salt: int):
    """Shuffle (x, y) with (seed, salt) and cut after `first` examples."""
    order = np.random.default_rng([seed, salt]).permutation(len(x))
    head, tail = order[:first], order[first:]
    return (x[head], y[head]), (x[tail], y[tail])


def build_splits(raw: dict, cfg: MnistConfig, seed: int) -> dict[str, tuple]:
    """Train/validation/test (uint8 images, uint8 labels) as `cfg` asks."""
    if cfg.split_test_set:
        x, y = raw["test"]
        if cfg.split_test_set >= len(x):
            raise DataError(
                f"data.split_test_set = {cfg.split_test_set} leaves no test examples "
                f"(the test set has {len(x)})"
            )
        train, test = _seeded_split(x, y, cfg.split_test_set, seed, 1)
    else:
        train, test = raw["train"], raw["test"]
    validation = None
    if cfg.train_size is not None or cfg.validation_size:
        n, held = len(train[0]), cfg.validation_size
        keep = cfg.train_size if cfg.train_size is not None else n - held
        if keep < 1 or keep + held > n:
            raise DataError(
                f"data.train_size ({keep}) + data.validation_size ({held}) must fit in the "
                f"{n} training examples, with at least one left to train on"
            )
        validation, rest = _seeded_split(*train, held, seed, 2)
        train = (rest[0][:keep], rest[1][:keep])
    if cfg.test_size is not None:
        test = (test[0][: cfg.test_size], test[1][: cfg.test_size])
    out = {"train": train, "test": test}
    if validation is not None and len(validation[0]):
        out["validation"] = validation
    return out


def _features(images: np.ndarray, cfg: MnistConfig, mean: float, std: float) -> np.ndarray:
    x = images.astype(np.float32)[..., None]
    if cfg.normalize == "unit":
        x /= 255.0
    elif cfg.normalize == "standard":
        x = (x - mean) / std
    return x


def _targets(labels: np.ndarray, one_hot: bool) -> np.ndarray:
    labels = labels.astype(np.int32)
    return np.eye(10, dtype=np.float32)[labels] if one_hot else labels


def make_dataset(name: str, cfg: MnistConfig, seed: int) -> Dataset:
    """Dataset `name` ('mnist' or 'fashion_mnist') as `cfg` asks, from the first source found."""
    raw = find_raw(name, cfg)
    splits = build_splits(raw, cfg, seed)
    train_images = splits["train"][0]
    mean, std = float(train_images.mean()), float(train_images.std()) or 1.0
    spec = DataSpec(
        input_shape=(28, 28, 1),
        task="classification",
        num_outputs=10,
        class_names=CLASS_NAMES[name],
    )
    arrays = {
        split: {"x": _features(x, cfg, mean, std), "y": _targets(y, cfg.one_hot)}
        for split, (x, y) in splits.items()
    }
    return Dataset(spec, arrays)


@DATASETS.register("mnist", MnistConfig)
def mnist(cfg: MnistConfig, seed: int) -> Dataset:
    """Handwritten digits 0–9 (60k train, 10k test)."""
    return make_dataset("mnist", cfg, seed)


@DATASETS.register("fashion_mnist", MnistConfig)
def fashion_mnist(cfg: MnistConfig, seed: int) -> Dataset:
    """Zalando's clothing images in 10 classes (60k train, 10k test), MNIST's format."""
    return make_dataset("fashion_mnist", cfg, seed)
