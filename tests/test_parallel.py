"""Data-parallel training: several devices and several processes train like one device.

Multi-device runs happen in subprocesses with 8 simulated CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8); the multi-process test starts two
processes that join through `jax.distributed` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxcourse import config as config_lib
from jaxcourse.errors import ConfigError
from jaxcourse.parallel import distributed, placement
from jaxcourse.runners.supervised import build

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")

BASE = dict(
    experiment="supervised",
    seed=3,
    plots=False,
    data=dict(name="quadratic_noise", num_points=256),
    model=dict(name="mlp", hidden=[32, 32], activation="tanh"),
    optimizer=dict(name="adam", learning_rate=0.01),
    train=dict(steps=12, batch_size=64, log_every=4, eval_every=4, eval_splits=["train"]),
)


def _env(devices: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _params_npz(path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


EIGHT_DEVICE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from jaxcourse import config as config_lib
    from jaxcourse.errors import ConfigError
    from jaxcourse.engine.hooks import Hook
    from jaxcourse.engine.rundir import RunDir
    from jaxcourse.runners.supervised import TrainLoop, build
    from jaxcourse.parallel.placement import make_plan

    base, out = json.loads(sys.argv[1]), sys.argv[2]
    assert jax.device_count() == 8, jax.devices()

    class Resume(Hook):  # what a checkpoint hook does: replace the state before step one
        def __init__(self, state):
            self.state = state

        def on_start(self, loop):
            loop.state = self.state.replace(rng=jax.random.wrap_key_data(self.state.rng))

    def train(name, par, steps=None, resume=None):
        raw = json.loads(json.dumps(base))
        raw["train"]["steps_per_call"] = par.pop("_steps_per_call", 1)
        raw["train"]["steps"] = steps or raw["train"]["steps"]
        raw["parallel"] = par
        config = config_lib.load(raw=raw)
        plan = make_plan(config.parallel)
        training, placement = plan.place(build(config, plan.axis_name), config.train)
        rundir = RunDir(f"{out}/{name}")
        rundir.start("")
        loop = TrainLoop(config, rundir, training, placement)
        if resume is not None:
            loop.hooks.append(Resume(resume))
        summary = loop.run()
        rundir.close()
        leaves = jax.tree_util.tree_leaves_with_path(loop.placement.fetch(loop.state.params))
        np.savez(f"{out}/{name}.npz", **{jax.tree_util.keystr(p): v for p, v in leaves})
        opt = jax.tree_util.tree_leaves(loop.placement.fetch(loop.state.opt_state))
        np.savez(f"{out}/{name}_opt.npz", *opt)
        json.dump(summary, open(f"{out}/{name}.json", "w"))
        # the state as a checkpoint holds it: host arrays, the rng as its key data
        state = loop.state.replace(rng=jax.random.key_data(loop.state.rng))
        return loop.placement.fetch(state)

    variants = {
        "single": {"mode": "single"},
        "sharding": {"mode": "sharding"},
        "sharding_fused": {"mode": "sharding", "_steps_per_call": 4},
        "fsdp": {"mode": "sharding", "fsdp": True, "fsdp_min_size": 16},
        "pmap": {"mode": "pmap"},
        "auto4": {"devices": 4},
    }
    for name, par in variants.items():
        train(name, par)
    # half the steps on one layout, the rest on another
    half = train("half_on_1", {"mode": "single"}, steps=6)
    train("resumed_on_8", {"mode": "sharding"}, resume=half)
    half = train("half_on_8", {"mode": "sharding", "fsdp": True, "fsdp_min_size": 16}, steps=6)
    train("resumed_on_1", {"mode": "single"}, resume=half)
    half = train("half_on_8_pmap", {"mode": "pmap"}, steps=6)
    train("resumed_on_4", {"devices": 4}, resume=half)

    raw = json.loads(json.dumps(base))
    raw["train"]["batch_size"] = 60
    try:
        make_plan(config_lib.load(raw=raw).parallel).place(
            build(config_lib.load(raw=raw)), config_lib.load(raw=raw).train)
    except ConfigError as err:
        open(f"{out}/indivisible.txt", "w").write(str(err))
    """
)


@pytest.fixture(scope="module")
def eight_device_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("eight")
    proc = subprocess.run(
        [sys.executable, "-c", EIGHT_DEVICE_SCRIPT, json.dumps(BASE), str(out)],
        env=_env(8),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.mark.parametrize(
    "mode",
    ["sharding", "sharding_fused", "fsdp", "pmap", "auto4", "resumed_on_8", "resumed_on_1",
     "resumed_on_4"],
)  # fmt: skip
def test_many_devices_train_like_one(eight_device_runs, mode):
    """Same params and optimizer state after 12 steps, whatever the layout; "resumed_on_N":
    6 steps on another layout, the state saved to host arrays, then resumed on N devices."""
    one = _params_npz(eight_device_runs / "single.npz")
    many = _params_npz(eight_device_runs / f"{mode}.npz")
    assert one.keys() == many.keys() and len(one) == 6
    start = build(config_lib.load(raw=BASE)).state.params
    for key in one:
        np.testing.assert_allclose(many[key], one[key], rtol=2e-5, atol=2e-6, err_msg=key)
    # training moved the parameters far more than the tolerance
    moved = jax.tree_util.tree_leaves(start)[0]
    assert np.abs(one["['hidden1']['bias']"] - np.asarray(moved)).max() > 1e-2
    with (
        np.load(eight_device_runs / "single_opt.npz") as a,
        np.load(eight_device_runs / f"{mode}_opt.npz") as b,
    ):
        for key in a.files:
            np.testing.assert_allclose(b[key], a[key], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("mode", ["sharding", "pmap", "fsdp"])
def test_metrics_do_not_depend_on_device_count(eight_device_runs, mode):
    rows_one = [json.loads(x) for x in (eight_device_runs / "single/metrics.jsonl").open()]
    rows_many = [json.loads(x) for x in (eight_device_runs / f"{mode}/metrics.jsonl").open()]
    assert [r["step"] for r in rows_one] == [r["step"] for r in rows_many] == [4, 8, 12]
    for a, b in zip(rows_one, rows_many, strict=True):
        for key in ("loss", "grad_norm", "mse", "train_loss", "train_mse"):
            assert b[key] == pytest.approx(a[key], rel=1e-4), key
    summary = json.loads((eight_device_runs / f"{mode}.json").read_text())
    assert summary["parallel"]["devices"] == 8
    assert summary["parallel"]["mode"] == ("pmap" if mode == "pmap" else "sharding")


def test_auto_mode_uses_the_devices_asked_for(eight_device_runs):
    summary = json.loads((eight_device_runs / "auto4.json").read_text())
    assert summary["parallel"] == {"mode": "sharding", "devices": 4, "processes": 1, "fsdp": False}
    single = json.loads((eight_device_runs / "single.json").read_text())
    assert single["parallel"]["devices"] == 1


def test_indivisible_batch_names_key_and_device_count(eight_device_runs):
    message = (eight_device_runs / "indivisible.txt").read_text()
    assert "train.batch_size" in message and "8 devices" in message and "60" in message


def test_check_batch_counts_a_full_batch():
    plan = placement.Plan("sharding", ((object(),) * 4, (object(),) * 4))
    placement.check_batch(64, 100, plan)
    with pytest.raises(ConfigError, match=r"train.batch_size.*8 devices \(2 process"):
        placement.check_batch(None, 100, plan)
    placement.check_batch(None, 96, plan)


def test_more_devices_than_present_is_a_config_error():
    raw = dict(BASE, parallel={"devices": jax.local_device_count() + 1})
    with pytest.raises(ConfigError, match="parallel.devices"):
        placement.make_plan(config_lib.load(raw=raw).parallel)


def test_unknown_mode_is_rejected():
    with pytest.raises(ConfigError, match="parallel.mode"):
        config_lib.load(raw=dict(BASE, parallel={"mode": "tpu"}))


def test_fsdp_splits_largest_divisible_dimension():
    assert placement._leaf_spec((64, 32), 8, 16) == jax.sharding.PartitionSpec(
        placement.BATCH, None
    )
    assert placement._leaf_spec((30, 32), 8, 16) == jax.sharding.PartitionSpec(
        None, placement.BATCH
    )
    assert placement._leaf_spec((30, 31), 8, 16) == jax.sharding.PartitionSpec()
    assert placement._leaf_spec((8,), 8, 16) == jax.sharding.PartitionSpec()  # too small


# --------------------------------------------------------------------------- multi-process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fsdp", [False, True], ids=["replicated", "fsdp"])
def test_two_processes_train_together(tmp_path, fsdp):
    """Two processes (2 CPU devices each) train one model; both end with the parameters of
    single-device training on the union of their batches, and only process 0 writes files."""
    raw = json.loads(json.dumps(BASE))
    raw["model"]["hidden"] = [16]
    raw["optimizer"] = {"name": "sgd", "learning_rate": 0.1}
    raw["train"]["eval_splits"] = ["train"]
    port = _free_port()
    procs = []
    for rank in range(2):
        cfg = dict(raw, parallel={"fsdp": fsdp, "fsdp_min_size": 4, "distributed": {
            "coordinator_address": f"127.0.0.1:{port}",
            "num_processes": 2,
            "process_id": rank,
            "timeout_s": 60,
        }})  # fmt: skip
        (tmp_path / f"config{rank}.json").write_text(json.dumps(cfg))
        args = [tmp_path / f"config{rank}.json", tmp_path / f"run{rank}", tmp_path / f"{rank}.npz"]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), *map(str, args)],
                env=_env(2),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    reports = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=150)
            assert proc.returncode == 0, err[-4000:]
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [r["process"] for r in reports] == [0, 1]
    assert all(r["processes"] == 2 and r["devices"] == 4 for r in reports)
    p0, p1 = _params_npz(tmp_path / "0.npz"), _params_npz(tmp_path / "1.npz")
    for key in p0:
        np.testing.assert_array_equal(p0[key], p1[key])

    # reference: one device, each global batch = process 0's share then process 1's
    config = config_lib.load(raw=raw)
    training = build(config)
    split = training.dataset.splits["train"]
    rows = [placement.process_rows(len(split["x"]), rank, 2) for rank in range(2)]
    schedule = placement.localize(training, 2).schedule
    assert schedule.batch_size == 32 and schedule.num_examples == 128
    step = jax.jit(training.train_step)
    state = training.state
    for s in range(config.train.steps):
        batch = {
            k: np.concatenate([split[k][r[schedule.indices(s)]] for r in rows]) for k in ("x", "y")
        }
        state, _ = step(state, batch)
    leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(state.params))
    reference = {jax.tree_util.keystr(p): v for p, v in leaves}
    for key in reference:
        np.testing.assert_allclose(p0[key], reference[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # the final evaluation covers the whole train split, not process 0's rows only
    final_eval = jax.jit(training.eval_step)(state.params, split)

    assert sorted(p.name for p in (tmp_path / "run0").iterdir()) == [
        "config.yaml", "metrics.jsonl", "summary.json"]  # fmt: skip
    assert not (tmp_path / "run1").exists()  # process 1 wrote nothing
    summary = json.loads((tmp_path / "run0/summary.json").read_text())
    assert summary["parallel"] == {"mode": "sharding", "devices": 4, "processes": 2, "fsdp": fsdp}
    assert summary["examples_per_s"] == pytest.approx(summary["steps_per_s"] * 64)
    logged = [json.loads(x) for x in (tmp_path / "run0/metrics.jsonl").open()]
    assert [r["step"] for r in logged] == [4, 8, 12]
    assert logged[-1]["train_loss"] == pytest.approx(float(final_eval["loss"]), rel=1e-5)


def test_process_rows_are_disjoint_and_equal():
    rows = [placement.process_rows(256, p, 3) for p in range(3)]
    assert [len(r) for r in rows] == [85, 85, 85]
    joined = np.concatenate(rows)
    assert len(set(joined.tolist())) == 255 and joined.max() < 256
    training = build(config_lib.load(raw=BASE))
    schedule = placement.localize(training, 3).schedule
    assert (schedule.num_examples, schedule.batch_size) == (85, 64 // 3)
    assert placement.localize(training, 1) is training


# --------------------------------------------------------------------------- launch config


def _resolve(environ: dict, **cfg):
    return distributed.resolve(distributed.DistributedConfig(**cfg), environ)


def test_single_process_needs_no_initialization():
    assert _resolve({}) is None
    assert _resolve({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}) is None
    assert _resolve({distributed.ENV_NUM_PROCESSES: "4"}, initialize="off") is None


def test_launch_from_config_then_environment():
    env = {
        distributed.ENV_COORDINATOR: "10.0.0.1:1234",
        distributed.ENV_NUM_PROCESSES: "4",
        distributed.ENV_PROCESS_ID: "2",
    }
    launch = _resolve(env)
    assert (launch.coordinator_address, launch.num_processes, launch.process_id) == (
        "10.0.0.1:1234", 4, 2)  # fmt: skip
    assert launch.source == "environment"
    launch = _resolve(env, process_id=3, coordinator_address="head:99", num_processes=4)
    assert (launch.coordinator_address, launch.process_id, launch.source) == (
        "head:99",
        3,
        "config",
    )


def test_slurm_job_is_left_to_jax_detection():
    launch = _resolve({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8", "SLURM_PROCID": "5"})
    assert launch == distributed.Launch(None, None, None, None, "slurm")


def test_incomplete_launch_is_a_config_error():
    with pytest.raises(ConfigError, match="coordinator_address") as err:
        _resolve({distributed.ENV_NUM_PROCESSES: "2"})
    assert "process_id" in str(err.value)
    with pytest.raises(ConfigError, match="expected 0..1 for 2 processes, got 2"):
        _resolve({}, coordinator_address="h:1", num_processes=2, process_id=2)
    with pytest.raises(ConfigError, match="JAXCOURSE_NUM_PROCESSES: expected an integer"):
        _resolve({distributed.ENV_NUM_PROCESSES: "two"})


@pytest.mark.parametrize("name", ["resumed_on_8", "resumed_on_1", "resumed_on_4"])
def test_resumed_runs_continue_from_the_saved_step(eight_device_runs, name):
    rows = [json.loads(x) for x in (eight_device_runs / f"{name}/metrics.jsonl").open()]
    assert [r["step"] for r in rows] == [8, 12]
    full = [json.loads(x) for x in (eight_device_runs / "single/metrics.jsonl").open()]
    assert rows[-1]["loss"] == pytest.approx(full[-1]["loss"], rel=1e-4)
