"""The protobuf messages of TF's checkpoints, built at import without TensorFlow.

`BundleHeaderProto` and `BundleEntryProto` (tensorflow/core/protobuf/tensor_bundle.proto) and
`CheckpointState` (the text `checkpoint` file, tensorflow/python/training/
checkpoint_state.proto) are declared here field by field, with TF's field numbers, on top of the
`TensorShapeProto` and `VersionDef` that tensorboardX ships; the protobuf runtime then encodes and
decodes them. The `DataType` enum is declared as its wire type (a varint): tensorboardX's copy
lacks the newer values (uint32, uint64), and `tensor_bundle` keeps the table of numbers.
`BundleEntryProto.slices` (partitioned variables) is kept as raw bytes: only detected, not read.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorboardX.proto import tensor_shape_pb2, versions_pb2

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "jaxcourse.tf_checkpoint"


def _field(name, number, kind, label=_F.LABEL_OPTIONAL, type_name=None):
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="jaxcourse/tf_checkpoint.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[
            tensor_shape_pb2.DESCRIPTOR.name,
            versions_pb2.DESCRIPTOR.name,
        ],
    )
    header = proto.message_type.add(name="BundleHeaderProto")
    header.field.extend(
        [
            _field("num_shards", 1, _F.TYPE_INT32),
            _field("endianness", 2, _F.TYPE_INT32),  # an enum in TF: LITTLE = 0, BIG = 1
            _field("version", 3, _F.TYPE_MESSAGE, type_name=".tensorboardX.VersionDef"),
        ]
    )
    entry = proto.message_type.add(name="BundleEntryProto")
    entry.field.extend(
        [
            _field("dtype", 1, _F.TYPE_INT32),
            _field("shape", 2, _F.TYPE_MESSAGE, type_name=".tensorboardX.TensorShapeProto"),
            _field("shard_id", 3, _F.TYPE_INT32),
            _field("offset", 4, _F.TYPE_INT64),
            _field("size", 5, _F.TYPE_INT64),
            _field("crc32c", 6, _F.TYPE_FIXED32),
            _field("slices", 7, _F.TYPE_BYTES, label=_F.LABEL_REPEATED),
        ]
    )
    state = proto.message_type.add(name="CheckpointState")
    state.field.extend(
        [
            _field("model_checkpoint_path", 1, _F.TYPE_STRING),
            _field("all_model_checkpoint_paths", 2, _F.TYPE_STRING, label=_F.LABEL_REPEATED),
            _field("all_model_checkpoint_timestamps", 3, _F.TYPE_DOUBLE, _F.LABEL_REPEATED),
            _field("last_preserved_timestamp", 4, _F.TYPE_DOUBLE),
        ]
    )
    return proto


_pool = descriptor_pool.Default()
try:
    _pool.FindFileByName("jaxcourse/tf_checkpoint.proto")
except KeyError:
    _pool.Add(_file())


def _message(name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


BundleHeaderProto = _message("BundleHeaderProto")
BundleEntryProto = _message("BundleEntryProto")
CheckpointState = _message("CheckpointState")
