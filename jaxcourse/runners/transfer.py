"""The `transfer` experiment: supervised training that starts from a trained backbone.

The backbone is a checkpoint of a previous run (same model config, e.g. the CNN trained on
other classes) or the pretrained Inception-v3; layers listed in `backbone.head` are new and
start from their initialisation. `transfer.freeze` keeps parameters fixed (optax
`multi_transform` + `set_to_zero`) and `transfer.lr_multipliers` trains some slower.
"""

from __future__ import annotations

from typing import Literal

import jax
from pydantic import Field

from jaxcourse import losses, metrics, optim, train
from jaxcourse import transfer as transfer_lib
from jaxcourse.config import EXPERIMENTS, Section, to_dict
from jaxcourse.engine.rundir import RunDir
from jaxcourse.errors import ConfigError
from jaxcourse.runners import supervised


class BackboneConfig(Section):
    """Where the trained layers come from."""

    source: Literal["checkpoint", "inception_v3", "none"] = Field(
        description="checkpoint = a previous run's checkpoint (run_dir); inception_v3 = the "
        "converted ImageNet weights (weights); none = train from scratch (a baseline)."
    )
    run_dir: str | None = Field(
        None, description="Run directory (or its ckpt/) of the backbone, for source=checkpoint."
    )
    step: str = Field("latest", description="Which checkpoint: latest, best or a step number.")
    weights: str | None = Field(
        None,
        description="Inception-v3 weights .h5 for source=inception_v3; null = the cache "
        "(downloaded once when online).",
    )
    head: list[str] = Field(
        ["fc2"],
        description="Top-level layers that are new for the task (initialised, not loaded); "
        "the cnn's output layer is fc2, inception_v3's is predictions.",
    )


class TransferOptions(Section):
    """Which parameters train, and how fast."""

    freeze: list[str] = Field(
        [],
        description="Parameters kept fixed: patterns of 'layer/param' paths ('conv*', "
        "'fc1/*') or 'backbone' (every loaded layer).",
    )
    lr_multipliers: dict[str, float] = Field(
        {},
        description="Pattern -> learning-rate multiplier (e.g. {'conv*': 0.1}: early layers "
        "10x slower); the first matching pattern wins, the rest train at 1x.",
    )


class TransferConfig(supervised.SupervisedConfig):
    """Train `model` on `data`, starting from `backbone`, with parts frozen or slowed."""

    experiment: Literal["transfer"] = Field(description="Which experiment this config runs.")
    backbone: BackboneConfig = Field(description="The trained layers to start from.")
    transfer: TransferOptions = Field(
        TransferOptions(), description="Freezing and per-layer learning rates."
    )


def _backbone_params(config: TransferConfig):
    """(params, description) of the backbone that `config.backbone` names."""
    cfg = config.backbone
    if cfg.source == "checkpoint":
        if not cfg.run_dir:
            raise ConfigError("config key 'backbone.run_dir': needed for source=checkpoint")
        from jaxcourse.engine.checkpoint import config_differences, load_checkpoint

        step = int(cfg.step) if cfg.step.isdigit() else cfg.step
        params, meta, step = load_checkpoint(cfg.run_dir, step)
        wanted = to_dict(config)["model"]
        diffs = config_differences(meta["model"], wanted, "model")
        if diffs:
            raise ConfigError(
                f"config key 'model': the backbone in '{cfg.run_dir}' (step {step}) was "
                "trained with another model config:\n    " + "\n    ".join(diffs)
            )
        return params, f"checkpoint '{cfg.run_dir}' step {step}"
    from jaxcourse.inference.pretrained import convert_h5, weights_path

    if config.model.name != "inception_v3":
        raise ConfigError(
            f"config key 'model.name': backbone.source=inception_v3 needs model inception_v3, "
            f"not '{config.model.name}'"
        )
    path = weights_path(cfg.weights)
    return convert_h5(path), f"Inception-v3 weights '{path}'"


def build(config: TransferConfig) -> supervised.Training:
    """`supervised.build`, then backbone params and the partitioned optimizer swapped in."""
    training = supervised.build(config)
    params = training.state.params
    loaded: set[str] = set()
    if config.backbone.source != "none":
        backbone, source = _backbone_params(config)
        params = transfer_lib.merge_backbone(params, backbone, config.backbone.head, source)
        loaded = {layer for layer in params if layer not in config.backbone.head}
    opts = config.transfer
    tx, _ = transfer_lib.partition_optimizer(
        optim.build(config.optimizer), params, opts.freeze, opts.lr_multipliers, loaded
    )
    params = jax.device_put(params)
    state = training.state.replace(params=params, opt_state=tx.init(params))
    metrics_fn = metrics.for_task(training.dataset.spec.task)
    loss_fn = losses.LOSSES.get(config.loss)
    training.tx, training.state = tx, state
    training.train_step = train.make_train_step(training.model.apply, loss_fn, tx, metrics_fn)
    return training


def run(config: TransferConfig, rundir: RunDir) -> dict:
    """Train from the backbone; the summary records what was loaded and frozen."""
    return supervised.TrainLoop(config, rundir, build(config)).run()


EXPERIMENTS.register("transfer", TransferConfig)(run)
