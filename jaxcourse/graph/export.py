"""Show a JAX function's graph: its jaxpr as text, Graphviz DOT/SVG, or a TensorBoard GraphDef.

The jaxpr *is* the graph: every equation becomes a node named after its name scope (the
`jax.named_scope`s and Flax module names active when it was traced), so TensorBoard's Graphs
dashboard shows scopes as collapsible groups and tensor shapes on the edges. Calls that
JAX keeps as sub-jaxprs (`jit`, `custom_jvp`, `custom_vjp`, `remat`) are inlined under a scope
of their name; control flow (`scan`, `while`, `cond`) stays one node whose bodies are drawn in a
group beside it. Equations of the backward pass (`transpose`) go under a `gradients` scope,
as in TF.

Public API (any function JAX can trace, e.g. a toolkit `train_step(state, batch)`):

- `jaxpr_text(fn, *args, **kwargs) -> str`: the jaxpr, as `jax.make_jaxpr` prints it.
- `to_dot(fn, *args, **kwargs) -> str`: Graphviz DOT, scopes as clusters, shapes on edges.
- `to_svg(fn, *args, **kwargs) -> str`: the DOT rendered by Graphviz's `dot` (must be installed).
- `to_graph_def(fn, *args, **kwargs) -> GraphDef`: a TensorBoard `GraphDef` (tensorboardX protos).
- `write_tensorboard_graph(logdir, fn, *args, **kwargs) -> GraphDef`: write it to an event file.

Lower level, to render one traced graph several ways: `nodes_of(fn, *args)` or
`build_graph(closed_jaxpr, input_names, output_names)` give a list of `GraphNode`s;
`graph_def_from_nodes`, `dot_from_nodes`, `render_svg` and `write_graph_def` render them.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import numpy as np
from jax.extend import core as jcore

MAX_CHILDREN = 200
"""Most direct children of one scope; larger scopes are split into `part_N` groups."""

_INLINED = {"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call"}
_INLINED |= {"remat", "remat2", "checkpoint", "custom_lin"}
_CALL_SCOPES = {"remat": "checkpoint", "remat2": "checkpoint", "checkpoint": "checkpoint"}


@dataclass
class GraphNode:
    """One node of the exported graph: a jaxpr equation, an input, a constant or an output."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[tuple[tuple[int | None, ...], str]] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)


def trace(fn: Callable, *args, **kwargs) -> jcore.ClosedJaxpr:
    """The closed jaxpr of `fn(*args, **kwargs)` (arrays or `jax.ShapeDtypeStruct`s)."""
    return jax.make_jaxpr(fn)(*args, **kwargs)


def jaxpr_text(fn: Callable, *args, **kwargs) -> str:
    """The jaxpr of `fn(*args, **kwargs)` as text."""
    return str(trace(fn, *args, **kwargs))


def to_graph_def(fn: Callable, *args, **kwargs):
    """A TensorBoard GraphDef of `fn(*args, **kwargs)`: scopes as groups, shapes on edges."""
    return graph_def_from_nodes(nodes_of(fn, *args, **kwargs))


def to_dot(fn: Callable, *args, **kwargs) -> str:
    """Graphviz DOT of `fn(*args, **kwargs)`: scopes as clusters, shapes on edges."""
    return dot_from_nodes(nodes_of(fn, *args, **kwargs))


def to_svg(fn: Callable, *args, **kwargs) -> str:
    """SVG of `fn(*args, **kwargs)`, rendered by Graphviz's `dot` program."""
    return render_svg(to_dot(fn, *args, **kwargs))


def write_tensorboard_graph(logdir, fn: Callable, *args, **kwargs):
    """Write the GraphDef of `fn(*args, **kwargs)` to an event file in `logdir`; return it."""
    graph_def = to_graph_def(fn, *args, **kwargs)
    write_graph_def(logdir, graph_def)
    return graph_def


def write_graph_def(logdir, graph_def) -> None:
    """Append `graph_def` to a new event file in `logdir` (TensorBoard's Graphs dashboard)."""
    from tensorboardX.writer import FileWriter

    writer = FileWriter(str(logdir))
    try:
        writer.add_onnx_graph(graph_def)
    finally:
        writer.close()


def render_svg(dot: str) -> str:
    """Render DOT text to SVG with Graphviz's `dot` (apt package `graphviz`)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            "Graphviz's 'dot' program was not found on PATH; install Graphviz "
            "(e.g. `apt-get install graphviz`) or use to_dot() and render it elsewhere"
        )
    done = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


# ---------------------------------------------------------------------------------------------
# jaxpr -> nodes


def nodes_of(fn: Callable, *args, **kwargs) -> list[GraphNode]:
    """The graph nodes of `fn(*args, **kwargs)` (inputs named after its parameters)."""
    closed = trace(fn, *args, **kwargs)
    input_names = _argument_names(fn, args, kwargs)
    out_shape = jax.eval_shape(fn, *args, **kwargs)
    output_names = ["outputs" + _path_str(p) for p, _ in _leaves_with_path(out_shape)]
    return build_graph(closed, input_names, output_names)


def _leaves_with_path(tree):
    return jax.tree_util.tree_flatten_with_path(tree)[0]


def _path_str(path) -> str:
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "".join("/" + _clean(p) for p in parts)


def _clean(part: str) -> str:
    """A name part TensorBoard accepts: no slashes, colons or spaces."""
    out = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(part))
    return out or "_"


def _argument_names(fn: Callable, args: tuple, kwargs: dict) -> list[str]:
    """`inputs/<parameter>/<pytree path>` for every array leaf of the arguments."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i, arg in enumerate(args):
        base = "inputs/" + (_clean(params[i]) if i < len(params) else f"arg{i}")
        names += [base + _path_str(p) for p, _ in _leaves_with_path(arg)]
    for key in sorted(kwargs):
        names += ["inputs/" + _clean(key) + _path_str(p) for p, _ in _leaves_with_path(kwargs[key])]
    return names


def _scope_of(name_stack) -> list[str]:
    """Scope parts of an equation's name stack; a backward pass (transpose) adds `gradients`."""
    parts: list[str] = []
    for item in getattr(name_stack, "stack", ()):
        if type(item).__name__ == "Transform":
            if item.name == "transpose" and "gradients" not in parts:
                parts.append("gradients")
        else:
            parts += [_clean(p) for p in str(item.name).split("/") if p]
    return parts


def _aval_shape(aval) -> tuple[tuple[int | None, ...], str]:
    shape = tuple(d if isinstance(d, int) else None for d in getattr(aval, "shape", ()))
    return shape, str(getattr(aval, "dtype", type(aval).__name__))


def _short(value, limit: int = 120) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Builder:
    """Walks a jaxpr, inlining calls, and emits uniquely named nodes."""

    def __init__(self):
        self.nodes: list[GraphNode] = []
        self.counts: dict[str, int] = defaultdict(int)

    def unique(self, base: str) -> str:
        n = self.counts[base]
        self.counts[base] += 1
        return base if n == 0 else f"{base}_{n}"

    def add(self, scope: list[str], leaf: str, op: str, avals, inputs=(), attrs=None) -> str:
        name = self.unique("/".join([*scope, _clean(leaf)]))
        outputs = [_aval_shape(a) for a in avals]
        self.nodes.append(GraphNode(name, op, list(inputs), outputs, dict(attrs or {})))
        return name

    def emit(self, jaxpr: jcore.Jaxpr, env: dict, outer_scope: list[str]) -> None:
        """Emit `jaxpr`'s equations; `env` maps its input Vars to node output references."""
        for eqn in jaxpr.eqns:
            scope = outer_scope + _scope_of(eqn.source_info.name_stack)
            inputs, literals = [], {}
            for i, var in enumerate(eqn.invars):
                if isinstance(var, jcore.Literal):
                    literals[f"input_{i}"] = _short(var.val, 40)
                elif var in env:
                    inputs.append(env[var])
            sub = _inlinable(eqn)
            if sub is not None:
                inner, consts = sub
                inner_env = {}
                for v, c in zip(inner.constvars, consts, strict=False):
                    inner_env[v] = self.add(scope, "const", "Const", [v.aval], (), _const_attr(c))
                for v, outer in zip(inner.invars, eqn.invars, strict=True):
                    if isinstance(outer, jcore.Literal):
                        inner_env[v] = self.add(
                            scope, "literal", "Const", [v.aval], (), {"value": _short(outer.val)}
                        )
                    elif outer in env:
                        inner_env[v] = env[outer]
                name = eqn.params.get("name") or _CALL_SCOPES.get(eqn.primitive.name, "call")
                whole = not outer_scope and len(jaxpr.eqns) == 1  # fn itself was jitted
                self.emit(inner, inner_env, scope if whole else scope + [_clean(name)])
                for v, outer in zip(inner.outvars, eqn.outvars, strict=True):
                    if isinstance(outer, jcore.DropVar):
                        continue
                    if isinstance(v, jcore.Literal):  # h15core: a call that returns a constant
                        env[outer] = self.add(
                            scope, "literal", "Const", [v.aval], (), {"value": _short(v.val)}
                        )
                    elif v in inner_env:
                        env[outer] = inner_env[v]
                continue
            attrs = {k: _short(v) for k, v in eqn.params.items() if not _is_jaxpr(v)}
            attrs.update(literals)
            node = self.add(
                scope,
                eqn.primitive.name,
                eqn.primitive.name,
                [v.aval for v in eqn.outvars],
                inputs,
                attrs,
            )
            for i, v in enumerate(eqn.outvars):
                if not isinstance(v, jcore.DropVar):
                    env[v] = node if i == 0 else f"{node}:{i}"
            for key, body in _sub_jaxprs(eqn):
                self._emit_body(body, node, key)

    def _emit_body(self, body, owner: str, key: str) -> None:
        """Draw a control-flow body in a group beside its node, with its own argument nodes."""
        inner = body.jaxpr if hasattr(body, "jaxpr") else body
        scope = [*owner.split("/")[:-1], _clean(owner.split("/")[-1] + "_" + key)]
        env = {v: self.add(scope, f"arg{i}", "Arg", [v.aval]) for i, v in enumerate(inner.invars)}
        for v in inner.constvars:
            env[v] = self.add(scope, "const", "Const", [v.aval])
        self.emit(inner, env, scope)
        for i, v in enumerate(inner.outvars):
            src = [env[v]] if v in env else []
            self.add(scope, f"result{i}", "Result", [v.aval], src)


def _is_jaxpr(value) -> bool:
    return isinstance(value, jcore.Jaxpr | jcore.ClosedJaxpr)


def _sub_jaxprs(eqn) -> list[tuple[str, object]]:
    found = []
    for key, value in eqn.params.items():
        if _is_jaxpr(value):
            found.append((key, value))
        elif isinstance(value, tuple | list):
            found += [(f"{key}{i}", v) for i, v in enumerate(value) if _is_jaxpr(v)]
    return found


def _inlinable(eqn):
    """(jaxpr, consts) of a call equation whose body maps inputs to outputs one to one."""
    if eqn.primitive.name not in _INLINED:
        return None
    subs = _sub_jaxprs(eqn)
    if not subs:
        return None
    body = subs[0][1]
    inner, consts = (body.jaxpr, body.consts) if hasattr(body, "jaxpr") else (body, [])
    if len(inner.invars) != len(eqn.invars) or len(inner.outvars) != len(eqn.outvars):
        return None
    return inner, consts


def _const_attr(value) -> dict[str, str]:
    arr = np.asarray(value) if not hasattr(value, "dtype") or value.size < 16 else None
    return {"value": _short(arr)} if arr is not None else {}


def build_graph(
    closed: jcore.ClosedJaxpr,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    max_children: int = MAX_CHILDREN,
    input_ops: Sequence[str] | None = None,
) -> list[GraphNode]:
    """The nodes of `closed`'s graph; inputs and outputs get the given names (and inputs
    the given op types, default `Input`).

    Every scope ends up with at most `max_children` direct children, and a scope that holds
    a single node becomes that node (so a TF op `layer1/MatMul` is one node, not a group).
    """
    jaxpr = closed.jaxpr
    n_in = len(jaxpr.invars)
    input_names = list(input_names) if input_names is not None else []
    input_names += [f"inputs/arg{i}" for i in range(len(input_names), n_in)]
    builder = _Builder()
    env: dict = {}
    input_ops = list(input_ops or [])
    input_ops += ["Input"] * (n_in - len(input_ops))
    for var, name, op in zip(jaxpr.invars, input_names, input_ops, strict=False):
        env[var] = builder.add(name.split("/")[:-1], name.split("/")[-1], op, [var.aval])
    for var, value in zip(jaxpr.constvars, closed.consts, strict=True):
        env[var] = builder.add(["constants"], "const", "Const", [var.aval], (), _const_attr(value))
    builder.emit(jaxpr, env, [])
    output_names = list(output_names) if output_names is not None else []
    output_names += [f"outputs/out{i}" for i in range(len(output_names), len(jaxpr.outvars))]
    for var, name in zip(jaxpr.outvars, output_names, strict=False):
        if isinstance(var, jcore.Literal):
            src, attrs = [], {"value": _short(var.val)}
        else:
            src, attrs = ([env[var]] if var in env else []), {}
        builder.add(name.split("/")[:-1], name.split("/")[-1], "Output", [var.aval], src, attrs)
    return _tidy(builder.nodes, max_children)


# ---------------------------------------------------------------------------------------------
# scope tidying: single-node groups collapse, crowded scopes split


def _rename(nodes: list[GraphNode], mapping: dict[str, str]) -> None:
    if not mapping:
        return
    for node in nodes:
        node.name = mapping.get(node.name, node.name)
        fixed = []
        for ref in node.inputs:
            base, sep, idx = ref.partition(":")
            fixed.append(mapping.get(base, base) + sep + idx)
        node.inputs = fixed


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


def _tidy(nodes: list[GraphNode], max_children: int) -> list[GraphNode]:
    names = {n.name for n in nodes}
    members: dict[str, list[str]] = defaultdict(list)  # group -> node names anywhere under it
    for name in names:
        parts = name.split("/")
        for i in range(1, len(parts)):
            members["/".join(parts[:i])].append(name)
    ops = {n.name: n.op for n in nodes}
    collapse = {
        only[0]: group
        for group, only in members.items()
        if len(only) == 1
        and group not in names
        and _parent(only[0]) == group
        and only[0].rpartition("/")[2] == ops[only[0]]  # an equation, named after its primitive
    }
    _rename(nodes, collapse)
    _rename(nodes, _split_crowded([n.name for n in nodes], max_children))
    return nodes


def _split_crowded(names: list[str], limit: int) -> dict[str, str]:
    """Renames that put the leaves of over-full scopes into `part_N` subgroups."""
    leaves: dict[str, list[str]] = defaultdict(list)
    subgroups: dict[str, set[str]] = defaultdict(set)
    for name in names:
        leaves[_parent(name)].append(name)
        parts = name.split("/")
        for i in range(len(parts) - 1):
            subgroups["/".join(parts[:i])].add(parts[i])
    mapping = {}
    for parent, members in leaves.items():
        if len(members) + len(subgroups[parent]) <= limit:
            continue
        for name, prefix in zip(members, _chunk_prefixes(len(members), limit), strict=True):
            leaf = name.rpartition("/")[2]
            mapping[name] = "/".join(p for p in (parent, prefix, leaf) if p)
    return mapping


def _chunk_prefixes(n: int, limit: int) -> list[str]:
    """Group paths (`part_3`, `part_1/part_0`, ...) that put n items in groups of <= limit."""
    if n <= limit:
        return [""] * n
    chunk = limit
    while -(-n // chunk) > limit:
        chunk *= limit
    prefixes = []
    for i in range(n):
        k = i // chunk
        inner = _chunk_prefixes(min(chunk, n - k * chunk), limit)[i - k * chunk]
        prefixes.append(f"part_{k}" + (f"/{inner}" if inner else ""))
    return prefixes


# ---------------------------------------------------------------------------------------------
# renderers


def _dtype_enum(dtype: str) -> int:
    from tensorboardX.proto import types_pb2

    table = {
        "float32": "DT_FLOAT",
        "float64": "DT_DOUBLE",
        "float16": "DT_HALF",
        "bfloat16": "DT_BFLOAT16",
        "int8": "DT_INT8",
        "int16": "DT_INT16",
        "int32": "DT_INT32",
        "int64": "DT_INT64",
        "uint8": "DT_UINT8",
        "uint16": "DT_UINT16",
        "bool": "DT_BOOL",
        "complex64": "DT_COMPLEX64",
    }
    return types_pb2.DataType.Value(table.get(dtype, "DT_INVALID"))


def _shape_proto(shape):
    from tensorboardX.proto import tensor_shape_pb2

    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in shape]
    )


def graph_def_from_nodes(nodes: Sequence[GraphNode]):
    """A GraphDef whose nodes carry `_output_shapes` (edge labels) and their dtype."""
    # tensorboardX is imported here, not at the top: it imports torch when that is installed
    from tensorboardX.proto import attr_value_pb2, graph_pb2, node_def_pb2, versions_pb2

    graph_def = graph_pb2.GraphDef(versions=versions_pb2.VersionDef(producer=22))
    for node in nodes:
        attr = {
            "_output_shapes": attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(
                    shape=[_shape_proto(shape) for shape, _ in node.outputs]
                )
            )
        }
        if node.outputs:
            attr["T"] = attr_value_pb2.AttrValue(type=_dtype_enum(node.outputs[0][1]))
        for key, value in node.attrs.items():
            attr[key] = attr_value_pb2.AttrValue(s=value.encode())
        graph_def.node.append(
            node_def_pb2.NodeDef(name=node.name, op=node.op, input=node.inputs, attr=attr)
        )
    return graph_def


def _shape_label(shape, dtype: str) -> str:
    return dtype + "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_from_nodes(nodes: Sequence[GraphNode]) -> str:
    """Graphviz DOT text: one cluster per scope, edges labelled with shape and dtype."""
    by_name = {n.name: n for n in nodes}
    tree: dict = {}
    for node in nodes:
        branch = tree
        for part in node.name.split("/")[:-1]:
            branch = branch.setdefault(part, {})
        branch.setdefault(None, []).append(node)
    lines = [
        "digraph jaxpr {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontsize=10];',
        "  edge [fontsize=8];",
    ]
    counter = [0]

    def emit(branch: dict, prefix: str, indent: str) -> None:
        for node in branch.get(None, []):
            label = node.name.rpartition("/")[2]
            if label != node.op:
                label += f"\\n{node.op}"
            lines.append(f"{indent}{_quote(node.name)} [label={_quote(label)}];")
        for key, sub in branch.items():
            if key is None:
                continue
            counter[0] += 1
            lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
            lines.append(f"{indent}  label={_quote(key)}; style=rounded; color=gray60;")
            emit(sub, f"{prefix}{key}/", indent + "  ")
            lines.append(f"{indent}}}")

    emit(tree, "", "  ")
    for node in nodes:
        for ref in node.inputs:
            base, _, idx = ref.partition(":")
            src = by_name.get(base)
            if src is None:
                continue
            shape, dtype = src.outputs[int(idx or 0)] if src.outputs else ((), "?")
            lines.append(
                f"  {_quote(base)} -> {_quote(node.name)} "
                f"[label={_quote(_shape_label(shape, dtype))}];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"
