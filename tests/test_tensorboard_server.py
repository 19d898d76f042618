"""A trained run served by a real `tensorboard` (started here on 127.0.0.1, killed after).

Checks what the dashboards get: every plugin active, the logged scalar values, histograms,
images, the train step's graph with module scopes, the projector's config, the hparams; and
(slow) that headless Chromium draws the graph's nodes and the projector's points.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import synthetic_images

from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import read_metrics
from jaxcourse.runners import run_experiment

pytest.importorskip("tensorboard", reason="the tensorboard package serves the dashboards")

REPO = Path(__file__).resolve().parents[1]
RUN = "fast/tensorboard"  # TensorBoard's name of the run in <runs>/fast (lr 0.3)
OTHER = "slow/tensorboard"  # the run in <runs>/slow (lr 0.1)
PLUGINS = ("scalars", "histograms", "images", "graphs", "projector", "hparams")
STARTUP_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`jaxcourse tensorboard RUN_DIR --port P` (which becomes the tensorboard process)."""

    def __init__(self, run_dir: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jaxcourse", "tensorboard", str(run_dir)]
            + ["--host", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def get(self, path: str, data: dict | None = None, deadline: float | None = None) -> bytes:
        """The body at `path` (POSTing `data` as JSON), retrying until the server answers."""
        deadline = deadline or time.monotonic() + STARTUP_S
        body = None if data is None else json.dumps(data).encode()
        headers = {"Content-Type": "application/json", "X-XSRF-Protected": "1"}
        while True:
            request = urllib.request.Request(self.url + path, body, headers if body else {})
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    return response.read()
            except (urllib.error.URLError, ConnectionError) as err:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"tensorboard exited: {self.proc.stderr.read()[-2000:]}"
                    ) from err
                if isinstance(err, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def json(self, path: str, data: dict | None = None):
        return json.loads(self.get(path, data))

    def wait_for_plugins(self, names) -> dict:
        """plugins_listing once every plugin in `names` is enabled (bounded wait)."""
        deadline = time.monotonic() + STARTUP_S
        while True:
            listing = json.loads(self.get("/data/plugins_listing", deadline=deadline))
            if all(listing.get(n, {}).get("enabled") for n in names):
                return listing
            if time.monotonic() > deadline:
                return listing
            time.sleep(1.0)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two runs that differ in learning rate, side by side (as under runs/)."""
    path = tmp_path_factory.mktemp("runs")
    for name, lr in (("fast", 0.3), ("slow", 0.1)):
        raw = synthetic_images.config(projector={"samples": 100})
        raw["optimizer"]["learning_rate"] = lr
        run_experiment(config_lib.load(raw=raw), path / name)
    return path


@pytest.fixture(scope="module")
def run_dir(runs) -> Path:
    return runs / "fast"


@pytest.fixture(scope="module")
def server(runs):
    server = Server(runs)
    try:
        server.listing = server.wait_for_plugins(PLUGINS)
        yield server
    finally:
        server.stop()


def test_all_dashboards_are_active(server):
    enabled = {name for name, info in server.listing.items() if info.get("enabled")}
    assert set(PLUGINS) <= enabled, f"inactive: {set(PLUGINS) - enabled}"
    assert server.json("/data/runs") == [RUN, OTHER]


def test_scalar_series_have_the_logged_values(server, run_dir):
    query = urllib.parse.urlencode({"run": RUN, "tag": "train/loss"})
    series = server.json(f"/data/plugin/scalars/scalars?{query}")  # [[wall, step, value], ...]
    rows = {row["step"]: row for row in read_metrics(run_dir)}
    assert [step for _, step, _ in series] == [20, 40, 60, 80, 100, 120]
    for _, step, value in series:
        assert value == pytest.approx(rows[step]["loss"], rel=1e-6)
    query = urllib.parse.urlencode({"run": RUN, "tag": "test/accuracy"})
    ((_, step, value),) = server.json(f"/data/plugin/scalars/scalars?{query}")
    assert step == 120 and value == pytest.approx(rows[120]["test_accuracy"], rel=1e-6)
    tags = server.json("/data/plugin/scalars/tags")[RUN]
    for stat in ("mean", "stddev", "max", "min"):
        assert f"hidden1/kernel/summaries/{stat}" in tags


def test_histograms_and_images_are_served(server):
    query = urllib.parse.urlencode({"run": RUN, "tag": "hidden1/kernel/summaries/histogram"})
    histograms = server.json(f"/data/plugin/histograms/histograms?{query}")
    assert [h[1] for h in histograms] == [0, 60, 120]
    buckets = histograms[-1][2]  # [[left, right, count], ...]
    assert sum(b[2] for b in buckets) == pytest.approx(64 * 16)
    image_tags = server.json("/data/plugin/images/tags")[RUN]
    assert {"inputs", "misclassified", "confusion_matrix"} <= set(image_tags)


def test_graph_endpoint_returns_the_module_scopes(server):
    query = urllib.parse.urlencode({"run": RUN, "conceptual": "false"})
    text = server.get(f"/data/plugin/graphs/graph?{query}").decode()
    names = set(
        line.split('"')[1] for line in text.splitlines() if line.strip().startswith("name:")
    )
    assert any(n.startswith("MLP/hidden1/") for n in names)
    assert any(n.startswith("MLP/output/") for n in names)
    assert any(n.startswith("gradients/") for n in names)


def test_projector_lists_the_embeddings_with_metadata_and_sprite(server):
    info = server.json(f"/data/plugin/projector/info?run={RUN}")
    embeddings = {e["tensorName"]: e for e in info["embeddings"]}
    assert set(embeddings) == {"hidden", "pixels"}
    assert embeddings["hidden"]["tensorShape"] == [100, 16]
    assert embeddings["pixels"]["tensorShape"] == [100, 64]
    for e in embeddings.values():
        assert e["metadataPath"] == "projector/metadata.tsv"
        assert e["sprite"]["imagePath"] == "projector/sprite.png"
        assert e["sprite"]["singleImageDim"] == [8, 8]
    query = urllib.parse.urlencode({"run": RUN, "name": "hidden"})
    metadata = server.get(f"/data/plugin/projector/metadata?{query}").decode().splitlines()
    assert metadata[0].split("\t")[0] == "label" and len(metadata) == 101
    assert set(row.split("\t")[0] for row in metadata[1:]) <= set(synthetic_images.CLASS_NAMES)
    tensor = np.frombuffer(server.get(f"/data/plugin/projector/tensor?{query}"), np.float32)
    assert tensor.size == 100 * 16
    sprite = server.get(f"/data/plugin/projector/sprite_image?{query}")
    assert sprite[:8] == b"\x89PNG\r\n\x1a\n"


def test_hparams_compares_the_runs_config_and_final_metrics(server, runs):
    experiment = server.json("/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = {h["name"] for h in experiment["hparamInfos"]}
    assert {"optimizer.learning_rate", "model.hidden", "train.batch_size"} <= hparams
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"train/loss", "train/accuracy", "test/accuracy"} <= metrics
    groups = server.json(
        "/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 10,
        },
    )
    by_lr = {g["hparams"]["optimizer.learning_rate"]: g for g in groups["sessionGroups"]}
    assert set(by_lr) == {0.3, 0.1}
    for lr, name in ((0.3, "fast"), (0.1, "slow")):
        final = {m["name"]["tag"]: m["value"] for m in by_lr[lr]["metricValues"]}
        rows = read_metrics(runs / name)
        assert final["test/accuracy"] == pytest.approx(rows[-1]["test_accuracy"], rel=1e-6)
        assert final["train/loss"] == pytest.approx(rows[-1]["loss"], rel=1e-6)


def _browser():
    """Chromium's path and Playwright, or a skip saying what is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless browser check needs Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("headless browser check needs the playwright package (pip install playwright)")
    return chromium, sync_playwright


@pytest.mark.slow
def test_chromium_draws_the_graph_nodes_and_projector_points(server, tmp_path):
    chromium, sync_playwright = _browser()
    from PIL import Image

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{server.url}/#graphs", wait_until="domcontentloaded")
            page.wait_for_selector("g.node", timeout=60_000)
            assert page.locator("g.node").count() >= 10
            assert page.locator("g.node").filter(has_text="MLP").count() >= 1

            page.goto(f"{server.url}/#projector", wait_until="domcontentloaded")
            # the projector runs in nested iframes: plugin_entry.html > projector_binary.html
            deadline = time.monotonic() + 60
            while not (frames := [f for f in page.frames if "projector_binary" in f.url]):
                assert time.monotonic() < deadline, "the projector's frame never loaded"
                page.wait_for_timeout(500)
            projector = frames[0]
            points = projector.locator(".numDataPoints").first
            points.wait_for(timeout=60_000)
            deadline = time.monotonic() + 60
            while points.inner_text().strip() != "100":
                assert time.monotonic() < deadline, f"points shown: {points.inner_text()!r}"
                page.wait_for_timeout(500)
            scatter = projector.locator("#scatter").first
            page.wait_for_timeout(2_000)  # let the WebGL scene render its points
            shot = tmp_path / "projector.png"
            scatter.screenshot(path=str(shot))
        finally:
            browser.close()
    pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
    drawn = np.mean(
        np.abs(pixels - np.median(pixels)) > 30
    )  # sprite thumbnails on the plain background
    assert drawn > 0.01, f"the projector drew almost nothing ({drawn:.2%} of the canvas)"
