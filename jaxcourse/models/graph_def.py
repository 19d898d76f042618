"""A frozen TF1 GraphDef (`.pb`) as a model the engine fine-tunes: its constants are params.

`model: {name: graph_def, path: model.pb, input: x:0, output: prediction:0}` imports the
GraphDef (no TensorFlow needed), turns the part between `input` and `output` into a pure
function with `compat.v1.to_jax` and makes every float array constant a parameter set to its
frozen value, so training continues from the frozen weights.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from pydantic import Field

from jaxcourse.data.spec import DataSpec
from jaxcourse.errors import ConfigError
from jaxcourse.models.registry import MODELS, ModelConfig


class GraphDefModelConfig(ModelConfig):
    path: str = Field(description="The frozen GraphDef file (.pb).")
    input: str = Field("x:0", description="The graph's input tensor (fed the batch).")
    output: str = Field(description="The graph's output tensor: probabilities or logits.")
    output_is_probabilities: bool = Field(
        True, description="Whether `output` is a softmax (its log becomes the logits)."
    )
    feeds: dict[str, float] = Field(
        {}, description="Values for the graph's other placeholders ({'keep_prob:0': 1.0})."
    )


@functools.cache
def _graph_function(path: str, input_name: str, output_name: str, fixed: tuple):
    from jaxcourse.compat.v1.graph import Graph
    from jaxcourse.compat.v1.graph_def import GraphDef
    from jaxcourse.compat.v1.importer import import_graph_def
    from jaxcourse.compat.v1.to_jax import to_jax

    graph_def = GraphDef()
    try:
        graph_def.ParseFromString(Path(path).read_bytes())
    except OSError as err:
        raise ConfigError(f"model.path: cannot read GraphDef '{path}': {err}") from None
    except Exception as err:  # noqa: BLE001  (protobuf's DecodeError)
        raise ConfigError(f"model.path: '{path}' is not a GraphDef (.pb): {err}") from None
    graph = Graph()
    with graph.as_default():
        import_graph_def(graph_def, name="")
        feeds = [input_name] + [name for name, _ in fixed]
        return to_jax(output_name, feeds, graph, lift_constants=True)


class GraphDefModel(nn.Module):
    """Runs the imported graph on the batch (reshaped to the graph's input rows)."""

    graph_path: str  # (`path` is a Module property)
    input: str
    output: str
    output_is_probabilities: bool
    fixed: tuple  # ((placeholder name, value), ...)

    @nn.compact
    def __call__(self, x, train: bool = False):
        f = _graph_function(self.graph_path, self.input, self.output, self.fixed)
        params = {
            name: self.param(name, lambda rng, v=value: jnp.asarray(v))
            for name, value in f.initial_variables().items()
        }
        feed = f.feeds[0]
        row = feed.shape[1:] if feed.shape is not None and None not in feed.shape[1:] else None
        rows = x.reshape((x.shape[0], *row)) if row else x
        fixed = [np.asarray(v, t.dtype) for t, (_, v) in zip(f.feeds[1:], self.fixed, strict=True)]
        out = f(params, rows.astype(feed.dtype), *fixed)
        return jnp.log(out) if self.output_is_probabilities else out


@MODELS.register("graph_def", GraphDefModelConfig)
def graph_def_model(cfg: GraphDefModelConfig, spec: DataSpec) -> nn.Module:
    return GraphDefModel(
        graph_path=cfg.path,
        input=cfg.input,
        output=cfg.output,
        output_is_probabilities=cfg.output_is_probabilities,
        fixed=tuple(sorted(cfg.feeds.items())),
    )
