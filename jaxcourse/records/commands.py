"""The `jaxcourse data` command: `convert` a dataset to record files, `inspect` them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable


def add_arguments(p: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    """`positive_int`: the command line's argparse type for counts >= 1."""
    sub = p.add_subparsers(dest="data_command", required=True)
    conv = sub.add_parser("convert", help="write a dataset to sharded record files")
    conv.add_argument(
        "source", help="registered dataset NAME[:key=value,...], e.g. captcha:train_size=20000"
    )
    conv.add_argument("out", help="output directory (shards + schema.json)")
    conv.add_argument("--to", dest="fmt", choices=["tfrecord", "arrayrecord"], default="tfrecord")
    conv.add_argument("--shards", type=positive_int, default=1, help="shards per split")
    conv.add_argument("--seed", type=int, default=0, help="seed of generated datasets")
    conv.add_argument(
        "--image-encoding",
        choices=["png", "raw"],
        default="png",
        help="how uint8 image arrays are stored",
    )
    ins = sub.add_parser("inspect", help="schema, record counts and checksum check of a directory")
    ins.add_argument("directory")
    ins.add_argument(
        "--skip-bad", action="store_true", help="count bad records instead of stopping at the first"
    )


def handle(args) -> int:
    if args.data_command == "convert":
        from jaxcourse.paths import check_output_dir
        from jaxcourse.records.convert import convert, parse_source

        check_output_dir(args.out, "OUT")
        source = parse_source(args.source)

        def progress(split, i, n):
            if i == n or i % 1000 == 0:
                print(f"\r{split}: {i}/{n}", end="\n" if i == n else "", file=sys.stderr)

        result = convert(
            source, args.out, args.fmt, args.shards, args.seed, args.image_encoding, progress
        )
        print(json.dumps(result, indent=2))
        return 0
    from jaxcourse.records.files import RecordSource, list_splits, load_schema

    schema = load_schema(args.directory)
    report = {"schema": schema.to_json(), "splits": {}}
    bad = 0
    for split in list_splits(args.directory):
        on_error = "skip" if args.skip_bad else "raise"
        source = RecordSource(args.directory, split, on_error=on_error)
        for i in range(len(source)):
            schema.decode(source[i], source.where(i))  # reads: verifies checksums
        report["splits"][split] = {
            "format": source.format,
            "shards": len(source.paths),
            "records": len(source),
            "bad_records": [list(b) for b in source.stats.bad],
        }
        bad += source.stats.num_bad
    print(json.dumps(report, indent=2))
    return 1 if bad else 0
