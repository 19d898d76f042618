"""`python -m experiments.bench [--models cnn,lstm] [--frameworks jax,torch] [--json out.json]`"""

from __future__ import annotations

import argparse
import json
import sys

from experiments.bench.report import table
from experiments.bench.suite import BLOCK_STEPS, run_suite
from experiments.bench.worker import FRAMEWORKS, OPT_IN
from experiments.bench.workloads import WORKLOADS


def _names(known):
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in known]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(bad)}; choose from {', '.join(known)}"
            )
        return names

    return parse


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__)
    p.add_argument("--models", type=_names(list(WORKLOADS)), default=list(WORKLOADS))
    p.add_argument(
        "--frameworks",
        type=_names(FRAMEWORKS),
        default=[fw for fw in FRAMEWORKS if fw not in OPT_IN],
        help="comma-separated, from: "
        + ", ".join(FRAMEWORKS)
        + " (default: all but "
        + ", ".join(OPT_IN)
        + "; those not installed are skipped)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per framework")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per timed block (default per model: "
        + ", ".join(f"{k} {v}" for k, v in BLOCK_STEPS.items())
        + ")",
    )
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (default: a block)")
    p.add_argument("--train-size", type=int, default=None, help="use N training examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the full results here")
    args = p.parse_args(argv)
    blocks = {m: args.steps for m in WORKLOADS} if args.steps else None
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    report = run_suite(
        args.models,
        args.frameworks,
        args.repeats,
        args.warmup,
        args.seed,
        args.train_size,
        block_steps=blocks,
        log=log,
    )
    print(table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
