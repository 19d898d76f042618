"""Regenerate the reference outputs of the corpus scripts with real TensorFlow (run once,
commit the results; the tests themselves never import TensorFlow).

    python tests/tf1_corpus/generate_reference.py            # every script
    python tests/tf1_corpus/generate_reference.py hello.py   # some

Each script runs in its own process under TF 2's `tf.compat.v1` with v2 behaviour disabled;
its stdout goes to tests/fixtures/tf1_corpus/<script>.out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import FIXTURES, SCRIPTS  # noqa: E402


def main(names: list[str]) -> None:
    scripts = [SCRIPTS / n for n in names] if names else sorted(SCRIPTS.glob("*.py"))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    # TF_USE_LEGACY_KERAS: tf.compat.v1.layers and nn.rnn_cell need tf-keras in TF 2.16+ (h15lib)
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "TF_USE_LEGACY_KERAS": "1",
        # this checkout's jaxcourse (its MNIST reader), not an installed one
        "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]),
    }
    failed = []
    for script in scripts:
        done = subprocess.run(
            [sys.executable, str(HERE / "harness.py"), str(script), "--backend", "tf"],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode:
            failed.append(script.name)
            print(f"{script.name} failed under TensorFlow:\n{done.stderr[-3000:]}")
            continue
        (FIXTURES / f"{script.stem}.out").write_text(done.stdout)
        print(f"{script.name}: {len(done.stdout.splitlines())} lines")
    if failed:
        sys.exit(f"failed under TensorFlow: {', '.join(failed)}")


if __name__ == "__main__":
    main(sys.argv[1:])
