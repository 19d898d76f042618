"""Does the record input pipeline keep up with training? Loader alone vs. training with it.

On the first task of a multitask config (default: configs/captcha_multitask.yaml), for
CAPTCHA records stored as PNG (as `data convert` writes by default) and as raw pixels:

1. loader throughput alone (examples/s): the thread pipeline with 1 and 2 threads, and Grain
   (`grain_dataset` + `ReadOptions(num_threads=2)`) with the same decoding;
2. training steps/s with the real loader (records -> decode -> augment -> batch -> device)
   vs. with the decoded split already in device memory (batches gathered inside the jit).

The training variants alternate in blocks (`--repeats`, order rotated), so that load from
other processes hits all of them alike; the table reports medians of wall-clock steps/s and
of process CPU time per step (the loader's decoding shows up there; on a machine shared with
other jobs it is the steadier number). Prints Markdown tables, then JSON.

    python experiments/bench_pipeline.py [--config C] [--examples 2000] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import jax

from jaxcourse import config as config_lib
from jaxcourse import train
from jaxcourse.data.batching import BatchSchedule
from jaxcourse.records.convert import convert, parse_source
from jaxcourse.records.grain_source import grain_dataset, iterate
from jaxcourse.records.pipeline import ImageDecoder, RecordPipeline, load_split, prefetch_to_device
from jaxcourse.runners.multitask import build


def loader_rate(pipeline: RecordPipeline, steps: int) -> float:
    t = time.perf_counter()
    for _ in pipeline.batches(0, steps):
        pass
    return steps * pipeline.cfg.batch_size / (time.perf_counter() - t)


class _DecodeWith:
    """Stands in for the Schema in `grain_dataset`: decodes with the pipeline's ImageDecoder."""

    def __init__(self, decoder: ImageDecoder):
        self.decode = decoder


def grain_rate(pipeline: RecordPipeline, steps: int, threads: int) -> float:
    cfg = pipeline.cfg
    ds = grain_dataset(
        cfg.path,
        cfg.split,
        seed=0,
        num_epochs=None,
        batch_size=cfg.batch_size,
        schema=_DecodeWith(pipeline.decoder),
    )
    it = iterate(ds, num_threads=threads, prefetch=cfg.prefetch)
    next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * cfg.batch_size / (time.perf_counter() - t)


def _rates(steps: int, t0: float, cpu0: float) -> tuple[float, float]:
    """(steps/s of wall time, process CPU milliseconds per step) since (t0, cpu0)."""
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return steps / wall, 1000 * cpu / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/captcha_multitask.yaml")
    parser.add_argument("--examples", type=int, default=2000, help="CAPTCHAs to generate")
    parser.add_argument("--encodings", default="png,raw", help="image storage to compare")
    parser.add_argument("--steps", type=int, default=40, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory()
    raw_config = config_lib.read_yaml(args.config)
    if raw_config.get("mode", "joint") != "joint":
        raise SystemExit("this benchmark expects a joint-mode config")
    pipelines, tr, config = {}, None, None
    for enc in args.encodings.split(","):
        records = str(Path(tmp.name) / enc)
        source = parse_source(f"captcha:train_size={args.examples},test_size=0")
        convert(source, records, image_encoding=enc)
        raw_config["tasks"][0]["data"]["path"] = records
        config = config_lib.load(raw=raw_config)
        built = build(config)
        tr = tr or built
        pipelines[enc] = built.pipelines[config.tasks[0].name]
    task = config.tasks[0]
    cfg = task.data
    results: dict = {
        "device": jax.devices()[0].device_kind,
        "examples": args.examples,
        "batch_size": cfg.batch_size,
        "image": cfg.image.model_dump(),
        "augment_shift": cfg.shift,
    }

    # 1. loader alone
    rates: dict[str, float] = {}
    for enc, pipe in pipelines.items():
        for threads in (1, 2):
            p = RecordPipeline(
                cfg.model_copy(update={"threads": threads, "path": pipe.cfg.path}), 0
            )
            rates[f"{enc}, threads={threads}"] = loader_rate(p, args.steps)
        rates[f"{enc}, grain threads=2"] = grain_rate(pipe, args.steps, 2)
    results["loader_examples_per_s"] = rates

    # 2. training: the same train step, data in memory vs. each record loader
    train_step = tr.train_steps["joint"]
    memory = load_split(next(iter(pipelines.values())).cfg, cfg.split)
    wrap = lambda b: {"x": {task.name: b["x"]}, "y": {task.name: b["y"]}}
    data = jax.device_put(wrap(memory))
    schedule = BatchSchedule(len(memory["x"]), cfg.batch_size, config.seed)
    mem_step = jax.jit(train.make_indexed_step(train_step), donate_argnums=0)
    loader_step = jax.jit(train_step, donate_argnums=0)
    state = tr.state
    state, _ = mem_step(state, data, schedule.indices(0))
    state, _ = loader_step(
        state, jax.device_put(wrap(next(iter(pipelines.values())).load_batch(0)))
    )
    jax.block_until_ready(state)

    def time_memory(state, first):
        t, cpu = time.perf_counter(), time.process_time()
        for n in range(first, first + args.steps):
            state, _ = mem_step(state, data, schedule.indices(n))
        jax.block_until_ready(state)
        return state, _rates(args.steps, t, cpu)

    def time_loader(pipe):
        def timed(state, first):
            t, cpu = time.perf_counter(), time.process_time()
            batches = (wrap(b) for b in pipe.batches(first, args.steps))
            for b in prefetch_to_device(batches, cfg.device_prefetch):
                state, _ = loader_step(state, b)
            jax.block_until_ready(state)
            return state, _rates(args.steps, t, cpu)

        return timed

    variants = {"in memory": time_memory}
    variants.update({f"{enc} records": time_loader(p) for enc, p in pipelines.items()})
    blocks: dict[str, list[float]] = {name: [] for name in variants}
    cpu_blocks: dict[str, list[float]] = {name: [] for name in variants}
    step = 1
    order = list(variants)
    for r in range(args.repeats):
        for name in order[r % len(order) :] + order[: r % len(order)]:  # rotate the order
            state, (rate, cpu_ms) = variants[name](state, step)
            blocks[name].append(rate)
            cpu_blocks[name].append(cpu_ms)
            step += args.steps
    medians = {name: statistics.median(b) for name, b in blocks.items()}
    cpu = {name: statistics.median(b) for name, b in cpu_blocks.items()}
    results["train_steps_per_s"] = {"median": medians, "blocks": blocks}
    results["train_cpu_ms_per_step"] = {"median": cpu, "blocks": cpu_blocks}

    bs = cfg.batch_size
    print("| measurement | rate |\n|---|---|")
    for name, r in rates.items():
        print(f"| loader alone: {name} | {r:,.0f} examples/s |")
    print(
        "\n| training | steps/s (wall, median) | vs in memory | CPU ms/step (median) "
        "| in-memory CPU / this CPU |"
    )
    print("|---|---|---|---|---|")
    mem, mem_cpu = medians["in memory"], cpu["in memory"]
    for name, r in medians.items():
        print(
            f"| {name} | {r:.2f} ({r * bs:,.0f} ex/s) | {r / mem:.1%} | {cpu[name]:.0f} | "
            f"{mem_cpu / cpu[name]:.1%} |"
        )
    print(json.dumps(results, indent=2))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
