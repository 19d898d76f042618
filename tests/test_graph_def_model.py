"""The engine fine-tunes a frozen GraphDef: `model: {name: graph_def, path: ...}`."""

from __future__ import annotations

import json

import jax
import numpy as np
import synthetic_images

from jaxcourse import models
from jaxcourse.compat.v1.graph_def import GraphDef, make_tensor_proto, shape_proto
from jaxcourse.data.spec import DataSpec
from jaxcourse.runners import load_config, run_experiment


def _frozen_softmax_regression(path, inputs: int, classes: int) -> np.ndarray:
    """A frozen `softmax(x W + b)` GraphDef, as TF freezes one (Consts for the variables)."""
    w = np.random.default_rng(0).normal(0, 0.01, (inputs, classes)).astype(np.float32)
    graph_def = GraphDef()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    x.attr["shape"].shape.CopyFrom(shape_proto((None, inputs)))
    for name, value in (("W", w), ("b", np.zeros(classes, np.float32))):
        const = graph_def.node.add(name=name, op="Const")
        const.attr["dtype"].type = 1
        const.attr["value"].tensor.CopyFrom(make_tensor_proto(value))
    graph_def.node.add(name="MatMul", op="MatMul", input=["x", "W"]).attr["T"].type = 1
    graph_def.node.add(name="add", op="AddV2", input=["MatMul", "b"]).attr["T"].type = 1
    graph_def.node.add(name="prediction", op="Softmax", input=["add"]).attr["T"].type = 1
    path.write_bytes(graph_def.SerializeToString())
    return w


def test_engine_fine_tunes_a_frozen_pb_from_its_constants(tmp_path):
    pb = tmp_path / "frozen.pb"
    w = _frozen_softmax_regression(pb, 64, len(synthetic_images.CLASS_NAMES))
    raw = synthetic_images.config(tensorboard=False, jsonl=True)
    raw["model"] = {"name": "graph_def", "path": str(pb), "input": "x:0", "output": "prediction:0"}
    config = load_config(raw=raw)
    spec = DataSpec((8, 8, 1), "classification", 4, synthetic_images.CLASS_NAMES)
    module = models.build(config.model, spec)
    params = module.init(jax.random.key(0), np.zeros((2, 8, 8, 1), np.float32))["params"]
    np.testing.assert_array_equal(params["W"], w)  # training starts from the frozen weights
    raw["train"].update(steps=100, log_every=50)
    summary = run_experiment(load_config(raw=raw), tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert max(losses) < 0.5 * np.log(4)  # the frozen W (~0) starts at log(4) = 1.39
    assert summary["final"]["test/accuracy"] > 0.5  # 4 classes: chance is 0.25
