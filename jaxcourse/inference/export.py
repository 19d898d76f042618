"""Export a trained model's inference function with `jax.export`, for use without its code.

An export directory holds three files:

- `model.stablehlo`: the serialized `jax.export.Exported` function
  `probabilities = f(params_leaves, images)`, with a symbolic batch dimension;
- `params.npz`: the parameters, one array per leaf, named by index and path;
- `manifest.json`: what the function takes and gives (input name/shape/dtype, how to turn an
  image file into an input, output names, class labels), where it came from, and the SHA-256
  of the two other files (checked when they are loaded).

`jaxcourse.inference.predict` loads and runs it importing only jax, numpy and Pillow: the JAX
counterpart of loading the course's frozen `classify_image_graph_def.pb`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.engine.rundir import write_atomic
from jaxcourse.errors import JaxcourseError
from jaxcourse.kernels import conv

FORMAT = "jaxcourse-export/1"
FUNCTION_FILE, PARAMS_FILE, MANIFEST_FILE = "model.stablehlo", "params.npz", "manifest.json"


class ExportError(JaxcourseError):
    """A model cannot be exported, or an export directory is missing, corrupt or mismatched."""

    exit_code = 4


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leaf_names(params) -> list[str]:
    """'0003:conv1/kernel'-style names of the leaves of `params`, in flattening order."""
    paths = jax.tree_util.tree_leaves_with_path(params)
    return [
        f"{i:04d}:" + "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        for i, (path, _) in enumerate(paths)
    ]


def image_preprocessing(input_shape, normalize: str = "unit", **extra) -> dict:
    """The manifest's recipe from an image file to one input row of shape `input_shape`.

    `normalize`: 'unit' (pixels / 255), 'none' (raw 0..255) or 'inception' (pixels / 127.5 - 1).
    """
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise ExportError(
            f"only image models can be exported for `predict`: input shape {tuple(input_shape)} "
            "is not (height, width, 1 or 3)"
        )
    scale, offset = {"unit": (1 / 255, 0.0), "none": (1.0, 0.0), "inception": (1 / 127.5, -1.0)}[
        normalize
    ]
    return {
        "color": "L" if input_shape[-1] == 1 else "RGB",
        "resize": [int(input_shape[0]), int(input_shape[1])],
        "resample": "bilinear",
        "scale": scale,
        "offset": offset,
        "formula": f"x = pixel * {scale:.9g} + {offset:g}",
        **extra,
    }


def export_function(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params,
    input_shape: tuple[int, ...],
    out_dir: str | Path,
    *,
    preprocessing: dict,
    labels: list[str],
    input_name: str = "images",
    output_name: str = "probabilities",
    source: dict | None = None,
    platforms: tuple[str, ...] = ("cpu",),
) -> Path:
    """Export `x -> softmax(apply_fn(params, x))` with a symbolic batch to `out_dir`."""
    params = jax.tree_util.tree_map(np.asarray, params)
    leaves, treedef = jax.tree_util.tree_flatten(params)

    def probabilities(flat_params, images):
        logits = apply_fn(jax.tree_util.tree_unflatten(treedef, flat_params), images)
        return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

    (batch,) = jax.export.symbolic_shape("batch")
    args = (
        [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves],
        jax.ShapeDtypeStruct((batch, *input_shape), jnp.float32),
    )
    try:
        # XLA's own convolutions: a oneDNN FFI call is tied to this process's extension, and
        # jax.export refuses custom calls without a compatibility guarantee
        with conv.using_backend("xla"):
            exported = jax.export.export(jax.jit(probabilities), platforms=platforms)(*args)
    except Exception as err:  # noqa: BLE001  (tracing errors are the model's, reported whole)
        raise ExportError(f"could not export the model: {type(err).__name__}: {err}") from err
    (num_classes,) = exported.out_avals[0].shape[1:]
    if labels and len(labels) != num_classes:
        raise ExportError(f"{len(labels)} labels given for a model with {num_classes} outputs")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = leaf_names(params)
    _write_bytes(out / FUNCTION_FILE, exported.serialize())
    _write_npz(out / PARAMS_FILE, dict(zip(names, leaves, strict=True)))
    digests = {name: file_sha256(out / name) for name in (FUNCTION_FILE, PARAMS_FILE)}
    manifest = {
        "format": FORMAT,
        "function": FUNCTION_FILE,
        "params": PARAMS_FILE,
        "param_names": names,
        "platforms": list(exported.platforms),
        "input": {
            "name": input_name,
            "shape": [None, *map(int, input_shape)],
            "dtype": "float32",
            "layout": "NHWC",
        },
        "preprocessing": preprocessing,
        "outputs": [{"name": output_name, "shape": [None, int(num_classes)], "dtype": "float32"}],
        "labels": list(labels) or [str(i) for i in range(num_classes)],
        "source": source or {},
        "jax_version": jax.__version__,
        "sha256": digests,
    }
    write_atomic(out / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    return out


def export_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    which: int | str = "latest",
    platforms: tuple[str, ...] = ("cpu",),
) -> Path:
    """Export the classifier of a run's checkpoint (`latest`, `best` or a step) to `out_dir`.

    `platforms`: where the export may run, any of cpu, cuda, rocm, tpu (lowered for each).
    """
    # model code is imported here, not at the top: `jaxcourse.inference.predict` imports this
    # module and must run an export without it
    from jaxcourse import data, models
    from jaxcourse.config import validate_component
    from jaxcourse.data.spec import DataSpec
    from jaxcourse.engine.checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    params, meta, step = load_checkpoint(run_dir, which)
    model_config = validate_component(models.MODELS, meta["config"]["model"], "model")
    data_config = validate_component(data.DATASETS, meta["config"]["data"], "data")
    spec = DataSpec(**{**meta["data_spec"], "input_shape": tuple(meta["data_spec"]["input_shape"])})
    if spec.task != "classification":
        raise ExportError(
            f"run '{run_dir}' trains a {spec.task} model; only classifiers can be exported"
        )
    model = models.build(model_config, spec)
    normalize = getattr(data_config, "normalize", "unit")
    if normalize not in ("unit", "none"):
        raise ExportError(
            f"run '{run_dir}' uses data.normalize={normalize!r}, whose statistics an export "
            "does not carry; train with data.normalize=unit (or none) to export"
        )
    return export_function(
        lambda p, x: model.apply({"params": p}, x, train=False),
        params,
        tuple(spec.input_shape),
        out_dir or run_dir / "export",
        preprocessing=image_preprocessing(spec.input_shape, normalize),
        labels=list(spec.class_names),
        source={
            "run_dir": str(run_dir.absolute()),
            "step": step,
            "model": meta["model"],
            "data": meta["config"].get("data"),
        },
        platforms=platforms,
    )


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
