"""Checkpoints: bit-identical resume, atomic saves under SIGKILL, keep-last/best, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxcourse import config as config_lib
from jaxcourse.engine.checkpoint import CheckpointError, CheckpointStore, load_checkpoint
from jaxcourse.engine.hooks import HOOK_FACTORIES, Hook
from jaxcourse.engine.rundir import read_metrics
from jaxcourse.runners import run_experiment

REPO = Path(__file__).resolve().parents[1]


def make_config(workdir, steps=40, hidden=(16,), **checkpoint):
    raw = {
        "experiment": "supervised",
        "seed": 3,
        "workdir": str(workdir),
        "data": {"name": "quadratic_noise", "num_points": 64},
        "model": {"name": "mlp", "hidden": list(hidden), "dropout": 0.3},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"steps": steps, "batch_size": 16, "log_every": 5},
        "plots": False,
        "checkpoint": {"enabled": True, "every": 10, "async_save": True, **checkpoint},
    }
    return config_lib.load(raw=raw)


def final_params(workdir):
    params, _, step = load_checkpoint(workdir)
    return params, step


class StopAt(Hook):
    """Interrupts the run after `step` steps, as a crash or Ctrl-C would."""

    def __init__(self, step):
        self.step = step

    def after_call(self, loop):
        if loop.step == self.step:
            raise KeyboardInterrupt


def run_interrupted(config, workdir, at: int) -> None:
    """Run `config` in `workdir` until it is interrupted after `at` steps."""
    factory = lambda config, rundir, training: StopAt(at)
    HOOK_FACTORIES.append(factory)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment(config, workdir)
    finally:
        HOOK_FACTORIES.remove(factory)


def test_resume_is_bit_identical(tmp_path):
    straight = tmp_path / "straight"
    run_experiment(make_config(straight), straight)

    resumed = tmp_path / "resumed"  # synchronous saves: the interrupted process lives on
    run_interrupted(make_config(resumed, async_save=False), resumed, at=27)
    rows_before = read_metrics(resumed)
    assert rows_before[-1]["step"] == 25  # rows past the last checkpoint (20) exist
    summary = run_experiment(make_config(resumed), resumed)
    assert summary["checkpoint"]["resumed_from_step"] == 20

    a, step_a = final_params(straight)
    b, step_b = final_params(resumed)
    assert step_a == step_b == 40
    leaves_a, leaves_b = _leaves(a), _leaves(b)
    assert leaves_a.keys() == leaves_b.keys()
    for key in leaves_a:
        np.testing.assert_array_equal(leaves_a[key], leaves_b[key], err_msg=key)
    # The resumed metrics log continues the old one: same rows as the uninterrupted run.
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]
    assert strip(read_metrics(resumed)) == strip(read_metrics(straight))
    # Its state differs from an early checkpoint's: the comparison above is not vacuous.
    early, _, _ = load_checkpoint(resumed, 30)
    assert any(not np.array_equal(_leaves(early)[k], leaves_b[k]) for k in leaves_b)


def _leaves(tree):
    import jax

    return {
        jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(tree)
    }


def test_keep_last_and_best(tmp_path):
    cfg = make_config(
        tmp_path, steps=60, every=5, keep_last=2, keep_best=1, best_metric="loss", best_mode="max"
    )
    summary = run_experiment(cfg, tmp_path)
    rows = {r["step"]: r["loss"] for r in read_metrics(tmp_path)}
    best = max(rows, key=rows.get)  # the worst loss: a step in the middle
    expected = sorted({55, 60, best})
    assert summary["checkpoint"]["steps"] == expected
    assert summary["checkpoint"]["best_step"] == best
    assert (
        sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == expected
    )
    _, _, step = load_checkpoint(tmp_path, "best")
    assert step == best


def test_mismatched_model_config_is_named(tmp_path):
    run_experiment(make_config(tmp_path, steps=10, hidden=(8,)), tmp_path)
    with pytest.raises(CheckpointError) as err:
        run_experiment(make_config(tmp_path, steps=20, hidden=(12,)), tmp_path)
    text = str(err.value)
    assert "model.hidden: checkpoint has [8], config has [12]" in text
    assert str(tmp_path / "ckpt" / "10") in text
    # The refused run leaves the workdir describing the checkpoints' run.
    assert config_lib.load(tmp_path / "config.yaml").model.hidden == [8]


def test_changed_optimizer_state_is_named(tmp_path):
    run_experiment(make_config(tmp_path, steps=10), tmp_path)
    cfg = make_config(tmp_path, steps=20)
    cfg = cfg.model_copy(
        update={
            "optimizer": config_lib.validate_component(
                __import__("jaxcourse").optim.OPTIMIZERS, {"name": "sgd"}, "optimizer"
            )
        }
    )
    with pytest.raises(CheckpointError, match=r"does not fit this run's train state"):
        run_experiment(cfg, tmp_path)


def test_corrupt_and_missing_files_are_named(tmp_path):
    run_experiment(make_config(tmp_path, steps=20), tmp_path)
    state_dir = tmp_path / "ckpt" / "20" / "state"
    for f in state_dir.rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(b"garbage" * 3)
    with pytest.raises(CheckpointError) as err:
        run_experiment(make_config(tmp_path, steps=30), tmp_path)
    assert str(state_dir) in str(err.value)

    meta_dir = tmp_path / "ckpt" / "20" / "meta"
    for f in meta_dir.iterdir():
        f.unlink()
    with pytest.raises(CheckpointError) as err:
        run_experiment(make_config(tmp_path, steps=30), tmp_path)
    assert str(meta_dir) in str(err.value)


def test_resume_false_refuses_existing_checkpoints(tmp_path):
    run_experiment(make_config(tmp_path, steps=10), tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint.resume is false"):
        run_experiment(make_config(tmp_path, steps=20, resume=False), tmp_path)


KILL_SCRIPT = """
import sys
from jaxcourse import config as config_lib
from jaxcourse.runners import run_experiment
raw = {
    "experiment": "supervised", "seed": 0, "workdir": sys.argv[1],
    "data": {"name": "quadratic_noise", "num_points": 64},
    "model": {"name": "mlp", "hidden": [2000, 2000]},
    "optimizer": {"name": "sgd", "learning_rate": 0.001},
    "train": {"steps": int(sys.argv[2]), "batch_size": 4, "log_every": 1},
    "plots": False,
    "checkpoint": {"enabled": True, "every": 2, "keep_last": 3},
}
run_experiment(config_lib.load(raw=raw), sys.argv[1])
"""


def _kill_during_a_save(script: Path, workdir: Path, env: dict) -> str | None:
    """Run the script, SIGKILL it while a save after the first is in progress.

    Returns the temporary directory of the save that was cut off (None if the kill came
    just after that save completed, a race a retry settles).
    """
    ckpt = workdir / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(workdir), "40"], env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            entries = os.listdir(ckpt) if ckpt.is_dir() else []
            tmp = [e for e in entries if "tmp" in e]
            if tmp and any(e.isdigit() for e in entries):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return tmp[0] if tmp[0] in os.listdir(ckpt) else None
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()
    raise AssertionError("the run never got to a second save")


def test_sigkill_during_save_keeps_previous_checkpoint(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for attempt in range(3):
        workdir = tmp_path / f"run{attempt}"
        killed_during = _kill_during_a_save(script, workdir, env)
        if killed_during is not None:
            break
    assert killed_during is not None, "three kills all came just after a save completed"
    ckpt = workdir / "ckpt"

    store = CheckpointStore(ckpt, read_only=True)
    steps = store.steps()
    store.close()
    assert steps and str(steps[-1]) != killed_during.split(".")[0]
    params, meta, step = load_checkpoint(workdir)  # the previous checkpoint is whole
    assert step == steps[-1] and meta["step"] == step
    assert np.isfinite(params["output"]["kernel"]).all()

    # Starting again resumes from that checkpoint, removes the debris and finishes the run.
    result = subprocess.run(
        [sys.executable, str(script), str(workdir), str(step + 2)], env=env, timeout=120
    )
    assert result.returncode == 0
    assert not [e for e in os.listdir(ckpt) if "tmp" in e]
    _, _, final_step = load_checkpoint(workdir)
    assert final_step == step + 2
    rows = read_metrics(workdir)
    assert [r["step"] for r in rows] == list(range(1, step + 3))


def test_resumed_run_logs_each_step_once(tmp_path, monkeypatch):
    """Summaries written after the last checkpoint by an interrupted run are not kept twice:
    summaries.jsonl and TensorBoard show what an uninterrupted run shows."""
    import types

    import tensorboardX.event_file_writer
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # tensorboardX names event files by the second: let both runs fall in the same one
    second = types.SimpleNamespace(time=lambda: 1.7e9)
    monkeypatch.setattr(tensorboardX.event_file_writer, "time", second)

    logging = {"tensorboard": True, "jsonl": True, "every": 5, "histograms_every": 10}
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    config = lambda workdir, **kw: make_config(workdir, **kw).model_copy(
        update={"logging": make_config(workdir).logging.model_copy(update=logging)}
    )
    run_experiment(config(straight), straight)
    run_interrupted(config(resumed, async_save=False), resumed, at=27)
    run_experiment(config(resumed), resumed)

    def jsonl_steps(workdir):
        records = [json.loads(line) for line in (workdir / "summaries.jsonl").open()]
        return [(r.get("step"), sorted(k for k in r if k != "step")) for r in records]

    assert jsonl_steps(resumed) == jsonl_steps(straight)

    def tensorboard_steps(workdir):
        acc = EventAccumulator(str(workdir / "tensorboard"), size_guidance={"scalars": 0})
        acc.Reload()
        return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

    steps = tensorboard_steps(resumed)
    assert steps == tensorboard_steps(straight)
    assert steps["train/loss"] == sorted(set(steps["train/loss"]))  # each step once
