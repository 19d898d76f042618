"""The jaxpr exporter: text, DOT/SVG and TensorBoard GraphDef of toolkit functions."""

from __future__ import annotations

import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcourse import config
from jaxcourse.graph import export as graph_export
from jaxcourse.runners import supervised

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mlp_step():
    """The supervised train step of the 1-10-1 tanh regression, with a batch of 16."""
    cfg = config.load(str(REPO / "configs" / "nonlinear_regression.yaml"), [])
    training = supervised.build(cfg)
    batch = {k: v[:16] for k, v in training.dataset.splits["train"].items()}
    return training.train_step, training.state, batch


def _by_name(nodes):
    return {n.name: n for n in nodes}


def test_train_step_graph_has_module_scopes_shapes_and_gradients(mlp_step):
    step, state, batch = mlp_step
    nodes = _by_name(graph_export.nodes_of(step, state, batch))
    kernel = nodes["inputs/state/params/hidden1/kernel"]
    assert kernel.op == "Input" and kernel.outputs == [((1, 10), "float32")]
    matmul = nodes["MLP/hidden1/dot_general"]
    assert set(matmul.inputs) == {"inputs/batch/x", "inputs/state/params/hidden1/kernel"}
    assert matmul.outputs == [((16, 10), "float32")]
    assert any(name.startswith("gradients/MLP/output/") for name in nodes)
    assert nodes["outputs/1/loss"].op == "Output"
    # every edge points at an existing node output
    for node in nodes.values():
        for ref in node.inputs:
            base, _, idx = ref.partition(":")
            assert base in nodes and int(idx or 0) < len(nodes[base].outputs)


def test_graph_def_matches_the_jaxpr(mlp_step):
    step, state, batch = mlp_step
    closed = graph_export.trace(step, state, batch)
    graph_def = graph_export.to_graph_def(step, state, batch)
    ops = [n.op for n in graph_def.node]
    n_leaves = len(jax.tree_util.tree_leaves((state, batch)))
    assert ops.count("Input") == n_leaves
    assert ops.count("Output") == len(closed.jaxpr.outvars)
    assert sum(op not in ("Input", "Output", "Const") for op in ops) == len(closed.jaxpr.eqns)
    matmul = next(n for n in graph_def.node if n.name == "MLP/hidden1/dot_general")
    dims = [d.size for d in matmul.attr["_output_shapes"].list.shape[0].dim]
    assert dims == [16, 10]
    assert "dot_general" in graph_export.jaxpr_text(step, state, batch)


def test_calls_are_inlined_and_control_flow_bodies_drawn():
    def fn(x):
        y = jax.jit(jnp.tanh)(x)
        total, _ = jax.lax.scan(lambda c, a: (c + a * 2.0, None), 0.0, y)
        return jax.checkpoint(lambda t: jnp.sin(t) * 3.0)(jax.nn.relu(total))

    nodes = _by_name(graph_export.nodes_of(fn, jnp.ones(4)))
    # the inner jit is inlined in a scope of its name, which, holding one node, became it
    assert nodes["tanh"].op == "tanh" and nodes["tanh"].inputs == ["inputs/x"]
    scan = nodes["scan"]
    assert "tanh" in scan.inputs and scan.attrs["length"] == "4"
    body = [n for n in nodes if n.startswith("scan_jaxpr/")]
    assert {nodes[n].op for n in body} >= {"Arg", "mul", "add", "Result"}
    assert nodes["checkpoint/mul"].inputs == ["checkpoint/sin"]  # remat inlined in a scope


def test_crowded_scopes_are_split_and_single_node_scopes_collapse():
    def fn(x):
        for i in range(450):
            x = x * (1.0 + i * 1e-3)
        with jax.named_scope("only"):
            x = jnp.sin(x)
        return x

    closed = graph_export.trace(fn, jnp.ones(3))
    nodes = graph_export.build_graph(closed, ["x"], ["y"], max_children=100)
    names = [n.name for n in nodes]
    sin = next(n for n in nodes if n.op == "sin")
    assert sin.name.rpartition("/")[2] == "only"  # a scope holding one equation became it
    children = {}
    for name in names:
        parts = name.split("/")
        for i in range(len(parts)):
            children.setdefault("/".join(parts[:i]), set()).add(parts[i])
    assert max(len(c) for c in children.values()) <= 100
    assert len(nodes) == 450 + 3
    known = set(names)
    assert all(ref.partition(":")[0] in known for n in nodes for ref in n.inputs)


def test_dot_has_clusters_and_shape_labels(mlp_step):
    step, state, batch = mlp_step
    dot = graph_export.to_dot(step, state, batch)
    assert dot.startswith("digraph") and 'label="hidden1"' in dot
    assert '"inputs/batch/x" -> "MLP/hidden1/dot_general" [label="float32[16,1]"]' in dot
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' not installed: SVG rendering not checked")
    svg = graph_export.to_svg(step, state, batch)
    assert "<svg" in svg and "dot_general" in svg


def test_cli_graph_command_writes_event_file_jaxpr_and_dot(tmp_path, cli):
    done = cli(
        "graph", "configs/linear_regression.yaml", "seed=3", "--logdir", str(tmp_path / "tb")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tb" / "train_step.jaxpr.txt").read_text().startswith("{ lambda")
    assert (tmp_path / "tb" / "train_step.dot").read_text().startswith("digraph")
    # read back by TensorBoard's own event reader (the server itself: test_compat_v1_io.py)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    ops = {node.name: node.op for node in events.Graph().node}
    assert ops["inputs/batch/x"] == "Input" and ops["Linear/dot_general"] == "dot_general"
    assert any(name.startswith("gradients/") for name in ops)


def test_cli_graph_rejects_bad_config_key(tmp_path, cli):
    done = cli(
        "graph", "configs/linear_regression.yaml", "optimizer.lr=1", "--logdir", str(tmp_path)
    )
    assert done.returncode == 2 and "optimizer" in done.stderr
    assert not list(tmp_path.iterdir())


def test_literal_outputs_and_numpy_constants():
    const = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    nodes = _by_name(graph_export.nodes_of(lambda x: (x @ const, 2.0), jnp.ones((4, 2))))
    assert nodes["outputs/1"].attrs["value"] == "2.0"
    assert nodes["dot_general"].outputs == [((4, 3), "float32")]
