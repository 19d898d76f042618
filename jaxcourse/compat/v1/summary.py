"""`tf.summary`: scalar and histogram summaries, `merge_all` and `FileWriter` (tensorboardX).

A summary op's value is computed in the graph; `Session.run` returns it, as TF does, as a
serialized `Summary` protocol buffer (bytes) that `FileWriter.add_summary` writes.
`FileWriter(logdir, graph)` also writes the graph's jaxpr for TensorBoard's Graphs dashboard.
"""

from __future__ import annotations

import warnings

import numpy as np

from jaxcourse.compat import tensorboardx
from jaxcourse.compat.v1.graph import Graph, Tensor, convert_to_tensor, get_default_graph, make_op
from jaxcourse.compat.v1.namespace import module_getattr

SUMMARIES = "summaries"


def _summary_op(op_type: str, tag: str, tensor, to_proto, collections) -> Tensor:
    graph = get_default_graph()
    tensor = convert_to_tensor(tensor)
    scoped_tag = f"{graph.current_scope}/{tag}" if graph.current_scope else tag
    out = make_op(op_type, lambda ev, v: v, [tensor], tag, shape=tensor.shape, dtype=tensor.dtype)
    out.op.host_fn = lambda value: to_proto(scoped_tag, value).SerializeToString()
    out.op.summary_proto = lambda value: to_proto(scoped_tag, value)
    for collection in collections or [SUMMARIES]:
        graph.add_to_collection(collection, out)
    return out


def scalar(name: str, tensor, collections=None, family=None) -> Tensor:
    """A scalar summary of `tensor` under tag `name` (in the current name scope)."""
    tensorboardx.ensure_imported()
    from tensorboardX import summary as tbx_summary

    return _summary_op(
        "ScalarSummary",
        name,
        tensor,
        lambda tag, v: tbx_summary.scalar(tag, float(v)),
        collections,
    )


def histogram(name: str, values, collections=None, family=None) -> Tensor:
    """A histogram summary of `values` under tag `name`."""
    tensorboardx.ensure_imported()
    from tensorboardX import summary as tbx_summary

    return _summary_op(
        "HistogramSummary",
        name,
        values,
        lambda tag, v: tbx_summary.histogram(tag, np.asarray(v, np.float64), "auto"),
        collections,
    )


def merge(inputs, collections=None, name=None) -> Tensor | None:
    """One summary op holding all of `inputs` (summary tensors)."""
    inputs = list(inputs)
    if not inputs:
        return None
    protos = [t.op.summary_proto for t in inputs]

    def to_bytes(values) -> bytes:
        from tensorboardX.proto.summary_pb2 import Summary

        merged = Summary()
        for proto, value in zip(protos, values, strict=True):
            merged.value.extend(proto(value).value)
        return merged.SerializeToString()

    out = make_op(
        "MergeSummary",
        lambda ev, *vs: tuple(vs),
        [t.op.inputs[0] for t in inputs],
        name or "Merge/MergeSummary",
        shape=(),
        dtype=np.float32,
    )
    out.op.host_fn = to_bytes
    return out


def merge_all(key: str = SUMMARIES, scope=None, name=None) -> Tensor | None:
    """One op holding every summary built so far (None if there is none, as in TF)."""
    return merge(get_default_graph().get_collection(key, scope), name=name)


class FileWriter:
    """Writes summaries (and, if given, the graph) to an event file in `logdir`."""

    def __init__(
        self, logdir, graph: Graph | None = None, max_queue=10, flush_secs=120, filename_suffix=""
    ):
        tensorboardx.ensure_imported()
        from tensorboardX.writer import FileWriter as TbxFileWriter

        self._writer = TbxFileWriter(str(logdir), max_queue, flush_secs, filename_suffix)
        if graph is not None:
            self.add_graph(graph)

    def get_logdir(self) -> str:
        return self._writer.get_logdir()

    def add_graph(self, graph: Graph, global_step=None) -> None:
        """Write `graph` (its jaxpr, name scopes as groups) for the Graphs dashboard."""
        from jaxcourse.compat.v1 import export

        try:
            graph_def = export.to_graph_def(graph)
        except Exception as err:  # a graph TensorBoard cannot show must not stop training
            warnings.warn(f"FileWriter: the graph was not written: {err}", stacklevel=2)
            return
        self._writer.add_onnx_graph(graph_def)

    def add_run_metadata(self, run_metadata, tag, global_step=None) -> None:
        """Accepted and ignored (h15core): the shim records no step stats (`tf.RunMetadata`
        stays empty)."""

    def add_summary(self, summary, global_step=None) -> None:
        """Write a summary: the bytes a summary op returned from `Session.run`, or a proto."""
        if isinstance(summary, bytes | bytearray):
            from tensorboardX.proto.summary_pb2 import Summary

            summary = Summary.FromString(bytes(summary))
        self._writer.add_summary(summary, global_step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# h15lib: tf.summary.image
def _image_pixels(image: np.ndarray) -> np.ndarray:
    """One [h, w, c] image as uint8, scaled as TF does: floats that are all >= 0 so the
    largest is 255, with negatives so 0 maps to 128 and the largest magnitude to ±127."""
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float32)
    low, high = float(image.min()), float(image.max())
    if low < 0:
        largest = max(abs(low), abs(high))
        scale, offset = (0.0 if largest < 1e-6 else 127.0 / largest), 128.0
    else:
        scale, offset = (0.0 if high < 1e-6 else 255.0 / high), 0.0
    return (image * scale + offset).astype(np.uint8)


def _image_proto(tag: str, images, max_outputs: int):
    import io

    from PIL import Image

    tensorboardx.ensure_imported()
    from tensorboardX.proto.summary_pb2 import Summary

    images = np.asarray(images)
    values = []
    for i, image in enumerate(images[:max_outputs]):
        pixels = _image_pixels(image)
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, "PNG")
        picture = Summary.Image(
            height=pixels.shape[0],
            width=pixels.shape[1],
            colorspace=pixels.shape[2],
            encoded_image_string=buffer.getvalue(),
        )
        name = f"{tag}/image" if max_outputs == 1 else f"{tag}/image/{i}"
        values.append(Summary.Value(tag=name, image=picture))
    return Summary(value=values)


def image(name: str, tensor, max_outputs: int = 3, collections=None, family=None) -> Tensor:
    """An image summary of the first `max_outputs` images of `tensor` [batch, h, w, 1|3|4]
    (tags `name/image/0`, ...; `name/image` when max_outputs is 1), encoded as PNG."""
    tensor = convert_to_tensor(tensor)
    if tensor.shape is None or len(tensor.shape) != 4 or tensor.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"tf.summary.image '{name}' needs a [batch, height, width, channels] tensor with "
            f"1, 3 or 4 channels, got {tensor.describe()}"
        )
    if int(max_outputs) < 1:
        raise ValueError(f"tf.summary.image '{name}': max_outputs must be >= 1")
    return _summary_op(
        "ImageSummary",
        name,
        tensor,
        lambda tag, v: _image_proto(tag, v, int(max_outputs)),
        collections,
    )


__getattr__ = module_getattr("tf.summary", globals())
