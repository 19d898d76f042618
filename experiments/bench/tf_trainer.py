"""The workloads in TensorFlow: TF1-style graph mode (a Session, as in the course) and
TF2's `tf.function`. Both use the raw ops the course used (tf.nn.conv2d NHWC, max_pool,
matmul) and TF1's fused optimizers; the LSTM is a statically unrolled loop, like `static_rnn`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from experiments.bench.timing import best_rate
from experiments.bench.workloads import LSTM_UNITS, Workload


def forward(name: str, p: dict, x, train: bool):
    """Logits of workload `name` with weights `p` (tf variables) on an NHWC batch `x`."""
    if name == "softmax":
        return tf.matmul(tf.reshape(x, [-1, 784]), p["w"]) + p["b"]
    if name == "mlp":
        h = tf.reshape(x, [-1, 784])
        for i in (1, 2):
            h = tf.tanh(tf.matmul(h, p[f"w{i}"]) + p[f"b{i}"])
        return tf.matmul(h, p["w3"]) + p["b3"]
    if name == "cnn":
        h = x
        for conv in ("conv1", "conv2"):
            h = tf.nn.relu(tf.nn.conv2d(h, p[f"{conv}_w"], 1, "SAME") + p[f"{conv}_b"])
            h = tf.nn.max_pool2d(h, 2, 2, "SAME")
        h = tf.nn.relu(tf.matmul(tf.reshape(h, [-1, 3136]), p["fc1_w"]) + p["fc1_b"])
        if train:
            h = tf.nn.dropout(h, rate=0.5)
        return tf.matmul(h, p["fc2_w"]) + p["fc2_b"]
    if name == "lstm":
        rows = tf.unstack(tf.reshape(x, [-1, 28, 28]), axis=1)
        h = c = tf.zeros([tf.shape(x)[0], LSTM_UNITS])
        for row in rows:
            z = tf.matmul(row, p["wx"]) + tf.matmul(h, p["wh"]) + p["b"]
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
        return tf.matmul(h, p["out_w"]) + p["out_b"]
    raise KeyError(name)


def tf_layout(name: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical weights in the layout `forward` uses (LSTM gates concatenated)."""
    if name != "lstm":
        return params
    p = dict(params)
    p["wx"] = np.concatenate(list(params["wx"]), axis=1)
    p["wh"] = np.concatenate(list(params["wh"]), axis=1)
    p["b"] = params["b"].reshape(-1)
    return p


def _optimizer(workload: Workload):
    if workload.optimizer == "adam":
        return tf.compat.v1.train.AdamOptimizer(workload.learning_rate, epsilon=1e-8)
    return tf.compat.v1.train.GradientDescentOptimizer(workload.learning_rate)


def _loss(logits, labels):
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    )


class GraphTrainer:
    """TF1 graph mode: the graph is built once, each step is a `Session.run` with the batch's
    indices fed; the data set lives in a (non-trainable) variable."""

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray, params, seed: int):
        tf.compat.v1.disable_eager_execution()
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.set_random_seed(seed)
            x_in = tf.compat.v1.placeholder(tf.float32, x.shape)
            y_in = tf.compat.v1.placeholder(tf.int32, y.shape)
            x_var = tf.Variable(x_in, trainable=False)
            y_var = tf.Variable(y_in, trainable=False)
            p = {k: tf.Variable(v, name=k) for k, v in tf_layout(workload.name, params).items()}
            self.idx = tf.compat.v1.placeholder(tf.int32, [None])
            logits = forward(workload.name, p, tf.gather(x_var, self.idx), train=True)
            self.loss = _loss(logits, tf.gather(y_var, self.idx))
            self.train_op = _optimizer(workload).minimize(self.loss)
            self.session = tf.compat.v1.Session()
            self.session.run(tf.compat.v1.global_variables_initializer(), {x_in: x, y_in: y})
        self.steps_per_call = 1

    def run(self, indices: np.ndarray) -> float:
        for row in indices[:-1]:
            self.session.run(self.train_op, {self.idx: row})
        return float(self.session.run([self.train_op, self.loss], {self.idx: indices[-1]})[1])

    def matmul_gflops(self, n: int = 2048, repeats: int = 10) -> float:
        with self.graph.as_default():
            a = tf.constant(np.random.rand(n, n).astype(np.float32))
            b = tf.Variable(np.random.rand(n, n).astype(np.float32))
            c = tf.reduce_sum(tf.matmul(a, b))
            self.session.run(b.initializer)
        return best_rate(lambda: self.session.run(c), 2 * n**3, repeats)


class FunctionTrainer:
    """TF2 eager mode with the step compiled by `tf.function` (no XLA)."""

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray, params, seed: int):
        tf.random.set_seed(seed)
        self.x, self.y = tf.constant(x), tf.constant(y)
        p = {k: tf.Variable(v, name=k) for k, v in tf_layout(workload.name, params).items()}
        opt = _optimizer(workload)
        variables = list(p.values())

        @tf.function
        def step(idx):
            with tf.GradientTape() as tape:
                logits = forward(workload.name, p, tf.gather(self.x, idx), train=True)
                loss = _loss(logits, tf.gather(self.y, idx))
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return loss

        self.step = step
        self.steps_per_call = 1

    def run(self, indices: np.ndarray) -> float:
        for row in indices:
            loss = self.step(tf.constant(row))
        return float(loss)

    @staticmethod
    def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
        a, b = tf.random.uniform((n, n)), tf.random.uniform((n, n))
        return best_rate(lambda: tf.matmul(a, b).numpy(), 2 * n**3, repeats)
