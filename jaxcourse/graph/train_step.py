"""`jaxcourse graph`: write the train step of an experiment as a graph.

The step is traced on one batch of the experiment's own training data, so the shapes on the
edges are the real ones. Writes a TensorBoard event file (Graphs dashboard), the jaxpr text
and Graphviz DOT (plus SVG when Graphviz's `dot` is installed) into `logdir`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from jaxcourse import config as config_lib
from jaxcourse.errors import ConfigError
from jaxcourse.graph import export as graph_export


def write_train_step_graph(config_path: str, overrides: list[str], logdir: str) -> dict:
    """Trace the train step of `config_path` and write its graph into `logdir`; a summary."""
    import jaxcourse.runners  # noqa: F401  (registers the experiments)
    from jaxcourse.runners import supervised

    config = config_lib.load(config_path, overrides)
    if not isinstance(config, supervised.SupervisedConfig):
        raise ConfigError(
            f"config key 'experiment': `jaxcourse graph` needs a supervised-style experiment "
            f"(one built by jaxcourse.runners.supervised.build), got '{config.experiment}'"
        )
    training = supervised.build(config)
    split = training.dataset.splits["train"]
    batch = {key: value[: training.schedule.batch_size] for key, value in split.items()}
    args = (training.state, batch)
    out = Path(logdir)
    out.mkdir(parents=True, exist_ok=True)
    closed = graph_export.trace(training.train_step, *args)
    nodes = graph_export.nodes_of(training.train_step, *args)
    graph_export.write_graph_def(out, graph_export.graph_def_from_nodes(nodes))
    files = {"jaxpr": out / "train_step.jaxpr.txt", "dot": out / "train_step.dot"}
    files["jaxpr"].write_text(str(closed))
    dot = graph_export.dot_from_nodes(nodes)
    files["dot"].write_text(dot)
    if shutil.which("dot"):
        files["svg"] = out / "train_step.svg"
        files["svg"].write_text(graph_export.render_svg(dot))
    return {
        "logdir": str(out),
        "nodes": len(nodes),
        "equations": len(closed.jaxpr.eqns),
        "files": {key: str(path) for key, path in files.items()},
        "view": f"tensorboard --logdir {out}  (Graphs tab)",
    }
