"""kill -9 in a loop, during training and during checkpoint saves; each restart resumes.

At the end the metrics log has every row once and the final parameters are bit-identical to
those of a run that was never interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import yaml
from conftest import REPO

from jaxcourse.engine.checkpoint import load_checkpoint
from jaxcourse.engine.rundir import read_metrics

STEPS = 60
CONFIG = {
    "experiment": "supervised",
    "seed": 0,
    "data": {"name": "quadratic_noise", "num_points": 64},
    "model": {"name": "mlp", "hidden": [1000, 1000]},  # 4 MB of params: saves take a while
    "optimizer": {"name": "momentum", "learning_rate": 0.001},
    "train": {"steps": STEPS, "batch_size": 4, "log_every": 1},
    "plots": False,
    "checkpoint": {"enabled": True, "every": 5, "keep_last": 2},
}
# the same XLA settings in every process, so that results can be compared bit for bit
ENV = {**os.environ, "PYTHONPATH": str(REPO), "JAXCOURSE_XLA_TUNING": "0"}


def _start(config: Path, workdir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jaxcourse", "run", str(config), f"workdir={workdir}"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _rows(workdir: Path) -> int:
    path = workdir / "metrics.jsonl"
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def _saving(workdir: Path) -> bool:
    ckpt = workdir / "ckpt"
    return ckpt.is_dir() and any("tmp" in name for name in os.listdir(ckpt))


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL `proc` as soon as `ready()`; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait(timeout=60)
    return False


def _leaves(tree) -> dict[str, np.ndarray]:
    return {
        jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(tree)
    }


def test_kill_nine_during_training_and_saves_then_resume(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    straight = _start(config, tmp_path / "straight")  # runs alongside the loop below
    workdir = tmp_path / "killed"
    kills = []
    for moment in ("training", "save", "training", "save"):
        proc = _start(config, workdir)
        if moment == "training":
            target = _rows(workdir) + 4
            ready = lambda target=target: _rows(workdir) >= target  # noqa: E731
        else:
            ready = lambda: _saving(workdir)  # noqa: E731
        if not _kill_when(proc, ready):
            break  # the run got to its end first: nothing left to interrupt
        kills.append((moment, _rows(workdir)))
    assert len(kills) >= 3, f"too few kills landed: {kills}"
    final = _start(config, workdir)
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()

    steps = [row["step"] for row in read_metrics(workdir)]
    assert steps == list(range(1, STEPS + 1)), f"lost or repeated rows after kills {kills}"
    a, _, step_a = load_checkpoint(tmp_path / "straight")
    b, _, step_b = load_checkpoint(workdir)
    assert step_a == step_b == STEPS
    leaves_a, leaves_b = _leaves(a), _leaves(b)
    assert leaves_a.keys() == leaves_b.keys()
    for key in leaves_a:
        np.testing.assert_array_equal(leaves_a[key], leaves_b[key], err_msg=key)


def test_ctrl_c_during_a_save_ends_cleanly_and_resumes(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "train": {**CONFIG["train"], "steps": 30}}))
    workdir = tmp_path / "run"
    proc = _start(config, workdir)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not _saving(workdir) and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "cannot schedule new futures" not in err, err
    assert "jaxcourse run: interrupted; what was written so far is kept" in err
    if "waiting for the checkpoint save in flight" in err:  # the usual case: it says how it went
        assert "the run resumes" in err
    again = _start(config, workdir)
    assert again.wait(timeout=300) == 0, again.stderr.read().decode()
    assert [row["step"] for row in read_metrics(workdir)] == list(range(1, 31))
