"""TF1's while loops (Enter/Merge/Switch/LoopCond/NextIteration/Exit) as one `lax.while_loop`.

A frozen `tf.while_loop` (and `tf.nn.dynamic_rnn`) is a cycle in the GraphDef: each loop
variable enters the loop's frame (`Enter`), is merged with its next value (`Merge`), tested
(`LoopCond`), routed into the body or out of the loop (`Switch`), and sent round
(`NextIteration`) or out (`Exit`). `find_frames` groups the nodes of each frame; `WhileFrame`
turns one into a function of its `Enter` inputs returning its `Exit` values: the Merges are
the carry, the LoopCond's input is the condition, the NextIterations' inputs are the body.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxcourse.compat.v1.converters import is_static, output_count
from jaxcourse.compat.v1.converters.tensor_array_ops import PendingArray
from jaxcourse.compat.v1.errors import InvalidArgumentError
from jaxcourse.compat.v1.graph_def import Node, dependency_order, parse_input


def find_frames(nodes: dict[str, Node]) -> dict[str, dict[str, Node]]:
    """The nodes of each while-loop frame, by frame name: everything reachable from the
    frame's Enter nodes (through data and control edges), up to and including its Exits."""
    consumers: dict[str, list[str]] = {}
    for node in nodes.values():
        for source in node.inputs + node.control_inputs:
            consumers.setdefault(parse_input(source)[0], []).append(node.name)
    frames: dict[str, dict[str, Node]] = {}
    for node in nodes.values():
        if node.op == "Enter":
            frames.setdefault(node.require("frame_name"), {})[node.name] = node
    owner: dict[str, str] = {}
    for frame_name, members in frames.items():
        stack = list(members)
        while stack:
            name = stack.pop()
            if name in owner and owner[name] != frame_name:
                raise InvalidArgumentError(
                    f"GraphDef node '{name}' belongs to two while loops ('{owner[name]}' and "
                    f"'{frame_name}'): nested while loops are not supported"
                )
            owner[name] = frame_name
            members[name] = nodes[name]
            if nodes[name].op == "Exit":
                continue
            stack += [c for c in consumers.get(name, []) if c not in members]
    return frames


class WhileFrame:
    """One while loop: `compute(*enter_values) -> tuple of exit values`."""

    def __init__(self, name: str, members: dict[str, Node], convert: Callable[[Node], Callable]):
        self.name = name
        self.nodes = members
        self.enters = [n for n in members.values() if n.op == "Enter"]
        self.merges = [n for n in members.values() if n.op == "Merge"]
        self.exits = [n for n in members.values() if n.op == "Exit"]
        conds = [n for n in members.values() if n.op == "LoopCond"]
        if len(conds) != 1:
            raise InvalidArgumentError(f"while loop '{name}' has {len(conds)} LoopCond nodes")
        self.condition = parse_input(conds[0].inputs[0])
        self.initial, self.next = [], []
        for merge in self.merges:
            sources = [members[parse_input(i)[0]] for i in merge.inputs]
            enter = [s for s in sources if s.op == "Enter"]
            after = [s for s in sources if s.op == "NextIteration"]
            if len(enter) != 1 or len(after) != 1:
                raise InvalidArgumentError(
                    f"while loop '{name}': Merge '{merge.name}' must join one Enter and one "
                    "NextIteration"
                )
            self.initial.append(enter[0].name)
            self.next.append(parse_input(after[0].inputs[0]))
        merge_index = {m.name: i for i, m in enumerate(self.merges)}
        self.exit_index = []
        for exit_node in self.exits:
            switch = members[parse_input(exit_node.inputs[0])[0]]
            self.exit_index.append(merge_index[parse_input(switch.inputs[0])[0]])
        self.fns = {
            n.name: convert(n)
            for n in members.values()
            if n.op not in ("Enter", "Merge", "Switch", "LoopCond", "NextIteration", "Exit")
        }
        self.cond_order = self._order([self.condition])
        self.body_order = self._order(self.next)
        self.counters = self._counters()
        self.counter_order = self._order([self.next[i] for i in sorted(self.counters)])

    def _order(self, targets: list[tuple[str, int]]) -> list[Node]:
        """The frame's nodes that `targets` need, inputs first (Enter and Merge are given)."""

        def sources(name):
            node = self.nodes.get(name)
            if node is None:
                raise InvalidArgumentError(
                    f"while loop '{self.name}': node '{name}' is used inside the loop but does "
                    "not enter it through an Enter node"
                )
            if node.op in ("Enter", "Merge"):
                return []
            inputs = node.inputs[:1] if node.op == "Switch" else node.inputs
            return [parse_input(i)[0] for i in inputs]

        names = dependency_order([name for name, _ in targets], sources)
        return [self.nodes[n] for n in names if self.nodes[n].op not in ("Enter", "Merge")]

    def _counters(self) -> set[int]:
        """Indices of the loop variables the condition depends on, with those their next
        values depend on (a dynamic_rnn's time and iteration counters)."""
        index = {m.name: i for i, m in enumerate(self.merges)}

        def merges_of(order: list[Node]) -> set[int]:
            return {
                index[parse_input(i)[0]]
                for node in order
                for i in (node.inputs[:1] if node.op == "Switch" else node.inputs)
                if parse_input(i)[0] in index
            } | ({index[self.condition[0]]} if self.condition[0] in index else set())

        found = merges_of(self.cond_order)
        while True:
            more = found | merges_of(self._order([self.next[i] for i in found]))
            more |= {index[n] for n, _ in (self.next[i] for i in found) if n in index}
            if more == found:
                return found
            found = more

    def _trip_count(self, initial: list, values_for, limit: int = 1_000_000) -> int | None:
        """How many times the loop runs, when the counters start from values known while
        tracing (then it is a `fori_loop` with static bounds, a scan, which `jax.grad`
        differentiates); None otherwise."""
        if not all(is_static(initial[i]) for i in self.counters):
            return None
        counters = {i: np.asarray(initial[i]) for i in self.counters}
        for count in range(limit):
            carry = [counters.get(i) for i in range(len(self.merges))]
            values = values_for(carry)
            self._run(values, self.cond_order)
            if not is_static(values[self.condition]):
                return None
            if not bool(np.asarray(values[self.condition])):
                return count
            self._run(values, self.counter_order)
            counters = {i: values[self.next[i]] for i in self.counters}
            if not all(is_static(v) for v in counters.values()):
                return None
        return None

    def _run(self, values: dict, order: list[Node]) -> None:
        for node in order:
            if node.op == "Switch":  # inside the loop, both branches see the merged value
                value = values[parse_input(node.inputs[0])]
                values[(node.name, 0)] = values[(node.name, 1)] = value
                continue
            args = [values[parse_input(i)] for i in node.inputs]
            if node.op == "LoopCond":
                values[(node.name, 0)] = args[0]
                continue
            try:
                out = self.fns[node.name](*args)
            except InvalidArgumentError:
                raise
            except Exception as err:
                raise InvalidArgumentError(
                    f"op '{node.name}' ({node.op}) in while loop '{self.name}' failed: {err}"
                ) from err
            count = output_count(node)
            for i, value in enumerate([out] if count == 1 else list(out or ())):
                values[(node.name, i)] = value

    def compute(self, *enter_values):
        base = {(e.name, 0): v for e, v in zip(self.enters, enter_values, strict=True)}
        initial = [base[(name, 0)] for name in self.initial]

        def values_for(carry):
            values = dict(base)
            for merge, value in zip(self.merges, carry, strict=True):
                values[(merge.name, 0)] = value
                values[(merge.name, 1)] = np.int32(1)
            return values

        def cond(carry):
            values = values_for(carry)
            self._run(values, self.cond_order)
            return jnp.asarray(values[self.condition]).reshape(())

        def body_of(pending: dict):
            def body(carry):
                carry = list(carry)
                for i, p in pending.items():
                    carry.insert(i, p)
                values = values_for(carry)
                self._run(values, self.body_order)
                return tuple(values[key] for key in self.next)

            return body

        pending = {i: v for i, v in enumerate(initial) if isinstance(v, PendingArray)}
        if pending:  # TensorArrays first written in the body: their shape comes from the body
            dynamic = tuple(v for i, v in enumerate(initial) if i not in pending)
            shapes = jax.eval_shape(body_of(pending), dynamic)
            for i in pending:  # the body's result is the whole buffer
                initial[i] = jnp.zeros(shapes[i].shape, shapes[i].dtype)
        trips = self._trip_count(initial, values_for)
        initial = tuple(jnp.asarray(v) for v in initial)
        plain_body = body_of({})

        def body(carry):
            out = plain_body(carry)
            for merge, old, new in zip(self.merges, carry, out, strict=True):
                if jnp.shape(new) != old.shape:
                    raise InvalidArgumentError(
                        f"while loop '{self.name}': loop variable '{merge.name}' changes shape "
                        f"from {list(old.shape)} to {list(jnp.shape(new))} in one iteration"
                    )
            return tuple(jnp.asarray(n, o.dtype) for o, n in zip(carry, out, strict=True))

        if trips is None:
            final = jax.lax.while_loop(cond, body, initial)
        else:
            final = jax.lax.fori_loop(0, trips, lambda i, carry: body(carry), initial)
        return tuple(final[i] for i in self.exit_index)


# ---------------------------------------------------------------------------------------------
# v1 conditionals: Switch/Merge outside while loops (a frozen tf.cond)


class Branches:
    """Which side of which frozen `tf.cond` each imported value lies on.

    A Switch outside a loop sends its input to output 0 (predicate false) or 1 (true); the
    ops after it belong to that branch, and a Merge joins the two branches again. Here both
    branches are computed and the Merge selects with the predicate (`jnp.where`), so a cond
    is an ordinary data flow. A branch is a tuple of (predicate tensor, side) pairs, outermost
    first.
    """

    def __init__(self):
        self._of: dict[tuple[str, int], tuple] = {}

    def of(self, name: str) -> tuple:
        source, index = parse_input(name.lstrip("^"))
        return self._of.get((source, index), self._of.get((source, 0), ()))

    def of_node(self, node: Node) -> tuple:
        """The innermost branch among the node's inputs (data and control)."""
        branches = [self.of(i) for i in node.inputs] + [self.of(i) for i in node.control_inputs]
        return max(branches, key=len, default=())

    def record(self, name: str, count: int, branch: tuple) -> None:
        for i in range(max(count, 1)):
            self._of[(name, i)] = branch

    def switch(self, node: Node, predicate) -> None:
        outer = self.of_node(node)
        self._of[(node.name, 0)] = outer + ((predicate, False),)
        self._of[(node.name, 1)] = outer + ((predicate, True),)

    def merge(self, node: Node):
        """(predicate, index of the false input, index of the true input) of a Merge that
        joins the two sides of one cond; records the Merge's branch (the outer one)."""
        branches = [self.of(i) for i in node.inputs]
        if len(branches) == 2 and branches[0][:-1] == branches[1][:-1] and branches[0]:
            (p0, side0), (p1, side1) = branches[0][-1], branches[1][-1]
            if p0 is p1 and side0 != side1:
                self.record(node.name, 2, branches[0][:-1])
                return (p0, 0, 1) if not side0 else (p0, 1, 0)
        raise InvalidArgumentError(
            f"Merge node '{node.name}' does not join the two branches of one tf.cond (only "
            "frozen tf.cond and tf.while_loop control flow is supported)"
        )


def merge_compute(false_index: int, true_index: int):
    def compute(a, b, predicate):
        values = (a, b)
        chosen = jnp.where(predicate, values[true_index], values[false_index])
        return chosen, jnp.where(predicate, np.int32(true_index), np.int32(false_index))

    return compute
