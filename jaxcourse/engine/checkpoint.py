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

`meta` also holds a CRC-32 of every saved array, checked on restore: a checkpoint whose files
were damaged (flipped bytes, truncation) is reported as corrupt, and a resuming run falls back
to the newest good checkpoint, with a warning naming both (the corrupt ones are moved to
`<workdir>/ckpt_corrupt/`). The store is closed however the run ends; Ctrl-C during an async
save waits for it (a second Ctrl-C abandons it) and says which.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies
from pydantic import Field, NonNegativeInt, PositiveInt

from jaxcourse.config import Section, to_dict
from jaxcourse.errors import ConfigError, JaxcourseError
from jaxcourse.paths import describe_os_error
from jaxcourse.train import TrainState

CKPT_SUBDIR = "ckpt"
CORRUPT_SUBDIR = "ckpt_corrupt"


class _QuietOrbax(logging.Filter):
    """Drops Orbax's log records: it reports every save, restore and option, and logs each
    failure with a traceback per thread; failures reach the user as one CheckpointError or
    OutputError instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "orbax" not in record.pathname or record.levelno >= logging.CRITICAL


logging.getLogger("absl").addFilter(_QuietOrbax())


def _closed_loop_callback(exc_type, exc, tb) -> bool:
    """TensorStore's writes still in flight when a failed Orbax save closed its event loop
    call back into that loop, and report the `RuntimeError: Event loop is closed` as
    unraisable: the save's failure itself is reported as one message."""
    if exc_type is not RuntimeError or str(exc) != "Event loop is closed":
        return False
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "asyncio" in tb.tb_frame.f_code.co_filename


def _quiet_unraisablehook(previous):
    def hook(unraisable):
        exc = unraisable.exc_value
        if not _closed_loop_callback(unraisable.exc_type, exc, unraisable.exc_traceback):
            previous(unraisable)

    hook.quiets_closed_loops = True
    return hook


if not getattr(sys.unraisablehook, "quiets_closed_loops", False):
    sys.unraisablehook = _quiet_unraisablehook(sys.unraisablehook)


class CheckpointError(JaxcourseError):
    """A checkpoint is missing, unreadable or does not fit the run that wants to use it."""

    exit_code = 4


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's files cannot be read back as they were written (damaged or partial)."""


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
        "test/accuracy", description="Metrics-row key that ranks checkpoints for keep_best."
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


def checksums(tree) -> dict[str, int]:
    """{'params.dense.kernel': CRC-32 of its bytes, ...} for every array leaf of `tree`."""
    return {
        jax.tree_util.keystr(p, simple=True, separator="."): zlib.crc32(
            np.ascontiguousarray(jax.device_get(x)).tobytes()
        )
        for p, x in jax.tree_util.tree_leaves_with_path(tree)
    }


def verify_checksums(tree, meta: dict, where: Path) -> None:
    """Raise a CorruptCheckpointError unless `tree`'s arrays have the CRCs `meta` recorded
    (checkpoints written before checksums were recorded are taken as they are)."""
    recorded = meta.get("checksums")
    if not recorded:
        return
    bad = [k for k, crc in checksums(tree).items() if k in recorded and recorded[k] != crc]
    if bad:
        raise CorruptCheckpointError(
            f"checkpoint '{where}' is corrupt: the data of {', '.join(bad[:5])}"
            f"{' and more' if len(bad) > 5 else ''} differ from what was saved (checksum)"
        )


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
            create=False,  # the first save creates it: a run that fails its checks writes nothing
            read_only=read_only,
        )
        self.best_metric, self.best_mode = cfg.best_metric, cfg.best_mode
        self._pending_step: int | None = None  # the last save started
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

    def reload(self) -> None:
        """Re-read the list of checkpoints (after one was moved away)."""
        self._manager.reload()

    # -- writing
    def save(self, step: int, state: TrainState, meta: dict, metrics: dict | None = None):
        """Start saving `state` as checkpoint `step` (finished in the background if async);
        `meta` is stored with the arrays' checksums added."""
        # Host copies: the loop donates the state's buffers to the next step while an async
        # save may still be writing them.
        host = jax.tree_util.tree_map(lambda x: np.array(x, copy=True), state_tree(state))
        meta = {**meta, "checksums": checksums(host)}
        self._pending_step = step
        with self._save_errors(), _sigint_deferred():
            self._manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(host), meta=ocp.args.JsonSave(meta)
                ),
                metrics=metrics,
                force=True,
            )

    def wait(self) -> None:
        with self._save_errors():
            self._manager.wait_until_finished()

    @contextlib.contextmanager
    def _save_errors(self):
        """A failed (possibly earlier, async) save as one message: an `OutputError` where the
        OS refused the write (full disk, read-only, ...), else a `CheckpointError`."""
        try:
            yield
        except OSError:
            raise
        except Exception as err:  # noqa: BLE001  (Orbax/TensorStore wrap the OS's error)
            code = re.search(r"os_error_code='?(\d+)", str(err))
            if code:
                os_err = OSError(int(code[1]), os.strerror(int(code[1])), str(self.directory))
                raise describe_os_error(os_err) from None
            raise CheckpointError(
                f"saving a checkpoint in '{self.directory}' failed ({type(err).__name__}: "
                f"{_first_line(err)}); the checkpoints before it are intact"
            ) from None

    def close(self) -> None:
        """Finish any save in flight and release Orbax's threads (idempotent).

        Interrupted (Ctrl-C) while a save is in flight: wait for it and say so; a second
        Ctrl-C abandons it (its temporary directory is removed at the next start). While
        another error propagates, a failed save does not hide it."""
        if self._manager is None:
            return
        manager, self._manager = self._manager, None
        outer = sys.exc_info()[1]
        try:
            if isinstance(outer, KeyboardInterrupt) and _save_in_flight(manager):
                self._finish_interrupted(manager)
            with self._save_errors():
                manager.close()
        except Exception:
            if outer is None:
                raise

    def _finish_interrupted(self, manager) -> None:
        say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        say("interrupted: waiting for the checkpoint save in flight (Ctrl-C again to abandon it)")
        try:
            with self._save_errors():
                manager.wait_until_finished()
        except KeyboardInterrupt:
            say(
                "interrupted again: abandoned the checkpoint save in flight; the run resumes "
                f"from the last complete checkpoint in '{self.directory}'"
            )
            os._exit(130)  # Orbax's save threads cannot be stopped; nothing else is open
        latest = manager.latest_step()
        if self._pending_step is not None and latest != self._pending_step:
            say(
                f"the save of step {self._pending_step} was cut short by the interrupt; the "
                f"latest complete checkpoint is step {latest}, where the run resumes"
            )
        else:
            say(f"checkpoint of step {latest} saved; the run resumes from there")

    # -- reading
    def read_meta(self, step: int) -> dict:
        path = self.step_dir(step) / "meta"
        try:
            return self._manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            ).meta
        except Exception as err:  # noqa: BLE001  (any unreadable file is the user's to fix)
            raise CorruptCheckpointError(
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
            raise CorruptCheckpointError(
                f"checkpoint '{where / 'state'}' is missing or unreadable "
                f"({type(err).__name__}: {_first_line(err)})"
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

    def restore(self, step: int, template: TrainState, meta: dict) -> TrainState:
        """The train state of checkpoint `step`, placed like `template`'s arrays and checked
        against the checksums in its `meta`."""
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state_tree(template))
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
            )
        except Exception as err:  # noqa: BLE001
            raise CorruptCheckpointError(
                f"checkpoint '{self.step_dir(step) / 'state'}' could not be read "
                f"({type(err).__name__}: {_first_line(err)})"
            ) from None
        verify_checksums(restored.state, meta, self.step_dir(step) / "state")
        return tree_state(restored.state, template)

    def restore_params(self, step: int, meta: dict) -> Any:
        """Only the params of checkpoint `step`, as host numpy arrays (no template needed),
        checked against the checksums in its `meta`."""
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
            raise CorruptCheckpointError(
                f"checkpoint '{path}' could not be read ({type(err).__name__}: {_first_line(err)})"
            ) from None
        verify_checksums(restored, meta, path)
        return restored["params"]


def _first_line(err: Exception) -> str:
    """The gist of a library's error: its first line, without the reprs of internal objects
    (TensorStore specs) that some of them carry."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else "no message"
    cut = min((i for i in (line.find(" [source"), line.find(" {")) if i > 0), default=None)
    return line[:cut][:300]


@contextlib.contextmanager
def _sigint_deferred():
    """Ctrl-C during the block takes effect after it: Orbax starting a save half-way leaves
    threads that wait forever (and hold up the interpreter's exit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if caught:
        raise KeyboardInterrupt


def _save_in_flight(manager) -> bool:
    checker = getattr(manager, "is_saving_in_progress", None)
    return bool(checker()) if checker is not None else False


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
        try:
            meta = store.read_meta(step)
            return store.restore_params(step, meta), meta, step
        except CorruptCheckpointError as err:
            others = [s for s in store.steps() if s != step]
            raise CorruptCheckpointError(
                f"{err}; " + (f"use another one (available: {others})" if others else "retrain")
            ) from None
    finally:
        store.close()


# --------------------------------------------------------------------------- in a run


class RunCheckpoints:
    """A run directory's checkpoints as a training loop uses them: resume from the newest
    good one, save with the metrics row's `best_metric`, and describe them for summary.json."""

    def __init__(self, cfg: CheckpointConfig, rundir, meta: dict):
        """`meta`: stored with every checkpoint; its "config" and "model" (dicts) are required."""
        self.cfg, self.rundir, self.meta = cfg, rundir, meta
        self.store = CheckpointStore(rundir.path / CKPT_SUBDIR, cfg)
        rundir.on_close(self.store.close)
        self.resumed_from: int | None = None
        self.last_saved: int | None = None
        self._warned_metric = False

    def latest_step(self) -> int | None:
        """The newest checkpoint's step (None when there is none); an error when there is one
        and `checkpoint.resume` is false."""
        step = self.store.latest_step()
        if step is not None and not self.cfg.resume:
            raise CheckpointError(
                f"'{self.store.directory}' already holds checkpoints (latest: step {step}) "
                "and checkpoint.resume is false; use another workdir or remove it"
            )
        return step

    def resume(self, state: TrainState, step: int) -> TrainState:
        """The state of the newest good checkpoint up to `step`, checked against `state`
        (model config, shapes, checksums); `resumed_from` says which step it is.

        Corrupt newer checkpoints are skipped with a warning naming both and moved to
        `<workdir>/ckpt_corrupt/` (a new save of their step would clash); nothing else is
        written, and if none is good, nothing at all."""
        corrupt: list[tuple[int, CorruptCheckpointError]] = []
        for candidate in reversed([s for s in self.store.steps() if s <= step]):
            try:
                meta = self.store.check_compatible(candidate, state, self.meta["model"])
                restored = self.store.restore(candidate, state, meta)
            except CorruptCheckpointError as err:
                corrupt.append((candidate, err))
                continue
            break
        else:
            raise CheckpointError(
                "no checkpoint in this run directory can be read:\n  "
                + "\n  ".join(str(err) for _, err in corrupt)
                + f"\nremove '{self.store.directory}' to start afresh"
            )
        for bad, err in corrupt:
            warnings.warn(
                f"{err}; resuming from the older checkpoint '{self.store.step_dir(candidate)}' "
                f"instead (the corrupt step {bad} is moved to "
                f"'{self.rundir.path / CORRUPT_SUBDIR}')",
                stacklevel=2,
            )
            self._set_aside(bad)
        self.resumed_from = self.last_saved = candidate
        print(f"resuming from checkpoint '{self.store.step_dir(candidate)}'", file=sys.stderr)
        return restored

    def _set_aside(self, step: int) -> None:
        """Move a corrupt checkpoint out of Orbax's way (a new save of its step would clash)."""
        target = self.rundir.path / CORRUPT_SUBDIR / str(step)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.store.step_dir(step), target)
        self.store.reload()

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
        if isinstance(sys.exc_info()[1], KeyboardInterrupt):
            self.store.close()  # waits for a save in flight, and says so
            return {}
        self.store.wait()
        out = {
            "directory": str(self.store.directory),
            "resumed_from_step": self.resumed_from,
            "steps": self.store.steps(),
            "best_step": self.store.best_step() if self.cfg.keep_best else None,
        }
        self.store.close()
        return out


def run_checkpoints(config, rundir, data_spec=None) -> RunCheckpoints | None:
    """The checkpoints of a run whose config has `checkpoint.enabled`, else None."""
    cfg = getattr(config, "checkpoint", None)
    if cfg is None or not cfg.enabled:
        return None
    if jax.process_count() > 1:
        raise ConfigError(
            "config key 'checkpoint.enabled': checkpoints are written by one process only; "
            f"this run has {jax.process_count()} processes (set checkpoint.enabled=false)"
        )
    config_dict = to_dict(config)
    meta = {"config": config_dict, "model": config_dict["model"]}
    if data_spec is not None:
        meta["data_spec"] = {
            "input_shape": list(data_spec.input_shape),
            "task": data_spec.task,
            "num_outputs": data_spec.num_outputs,
            "class_names": list(data_spec.class_names),
        }
    return RunCheckpoints(cfg, rundir, meta)
