"""The benchmarked workloads: the course's models, their optimizers, FLOPs and initial weights.

Every framework trains the same function from the same numbers: the initial weights are drawn
here once, with numpy, in a canonical layout (dense kernels (in, out), conv kernels HWIO,
images NHWC flattened in (h, w, c) order, LSTM gates in the order i, f, g, o); each trainer
converts them to its own layout. The batch order is shared too (`batch_indices`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BATCH_SIZE = 100
IMAGE = (28, 28, 1)
CLASSES = 10


@dataclass(frozen=True)
class Workload:
    """One benchmarked model: its architecture, optimizer and cost."""

    name: str
    description: str
    optimizer: str  # "sgd" or "adam"
    learning_rate: float
    macs: tuple[int, ...]  # multiply-adds per example of each weight layer, input to output

    @property
    def flops_per_example(self) -> float:
        """Training FLOPs per example: 2·MACs for the forward pass, 2·MACs for the weight
        gradient and 2·MACs for the input gradient (not needed by the first layer)."""
        first, *rest = self.macs
        return 2.0 * (2 * first + 3 * sum(rest))


LSTM_UNITS = 128
CNN_MACS = (28 * 28 * 32 * 25, 14 * 14 * 64 * 25 * 32, 7 * 7 * 64 * 1024, 1024 * 10)

WORKLOADS = {
    w.name: w
    for w in (
        Workload("softmax", "softmax regression 784→10, SGD 0.2", "sgd", 0.2, (784 * 10,)),
        Workload(
            "mlp",
            "MLP 784→1000→1000→10 tanh, SGD 0.2",
            "sgd",
            0.2,
            (784 * 1000, 1000 * 1000, 1000 * 10),
        ),
        Workload(
            "cnn",
            "course CNN conv5×5-32, pool, conv5×5-64, pool, fc-1024, dropout 0.5, fc-10; Adam 1e-4",
            "adam",
            1e-4,
            CNN_MACS,
        ),
        Workload(
            "lstm",
            f"LSTM over 28 rows of 28 pixels, {LSTM_UNITS} units, fc-10; Adam 1e-3",
            "adam",
            1e-3,
            # input weights, recurrent weights (they do need their input's gradient), output
            (28 * 28 * 4 * LSTM_UNITS, 28 * LSTM_UNITS * 4 * LSTM_UNITS, LSTM_UNITS * 10),
        ),
    )
}


def initial_params(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """The initial weights of workload `name` in the canonical layout (float32)."""
    rng = np.random.default_rng(seed)

    def truncated_normal(shape, std):
        x = rng.standard_normal(shape)
        while (bad := np.abs(x) > 2).any():
            x[bad] = rng.standard_normal(bad.sum())
        return (x * std).astype(np.float32)

    def lecun(shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)

    def uniform(shape, limit):
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    if name == "softmax":
        return {"w": np.zeros((784, 10), np.float32), "b": np.zeros(10, np.float32)}
    if name == "mlp":
        p = {}
        for i, (n_in, n_out) in enumerate([(784, 1000), (1000, 1000), (1000, 10)]):
            p[f"w{i + 1}"], p[f"b{i + 1}"] = lecun((n_in, n_out)), np.zeros(n_out, np.float32)
        return p
    if name == "cnn":  # the course's weight_variable / bias_variable
        shapes = {"conv1": (5, 5, 1, 32), "conv2": (5, 5, 32, 64), "fc1": (3136, 1024)}
        shapes["fc2"] = (1024, 10)
        p = {}
        for layer, shape in shapes.items():
            p[f"{layer}_w"] = truncated_normal(shape, 0.1)
            p[f"{layer}_b"] = np.full(shape[-1], 0.1, np.float32)
        return p
    if name == "lstm":  # PyTorch's scheme: U(±1/√units) for every LSTM weight and bias
        limit = 1.0 / np.sqrt(LSTM_UNITS)
        return {
            "wx": uniform((4, 28, LSTM_UNITS), limit),
            "wh": uniform((4, LSTM_UNITS, LSTM_UNITS), limit),
            "b": uniform((4, LSTM_UNITS), limit),
            "out_w": lecun((LSTM_UNITS, CLASSES)),
            "out_b": np.zeros(CLASSES, np.float32),
        }
    raise KeyError(f"unknown workload '{name}'; known: {', '.join(WORKLOADS)}")


def batch_indices(num_examples: int, steps: int, seed: int = 0) -> np.ndarray:
    """(steps, BATCH_SIZE) example indices: epochs of seeded permutations, cut into batches."""
    per_epoch = num_examples // BATCH_SIZE
    rng = np.random.default_rng(seed)
    epochs = -(-steps // per_epoch)
    order = np.concatenate(
        [rng.permutation(num_examples)[: per_epoch * BATCH_SIZE] for _ in range(epochs)]
    )
    return order[: steps * BATCH_SIZE].reshape(steps, BATCH_SIZE).astype(np.int32)
