"""Test helper: start a real `tensorboard` server on 127.0.0.1 and read its graph endpoint."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from jaxcourse.tensorboard import launch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tensorboard(logdir, timeout: float = 90.0):
    """Yield `get(path) -> str` for a TensorBoard serving `logdir`; the server is killed after."""
    port = _free_port()
    proc = subprocess.Popen(
        launch.command(logdir, "127.0.0.1", port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout

    def get(path: str) -> str:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                    return r.read().decode()
            except (urllib.error.URLError, ConnectionError) as err:
                if proc.poll() is not None:
                    raise RuntimeError(f"tensorboard exited: {proc.stderr.read()[-2000:]}") from err
                if time.monotonic() > deadline:
                    raise TimeoutError(f"tensorboard did not answer {path}") from err
                time.sleep(0.5)

    try:
        yield get
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()


def served_graph(logdir, run: str = ".", timeout: float = 90.0) -> dict[str, str]:
    """{node name: op} of the graph that TensorBoard's Graphs plugin serves for `run`."""
    deadline = time.monotonic() + timeout
    with tensorboard(logdir, timeout) as get:
        while run not in json.loads(get("/data/runs")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run!r} never appeared in /data/runs")
            time.sleep(0.5)
        query = urllib.parse.urlencode({"run": run, "conceptual": "false"})
        text = get(f"/data/plugin/graphs/graph?{query}")
    names = re.findall(r'^\s*name: "([^"]*)"', text, flags=re.M)
    ops = re.findall(r'^\s*op: "([^"]*)"', text, flags=re.M)
    return dict(zip(names, ops, strict=True))
