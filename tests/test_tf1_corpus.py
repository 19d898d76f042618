"""TF1 tutorial-style scripts run unchanged (import lines aside) on jaxcourse.compat.v1 and
print TensorFlow's numbers.

Every `tests/tf1_corpus/scripts/*.py` is run in this process under the shim by
`tests/tf1_corpus/harness.py` and its output compared, number by number, with what real
TensorFlow printed (`tests/fixtures/tf1_corpus/<script>.out`, made once by
`tests/tf1_corpus/generate_reference.py`). To add a script: drop it into the scripts folder
(header options in harness.py's docstring), run the generator for it, commit both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HARNESS_PATH = Path(__file__).parent / "tf1_corpus" / "harness.py"
_spec = importlib.util.spec_from_file_location("tf1_corpus_harness", HARNESS_PATH)
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

SCRIPTS = sorted(harness.SCRIPTS.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_script_prints_tensorflows_numbers(script):
    opts = harness.options(script.read_text())
    if opts.get("needs") == "mnist" and harness.mnist_dir() is None:
        pytest.skip("no MNIST-format data (set CORPUS_MNIST_DIR)")
    reference = harness.FIXTURES / f"{script.stem}.out"
    assert reference.is_file(), (
        f"no TensorFlow output for {script.name}: run "
        f"`python tests/tf1_corpus/generate_reference.py {script.name}`"
    )
    got = harness.run_script(script, "shim")
    difference = harness.compare(reference.read_text(), got, opts)
    assert difference is None, f"{script.name}: {difference}\n--- printed:\n{got}"


def test_compare_reads_numbers_and_text_apart():
    same = harness.compare(
        "[array([1., 2.], dtype=float32)]", "[array([1.0000001, 2.], dtype=float32)]", {}
    )
    assert same is None
    assert "printed 0.8, TF printed 0.9" in harness.compare(
        "loss 0.5 acc 0.9", "loss 0.5 acc 0.8", {}
    )
    assert "token" in harness.compare("b'Hello'", "b'Hallo'", {})
    assert harness.compare("w 0.1 0.2", "w 0.3 0.4", {"compare": "structure"}) is None
    assert harness.compare("acc 0.91", "acc 0.9", {"rtol": "0", "atol": "0.02"}) is None


def test_rewrite_changes_only_import_lines():
    source = "import tensorflow as tf\nx = 'import tensorflow as tf'\n"
    assert harness.rewrite(source, "shim") == (
        "import jaxcourse.compat.v1 as tf\nx = 'import tensorflow as tf'\n"
    )
