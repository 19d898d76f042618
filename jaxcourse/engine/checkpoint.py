"""Orbax checkpoints of the train state: periodic atomic saves, keep-last/keep-best, resume.

A run with `checkpoint.enabled` saves its `TrainState` to `<workdir>/ckpt/<step>/` every
`checkpoint.every` steps and at the end. Started again on the same workdir, it resumes from
the latest checkpoint: since the rng of step n is `fold_in(rng, n)` and the batch schedule is
a function of the step, the resumed run is bit-identical to an uninterrupted one.

Each checkpoint holds two items: `state` (step, params, optimizer state, raw rng key data)
and `meta` (JSON: the run's config, the model section, the data spec). Orbax writes a save
into a temporary directory and renames it when complete, so a process killed during a save
leaves the previous checkpoints intact; leftover temporary directories are ignored and
removed at the next start.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np
import orbax.checkpoint as ocp
import yaml
from orbax.checkpoint import checkpoint_managers as policies
from pydantic import Field, NonNegativeInt, PositiveInt

from jaxcourse.config import Section, to_dict
from jaxcourse.engine.hooks import HOOK_FACTORIES, Hook
from jaxcourse.engine.rundir import write_atomic
from jaxcourse.errors import ConfigError, JaxcourseError
from jaxcourse.train import TrainState

CKPT_SUBDIR = "ckpt"


class _QuietOrbax(logging.Filter):
    """Drops Orbax's routine log records (it reports every save, restore and option)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "orbax" not in record.pathname or record.levelno >= logging.ERROR


logging.getLogger("absl").addFilter(_QuietOrbax())


class CheckpointError(JaxcourseError):
    """A checkpoint is missing, unreadable or does not fit the run that wants to use it."""

    exit_code = 4


class CheckpointConfig(Section):
    """Saving the train state with Orbax, and resuming from it."""

    enabled: bool = Field(
        False, description="Save checkpoints to <workdir>/ckpt and resume from them."
    )
    every: PositiveInt = Field(
        1000, description="Save every N steps (and always after the last step)."
    )
    keep_last: PositiveInt = Field(2, description="Keep the N most recent checkpoints.")
    keep_best: NonNegativeInt = Field(
        0,
        description="Also keep the N best checkpoints by best_metric (0 = none). The metric is "
        "read from the metrics row logged at the checkpoint's step, so make `every` a multiple "
        "of train.eval_every for an evaluation metric.",
    )
    best_metric: str = Field(
        "test_accuracy", description="Metrics-row key that ranks checkpoints for keep_best."
    )
    best_mode: Literal["max", "min"] = Field(
        "max", description="Whether a larger (max) or smaller (min) best_metric is better."
    )
    resume: bool = Field(
        True,
        description="Resume from the latest checkpoint in the workdir when there is one "
        "(false: a workdir that already has checkpoints is an error).",
    )
    async_save: bool = Field(
        True, description="Write checkpoints in a background thread while training goes on."
    )


# --------------------------------------------------------------------------- state <-> tree


def state_tree(state: TrainState) -> dict:
    """The arrays of `state` as a plain pytree Orbax can store (the rng as its raw key data)."""
    return {
        "step": state.step,
        "params": state.params,
        "opt_state": state.opt_state,
        "rng": jax.random.key_data(state.rng),
    }


def tree_state(tree: dict, template: TrainState) -> TrainState:
    """Inverse of `state_tree`, with the rng re-wrapped as `template`'s key type."""
    rng = jax.random.wrap_key_data(tree["rng"], impl=jax.random.key_impl(template.rng))
    return TrainState(
        step=tree["step"], params=tree["params"], opt_state=tree["opt_state"], rng=rng
    )


def _shapes(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    """{'params.dense.kernel': (shape, dtype), ...} for every array leaf of `tree`."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return {
        jax.tree_util.keystr(p, simple=True, separator="."): (
            tuple(np.shape(x)),
            str(np.dtype(x.dtype)),
        )
        for p, x in leaves
    }


def _stored_shapes(metadata) -> dict[str, tuple[tuple[int, ...], str]]:
    leaves = jax.tree_util.tree_leaves(
        metadata.tree if hasattr(metadata, "tree") else metadata,
        is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "name"),
    )
    return {m.name: (tuple(m.shape), str(np.dtype(m.dtype))) for m in leaves if m is not None}


def config_differences(saved: Any, wanted: Any, prefix: str) -> list[str]:
    """'key: checkpoint has A, config has B' for each leaf where two nested dicts differ."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        out = []
        for key in sorted(set(saved) | set(wanted), key=str):
            sub = f"{prefix}.{key}"
            if key not in saved:
                out.append(f"{sub}: not in the checkpoint, config has {wanted[key]!r}")
            elif key not in wanted:
                out.append(f"{sub}: checkpoint has {saved[key]!r}, not in the config")
            else:
                out.extend(config_differences(saved[key], wanted[key], sub))
        return out
    return [] if saved == wanted else [f"{prefix}: checkpoint has {saved!r}, config has {wanted!r}"]


# --------------------------------------------------------------------------- the store


class CheckpointStore:
    """The checkpoints of one run directory (`<workdir>/ckpt/<step>/{state,meta}`)."""

    def __init__(
        self, directory: str | Path, cfg: CheckpointConfig | None = None, *, read_only=False
    ):
        cfg = cfg or CheckpointConfig()
        self.directory = Path(directory).absolute()
        if read_only and not self.directory.is_dir():
            raise CheckpointError(f"no checkpoint directory '{self.directory}'")
        preserve = [policies.LatestN(cfg.keep_last)]
        if cfg.keep_best:
            preserve.append(
                policies.BestN(
                    get_metric_fn=lambda m: m[cfg.best_metric],
                    reverse=cfg.best_mode == "min",
                    n=cfg.keep_best,
                    keep_checkpoints_without_metrics=False,
                )
            )
        metric = cfg.best_metric
        options = ocp.CheckpointManagerOptions(
            best_fn=lambda m: m[metric],  # makes Orbax store each checkpoint's metrics
            best_mode=cfg.best_mode,
            preservation_policy=policies.AnyPreservationPolicy(preserve),
            enable_async_checkpointing=cfg.async_save,
            cleanup_tmp_directories=not read_only,
            create=not read_only,
            read_only=read_only,
        )
        self.best_metric, self.best_mode = cfg.best_metric, cfg.best_mode
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "meta": ocp.JsonCheckpointHandler(),
            },
        )

    # -- queries
    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The kept step with the best `best_metric`, None when no checkpoint has it."""
        ranked = []
        for step in self.steps():
            value = (self._manager.metrics(step) or {}).get(self.best_metric)
            if value is not None:
                ranked.append((value if self.best_mode == "max" else -value, step))
        return max(ranked)[1] if ranked else None

    def resolve(self, which: int | str = "latest") -> int:
        """A step number from 'latest', 'best' or an int; errors name what is available."""
        steps = self.steps()
        if not steps:
            raise CheckpointError(f"no checkpoints in '{self.directory}'")
        if which == "latest":
            return steps[-1]
        if which == "best":
            best = self.best_step()
            if best is None:
                raise CheckpointError(
                    f"no checkpoint in '{self.directory}' has the metric '{self.best_metric}'"
                )
            return best
        step = int(which)
        if step not in steps:
            raise CheckpointError(
                f"no checkpoint for step {step} in '{self.directory}'; available: {steps}"
            )
        return step

    def step_dir(self, step: int) -> Path:
        return self.directory / str(step)

    # -- writing
    def save(self, step: int, state: TrainState, meta: dict, metrics: dict | None = None):
        """Start saving `state` as checkpoint `step` (finished in the background if async)."""
        # Host copies: the loop donates the state's buffers to the next step while an async
        # save may still be writing them.
        host = jax.tree_util.tree_map(lambda x: np.array(x, copy=True), state_tree(state))
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(host), meta=ocp.args.JsonSave(meta)
            ),
            metrics=metrics,
            force=True,
        )

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    # -- reading
    def read_meta(self, step: int) -> dict:
        path = self.step_dir(step) / "meta"
        try:
            return self._manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            ).meta
        except Exception as err:  # noqa: BLE001  (any unreadable file is the user's to fix)
            raise CheckpointError(
                f"checkpoint metadata '{path}' is missing or unreadable ({type(err).__name__}: "
                f"{_first_line(err)})"
            ) from None

    def check_compatible(self, step: int, template: TrainState, model_config: dict) -> dict:
        """Raise a CheckpointError unless checkpoint `step` fits `template`; return its meta."""
        meta = self.read_meta(step)
        where = self.step_dir(step)
        diffs = config_differences(meta.get("model"), model_config, "model")
        if diffs:
            raise CheckpointError(
                f"checkpoint '{where}' was made for another model config:\n  "
                + "\n  ".join(diffs)
                + f"\nuse another workdir, or remove '{self.directory}' to start afresh"
            )
        try:
            stored = _stored_shapes(self._manager.item_metadata(step)["state"])
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(
                f"checkpoint '{where / 'state'}' is missing or unreadable "
                f"({type(err).__name__}: {_first_line(err)}); delete '{where}' to resume from "
                "an older checkpoint"
            ) from None
        wanted = _shapes(state_tree(template))
        problems = []
        for name in sorted(set(stored) | set(wanted)):
            if name not in stored:
                problems.append(f"{name}: missing from the checkpoint, wanted {wanted[name]}")
            elif name not in wanted:
                problems.append(f"{name}: in the checkpoint {stored[name]}, not in this run")
            elif stored[name] != wanted[name]:
                problems.append(f"{name}: checkpoint has {stored[name]}, run has {wanted[name]}")
        if problems:
            raise CheckpointError(
                f"checkpoint '{where / 'state'}' does not fit this run's train state "
                f"(another optimizer or model?):\n  " + "\n  ".join(problems[:10])
            )
        return meta

    def restore(self, step: int, template: TrainState) -> TrainState:
        """The train state of checkpoint `step`, placed like `template`'s arrays."""
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state_tree(template))
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
            )
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(
                f"checkpoint '{self.step_dir(step) / 'state'}' could not be read "
                f"({type(err).__name__}: {_first_line(err)}); delete that step's directory "
                "to resume from an older checkpoint"
            ) from None
        return tree_state(restored.state, template)

    def restore_params(self, step: int) -> Any:
        """Only the params of checkpoint `step`, as host numpy arrays (no template needed)."""
        path = self.step_dir(step) / "state"
        try:
            meta = self._manager.item_metadata(step)["state"]
            tree = meta.tree if hasattr(meta, "tree") else meta
            abstract = jax.tree_util.tree_map(
                lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype),
                tree["params"],
                is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "name"),
            )
            restored = ocp.PyTreeCheckpointer().restore(
                path,
                args=ocp.args.PyTreeRestore(
                    item={"params": abstract},
                    restore_args=jax.tree_util.tree_map(
                        lambda _: ocp.RestoreArgs(restore_type=np.ndarray), {"params": abstract}
                    ),
                    partial_restore=True,
                ),
            )
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(
                f"checkpoint '{path}' could not be read ({type(err).__name__}: {_first_line(err)})"
            ) from None
        return restored["params"]


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else "no message"


def load_checkpoint(run_dir: str | Path, which: int | str = "latest") -> tuple[Any, dict, int]:
    """(params, meta, step) of a run's checkpoint: 'latest', 'best' or a step number."""
    run_dir = Path(run_dir)
    directory = run_dir / CKPT_SUBDIR if (run_dir / CKPT_SUBDIR).is_dir() else run_dir
    if not directory.is_dir() or not any(p.name.isdigit() for p in directory.iterdir()):
        raise CheckpointError(
            f"no checkpoints in '{run_dir}' (expected '{run_dir / CKPT_SUBDIR}'; "
            "train with checkpoint.enabled=true)"
        )
    store = CheckpointStore(directory, read_only=True)
    try:
        if which == "best" and store.steps():  # ranked as the run that wrote them ranked
            saved = store.read_meta(store.steps()[-1])["config"].get("checkpoint", {})
            store.best_metric = saved.get("best_metric", store.best_metric)
            store.best_mode = saved.get("best_mode", store.best_mode)
        step = store.resolve(which)
        meta = store.read_meta(step)
        return store.restore_params(step), meta, step
    finally:
        store.close()


# --------------------------------------------------------------------------- in a run


class RunCheckpoints:
    """A run directory's checkpoints as a training loop uses them: resume from the latest,
    save with the metrics row's `best_metric`, and describe them for summary.json."""

    def __init__(self, cfg: CheckpointConfig, rundir, meta: dict):
        """`meta`: stored with every checkpoint; its "config" and "model" (dicts) are required."""
        self.cfg, self.rundir, self.meta = cfg, rundir, meta
        self.store = CheckpointStore(rundir.path / CKPT_SUBDIR, cfg)
        self.resumed_from: int | None = None
        self.last_saved: int | None = None
        self._warned_metric = False

    def resume(self, state: TrainState) -> tuple[TrainState, list[dict] | None]:
        """The latest checkpoint's state and the metrics rows logged up to it (metrics.jsonl
        is cut there); `(state, None)` when there is no checkpoint. If resuming fails, the
        store is closed and the config.yaml of the run that wrote the checkpoints put back."""
        try:
            step = self.store.latest_step()
            if step is None:
                return state, None
            if not self.cfg.resume:
                raise CheckpointError(
                    f"'{self.store.directory}' already holds checkpoints (latest: step {step}) "
                    "and checkpoint.resume is false; use another workdir or remove it"
                )
            self.store.check_compatible(step, state, self.meta["model"])
            state = self.store.restore(step, state)
            rows = self.rundir.resume_metrics(step)
        except BaseException:
            self._restore_config_file()
            self.store.close()
            raise
        self.resumed_from = self.last_saved = step
        print(f"resuming from checkpoint '{self.store.step_dir(step)}'", file=sys.stderr)
        return state, rows

    def _restore_config_file(self) -> None:
        """Not resumed: put back the config.yaml of the run that wrote the checkpoints."""
        step = self.store.latest_step()
        try:
            meta = self.store.read_meta(step) if step is not None else None
        except CheckpointError:
            return
        if meta and "config" in meta:
            write_atomic(
                self.rundir.file("config.yaml"), yaml.safe_dump(meta["config"], sort_keys=False)
            )

    def save(self, step: int, state: TrainState, row: dict | None) -> None:
        """Start saving checkpoint `step`, ranked by `row`'s best_metric when it has one."""
        metrics = None
        if row is not None and self.cfg.best_metric in row:
            metrics = {self.cfg.best_metric: float(row[self.cfg.best_metric])}
        elif self.cfg.keep_best and not self._warned_metric:
            self._warned_metric = True
            warnings.warn(
                f"checkpoint at step {step} has no '{self.cfg.best_metric}' in its metrics "
                "row; it is kept only as a recent checkpoint (see checkpoint.keep_best)",
                stacklevel=1,
            )
        self.store.save(step, state, {**self.meta, "step": step}, metrics)
        self.last_saved = step

    def close(self) -> dict:
        """Wait for the last save and close the store; what summary.json says of them."""
        self.store.wait()
        out = {
            "directory": str(self.store.directory),
            "resumed_from_step": self.resumed_from,
            "steps": self.store.steps(),
            "best_step": self.store.best_step() if self.cfg.keep_best else None,
        }
        self.store.close()
        return out


# --------------------------------------------------------------------------- the hook


def _crossed(every: int | None, step: int, n: int) -> bool:
    return bool(every) and step // every > (step - n) // every


class CheckpointHook(Hook):
    """Resumes the loop from the latest checkpoint; saves periodically and at the end."""

    def __init__(self, config, rundir, training):
        self.cfg: CheckpointConfig = config.checkpoint
        config_dict = to_dict(config)
        spec = training.dataset.spec
        meta = {
            "config": config_dict,
            "model": config_dict["model"],
            "data_spec": {
                "input_shape": list(spec.input_shape),
                "task": spec.task,
                "num_outputs": spec.num_outputs,
                "class_names": list(spec.class_names),
            },
        }
        self.checkpoints = RunCheckpoints(self.cfg, rundir, meta)
        self._last_step = 0
        self._deferred: int | None = None

    def on_start(self, loop) -> None:
        loop.state, rows = self.checkpoints.resume(loop.state)
        if rows is not None:
            loop.rows = rows
        self._last_step = int(loop.state.step)

    def after_call(self, loop) -> None:
        step, n = loop.step, loop.step - self._last_step
        self._last_step = step
        if not _crossed(self.cfg.every, step, n):
            return
        train_cfg = loop.cfg
        will_log = (
            _crossed(train_cfg.log_every, step, n)
            or _crossed(train_cfg.eval_every, step, n)
            or step == loop.total
        )
        if will_log:
            self._deferred = step  # saved in after_log, with the row's metrics
        else:
            self._save(loop, None)

    def after_log(self, loop, row: dict) -> None:
        if self._deferred == row["step"]:
            self._save(loop, row)

    def on_end(self, loop, summary: dict) -> None:
        if summary["status"] == "completed" and self.checkpoints.last_saved != loop.step:
            self._save(loop, loop.rows[-1] if loop.rows else None)
        summary["checkpoint"] = self.checkpoints.close()

    def _save(self, loop, row: dict | None) -> None:
        self.checkpoints.save(loop.step, loop.state, row)
        self._deferred = None


def checkpoint_hook(config, rundir, training) -> CheckpointHook | None:
    cfg = getattr(config, "checkpoint", None)
    if cfg is None or not cfg.enabled:
        return None
    if jax.process_count() > 1:
        raise ConfigError(
            "config key 'checkpoint.enabled': checkpoints are written by one process only; "
            f"this run has {jax.process_count()} processes (set checkpoint.enabled=false)"
        )
    return CheckpointHook(config, rundir, training)


HOOK_FACTORIES.append(checkpoint_hook)
