"""TF1's queue-based input (the course's week 10): producers, readers, batching, coordinators.

`tf.train.string_input_producer(files)` -> `tf.TFRecordReader().read(queue)` ->
`tf.parse_single_example` / `tf.decode_raw` / reshapes -> `tf.train.batch` or
`tf.train.shuffle_batch`. In TF queue-runner threads fill the queues; here every run that
needs a batch builds it on the host, evaluating the per-example part of the graph once per
example (compiled when it holds no host op), and feeds it to the compiled graph. So there are
no threads: `start_queue_runners` returns an empty list and `Coordinator` only keeps the stop
flag, but the end of the input is TF's — `tf.errors.OutOfRangeError` once `num_epochs` of the
files are read (the last partial batch is dropped unless `allow_smaller_final_batch=True`).

Orders: `string_input_producer(shuffle=False)` with `tf.train.batch` reads in TF's order.
With `shuffle=True` or `shuffle_batch`, TF's order depends on its threads; here it is drawn
from NumPy with the op's TF seed (reproducible, but not TF's).
"""

from __future__ import annotations

import contextlib
import itertools
import os

import jax
import numpy as np

from jaxcourse.compat import tf_random
from jaxcourse.compat.v1 import dtypes
from jaxcourse.compat.v1.errors import NotFoundError, OutOfRangeError
from jaxcourse.compat.v1.graph import Tensor, convert_to_tensor, make_host_op
from jaxcourse.compat.v1.host import GraphFunction, PerSession, stack_values


def _rng(seed) -> np.random.RandomState:
    graph_seed, last_op = tf_random.shim_graph_seed()
    seed1, seed2 = tf_random.get_seed(seed, graph_seed, last_op)
    return np.random.RandomState(None if seed1 is None else (seed1 * 7919 + seed2) % 2**32)


def _paths(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]


class FilenameQueue:
    """A queue of strings `num_epochs` times over (None: forever), each epoch shuffled or not."""

    def __init__(self, strings, num_epochs, shuffle: bool, seed, name: str):
        self.name = name
        self.strings = strings if isinstance(strings, Tensor) else None
        rng = _rng(seed)

        def items(values):
            values = list(np.asarray(values, object).ravel())
            epochs = itertools.count() if num_epochs is None else range(int(num_epochs))
            for _ in epochs:
                yield from (
                    values[i]
                    for i in (rng.permutation(len(values)) if shuffle else range(len(values)))
                )

        self._items = items
        self._constant = None if self.strings is not None else strings
        self._state = PerSession()

    def next_item(self, session, strings_value=None):
        """The next string; `strings_value` is the value of a tensor-valued string list."""
        values = self._constant if self.strings is None else strings_value
        queue = self._state.get(session, lambda: self._items(values))
        try:
            return next(queue)
        except StopIteration:
            raise OutOfRangeError(
                f"FIFOQueue '{self.name}' is closed and has insufficient elements"
            ) from None

    @property
    def inputs(self) -> list[Tensor]:
        """The tensors an op taking items from this queue needs as inputs."""
        return [] if self.strings is None else [self.strings]

    def dequeue(self, name=None) -> Tensor:
        return make_host_op(
            "QueueDequeueV2",
            lambda hv, *values: self.next_item(hv.session, *values),
            self.inputs,
            name or f"{self.name}_Dequeue",
            shape=(),
            dtype=dtypes.string,
        )


def string_input_producer(
    string_tensor,
    num_epochs=None,
    shuffle: bool = True,
    seed=None,
    capacity: int = 32,
    shared_name=None,
    name=None,
    cancel_op=None,
) -> FilenameQueue:
    """A queue of `string_tensor`'s strings (file names), `num_epochs` times over."""
    values = string_tensor if isinstance(string_tensor, Tensor) else np.asarray(string_tensor)
    if not isinstance(values, Tensor) and values.size == 0:
        raise ValueError("string_input_producer: string_tensor must hold at least one string")
    return FilenameQueue(values, num_epochs, shuffle, seed, name or "input_producer")


class TFRecordReader:
    """TF1's `tf.TFRecordReader`: `read(queue)` -> (key, value), the next record of the file
    the queue names, moving to the queue's next file at the end of one."""

    def __init__(self, name=None, options=None):
        self.name = name or "TFRecordReaderV2"

    def read(self, queue: FilenameQueue, name=None):
        from jaxcourse.records import read_tfrecord

        def records(session, strings_value):
            while True:
                path = _paths([queue.next_item(session, strings_value)])[0]
                if not os.path.isfile(path):
                    raise NotFoundError(f"TFRecordReader: no file '{path}'")
                for i, record in enumerate(read_tfrecord(path)):
                    yield f"{path}:{i}".encode(), record

        def compute(hv, *strings_value):
            state = hv.state()
            if "records" not in state:
                state["records"] = records(hv.session, *(strings_value or [None]))
            return next(state["records"])

        key, value = make_host_op(
            "ReaderReadV2",
            compute,
            queue.inputs,
            name or "ReaderReadV2",
            shape=[(), ()],
            dtype=[dtypes.string, dtypes.string],
            outputs=2,
        )
        return key, value


def _batcher(tensors, batch_size: int, allow_smaller: bool, draw, name: str):
    """Batch tensors whose values come from `draw(state, example_fn)` (a list of examples)."""
    leaves, treedef = jax.tree_util.tree_flatten(tensors, is_leaf=lambda x: isinstance(x, Tensor))
    leaves = [convert_to_tensor(t) for t in leaves]
    example = GraphFunction([], leaves)

    def compute(hv):
        rows = draw(hv.state(), lambda: example(hv.session, []))
        if not rows or (len(rows) < batch_size and not allow_smaller):
            raise OutOfRangeError(
                f"{name}: the input is exhausted (queue closed with {len(rows)} elements, "
                f"fewer than the batch size {batch_size})"
            )
        columns = [stack_values([r[i] for r in rows]) for i in range(len(leaves))]
        return columns[0] if len(columns) == 1 else tuple(columns)

    first = None if allow_smaller else batch_size
    shapes = [None if t.shape is None else (first, *t.shape) for t in leaves]
    types = [t.dtype for t in leaves]
    out = make_host_op(
        "QueueDequeueManyV2",
        compute,
        (),
        name,
        shape=shapes[0] if len(leaves) == 1 else shapes,
        dtype=types[0] if len(leaves) == 1 else types,
        outputs=len(leaves),
    )
    return jax.tree_util.tree_unflatten(treedef, [out] if len(leaves) == 1 else out)


def _take(example, count: int) -> list:
    rows = []
    with contextlib.suppress(OutOfRangeError):
        while len(rows) < count:
            rows.append(example())
    return rows


def batch(
    tensors,
    batch_size: int,
    num_threads: int = 1,
    capacity: int = 32,
    enqueue_many: bool = False,
    shapes=None,
    dynamic_pad: bool = False,
    allow_smaller_final_batch: bool = False,
    shared_name=None,
    name=None,
):
    """Batches of `batch_size` examples of `tensors` (a list or dict), in input order."""
    _no_enqueue_many(enqueue_many, "batch")
    draw = lambda state, example: _take(example, int(batch_size))  # noqa: E731
    return _batcher(tensors, int(batch_size), allow_smaller_final_batch, draw, name or "batch")


def shuffle_batch(
    tensors,
    batch_size: int,
    capacity: int,
    min_after_dequeue: int,
    num_threads: int = 1,
    seed=None,
    enqueue_many: bool = False,
    shapes=None,
    allow_smaller_final_batch: bool = False,
    shared_name=None,
    name=None,
):
    """Batches drawn at random from a buffer kept at least `min_after_dequeue` full."""
    _no_enqueue_many(enqueue_many, "shuffle_batch")
    batch_size, keep = int(batch_size), int(min_after_dequeue)
    if capacity <= keep:
        raise ValueError(
            f"shuffle_batch: capacity ({capacity}) must be larger than min_after_dequeue ({keep})"
        )
    rng = _rng(seed)

    def draw(state, example):
        rows = state.setdefault("rows", [])
        if not state.get("closed"):  # TF's queue runners keep the queue full
            want = max(int(capacity), keep + batch_size) - len(rows)
            fresh = _take(example, want)
            state["closed"] = len(fresh) < want
            rows += fresh
        picked = []
        while rows and len(picked) < batch_size and (state.get("closed") or len(rows) > keep):
            picked.append(rows.pop(rng.randint(len(rows))))
        return picked

    return _batcher(tensors, batch_size, allow_smaller_final_batch, draw, name or "shuffle_batch")


def _no_enqueue_many(enqueue_many: bool, what: str) -> None:
    if enqueue_many:
        raise NotImplementedError(
            f"tf.train.{what}(enqueue_many=True) is not supported; batch single examples, or "
            "use tf.data.Dataset.from_tensor_slices(...).batch(n)"
        )


class Coordinator:
    """TF1's `tf.train.Coordinator`: a stop flag that threads (here: none) and loops share."""

    def __init__(self, clean_stop_exception_types=None):
        self._stop = False
        self._exception: BaseException | None = None

    def should_stop(self) -> bool:
        return self._stop

    def request_stop(self, ex=None) -> None:
        if ex is not None and not isinstance(ex, OutOfRangeError) and self._exception is None:
            self._exception = ex
        self._stop = True

    def clear_stop(self) -> None:
        self._stop, self._exception = False, None

    def wait_for_stop(self, timeout=None) -> bool:
        return self._stop

    @contextlib.contextmanager
    def stop_on_exception(self):
        try:
            yield
        except Exception as err:  # noqa: BLE001  (TF's contract: any error stops the threads)
            self.request_stop(err)

    def raise_requested_exception(self) -> None:
        if self._exception is not None:
            raise self._exception

    def join(self, threads=None, stop_grace_period_secs=120, ignore_live_threads=False) -> None:
        """Re-raise an error a thread reported, as TF's `join` does."""
        for thread in threads or []:
            thread.join()
        self.raise_requested_exception()


def start_queue_runners(sess=None, coord=None, daemon=True, start=True, collection=None):
    """Nothing to start: batches are built when a run needs them. Returns no threads."""
    return []
