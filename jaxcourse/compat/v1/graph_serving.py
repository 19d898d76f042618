"""Export a TF1 graph (an imported `.pb` or one built in a script) for `jaxcourse predict`.

The graph's classifier becomes `to_jax(output, [input])` with its variables and float
constants as the export's parameters, written by `jaxcourse.inference.export` in the same
format as a trained run's export (StableHLO + params.npz + manifest), so `jaxcourse predict`
serves it without TensorFlow or the graph code.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.graph import Graph, Tensor, get_default_graph
from jaxcourse.compat.v1.to_jax import to_jax
from jaxcourse.inference.export import ExportError, export_function, image_preprocessing


def export_graph(
    out_dir: str | Path,
    output,
    input,  # noqa: A002  (the graph's input tensor, as in TF's signatures)
    *,
    image_shape: tuple[int, int, int],
    graph: Graph | None = None,
    session=None,
    normalize: str = "unit",
    labels: list[str] | None = None,
    output_is_probabilities: bool = True,
    fixed_feeds: dict | None = None,
    source: dict | None = None,
    platforms: tuple[str, ...] = ("cpu",),
) -> Path:
    """Export `output = graph(input)` for images of `image_shape` (H, W, C) to `out_dir`.

    `input` may take the image flattened (the course's [None, 784]); images are reshaped
    to it. `output` is the graph's probabilities (or logits with
    `output_is_probabilities=False`); `session` holds the variables' values, if any;
    `fixed_feeds` gives other placeholders a value baked into the export ({'keep_prob:0': 1}).
    """
    graph = graph or get_default_graph()
    image_shape = tuple(int(d) for d in image_shape)
    fixed = [(graph.as_graph_element(k), v) for k, v in (fixed_feeds or {}).items()]
    f = to_jax(output, [input] + [t for t, _ in fixed], graph, lift_constants=True)
    fixed_values = [np.asarray(v, t.dtype) for t, v in fixed]
    feed: Tensor = f.feeds[0]
    if feed.shape is not None and feed.shape[1:] and None not in feed.shape[1:]:
        row_shape = tuple(feed.shape[1:])
        if int(np.prod(row_shape)) != int(np.prod(image_shape)):
            raise ExportError(
                f"input {feed.describe()} takes rows of shape {list(row_shape)}, which images of "
                f"shape {list(image_shape)} do not fill"
            )
    else:
        row_shape = image_shape
    params = f.initial_variables(session)

    def apply(p, images):
        rows = images.reshape((images.shape[0], *row_shape)).astype(feed.dtype)
        out = f(p, rows, *fixed_values)
        # export_function applies softmax to what this returns: softmax(log p) = p
        return jnp.log(out) if output_is_probabilities else out

    return export_function(
        apply,
        params,
        image_shape,
        out_dir,
        preprocessing=image_preprocessing(image_shape, normalize),
        labels=list(labels or []),
        input_name=feed.op.name,
        output_name=f.fetches[0].op.name,
        source=source or {"graph": "TF1 graph", "input": feed.name, "output": f.fetches[0].name},
        platforms=platforms,
    )


def export_graph_def_file(
    path: str | Path, out_dir: str | Path, input_name: str, output_name: str, **options
) -> Path:
    """Import the frozen GraphDef at `path` into a fresh graph and export it (`export_graph`)."""
    from jaxcourse.compat.v1.graph_def import GraphDef
    from jaxcourse.compat.v1.importer import import_graph_def

    path = Path(path)
    graph_def = GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except OSError as err:
        raise ExportError(f"cannot read GraphDef '{path}': {err}") from None
    except Exception as err:  # noqa: BLE001  (protobuf's DecodeError: the file is not a GraphDef)
        raise ExportError(f"'{path}' is not a GraphDef (.pb): {err}") from None
    graph = Graph()
    with graph.as_default():
        import_graph_def(graph_def, name="")
        return export_graph(
            out_dir,
            graph.as_graph_element(output_name),
            graph.as_graph_element(input_name),
            graph=graph,
            source={"graph_def": str(path.absolute()), "input": input_name, "output": output_name},
            **options,
        )
