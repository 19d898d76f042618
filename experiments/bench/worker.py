"""A benchmark worker: one process per (framework, workload), driven by JSON lines on stdin.

Keeping each framework in its own long-lived process lets the suite alternate timed blocks
between frameworks without paying start-up again, keeps their thread pools apart, and gives
each its own peak-memory figure. Commands (one JSON object a line; one JSON answer a line):
`setup`, `run`, `peak`, `memory`, `quit`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np

from experiments.bench.workloads import WORKLOADS, batch_indices, initial_params

FRAMEWORKS = (
    "jax",
    "jax-xla",
    "jax-plain",
    "jax-2dev",
    "jax-bf16",
    "torch",
    "tf-graph",
    "tf-function",
)
# not run unless asked for: an experiment, and a bfloat16 variant that is never compared
# with the float32 peers' numbers as if it were one of them
OPT_IN = ("jax-2dev", "jax-bf16")


def trainer_factory(framework: str):
    """A function (workload, x, y, params, seed, steps_per_call) -> trainer, for `framework`.

    Importing the framework happens here, so that it is not counted as build time."""
    if framework in ("jax", "jax-xla", "jax-plain", "jax-2dev", "jax-bf16"):
        from experiments.bench.jax_trainer import Trainer

        variants = {"jax-plain": "plain", "jax-xla": "tuned-xla", "jax-bf16": "tuned-bf16"}
        variant = variants.get(framework, "tuned")
        devices = 2 if framework == "jax-2dev" else 1
        return lambda w, x, y, p, seed, k: Trainer(w, x, y, p, seed, variant, k, devices)
    if framework == "torch":
        from experiments.bench.torch_trainer import Trainer

        return lambda w, x, y, p, seed, k: Trainer(w, x, y, p, seed)
    if framework in ("tf-graph", "tf-function"):
        from experiments.bench import tf_trainer

        cls = tf_trainer.GraphTrainer if framework == "tf-graph" else tf_trainer.FunctionTrainer
        return lambda w, x, y, p, seed, k: cls(w, x, y, p, seed)
    raise ValueError(f"unknown framework '{framework}'; known: {', '.join(FRAMEWORKS)}")


class Worker:
    def __init__(self, framework: str):
        self.make_trainer = trainer_factory(framework)
        self.trainer = None
        self.position = 0

    def setup(self, workload: str, data: str, seed: int, total_steps: int, steps_per_call=None):
        arrays = np.load(data)
        x, y = arrays["x"], arrays["y"]
        start = time.perf_counter()
        params = initial_params(workload, seed)
        self.trainer = self.make_trainer(WORKLOADS[workload], x, y, params, seed, steps_per_call)
        built = time.perf_counter()
        self.indices = batch_indices(len(x), total_steps, seed)
        k = self.trainer.steps_per_call
        loss = self._steps(k)
        return {
            "build_s": built - start,
            "first_call_s": time.perf_counter() - built,
            "first_call_steps": k,
            "steps_per_call": k,
            "loss": loss,
        }

    def _steps(self, n: int) -> float:
        rows = self.indices[self.position : self.position + n]
        if len(rows) < n:
            raise ValueError("ran past total_steps given at setup")
        self.position += n
        return self.trainer.run(rows)

    def run(self, steps: int):
        start, cpu = time.perf_counter(), time.process_time()
        loss = self._steps(steps)
        return {
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "steps": steps,
            "loss": loss,
        }

    def peak(self):
        return {"matmul_gflops": self.trainer.matmul_gflops()}

    def memory(self):
        return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(framework: str) -> None:
    if framework.startswith("jax") and framework != "jax-plain":
        from jaxcourse import perf

        perf.configure_xla_flags()
        perf.keep_host_memory()
    if framework == "jax-2dev":
        os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=2"
    worker = Worker(framework)
    out = sys.stdout
    sys.stdout = sys.stderr  # frameworks' chatter must not corrupt the answers
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        try:
            answer = getattr(worker, op)(**request)
        except Exception as err:  # reported to the suite, which stops this framework
            answer = {"error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main(sys.argv[1])
