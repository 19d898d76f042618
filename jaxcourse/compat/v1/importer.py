"""`tf.import_graph_def`: a GraphDef's nodes become ordinary ops of the shim's graph.

Each node becomes one op whose compute is its converter's JAX function (see `converters`),
so `Session.run` prunes, compiles and caches imported ops like any others and TensorBoard
shows them. A while loop's frame becomes one op (its Exits are ops reading its outputs).
Every node's op type is checked before anything is built: an unknown type fails the import
with one message naming it, the node and the supported types.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxcourse.compat.v1 import converters
from jaxcourse.compat.v1.converters import control_flow
from jaxcourse.compat.v1.errors import InvalidArgumentError, NotFoundError
from jaxcourse.compat.v1.graph import (
    Graph,
    Operation,
    Tensor,
    get_default_graph,
    infer,
    make_host_op,
    make_op,
)
from jaxcourse.compat.v1.graph_def import (
    GraphDef,
    Node,
    NodeDef,
    dependency_order,
    fill_default_attrs,
    parse_input,
)

STATIC_CONST_LIMIT = 1024  # elements: larger integer Consts are not static values


def _as_graph_def(graph_def) -> GraphDef:
    if isinstance(graph_def, GraphDef):
        return graph_def
    if hasattr(graph_def, "SerializeToString"):  # another GraphDef class (TF's own)
        parsed = GraphDef()
        parsed.ParseFromString(graph_def.SerializeToString())
        return parsed
    raise TypeError(
        f"import_graph_def expects a GraphDef, got {type(graph_def).__name__}; parse a .pb "
        "file with graph_def = tf.GraphDef(); graph_def.ParseFromString(data)"
    )


def _output_dtype(node: Node, inputs: list[Tensor]):
    """The dtype a node's attributes give its outputs (else its first input's)."""
    for key in ("dtype", "DstT", "out_type", "output_type", "T"):
        value = node.attr(key)
        if value is not None and not isinstance(value, list):
            return value
    return inputs[0].dtype if inputs else np.dtype("float32")


def _tensor_key(name: str) -> str:
    name = name.lstrip("^")
    return name if ":" in name else f"{name}:0"


class _Importer:
    def __init__(self, graph: Graph, graph_def: GraphDef, prefix: str, input_map):
        self.graph = graph
        self.prefix = prefix
        self.input_map = {_tensor_key(k): v for k, v in (input_map or {}).items()}
        for key, value in self.input_map.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"input_map['{key}'] must be a Tensor, got {value!r}")
        self.used_inputs: set[str] = set()
        self.nodes: dict[str, Node] = {}
        for proto in graph_def.node:
            if proto.name in self.nodes:
                raise ValueError(f"GraphDef has two nodes named '{proto.name}'")
            copy = NodeDef()
            copy.CopyFrom(proto)
            fill_default_attrs(copy)
            self.nodes[proto.name] = Node(copy)
        self.outputs: dict[str, list[Tensor]] = {}
        self.ops: dict[str, Operation] = {}
        self.branches = control_flow.Branches()

    def full_name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    # -- checks and order ---------------------------------------------------------------------
    def check_op_types(self) -> None:
        for node in self.nodes.values():
            if node.op not in converters.CONTROL_FLOW_OPS:
                converters.converter_for(node.op, node.name)

    def source(self, name: str, consumer: Node) -> str:
        source = parse_input(name)[0]
        if source not in self.nodes:
            raise ValueError(
                f"GraphDef node '{consumer.name}' has input '{name}', but the GraphDef has no "
                f"node '{source}'"
            )
        return source

    def units(self, frames: dict[str, dict[str, Node]]) -> list[tuple[str, object]]:
        """Outer nodes and while frames, inputs first."""
        owner = {name: frame for frame, members in frames.items() for name in members}

        def unit_of(name):
            return ("frame", owner[name]) if name in owner else ("node", name)

        def deps(unit):
            kind, key = unit
            if kind == "frame":
                members = frames[key]
                sources = [
                    self.source(i, n)
                    for n in members.values()
                    if n.op == "Enter"
                    for i in n.inputs + n.control_inputs
                ]
            else:
                node = self.nodes[key]
                sources = [self.source(i, node) for i in node.inputs + node.control_inputs]
            return [unit_of(s) for s in sources if unit_of(s) != unit]

        return dependency_order([unit_of(name) for name in self.nodes], deps)

    # -- building -----------------------------------------------------------------------------
    def tensor(self, name: str, consumer: Node) -> Tensor:
        key = _tensor_key(name)
        if key in self.input_map:
            self.used_inputs.add(key)
            return self.input_map[key]
        source, index = parse_input(key)
        outputs = self.outputs.get(self.source(name, consumer), [])
        if index >= len(outputs):
            raise ValueError(
                f"GraphDef node '{consumer.name}' has input '{name}', but node '{source}' "
                f"({self.nodes[source].op}) has {len(outputs)} output(s)"
            )
        return outputs[index]

    def control(self, node: Node) -> list[Operation]:
        return [self.ops[self.source(name, node)] for name in node.control_inputs]

    def check_names_free(self) -> None:
        """Every imported node's name must be new to the graph (checked before building)."""
        for name in self.nodes:
            full = self.full_name(name)
            try:
                self.graph.get_operation_by_name(full)
            except NotFoundError:
                continue
            raise ValueError(
                f"cannot import node '{name}': the graph already has an operation named "
                f"'{full}' (pass name='...' to import_graph_def to put the imported nodes under "
                "a prefix)"
            )

    def build_node(self, node: Node) -> None:
        inputs = [self.tensor(i, node) for i in node.inputs]
        control = self.control(node)
        full = self.full_name(node.name)
        if node.op in ("Switch", "Merge"):  # a frozen tf.cond (loops are frames)
            self.record(node.name, self.conditional(node, inputs, control, full))
            return
        if node.op in converters.BUILDERS:
            with self.graph.control_dependencies(control):  # h18ckpt: TF's train_op has some
                result = converters.BUILDERS[node.op](node, inputs, full)
        else:
            result = self.converted(node, inputs, control, full)
        self.record(node.name, result)
        self.branches.record(node.name, len(self.outputs[node.name]), self.branches.of_node(node))

    def conditional(self, node: Node, inputs, control, full: str):
        data = inputs[0]
        if node.op == "Switch":
            self.branches.switch(node, inputs[1])
            compute = lambda ev, x, predicate: (x, x)  # noqa: E731
            shape, dtype = [data.shape] * 2, [data.dtype] * 2
        else:
            predicate, false_index, true_index = self.branches.merge(node)
            inputs = [*inputs, predicate]
            select = control_flow.merge_compute(false_index, true_index)
            compute = lambda ev, a, b, predicate: select(a, b, predicate)  # noqa: E731
            shape, dtype = [data.shape, ()], [data.dtype, np.dtype("int32")]
        return make_op(
            node.op, compute, inputs, full, outputs=2, shape=shape, dtype=dtype,
            infer_shape=False, control_inputs=control,
        )  # fmt: skip

    def converted(self, node: Node, inputs, control, full: str):
        fn = converters.converter_for(node.op, node.name)(node)
        options = {"outputs": converters.output_count(node), "control_inputs": control}
        signature = converters.SIGNATURES.get(node.op)
        if signature is not None:
            shape, dtype = signature(node)
            options.update(shape=shape, dtype=dtype, infer_shape=False)
        if node.op == "Const":
            value = fn()
            options.update(shape=value.shape, dtype=value.dtype)
            if value.size <= STATIC_CONST_LIMIT and value.dtype.kind in "iubO":
                options["static_value"] = value  # shapes, axes, sizes: known while building
        if node.op in converters.HOST_OPS:
            options.pop("infer_shape", None)
            return make_host_op(node.op, lambda hv, *xs: fn(*xs), inputs, full, **options)
        if node.op in converters.RANDOM_OPS:
            compute = lambda ev, *xs: fn(ev.key(), *xs)  # noqa: E731
        else:
            compute = lambda ev, *xs: fn(*xs)  # noqa: E731
        if options["outputs"] and "infer_shape" not in options and node.op != "Const":
            rule = converters.SHAPE_RULES.get(node.op)
            known = rule(node, inputs) if rule is not None else None
            if known is not None:
                options.update(shape=known[0], dtype=known[1], infer_shape=False)
            else:
                options.update(self.inferred(node, compute, inputs, full, options["outputs"]))
        return make_op(node.op, compute, inputs, full, **options)

    def inferred(self, node: Node, compute, inputs, full: str, count: int) -> dict:
        """Shape, dtype and static value of the node's outputs, from tracing its converter."""
        if any(t.shape is None and t.static_value is None for t in inputs):
            shape, dtype, static_value = None, None, None  # unknown rank in: unknown out
        else:
            shape, dtype, static_value = self.traced(node, compute, inputs, full)
        if shape is None and count != 1:
            shape = [None] * count
        if dtype is None:
            dtype = _output_dtype(node, inputs)
            dtype = dtype if count == 1 else [dtype] * count
        options = {"shape": shape, "dtype": dtype, "infer_shape": False}
        if count == 1 and static_value is not None:
            options["static_value"] = static_value
        return options

    @staticmethod
    def traced(node: Node, compute, inputs, full: str):
        """(shape, dtype, static value) from tracing; unknown when a shape argument is known
        only once a run is traced (`tf.shape` of a fed batch)."""
        try:
            return infer(compute, inputs, node.op, full)
        except InvalidArgumentError as err:
            cause = (converters.NotStaticError, jax.errors.ConcretizationTypeError)
            if not isinstance(err.__context__, cause):
                raise
        return None, None, None

    def build_frame(self, frame_name: str, members: dict[str, Node]) -> None:
        loop = control_flow.WhileFrame(
            frame_name, members, lambda n: converters.converter_for(n.op, n.name)(n)
        )
        inputs = [self.tensor(e.inputs[0], e) for e in loop.enters]
        control = [op for e in loop.enters for op in self.control(e)]
        dtypes = [e.require("T") for e in loop.exits]
        outs = make_op(
            "While",
            lambda ev, *xs: loop.compute(*xs),
            inputs,
            self.full_name(frame_name),
            outputs=len(loop.exits),
            shape=[None] * len(loop.exits),
            dtype=dtypes,
            infer_shape=False,
            control_inputs=control,
        )
        outs = outs if isinstance(outs, list) else [outs]
        for exit_node, out in zip(loop.exits, outs, strict=True):
            exit_tensor = make_op(
                "Exit",
                lambda ev, x: x,
                [out],
                self.full_name(exit_node.name),
                shape=None,
                dtype=exit_node.require("T"),
                infer_shape=False,
            )
            self.record(exit_node.name, exit_tensor)

    def record(self, name: str, result) -> None:
        if isinstance(result, Operation):
            self.ops[name], self.outputs[name] = result, []
        elif isinstance(result, Tensor):
            self.ops[name], self.outputs[name] = result.op, [result]
        else:
            result = list(result)
            self.ops[name], self.outputs[name] = result[0].op, result

    def run(self) -> None:
        self.check_op_types()
        self.check_names_free()
        frames = control_flow.find_frames(self.nodes)
        for kind, key in self.units(frames):
            if kind == "frame":
                self.build_frame(key, frames[key])
            else:
                self.build_node(self.nodes[key])
        unused = sorted(set(self.input_map) - self.used_inputs)
        if unused:
            raise ValueError(
                f"input_map names tensors that no imported node uses: {', '.join(unused)}"
            )

    def element(self, name: str):
        if ":" in name:
            source, index = parse_input(name)
            if source not in self.outputs or index >= len(self.outputs[source]):
                raise ValueError(f"return_elements: the GraphDef has no tensor '{name}'")
            return self.outputs[source][index]
        if name not in self.ops:
            raise ValueError(f"return_elements: the GraphDef has no node '{name}'")
        return self.ops[name]


def _free_prefix(graph: Graph, name: str) -> str:
    """`name`, or `name_1`, `name_2`, ... if ops of the graph already use it (TF's rule)."""
    if not name:
        return ""
    taken = {op.name.split("/")[0] for op in graph.get_operations()}
    candidate, count = name, 0
    while candidate in taken:
        count += 1
        candidate = f"{name}_{count}"
    return candidate


def import_graph_def(
    graph_def,
    input_map=None,
    return_elements=None,
    name=None,
    op_dict=None,
    producer_op_list=None,
):
    """Import `graph_def`'s nodes into the default graph, under `name/` ('import/' by default,
    `name_1/` if that is taken, no prefix for name='').

    `input_map` replaces the GraphDef's tensors (by name, 'x:0' or 'x') with tensors of the
    graph; `return_elements` lists names to return ('x:0' a tensor, 'x' an operation).
    """
    graph = get_default_graph()
    prefix = _free_prefix(graph, "import" if name is None else name)
    importer = _Importer(graph, _as_graph_def(graph_def), prefix, input_map)
    importer.run()
    if return_elements is None:
        return None
    return [importer.element(n) for n in return_elements]
