"""First-step latency: the same config run in fresh processes, with and without a warm
persistent compilation cache.

`python -m experiments.bench.startup [CONFIG] [--repeats 2] [--steps 1]` runs CONFIG for a
step or a few (no evaluation, no plots) as `jaxcourse run` would: per repeat, once with an
empty cache directory ("cold"), once more with the cache the first run filled ("warm"), and
once with the cache off. It prints each process's wall time (start to exit: imports, data,
compilation, the steps) and the compile time the run itself reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHORT_RUN = [
    "train.epochs=null",
    "train.eval_every=null",
    "train.eval_splits=[]",
    "train.progress=false",
    "plots=false",
]


def run_once(config: str, workdir: Path, cache: str, steps: int = 1) -> dict:
    env = dict(os.environ, JAXCOURSE_COMPILATION_CACHE=cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "jaxcourse", "run", config, *SHORT_RUN, f"train.steps={steps}"]
    cmd.append(f"workdir={workdir}")
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads((workdir / "summary.json").read_text())
    return {"process_s": wall, "compile_s": summary["compile_time_s"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.startup", description=__doc__)
    p.add_argument("config", nargs="?", default="configs/cnn.yaml")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--steps",
        type=int,
        default=1,
        help="steps to train (≥ train.steps_per_call to compile "
        "the fused call of a config that fuses steps)",
    )
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    results = {"cold": [], "warm": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            cache = Path(tmp) / f"cache{r}"
            for kind, where in (("cold", cache), ("warm", cache), ("off", "off")):
                res = run_once(args.config, Path(tmp) / f"run_{kind}{r}", str(where), args.steps)
                results[kind].append(res)
                print(f"{kind}: {res}", file=sys.stderr, flush=True)
    med = {
        kind: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for kind, runs in results.items()
    }
    print(f"| {args.config}, {args.steps} step(s) | process start to exit, s | compile, s |")
    print("|---|---|---|")
    for kind, label in (("off", "no cache"), ("cold", "empty cache"), ("warm", "warm cache")):
        print(f"| {label} | {med[kind]['process_s']:.2f} | {med[kind]['compile_s']:.2f} |")
    print(
        f"\nwarm cache: {med['cold']['process_s'] / med['warm']['process_s']:.2f}× faster start, "
        f"compile {med['cold']['compile_s'] / max(med['warm']['compile_s'], 1e-3):.1f}× faster"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "median": med}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
