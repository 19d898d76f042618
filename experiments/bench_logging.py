"""How much TensorBoard logging slows training, at the default logging frequency.

Trains the same config with `logging.tensorboard` off and on (all other `logging` keys at
their defaults: scalars and variable summaries every 100 steps, histograms every 1000, the
graph at the start, images and the projector at the end), alternating the two, and prints
the median training throughput of each and their ratio, plus the one-off cost at the start
and end (graph, images, projector, hparams).

    python experiments/bench_logging.py                    # configs/tensorboard_mnist.yaml
    python experiments/bench_logging.py --config configs/cnn.yaml --steps 600 --repeats 3
    python experiments/bench_logging.py --json             # machine-readable

The goal: the steady-state slowdown (training steps/s, which includes every periodic
summary) stays under 5 %. On a shared, noisy machine the end-to-end ratio of two runs can
swing by more than that, so the script also times the periodic logging work itself (the
hook's `after_call`/`after_log`, after the step they follow has finished, so that waiting for
the device is not counted) and reports it as a fraction of the training time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import jax  # noqa: E402

from jaxcourse import config as config_lib  # noqa: E402
from jaxcourse.runners import run_experiment  # noqa: E402
from jaxcourse.tensorboard.hook import SummaryHook  # noqa: E402

HOOK_SECONDS: list[float] = []


def _timed(method):
    def wrapper(self, loop, *args):
        cfg = self.cfg
        everies = (cfg.every, cfg.histograms_every, cfg.images.every)
        if any(n and loop.step // n > self._prev_step // n for n in everies):
            # the hook is about to fetch from the device: let the step finish first, so
            # that waiting for it is not counted as logging (only blocks when logging is due,
            # so the loop's asynchronous dispatch is otherwise untouched)
            jax.block_until_ready(loop.state)
        start = time.perf_counter()
        method(self, loop, *args)
        HOOK_SECONDS.append(time.perf_counter() - start)

    return wrapper


def _timed_log(method):
    def wrapper(self, loop, row):  # the loop has just fetched this row's metrics
        start = time.perf_counter()
        method(self, loop, row)
        HOOK_SECONDS.append(time.perf_counter() - start)

    return wrapper


SummaryHook.after_call = _timed(SummaryHook.after_call)
SummaryHook.after_log = _timed_log(SummaryHook.after_log)


def make_config(path: Path, steps: int, tensorboard: bool, data_dir: str | None):
    raw = config_lib.read_yaml(path)
    raw["logging"] = {"tensorboard": tensorboard}  # every other logging key at its default
    raw["train"] = {**raw["train"], "steps": steps, "progress": "off", "eval_every": None}
    raw["train"].pop("epochs", None)
    raw["plots"] = False
    if data_dir is not None:
        raw["data"]["dir"] = data_dir
    return config_lib.load(raw=raw)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "tensorboard_mnist.yaml"))
    parser.add_argument("--steps", type=int, default=3000, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (alternated)")
    parser.add_argument(
        "--data-dir",
        default=str(REPO.parent / "shared" / "data" / "mnist"),
        help="data.dir for MNIST-style configs (default: ../shared/data/mnist)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    data_dir = args.data_dir if Path(args.data_dir).is_dir() else None
    results = {False: [], True: []}
    logging_pct = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for on in (False, True):
                config = make_config(Path(args.config), args.steps, on, data_dir)
                HOOK_SECONDS.clear()
                summary = run_experiment(config, Path(tmp) / f"{'on' if on else 'off'}{i}")
                results[on].append(summary)
                if on:
                    logged = sum(HOOK_SECONDS)
                    train_s = args.steps / summary["steps_per_s"]
                    logging_pct.append(100 * logged / (train_s - logged))

    def median(on: bool, key: str) -> float:
        return statistics.median(s[key] for s in results[on])

    off_rate, on_rate = median(False, "steps_per_s"), median(True, "steps_per_s")
    off_wall, on_wall = median(False, "wall_time_s"), median(True, "wall_time_s")
    report = {
        "config": str(Path(args.config).name),
        "steps": args.steps,
        "repeats": args.repeats,
        "steps_per_s_off": round(off_rate, 1),
        "steps_per_s_on": round(on_rate, 1),
        "slowdown_pct": round(100 * (1 - on_rate / off_rate), 2),
        "best_steps_per_s_off": round(max(s["steps_per_s"] for s in results[False]), 1),
        "best_steps_per_s_on": round(max(s["steps_per_s"] for s in results[True]), 1),
        "logging_time_pct": [round(p, 2) for p in logging_pct],
        "all_runs_steps_per_s": {
            "off": [round(s["steps_per_s"], 1) for s in results[False]],
            "on": [round(s["steps_per_s"], 1) for s in results[True]],
        },
        "wall_s_off": off_wall,
        "wall_s_on": on_wall,
        "one_off_s": round(on_wall - off_wall - args.steps / on_rate + args.steps / off_rate, 2),
        "device": results[True][0]["device"],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['config']}: {args.steps} steps, median of {args.repeats} alternated runs")
    print(f"{'logging':<22}{'steps/s':>10}{'wall s':>10}")
    print(f"{'off':<22}{off_rate:>10.1f}{off_wall:>10.2f}")
    print(f"{'tensorboard (default)':<22}{on_rate:>10.1f}{on_wall:>10.2f}")
    best_off, best_on = report["best_steps_per_s_off"], report["best_steps_per_s_on"]
    print(f"best run's steps/s: off {best_off:.1f}, tensorboard {best_on:.1f}")
    print(f"end-to-end slowdown (medians): {report['slowdown_pct']:.2f} % (goal < 5 %)")
    pct = statistics.median(logging_pct)
    print(f"periodic logging work: {pct:.2f} % of training time (median; goal < 5 %)")
    print(f"one-off cost (graph, images, projector, hparams): {report['one_off_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
