"""How fast the command line answers when it has nothing to compute: help, early errors, config.

`python -m experiments.cli_latency [--repeats 5] [--check]` runs each command below in fresh
processes and prints, per command, the fastest and the median wall time (process start to exit)
and whether JAX was imported. `--check` exits 1 when `jaxcourse --help` or an early error that
needs no JAX takes 0.3 s or more at its fastest (the target of issue 16), so CI can run it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 0.3
# Runs the CLI, then says whether JAX got imported (on stdout's last line).
PROBE = (
    "import sys, atexit\n"
    "atexit.register(lambda: print('\\njax imported:', 'jax' in sys.modules))\n"
    "from jaxcourse.cli import main\n"
    "sys.argv[0] = 'jaxcourse'\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def commands(tmp: Path) -> list[tuple[str, list[str], bool]]:
    """(label, arguments, must answer without JAX in under LIMIT_S)."""
    (tmp / "latin1.yaml").write_bytes(b"experiment: supervised # caf\xe9\n")
    (tmp / "broken.yaml").write_text("train: [1,\n")
    return [
        ("--help", ["--help"], True),
        ("run --help", ["run", "--help"], True),
        ("data convert --help", ["data", "convert", "--help"], True),
        ("config file missing", ["config", "show", str(tmp / "none.yaml")], True),
        ("config not UTF-8", ["run", str(tmp / "latin1.yaml")], True),
        ("config not YAML", ["run", str(tmp / "broken.yaml")], True),
        ("export --step banana", ["export", str(tmp), "--step", "banana"], True),
        ("predict --top-k -1", ["predict", str(tmp), "x.png", "--top-k", "-1"], True),
        ("config show (validates)", ["config", "show", "configs/linear_regression.yaml"], False),
        ("config schema", ["config", "schema", "supervised", "train"], False),
    ]


def time_once(args: list[str]) -> tuple[float, bool]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    return wall, done.stdout.strip().endswith("jax imported: True")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.cli_latency", description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--check", action="store_true", help=f"exit 1 if a no-JAX answer takes >= {LIMIT_S} s"
    )
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores; {args.repeats} runs each\n")
    print("| command | fastest s | median s | imports JAX |")
    print("|---|---|---|---|")
    slow = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd, fast in commands(Path(tmp)):
            runs = [time_once(cmd) for _ in range(args.repeats)]
            walls = [w for w, _ in runs]
            jax = any(j for _, j in runs)
            fastest, median = min(walls), statistics.median(walls)
            print(f"| `{label}` | {fastest:.3f} | {median:.3f} | {'yes' if jax else 'no'} |")
            if fast and (jax or min(walls) >= LIMIT_S):
                slow.append(label)
    if slow:
        print(f"\nover {LIMIT_S} s or importing JAX: {', '.join(slow)}")
    return 1 if args.check and slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
