"""Writing and reading TF V2 checkpoints: jaxcourse's `tensor_bundle` against TensorFlow's.

Makes `--tensors` float32 tensors totalling `--megabytes` MB, then times (best of `--repeats`)
`write_bundle` + `BundleReader.get` of every tensor, and the same through TF's `SaveV2` /
`RestoreV2` when TensorFlow is installed (eager ops, no graph); both files are checked to be
byte-identical.

    python experiments/bench_tf_checkpoint.py [--megabytes 64] [--tensors 100]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxcourse.compat.v1 import tensor_bundle


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=64)
    parser.add_argument("--tensors", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = int(args.megabytes * 2**20 / 4 / args.tensors)
    rng = np.random.default_rng(0)
    tensors = {
        f"layer{i:03d}/W": rng.normal(size=size).astype(np.float32) for i in range(args.tensors)
    }
    with tempfile.TemporaryDirectory() as tmp:
        mine, theirs = Path(tmp) / "jaxcourse", Path(tmp) / "tf"

        def read(prefix):
            reader = tensor_bundle.BundleReader(prefix)
            return [reader.get(k) for k in reader.keys()]

        rows = [
            (
                "jaxcourse write",
                best(lambda: tensor_bundle.write_bundle(mine, tensors), args.repeats),
            ),
            ("jaxcourse read", best(lambda: read(mine), args.repeats)),
        ]
        if importlib.util.find_spec("tensorflow") is not None:
            import tensorflow as tf

            names = sorted(tensors)
            values = [tf.constant(tensors[n]) for n in names]

            def tf_save():
                tf.raw_ops.SaveV2(
                    prefix=str(theirs),
                    tensor_names=names,
                    shape_and_slices=[""] * len(names),
                    tensors=values,
                )

            def tf_read():
                tf.raw_ops.RestoreV2(
                    prefix=str(theirs),
                    tensor_names=names,
                    shape_and_slices=[""] * len(names),
                    dtypes=[tf.float32] * len(names),
                )

            rows += [
                ("tf write", best(tf_save, args.repeats)),
                ("tf read", best(tf_read, args.repeats)),
            ]
            same = all(
                Path(f"{mine}{s}").read_bytes() == Path(f"{theirs}{s}").read_bytes()
                for s in (".index", ".data-00000-of-00001")
            )
            print(f"files byte-identical to TF's: {same}")
    total = sum(a.nbytes for a in tensors.values()) / 2**20
    for label, seconds in rows:
        print(f"{label:16s} {seconds * 1e3:8.1f} ms  {total / seconds:8.0f} MB/s")


if __name__ == "__main__":
    main()
