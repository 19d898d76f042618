"""Transfer learning: start from a trained backbone, freeze or slow down parts, new head.

Parameters are addressed by their path `layer/param` (e.g. `conv1/kernel`, `fc2/bias`) and
picked by shell-style patterns (`conv*`, `fc1/*`); the word `backbone` means every parameter
loaded from the backbone (all but the head).

- `merge_backbone(init_params, backbone_params, head)`: the freshly initialised params with
  every non-head layer replaced by the backbone's (shapes checked);
- `partition_optimizer(tx, params, freeze, lr_multipliers, loaded)`: `optax.multi_transform`
  giving frozen params `set_to_zero` and the others `tx`, its updates scaled by their
  multiplier (for Adam, SGD and momentum that is the learning rate times the multiplier).
"""

from __future__ import annotations

import fnmatch

import jax
import numpy as np
import optax

from jaxcourse.errors import ConfigError

BACKBONE = "backbone"


def param_paths(params) -> list[str]:
    """'layer/param' paths of every leaf of `params`, in flattening order."""
    return [
        "/".join(str(getattr(k, "key", k)) for k in path)
        for path, _ in jax.tree_util.tree_leaves_with_path(params)
    ]


def merge_backbone(init_params: dict, backbone: dict, head: list[str], source: str) -> dict:
    """`init_params` with each top-level layer not in `head` taken from `backbone`."""
    missing = [layer for layer in init_params if layer not in head and layer not in backbone]
    if missing:
        raise ConfigError(
            f"config key 'backbone': {source} has no layers {missing}; "
            f"it has {sorted(backbone)} (list new layers in backbone.head)"
        )
    merged = {}
    for layer, value in init_params.items():
        if layer in head:
            merged[layer] = value
            continue
        want = jax.tree_util.tree_map(np.shape, value)
        got = jax.tree_util.tree_map(np.shape, backbone[layer])
        if want != got:
            raise ConfigError(
                f"config key 'backbone': layer '{layer}' of {source} has shapes {got}, "
                f"the model wants {want} (another model config? add it to backbone.head)"
            )
        merged[layer] = jax.tree_util.tree_map(
            lambda b, v: np.asarray(b, dtype=np.asarray(v).dtype), backbone[layer], value
        )
    return merged


def _matches(path: str, pattern: str, loaded: set[str]) -> bool:
    if pattern == BACKBONE:
        return path.split("/")[0] in loaded
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path.split("/")[0], pattern)


def param_labels(
    params, freeze: list[str], lr_multipliers: dict[str, float], loaded: set[str]
) -> dict:
    """A pytree like `params` of labels: 'frozen', or 'lr=<multiplier>' (first match wins)."""
    unused = [p for p in [*freeze, *lr_multipliers] if p != BACKBONE]
    paths = param_paths(params)
    for pattern in list(unused):
        if any(_matches(path, pattern, loaded) for path in paths):
            unused.remove(pattern)
    if unused:
        raise ConfigError(
            f"config key 'transfer': patterns {unused} match no parameter; parameters: "
            f"{', '.join(paths[:12])}{' ...' if len(paths) > 12 else ''}"
        )

    def label(path: str) -> str:
        if any(_matches(path, p, loaded) for p in freeze):
            return "frozen"
        for pattern, multiplier in lr_multipliers.items():
            if _matches(path, pattern, loaded):
                return f"lr={multiplier:g}"
        return "lr=1"

    leaves, treedef = jax.tree_util.tree_flatten(params)
    return jax.tree_util.tree_unflatten(treedef, [label(p) for p in paths])


def partition_optimizer(
    tx: optax.GradientTransformation,
    params,
    freeze: list[str],
    lr_multipliers: dict[str, float],
    loaded: set[str],
) -> tuple[optax.GradientTransformation, dict]:
    """(optimizer, labels): `tx` with frozen parameters and per-pattern learning-rate scales."""
    labels = param_labels(params, freeze, lr_multipliers, loaded)
    transforms = {}
    for name in set(jax.tree_util.tree_leaves(labels)):
        if name == "frozen":
            transforms[name] = optax.set_to_zero()
        else:
            multiplier = float(name.removeprefix("lr="))
            transforms[name] = tx if multiplier == 1 else optax.chain(tx, optax.scale(multiplier))
    return optax.multi_transform(transforms, labels), labels
