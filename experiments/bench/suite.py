"""The benchmark suite: every workload in every available framework, alternating timed blocks.

For each workload one worker process per framework is started and set up (building the model
and running its first call, which includes compilation), warmed up, and then the frameworks
take turns, in a rotating order, running blocks of steps; the median, min and max of the
blocks' examples/s are reported with the ratio of jaxcourse to each peer in the same run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from experiments.bench.workloads import BATCH_SIZE, WORKLOADS

BLOCK_STEPS = {"softmax": 5000, "mlp": 500, "cnn": 40, "lstm": 200}
REQUIRES = {"torch": "torch", "tf-graph": "tensorflow", "tf-function": "tensorflow"}


def available(framework: str) -> bool:
    module = REQUIRES.get(framework)
    return module is None or importlib.util.find_spec(module) is not None


class WorkerProcess:
    """A running `experiments.bench.worker` for one framework."""

    def __init__(self, framework: str, threads: int | None):
        env = dict(os.environ, JAXCOURSE_COMPILATION_CACHE="off", TF_CPP_MIN_LOG_LEVEL="2")
        if framework == "jax-plain":
            env["JAXCOURSE_XLA_TUNING"] = "0"
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        root = Path(__file__).resolve().parents[2]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        self.framework = framework
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "experiments.bench.worker", framework],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=root,
        )

    def ask(self, op: str, **args) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.framework} worker exited (rc={self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.framework}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def write_data(path: Path, train_size: int | None) -> int:
    """Fashion-MNIST's training split (NHWC float32 in [0, 1], int32 labels) as an .npz."""
    from jaxcourse import data as data_lib
    from jaxcourse.config import validate_component

    cfg = validate_component(
        data_lib.DATASETS, {"name": "fashion_mnist", "train_size": train_size}, "data"
    )
    split = data_lib.load(cfg, 0).splits["train"]
    np.savez(path, x=split["x"].astype(np.float32), y=split["y"].astype(np.int32))
    return len(split["x"])


def bench_workload(name, frameworks, data, repeats, block, warmup, seed, threads, log, peak):
    """Results of one workload: {framework: {...}}; frameworks that fail are reported."""
    total = block * repeats + warmup + 100
    results, workers = {}, []
    try:
        for fw in frameworks:
            worker = WorkerProcess(fw, threads)
            try:
                setup = worker.ask(
                    "setup", workload=name, data=str(data), seed=seed, total_steps=total
                )
                if warmup:
                    worker.ask("run", steps=warmup)
            except RuntimeError as err:
                log(f"  {fw}: failed: {err}")
                results[fw] = {"error": str(err)}
                worker.close()
                continue
            results[fw] = {"setup": setup, "blocks": []}
            workers.append(worker)
            log(f"  {fw}: first call {setup['first_call_s']:.2f} s, loss {setup['loss']:.3f}")
        for r in range(repeats):
            turn = workers[r % len(workers) :] + workers[: r % len(workers)]
            for worker in turn:
                results[worker.framework]["blocks"].append(worker.ask("run", steps=block))
            row = {w.framework: _rate(results[w.framework]["blocks"][-1]) for w in workers}
            log(f"  round {r + 1}: " + ", ".join(f"{k} {v:.0f}" for k, v in row.items()))
        for worker in workers:
            if peak:
                results[worker.framework]["matmul_gflops"] = worker.ask("peak")["matmul_gflops"]
            results[worker.framework].update(worker.ask("memory"))
    finally:
        for worker in workers:
            worker.close()
    for res in results.values():
        if "blocks" in res:
            res.update(summarise(res, WORKLOADS[name].flops_per_example))
    return results


def _rate(block: dict) -> float:
    return block["steps"] * BATCH_SIZE / block["seconds"]


def summarise(res: dict, flops_per_example: float) -> dict:
    rates = np.array([_rate(b) for b in res["blocks"]])
    median = float(np.median(rates))
    setup = res["setup"]
    steady_first_call = setup["first_call_steps"] * BATCH_SIZE / median
    return {
        "examples_per_s": median,
        "examples_per_s_min": float(rates.min()),
        "examples_per_s_max": float(rates.max()),
        "cpu_s_per_step": float(np.median([b["cpu_seconds"] / b["steps"] for b in res["blocks"]])),
        "compile_s": max(0.0, setup["build_s"] + setup["first_call_s"] - steady_first_call),
        "gflops": median * flops_per_example / 1e9,
        "final_loss": res["blocks"][-1]["loss"],
    }


def run_suite(
    workloads,
    frameworks,
    repeats=5,
    warmup=None,
    seed=0,
    train_size=None,
    threads=None,
    block_steps=None,
    log=print,
) -> dict:
    frameworks = [fw for fw in frameworks if available(fw)]
    report = {"frameworks": frameworks, "workloads": {}, "cpu_count": os.cpu_count()}
    try:
        report["load_average_start"] = os.getloadavg()
    except OSError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "fashion_mnist_train.npz"
        report["train_examples"] = write_data(data, train_size)
        for i, name in enumerate(workloads):
            block = (block_steps or BLOCK_STEPS)[name]
            log(f"{name}: {WORKLOADS[name].description}; blocks of {block} steps")
            report["workloads"][name] = bench_workload(
                name,
                frameworks,
                data,
                repeats,
                block,
                block if warmup is None else warmup,
                seed,
                threads,
                log,
                peak=i == 0,
            )
    first = report["workloads"][workloads[0]]
    peaks = [r["matmul_gflops"] for r in first.values() if "matmul_gflops" in r]
    report["matmul_peak_gflops"] = max(peaks) if peaks else None
    try:
        report["load_average_end"] = os.getloadavg()
    except OSError:
        pass
    return report
