"""The protobuf messages of TF's checkpoints and meta graphs, built at import without TensorFlow.

`BundleHeaderProto` and `BundleEntryProto` (tensorflow/core/protobuf/tensor_bundle.proto),
`CheckpointState` (the text `checkpoint` file, tensorflow/python/training/
checkpoint_state.proto) and `MetaGraphDef` with its `SaverDef`, `CollectionDef` and
`VariableDef` (a `.meta` file, tensorflow/core/protobuf/meta_graph.proto) are declared here
field by field, with TF's field numbers, on top of the `GraphDef`, `TensorShapeProto` and
`VersionDef` that tensorboardX ships; the protobuf runtime then encodes and decodes them. A
meta graph's map of collections is declared as the repeated key/value entries it is on the
wire; the parts the importer does not use (meta info, signatures, assets) are kept as bytes.
The `DataType` enum is declared as its wire type (a varint): tensorboardX's copy lacks the
newer values (uint32, uint64).
`BundleEntryProto.slices` (partitioned variables) is kept as raw bytes: only detected, not read.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorboardX.proto import graph_pb2, tensor_shape_pb2, versions_pb2

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
            graph_pb2.DESCRIPTOR.name,
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
    _meta_graph_messages(proto)
    return proto


def _meta_graph_messages(proto: descriptor_pb2.FileDescriptorProto) -> None:
    repeated = _F.LABEL_REPEATED
    for name, kind in (
        ("NodeList", _F.TYPE_STRING),
        ("BytesList", _F.TYPE_BYTES),
        ("Int64List", _F.TYPE_INT64),
        ("FloatList", _F.TYPE_FLOAT),
    ):
        proto.message_type.add(name=name).field.append(_field("value", 1, kind, repeated))
    collection = proto.message_type.add(name="CollectionDef")
    collection.oneof_decl.add(name="kind")
    for number, (name, kind) in enumerate(
        [
            ("node_list", "NodeList"),
            ("bytes_list", "BytesList"),
            ("int64_list", "Int64List"),
            ("float_list", "FloatList"),
        ],
        start=1,
    ):
        field = _field(name, number, _F.TYPE_MESSAGE, type_name=f".{_PACKAGE}.{kind}")
        field.oneof_index = 0
        collection.field.append(field)
    entry = proto.message_type.add(name="CollectionEntry")
    entry.field.extend(
        [
            _field("key", 1, _F.TYPE_STRING),
            _field("value", 2, _F.TYPE_MESSAGE, type_name=f".{_PACKAGE}.CollectionDef"),
        ]
    )
    saver = proto.message_type.add(name="SaverDef")
    saver.field.extend(
        [
            _field("filename_tensor_name", 1, _F.TYPE_STRING),
            _field("save_tensor_name", 2, _F.TYPE_STRING),
            _field("restore_op_name", 3, _F.TYPE_STRING),
            _field("max_to_keep", 4, _F.TYPE_INT32),
            _field("sharded", 5, _F.TYPE_BOOL),
            _field("keep_checkpoint_every_n_hours", 6, _F.TYPE_FLOAT),
            _field("version", 7, _F.TYPE_INT32),  # an enum in TF: LEGACY = 0, V1 = 1, V2 = 2
        ]
    )
    variable = proto.message_type.add(name="VariableDef")
    variable.field.extend(
        [
            _field("variable_name", 1, _F.TYPE_STRING),
            _field("initializer_name", 2, _F.TYPE_STRING),
            _field("snapshot_name", 3, _F.TYPE_STRING),
            _field("is_resource", 5, _F.TYPE_BOOL),
            _field("initial_value_name", 6, _F.TYPE_STRING),
            _field("trainable", 7, _F.TYPE_BOOL),
        ]
    )
    meta = proto.message_type.add(name="MetaGraphDef")
    meta.field.extend(  # the parts the importer does not read stay raw bytes, in their place
        [
            _field("meta_info_def", 1, _F.TYPE_BYTES),
            _field("graph_def", 2, _F.TYPE_MESSAGE, type_name=".tensorboardX.GraphDef"),
            _field("saver_def", 3, _F.TYPE_MESSAGE, type_name=f".{_PACKAGE}.SaverDef"),
            _field("collection_def", 4, _F.TYPE_MESSAGE, repeated, f".{_PACKAGE}.CollectionEntry"),
            _field("signature_def", 5, _F.TYPE_BYTES, repeated),
            _field("asset_file_def", 6, _F.TYPE_BYTES, repeated),
            _field("object_graph_def", 7, _F.TYPE_BYTES),
        ]
    )


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
CollectionDef = _message("CollectionDef")
MetaGraphDef = _message("MetaGraphDef")
SaverDef = _message("SaverDef")
VariableDef = _message("VariableDef")
