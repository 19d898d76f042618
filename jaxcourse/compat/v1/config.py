"""`tf.ConfigProto`, `tf.GPUOptions`, `tf.RunOptions`, `tf.RunMetadata`: accepted, no effect.

JAX decides devices, threads and memory itself, so a session's config changes nothing; the
classes take TF's field names (and refuse unknown ones, as the protocol buffers do) so that
scripts which build them run unchanged. `RunMetadata` stays empty: there are no step stats.
"""

from __future__ import annotations


class _Message:
    """A protocol-buffer-like record: TF's field names with their defaults; nested messages
    are created on first use (`config.gpu_options.allow_growth = True`)."""

    FIELDS: dict[str, object] = {}
    MESSAGES: dict[str, type] = {}

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value)

    def __getattr__(self, name: str):
        cls = type(self)
        if name in cls.MESSAGES:
            value = cls.MESSAGES[name]()
        elif name in cls.FIELDS:
            default = cls.FIELDS[name]
            value = type(default)() if isinstance(default, dict | list) else default
        else:
            raise AttributeError(f'Protocol message {cls.__name__} has no "{name}" field.')
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        cls = type(self)
        if name not in cls.FIELDS and name not in cls.MESSAGES:
            raise ValueError(f'Protocol message {cls.__name__} has no "{name}" field.')
        object.__setattr__(self, name, value)

    def CopyFrom(self, other: _Message) -> None:  # noqa: N802  (protobuf's name)
        self.__dict__.update(other.__dict__)

    def SerializeToString(self) -> bytes:  # noqa: N802
        return b""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class GPUOptions(_Message):
    FIELDS = {
        "allow_growth": False,
        "per_process_gpu_memory_fraction": 0.0,
        "visible_device_list": "",
        "allocator_type": "",
        "force_gpu_compatible": False,
    }


class OptimizerOptions(_Message):
    FIELDS = {"global_jit_level": 0, "do_constant_folding": True, "opt_level": 0}
    OFF, ON_1, ON_2, L0, L1 = -1, 1, 2, -1, 0


class GraphOptions(_Message):
    FIELDS = {"build_cost_model": 0, "infer_shapes": False, "place_pruned_graph": False}
    MESSAGES = {"optimizer_options": OptimizerOptions}


class ConfigProto(_Message):
    FIELDS = {
        "device_count": {},
        "intra_op_parallelism_threads": 0,
        "inter_op_parallelism_threads": 0,
        "use_per_session_threads": False,
        "allow_soft_placement": False,
        "log_device_placement": False,
        "operation_timeout_in_ms": 0,
        "isolate_session_state": False,
    }
    MESSAGES = {"gpu_options": GPUOptions, "graph_options": GraphOptions}


class RunOptions(_Message):
    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3
    FIELDS = {
        "trace_level": 0,
        "timeout_in_ms": 0,
        "inter_op_thread_pool": 0,
        "output_partition_graphs": False,
        "report_tensor_allocations_upon_oom": False,
    }


class RunMetadata(_Message):
    FIELDS = {"step_stats": None, "cost_graph": None, "partition_graphs": []}
