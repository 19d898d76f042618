"""`tf.data` (TF1 style): datasets built on the host, iterators whose `get_next` feeds the graph.

A `Dataset` is a recipe for Python iterators of elements (a tensor, or a tuple/dict of them,
as NumPy arrays and bytes). `make_one_shot_iterator()` / `make_initializable_iterator()` give
an `Iterator`; `iterator.get_next()` returns host-side tensors (`jaxcourse.compat.v1.host`):
each `Session.run` that needs them pulls one element and feeds it to the compiled graph, and
`tf.errors.OutOfRangeError` ends the input, as in TF. Iterator state lives in the session.

`map`/`filter` functions are traced once into the graph, like TF's, and run per element
(compiled when they hold no host op). `shuffle(buffer_size, seed)` draws from TF's Philox
stream with TF's seed rule and buffer algorithm, so a seeded shuffle visits TF's order
(`seed=None` under `tf.set_random_seed` depends on TF's op count and is not TF's order).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from collections.abc import Iterator as PyIterator

import jax
import numpy as np

from jaxcourse.compat import tf_random
from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.errors import FailedPreconditionError, NotFoundError, OutOfRangeError
from jaxcourse.compat.v1.graph import (
    Operation,
    Tensor,
    TensorShape,
    convert_to_tensor,
    make_host_op,
    make_op,
)
from jaxcourse.compat.v1.host import (
    GraphFunction,
    PerSession,
    VectorizedFunction,
    element_value,
    graph_dtype,
    stack_values,
)
from jaxcourse.compat.v1.namespace import ALTERNATIVES, module_getattr, unsupported


class _Spec:
    """dtype and static shape of one component of a dataset's elements."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype, shape):
        self.dtype = np.dtype(dtype)
        self.shape = None if shape is None else tuple(shape)


def _is_leaf(x) -> bool:  # TF: tuples and dicts are structure, a list is one tensor
    return not isinstance(x, tuple | dict)


def _flatten(structure):
    return jax.tree_util.tree_flatten(structure, is_leaf=_is_leaf)


def as_array(value) -> np.ndarray:
    """A component value as TF holds it: Python floats float32, ints int32, text as bytes."""
    if isinstance(value, bytes):
        return np.array(value, dtype=object)
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    if array is None:
        array = np.asarray(value)
        if array.dtype.kind not in "OSU":
            array = array.astype(dtypes.default_dtype(value))
    if array.dtype.kind in "SU":
        flat = [v.encode() if isinstance(v, str) else bytes(v) for v in array.ravel().tolist()]
        array = np.array(flat, dtype=object).reshape(array.shape)
    return array


class _Context:
    """What a dataset is initialised with: the session and the values of captured tensors."""

    def __init__(self, session, captured: list[Tensor], values: Sequence):
        self.session = session
        self._values = dict(zip(captured, values, strict=True))

    def value(self, tensor: Tensor):
        return self._values[tensor]


class Dataset:
    """A TF1 `tf.data.Dataset`: `instantiate(ctx)` makes the per-initialisation state and
    returns a function giving fresh Python iterators (one per pass, e.g. per `repeat`)."""

    def __init__(self, instantiate: Callable, structure):
        self._instantiate = instantiate
        self._structure = structure  # pytree of _Spec
        self._captured: list[Tensor] = []

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        raise unsupported(f"tf.data.Dataset.{name}", dir(Dataset))

    # -- structure -----------------------------------------------------------------------------
    @property
    def output_types(self):
        return jax.tree_util.tree_map(lambda s: s.dtype, self._structure)

    @property
    def output_shapes(self):
        return jax.tree_util.tree_map(
            lambda s: TensorShape(s.shape) if s.shape is not None else None, self._structure
        )

    @property
    def output_classes(self):
        return jax.tree_util.tree_map(lambda s: Tensor, self._structure)

    def _derived(self, instantiate: Callable, structure=None) -> Dataset:
        out = Dataset(instantiate, self._structure if structure is None else structure)
        out._captured = list(self._captured)
        return out

    # -- sources -------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors) -> Dataset:
        """Elements are the slices of `tensors` along their first dimension."""
        return _from_values(tensors, sliced=True)

    @staticmethod
    def from_tensors(tensors) -> Dataset:
        """One element: `tensors` itself."""
        return _from_values(tensors, sliced=False)

    @staticmethod
    def range(*args, output_type=dtypes.int64) -> Dataset:
        """`range(stop)`, `range(start, stop[, step])`: int64 scalars, as TF's."""
        values = range(*args)
        dtype = np.dtype(output_type)
        return Dataset(lambda ctx: lambda: (np.array(v, dtype) for v in values), _Spec(dtype, ()))

    @staticmethod
    def zip(datasets) -> Dataset:
        leaves, treedef = jax.tree_util.tree_flatten(
            datasets, is_leaf=lambda d: isinstance(d, Dataset)
        )

        def instantiate(ctx):
            makers = [d._instantiate(ctx) for d in leaves]
            return lambda: (
                jax.tree_util.tree_unflatten(treedef, list(parts))
                for parts in zip(*(make() for make in makers), strict=False)
            )

        out = Dataset(
            instantiate, jax.tree_util.tree_unflatten(treedef, [d._structure for d in leaves])
        )
        out._captured = [t for d in leaves for t in d._captured]
        return out

    # -- transformations -----------------------------------------------------------------------
    def map(self, map_func, num_parallel_calls=None) -> Dataset:
        """Apply `map_func` (traced once into the graph) to every element; a pure function
        (no host, variable or random op) runs on chunks of elements at once."""
        fn, structure = _traced(map_func, self._structure, "map")

        def instantiate(ctx):
            make = self._instantiate(ctx)
            session = ctx.session
            if fn.vectorized is None:
                return lambda: (fn(session, element) for element in make())
            return lambda: _chunked(fn, make())

        return self._derived(instantiate, structure)

    def filter(self, predicate) -> Dataset:
        """Keep the elements for which `predicate` (traced once) is true."""
        fn, _ = _traced(predicate, self._structure, "filter")

        def instantiate(ctx):
            make = self._instantiate(ctx)
            session = ctx.session
            return lambda: (e for e in make() if bool(np.asarray(fn(session, e))))

        return self._derived(instantiate)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Stack `batch_size` consecutive elements (the last batch may be smaller)."""
        batch_size = int(batch_size)
        leaves, treedef = _flatten(self._structure)

        def batches(make):
            it = make()
            while True:
                chunk = list(itertools.islice(it, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                columns = zip(*(_flatten(e)[0] for e in chunk), strict=True)
                yield jax.tree_util.tree_unflatten(
                    treedef, [stack_values(list(c)) for c in columns]
                )

        def instantiate(ctx):
            make = self._instantiate(ctx)
            return lambda: batches(make)

        first = batch_size if drop_remainder else None
        structure = jax.tree_util.tree_unflatten(
            treedef,
            [_Spec(s.dtype, None if s.shape is None else (first, *s.shape)) for s in leaves],
        )
        return self._derived(instantiate, structure)

    def repeat(self, count=None) -> Dataset:
        """Repeat the input `count` times (`None` or -1: forever)."""
        count = None if count is None or int(count) < 0 else int(count)

        def instantiate(ctx):
            make = self._instantiate(ctx)
            passes = itertools.count() if count is None else range(count)
            return lambda: (e for _ in passes for e in make())

        return self._derived(instantiate)

    def shuffle(self, buffer_size: int, seed=None, reshuffle_each_iteration: bool = True):
        """TF's shuffle: a `buffer_size` buffer, elements drawn from it by TF's Philox stream."""
        buffer_size = int(buffer_size)
        graph_seed, last_op = tf_random.shim_graph_seed()
        seed, seed2 = tf_random.get_seed(seed, graph_seed, last_op)
        if seed is None:
            seed, seed2 = (int.from_bytes(os.urandom(8), "little") for _ in range(2))

        def instantiate(ctx):
            make = self._instantiate(ctx)
            seeds = tf_random.PhiloxStream(seed, seed2)  # TF's per-initialisation seed generator

            def new_iterator():
                stream = (
                    tf_random.PhiloxStream(seeds(), seeds())
                    if reshuffle_each_iteration
                    else tf_random.PhiloxStream(seed, seed2)
                )
                return _buffer_shuffle(make(), buffer_size, stream)

            return new_iterator

        return self._derived(instantiate)

    def take(self, count: int) -> Dataset:
        count = int(count)

        def instantiate(ctx):
            make = self._instantiate(ctx)
            return lambda: itertools.islice(make(), None if count < 0 else count)

        return self._derived(instantiate)

    def skip(self, count: int) -> Dataset:
        count = int(count)

        def instantiate(ctx):
            make = self._instantiate(ctx)
            return lambda: itertools.islice(make(), max(count, 0), None)

        return self._derived(instantiate)

    def prefetch(self, buffer_size) -> Dataset:
        """Accepted for compatibility: elements are produced when a run needs them."""
        return self

    def cache(self, filename: str = "") -> Dataset:
        """Accepted for compatibility: sources are in memory or re-read from their files."""
        return self

    # -- iterators -----------------------------------------------------------------------------
    def make_one_shot_iterator(self) -> Iterator:
        """An iterator that starts at the first `get_next` of a session; no initializer."""
        if any(t.op.type == "Placeholder" for t in self._captured):
            raise ValueError(
                "a one-shot iterator cannot capture a placeholder; use "
                "make_initializable_iterator() and feed it when running iterator.initializer"
            )
        return Iterator(self._structure, one_shot=self)

    def make_initializable_iterator(self, shared_name=None) -> Iterator:
        """An iterator that `sess.run(iterator.initializer, feed_dict)` (re)starts."""
        iterator = Iterator(self._structure)
        iterator.initializer = iterator.make_initializer(self)
        return iterator


def _from_values(tensors, sliced: bool) -> Dataset:
    leaves, treedef = _flatten(tensors)
    captured = [t for t in leaves if isinstance(t, Tensor)]
    arrays = [None if isinstance(t, Tensor) else as_array(t) for t in leaves]
    specs = []
    for leaf, array in zip(leaves, arrays, strict=True):
        shape = leaf.shape if isinstance(leaf, Tensor) else array.shape
        dtype = leaf.dtype if isinstance(leaf, Tensor) else array.dtype
        if sliced and shape is not None and len(shape) == 0:
            raise ValueError("from_tensor_slices needs tensors of rank >= 1, got a scalar")
        specs.append(_Spec(dtype, None if shape is None else tuple(shape)[1 if sliced else 0 :]))
    sizes = {a.shape[0] for a in arrays if a is not None} if sliced else set()
    if len(sizes) > 1:
        raise ValueError(
            f"from_tensor_slices: all components need the same first dimension, got {sorted(sizes)}"
        )

    def instantiate(ctx):
        values = [
            as_array(ctx.value(t)) if a is None else a for t, a in zip(leaves, arrays, strict=True)
        ]
        if sliced:
            lengths = {len(v) for v in values}
            if len(lengths) > 1:
                raise ValueError(
                    f"from_tensor_slices: components differ in length: {sorted(lengths)}"
                )
            n = lengths.pop()
            return lambda: (
                jax.tree_util.tree_unflatten(treedef, [element_value(v[i]) for v in values])
                for i in range(n)
            )
        element = jax.tree_util.tree_unflatten(treedef, [element_value(v) for v in values])
        return lambda: iter([element])

    out = Dataset(instantiate, jax.tree_util.tree_unflatten(treedef, specs))
    out._captured = captured
    return out


def _buffer_shuffle(source: PyIterator, buffer_size: int, stream) -> PyIterator:
    """TF's ShuffleDataset: fill a ring buffer, hand out a random slot, refill."""
    ring: list = [None] * buffer_size
    start = end = 0
    exhausted = False
    while True:
        while not exhausted and end - start < buffer_size:
            try:
                ring[end % buffer_size] = next(source)
                end += 1
            except StopIteration:
                exhausted = True
        if start == end:
            return
        index = (start + stream() % (end - start)) % buffer_size
        yield ring[index]
        ring[index] = ring[start % buffer_size]
        start += 1


def _traced(func, structure, what: str):
    """`func` traced on argument tensors of `structure`: (per-element function, specs of its
    result)."""
    specs, treedef = _flatten(structure)
    inputs = [
        make_op(
            "Arg",
            _never_computed,
            (),
            f"{what}_arg",
            shape=s.shape,
            dtype=s.dtype,
            infer_shape=False,
        )
        for s in specs
    ]
    args = jax.tree_util.tree_unflatten(treedef, inputs)
    result = func(*args) if isinstance(args, tuple) else func(args)
    out_leaves, out_treedef = _flatten(result)
    outputs = [convert_to_tensor(t) for t in out_leaves]
    run = GraphFunction(inputs, outputs)

    def apply(session, element):
        return jax.tree_util.tree_unflatten(out_treedef, run(session, _flatten(element)[0]))

    apply.vectorized = VectorizedFunction.build(inputs, outputs)
    apply.unflatten = lambda values: jax.tree_util.tree_unflatten(out_treedef, values)

    out_specs = jax.tree_util.tree_unflatten(
        out_treedef, [_Spec(t.dtype, t.shape) for t in outputs]
    )
    return apply, out_specs


def _chunked(fn, elements: PyIterator) -> PyIterator:
    """`fn` applied to `elements`, a chunk at a time by its vectorized form."""
    while True:
        chunk = [_flatten(e)[0] for e in itertools.islice(elements, fn.vectorized.CHUNK)]
        if not chunk:
            return
        yield from (fn.unflatten(values) for values in fn.vectorized(chunk))


def _never_computed(ctx):
    raise AssertionError("a dataset function's argument is given, never computed")


class TFRecordDataset(Dataset):
    """The records (bytes) of TFRecord files, file after file (read by `jaxcourse.records`)."""

    def __init__(self, filenames, compression_type=None, buffer_size=None, num_parallel_reads=None):
        from jaxcourse.records import read_tfrecord

        if compression_type not in (None, ""):
            raise NotImplementedError(
                f"TFRecordDataset(compression_type={compression_type!r}) is not supported; "
                "write uncompressed TFRecord files (tf.python_io.TFRecordWriter without options)"
            )
        names = filenames if isinstance(filenames, Tensor) else as_array(filenames)

        def instantiate(ctx):
            files = as_array(ctx.value(names)) if isinstance(names, Tensor) else names
            paths = [f.decode() if isinstance(f, bytes) else str(f) for f in files.ravel()]
            for path in paths:
                if not os.path.isfile(path):
                    raise NotFoundError(f"TFRecordDataset: no file '{path}'")
            return lambda: (record for path in paths for record in read_tfrecord(path))

        super().__init__(instantiate, _Spec(object, ()))
        self._captured = [names] if isinstance(names, Tensor) else []


class TextLineDataset(Dataset):
    """The lines (bytes, without the newline) of text files."""

    def __init__(self, filenames, compression_type=None, buffer_size=None, num_parallel_reads=None):
        files = [
            f.decode() if isinstance(f, bytes) else str(f) for f in as_array(filenames).ravel()
        ]

        def lines():
            for path in files:
                with open(path, "rb") as f:
                    yield from (line.rstrip(b"\r\n") for line in f)

        super().__init__(lambda ctx: lines, _Spec(object, ()))


class Iterator:
    """TF1's `tf.data.Iterator`: `get_next()` tensors, `initializer` / `make_initializer`."""

    def __init__(self, structure, one_shot: Dataset | None = None):
        self._structure = structure
        self._one_shot = one_shot
        self._iterators = PerSession()  # session -> Python iterator of elements
        self.initializer: Operation | None = None

    @staticmethod
    def from_structure(output_types, output_shapes=None, shared_name=None, output_classes=None):
        """An iterator that any dataset of this structure can initialise (`make_initializer`)."""
        types, treedef = _flatten(output_types)
        shapes = [None] * len(types) if output_shapes is None else _flatten(output_shapes)[0]
        specs = [
            _Spec(t, None if s is None else tuple(s)) for t, s in zip(types, shapes, strict=True)
        ]
        return Iterator(jax.tree_util.tree_unflatten(treedef, specs))

    output_types = Dataset.output_types
    output_shapes = Dataset.output_shapes
    output_classes = Dataset.output_classes

    def make_initializer(self, dataset: Dataset, name=None) -> Operation:
        """An op that (re)starts this iterator on `dataset` in the session that runs it."""
        if _flatten(dataset._structure)[1] != _flatten(self._structure)[1]:
            raise TypeError(
                f"make_initializer: the dataset's structure {dataset.output_types} does not "
                f"match the iterator's {self.output_types}"
            )

        def compute(hv, *captured):
            ctx = _Context(hv.session, dataset._captured, captured)
            self._iterators.set(hv.session, dataset._instantiate(ctx)())

        return make_host_op(
            "MakeIterator",
            compute,
            dataset._captured,
            name or "MakeIterator",
            dtype=dtypes.float32,
            outputs=0,
        )

    def get_next(self, name=None):
        """Tensors holding the next element; every run that needs them takes one element."""
        specs, treedef = _flatten(self._structure)
        types = [graph_dtype(s.dtype) for s in specs]
        captured = self._one_shot._captured if self._one_shot is not None else []

        def compute(hv, *captured_values):
            def start():
                ctx = _Context(hv.session, captured, captured_values)
                return self._one_shot._instantiate(ctx)()

            iterator = self._iterators.get(hv.session, start if self._one_shot else None)
            if iterator is None:
                raise FailedPreconditionError(
                    "GetNext() failed because the iterator has not been initialized: run "
                    "sess.run(iterator.initializer) for this iterator first"
                )
            try:
                values = _flatten(next(iterator))[0]
            except StopIteration:
                raise OutOfRangeError("End of sequence") from None
            return values[0] if len(values) == 1 else tuple(values)

        out = make_host_op(
            "IteratorGetNext",
            compute,
            captured,
            name or "IteratorGetNext",
            shape=specs[0].shape if len(specs) == 1 else [s.shape for s in specs],
            dtype=types[0] if len(specs) == 1 else types,
            outputs=len(specs),
        )
        return jax.tree_util.tree_unflatten(treedef, [out] if len(specs) == 1 else out)


def make_one_shot_iterator(dataset: Dataset) -> Iterator:
    return dataset.make_one_shot_iterator()


def make_initializable_iterator(dataset: Dataset, shared_name=None) -> Iterator:
    return dataset.make_initializable_iterator(shared_name)


ALTERNATIVES.update(
    {
        "tf.data.Dataset.padded_batch": "tf.data.Dataset.batch of equal-shaped elements",
        "tf.data.Dataset.flat_map": "tf.data.Dataset.map, then from_tensor_slices of the result",
        "tf.data.Dataset.interleave": "tf.data.TFRecordDataset of the list of files",
        "tf.data.Dataset.from_generator": "tf.data.Dataset.from_tensor_slices of the arrays",
        "tf.data.experimental": "tf.data.Dataset's methods (shuffle, repeat, batch, ...)",
    }
)
__getattr__ = module_getattr("tf.data", globals())
