"""The workloads in jaxcourse: registry models, `train.make_train_step`, data on device.

Variants: `tuned` (jaxcourse set up for speed: its fastest model lowering, several steps
fused into one compiled call, XLA flags from `jaxcourse.perf`, no gradient-norm metric, which
the peers do not compute either; oneDNN's convolutions and LSTM where available),
`tuned-xla` (the same on XLA's own kernels: `perf.conv_backend: xla`, Flax's LSTM cell),
`tuned-bf16` (the same computing in bfloat16, `train.precision: bf16`; oneDNN's kernels are
float32 only, so XLA's run) and
`plain` (one jitted step per call on the plain models
with the default metrics: the baseline the tuning is measured against). `devices=2` splits
each batch over two XLA host devices (data parallel over the CPU's cores; an experiment, see
docs/performance.md)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from experiments.bench.timing import best_rate
from experiments.bench.workloads import IMAGE, Workload
from jaxcourse import train
from jaxcourse.models.precision import in_precision

MODEL_CONFIGS = {
    "softmax": {"name": "softmax"},
    "mlp": {"name": "mlp", "hidden": [1000, 1000], "activation": "tanh"},
    "cnn": {"name": "cnn"},
    "lstm": {"name": "lstm"},
}
# (steps fused per call, unroll) of the tuned variant, measured in docs/performance.md
TUNED_STEPS = {"softmax": (10, True), "mlp": (10, 1), "cnn": (5, True), "lstm": (10, 1)}
TUNED_MODELS = {"cnn": {"name": "fast_cnn"}}


def flax_params(name: str, p: dict[str, np.ndarray], cell: str = "lstm") -> dict:
    """Canonical weights as the parameter tree of the jaxcourse model of workload `name`
    (`cell`: the name of the LSTM cell's parameter group)."""
    dense = lambda w, b: {"kernel": w, "bias": b}
    if name == "softmax":
        return {"k": p["w"], "b": p["b"]}
    if name == "mlp":
        layers = ("hidden1", "hidden2", "output")
        return {layer: dense(p[f"w{i + 1}"], p[f"b{i + 1}"]) for i, layer in enumerate(layers)}
    if name == "cnn":
        return {k: dense(p[f"{k}_w"], p[f"{k}_b"]) for k in ("conv1", "conv2", "fc1", "fc2")}
    if name == "lstm":
        gates = {}
        for g, gate in enumerate("ifgo"):
            gates[f"i{gate}"] = {"kernel": p["wx"][g]}
            gates[f"h{gate}"] = dense(p["wh"][g], p["b"][g])
        return {cell: gates, "output": dense(p["out_w"], p["out_b"])}
    raise KeyError(name)


def lstm_cell(model) -> str:
    """The name of the parameter group holding an LSTM cell's gates ('' for other models)."""
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *IMAGE)))["params"]
    return next((k for k, v in shapes.items() if isinstance(v, dict) and "ii" in v), "")


class Trainer:
    """Trains one workload with jaxcourse's functional core on a device-resident data set."""

    def __init__(
        self,
        workload: Workload,
        x: np.ndarray,
        y: np.ndarray,
        params,
        seed: int,
        variant: str = "tuned",
        steps_per_call: int | None = None,
        devices: int = 1,
    ):
        from jaxcourse import losses, models, optim
        from jaxcourse.config import validate_component
        from jaxcourse.data.spec import DataSpec
        from jaxcourse.kernels import conv

        spec = DataSpec(IMAGE, "classification", 10)
        name = workload.name
        model_cfg = MODEL_CONFIGS[name]
        k, unroll = 1, 1
        if variant.startswith("tuned"):
            model_cfg = TUNED_MODELS.get(name, model_cfg)
            k, unroll = TUNED_STEPS[name]
        if variant == "tuned-xla":  # the same, on XLA's own kernels (no oneDNN calls)
            conv.set_backend("xla")
            if name == "lstm":
                model_cfg = {**model_cfg, "implementation": "flax"}
        if steps_per_call is not None:
            k = steps_per_call
        model = models.build(validate_component(models.MODELS, model_cfg, "model"), spec)
        tx = optim.make(workload.optimizer, learning_rate=workload.learning_rate)
        p = jax.tree_util.tree_map(jnp.asarray, flax_params(name, params, lstm_cell(model)))
        self.state = train.TrainState(
            step=jnp.zeros((), jnp.int32), params=p, opt_state=tx.init(p), rng=jax.random.key(seed)
        )
        loss = losses.LOSSES.get("softmax_cross_entropy")
        # the peers compute no gradient norm; the tuned variant skips it too (train.grad_norm)
        precision = "bf16" if variant == "tuned-bf16" else "float32"
        apply = in_precision(model.apply, precision)
        step = train.make_train_step(apply, loss, tx, grad_norm=variant == "plain")
        self._step = step
        self.data = {"x": x, "y": y}
        self.steps_per_call = k
        jit = dict(donate_argnums=0)
        if devices > 1:  # data parallel: the batch split over host devices, the rest replicated
            mesh = jax.make_mesh((devices,), ("batch",), axis_types=(AxisType.Auto,))
            replicated = NamedSharding(mesh, P())
            split = NamedSharding(mesh, P("batch") if k == 1 else P(None, "batch"))
            self.state = jax.device_put(self.state, replicated)
            self.data = jax.device_put(self.data, replicated)
            jit.update(in_shardings=(replicated, replicated, split))
        self.data = jax.device_put(self.data)
        self.step = jax.jit(train.make_indexed_step(step, k, unroll), **jit)
        self._single = None

    @property
    def single_step(self):
        if self._single is None:
            self._single = jax.jit(train.make_indexed_step(self._step), donate_argnums=0)
        return self._single

    def _idx(self, indices: np.ndarray) -> np.ndarray:
        return indices[0] if self.steps_per_call == 1 else indices

    def run(self, indices: np.ndarray) -> float:
        """Train one step per row of `indices`: fused calls of steps_per_call steps, and the
        rest (fewer than steps_per_call) one by one."""
        k = self.steps_per_call
        full = len(indices) - len(indices) % k
        for start in range(0, full, k):
            self.state, metrics = self.step(self.state, self.data, self._idx(indices[start:][:k]))
        for row in indices[full:]:
            self.state, metrics = self.single_step(self.state, self.data, row)
        return float(np.asarray(metrics["loss"]).reshape(-1)[-1])

    @staticmethod
    def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
        a = jnp.asarray(np.random.rand(n, n).astype(np.float32))
        b = jnp.asarray(np.random.rand(n, n).astype(np.float32))
        f = jax.jit(jnp.matmul)
        return best_rate(lambda: f(a, b).block_until_ready(), 2 * n**3, repeats)
