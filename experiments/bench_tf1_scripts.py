"""Benchmark: the course's TF1 scripts under real TensorFlow and under `jaxcourse.compat.v1`.

Four scripts in the course's style — softmax regression (`mnist_softmax.py`), the two-layer
CNN (`mnist_deep.py`), the CNN with scalar and histogram summaries written every step
(`mnist_with_summaries.py`), and the week-7 LSTM (`BasicLSTMCell` + `dynamic_rnn`) — each
written once against the TF1 API and run by both frameworks, each run in its own process
(import, graph building, compiling and the training loop all count), TF and shim taking turns
so that machine noise hits both alike. Data: MNIST-shaped random images from a fixed seed,
batches by `input_data.DataSet.next_batch` in both.

    python -m experiments.bench_tf1_scripts [--steps 200] [--repeats 2] [--scripts cnn,lstm]
        [--json out.json]

Prints, per script, the wall time of the whole process and of the training loop (ms/step)
under each framework, the ratio shim/TF (below 1: the shim is faster) and the shim's
compile count. Record `uptime` with the numbers: on a loaded machine compare ratios only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

SCRIPTS = ("softmax", "cnn", "cnn_summaries", "lstm")
BATCH = {"softmax": 100, "cnn": 50, "cnn_summaries": 50, "lstm": 128}


def _data(n: int = 6000):
    import numpy as np

    from jaxcourse.data.input_data import DataSet

    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(n, 28, 28, 1)).astype(np.uint8)
    labels = np.eye(10)[rng.randint(0, 10, size=n)]
    return DataSet(images, labels, seed=1), images[:1000].reshape(1000, 784) / 255.0, labels[:1000]


def _softmax(tf, steps: int, logdir: str):
    x = tf.placeholder(tf.float32, [None, 784])
    y_ = tf.placeholder(tf.float32, [None, 10])
    W = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.matmul(x, W) + b
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1)), tf.float32))
    return x, y_, None, train_step, accuracy, None


def _conv_net(tf, x, keep_prob):
    def weight(shape):
        return tf.Variable(tf.truncated_normal(shape, stddev=0.1))

    def bias(shape):
        return tf.Variable(tf.constant(0.1, shape=shape))

    def conv2d(a, w):
        return tf.nn.conv2d(a, w, strides=[1, 1, 1, 1], padding="SAME")

    def max_pool_2x2(a):
        return tf.nn.max_pool(a, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    image = tf.reshape(x, [-1, 28, 28, 1])
    with tf.name_scope("conv1"):
        w1 = weight([5, 5, 1, 32])
        h1 = max_pool_2x2(tf.nn.relu(conv2d(image, w1) + bias([32])))
    with tf.name_scope("conv2"):
        h2 = max_pool_2x2(tf.nn.relu(conv2d(h1, weight([5, 5, 32, 64])) + bias([64])))
    with tf.name_scope("fc1"):
        flat = tf.reshape(h2, [-1, 7 * 7 * 64])
        fc = tf.nn.relu(tf.matmul(flat, weight([7 * 7 * 64, 1024])) + bias([1024]))
    with tf.name_scope("dropout"):
        dropped = tf.nn.dropout(fc, keep_prob)
    with tf.name_scope("fc2"):
        return tf.matmul(dropped, weight([1024, 10])) + bias([10]), w1


def _cnn(tf, steps: int, logdir: str, summaries: bool = False):
    x = tf.placeholder(tf.float32, [None, 784], name="x-input")
    y_ = tf.placeholder(tf.float32, [None, 10], name="y-input")
    keep_prob = tf.placeholder(tf.float32)
    y, w1 = _conv_net(tf, x, keep_prob)
    with tf.name_scope("cross_entropy"):
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.AdamOptimizer(1e-4).minimize(loss)
    with tf.name_scope("accuracy"):
        correct = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    merged = None
    if summaries:
        tf.summary.scalar("cross_entropy", loss)
        tf.summary.scalar("accuracy", accuracy)
        tf.summary.histogram("conv1/weights", w1)
        tf.summary.histogram("logits", y)
        merged = tf.summary.merge_all()
    return x, y_, keep_prob, train_step, accuracy, merged


def _lstm(tf, steps: int, logdir: str):
    x = tf.placeholder(tf.float32, [None, 784])
    y_ = tf.placeholder(tf.float32, [None, 10])
    inputs = tf.reshape(x, [-1, 28, 28])
    cell = tf.nn.rnn_cell.BasicLSTMCell(128)
    outputs, state = tf.nn.dynamic_rnn(cell, inputs, dtype=tf.float32)
    W = tf.Variable(tf.truncated_normal([128, 10], stddev=0.1))
    b = tf.Variable(tf.constant(0.1, shape=[10]))
    y = tf.matmul(state.h, W) + b
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.AdamOptimizer(1e-3).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1)), tf.float32))
    return x, y_, None, train_step, accuracy, None


BUILDERS = {
    "softmax": _softmax,
    "cnn": _cnn,
    "cnn_summaries": lambda tf, steps, logdir: _cnn(tf, steps, logdir, summaries=True),
    "lstm": _lstm,
}


def worker(framework: str, script: str, steps: int, logdir: str, started: float) -> dict:
    """Run one script in this process; the times of its phases."""
    if framework == "tf":
        import tensorflow.compat.v1 as tf

        tf.disable_v2_behavior()
    else:
        import jaxcourse.compat.v1 as tf
    imported = time.perf_counter()
    data, test_x, test_y = _data()
    tf.set_random_seed(0)
    x, y_, keep_prob, train_step, accuracy, merged = BUILDERS[script](tf, steps, logdir)
    writer = tf.summary.FileWriter(os.path.join(logdir, framework)) if merged is not None else None
    batch = BATCH[script]
    extra = {} if keep_prob is None else {keep_prob: 1.0}
    drop = {} if keep_prob is None else {keep_prob: 0.5}
    last_variable = tf.trainable_variables()[-1]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(last_variable)
        built = time.perf_counter()
        loop_start = None
        for i in range(steps):
            if i == 10:  # the first steps compile (shim) or warm up (TF)
                loop_start = time.perf_counter()
            xs, ys = data.next_batch(batch)
            if merged is not None and i % 10 == 0:  # mnist_with_summaries: test summaries
                summary, _ = sess.run([merged, accuracy], {x: test_x, y_: test_y, **extra})
                writer.add_summary(summary, i)
            elif merged is not None:
                summary, _ = sess.run([merged, train_step], {x: xs, y_: ys, **drop})
                writer.add_summary(summary, i)
            else:
                sess.run(train_step, {x: xs, y_: ys, **drop})
            if merged is None and i % 100 == 0:
                sess.run(accuracy, {x: test_x, y_: test_y, **extra})
        sess.run(last_variable)  # waits for the last step (the shim's runs are asynchronous)
        loop_end = time.perf_counter()
        final = float(sess.run(accuracy, {x: test_x, y_: test_y, **extra}))
        compiles = getattr(sess, "compile_count", None)
    if writer is not None:
        writer.close()
    end = time.perf_counter()
    return {
        "framework": framework,
        "script": script,
        "steps": steps,
        "wall_s": round(end - started, 3),
        "import_s": round(imported - started, 3),
        "build_s": round(built - imported, 3),
        "first_10_steps_s": round(loop_start - built, 3),
        "step_ms": round((loop_end - loop_start) / (steps - 10) * 1e3, 3),
        "accuracy": round(final, 4),
        "compiles": compiles,
    }


def run_one(framework: str, script: str, steps: int, logdir: str) -> dict:
    command = [sys.executable, "-m", "experiments.bench_tf1_scripts", "--worker", framework]
    command += ["--scripts", script, "--steps", str(steps), "--logdir", logdir]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        print(f"{framework} {script} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return {"framework": framework, "script": script, "failed": out.stderr[-300:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(rows: list[dict]) -> list[dict]:
    """Per script: the best run of each framework and the shim/TF ratios."""
    table = []
    for script in dict.fromkeys(r["script"] for r in rows):
        runs = [r for r in rows if r["script"] == script and "failed" not in r]
        if {r["framework"] for r in runs} != {"tf", "shim"}:
            continue
        best = {
            fw: min(
                (r for r in runs if r["framework"] == fw),
                key=lambda r: r["wall_s"],
            )
            for fw in ("tf", "shim")
        }
        tf_row, shim_row = best["tf"], best["shim"]
        table.append(
            {
                "script": script,
                "tf_wall_s": tf_row["wall_s"],
                "shim_wall_s": shim_row["wall_s"],
                "wall_ratio": round(shim_row["wall_s"] / tf_row["wall_s"], 2),
                "tf_step_ms": tf_row["step_ms"],
                "shim_step_ms": shim_row["step_ms"],
                "step_ratio": round(shim_row["step_ms"] / tf_row["step_ms"], 2),
                "shim_compiles": shim_row["compiles"],
                "tf_accuracy": tf_row["accuracy"],
                "shim_accuracy": shim_row["accuracy"],
            }
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scripts", default=",".join(SCRIPTS))
    parser.add_argument("--json", help="also write the rows and the table to this JSON file")
    parser.add_argument("--logdir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=("tf", "shim"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        started = time.perf_counter()
        print(json.dumps(worker(args.worker, args.scripts, args.steps, args.logdir, started)))
        return
    import tempfile

    scripts = [s for s in args.scripts.split(",") if s]
    unknown = sorted(set(scripts) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown scripts {unknown}; choose from {', '.join(SCRIPTS)}")
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as logdir:
        for _ in range(args.repeats):
            for script in scripts:
                for framework in ("tf", "shim"):
                    rows.append(run_one(framework, script, args.steps, logdir))
    table = summarize(rows)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{args.steps} steps, best of {args.repeats}"
    )
    header = (
        f"{'script':14} {'TF wall s':>9} {'shim wall s':>11} {'ratio':>6} "
        f"{'TF ms/step':>10} {'shim ms/step':>12} {'ratio':>6} {'compiles':>8}"
    )
    print(header)
    for r in table:
        print(
            f"{r['script']:14} {r['tf_wall_s']:9.2f} {r['shim_wall_s']:11.2f} "
            f"{r['wall_ratio']:6.2f} {r['tf_step_ms']:10.2f} {r['shim_step_ms']:12.2f} "
            f"{r['step_ratio']:6.2f} {r['shim_compiles']:8}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"load_average": load, "steps": args.steps, "rows": rows, "table": table},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
