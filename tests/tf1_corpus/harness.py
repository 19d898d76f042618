"""Run a TF1 tutorial-style script under the shim or under real TensorFlow, capturing what it
prints; compare two such outputs number by number.

A corpus script is written as the tutorials are (`import tensorflow as tf`, `from
tensorflow.examples.tutorials.mnist import input_data`, ...). Only import lines change:
`IMPORTS[backend]` maps each tutorial import line to the backend's (add a pair there for a
new import). Both backends get the same harness: NumPy's global RNG seeded with 0 (and
`numpy.random.seed(None)`, TF1 input_data's seed from the OS, seeding with 0), `sys.argv`
= [script], the working directory a scratch folder where `MNIST_data` points at the MNIST-format
data (`CORPUS_MNIST_DIR`, else Fashion-MNIST's system copy).

Header comments tune a script (first lines, `# corpus: key=value ...`):
  rtol=, atol=       numeric tolerance (default rtol=1e-4, atol=1e-5)
  compare=structure  only the text between numbers and how many numbers (random inits)
  needs=mnist        skip when no MNIST-format data is found
  timeout=           seconds (default 300)

`python tests/tf1_corpus/harness.py SCRIPT --backend tf|shim` prints the script's output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import sys
import tempfile
import types
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
SCRIPTS = CORPUS / "scripts"
FIXTURES = CORPUS.parent / "fixtures" / "tf1_corpus"
MNIST_CANDIDATES = ("/usr/share/datasets/fashion-mnist",)

IMPORTS = {
    "shim": {
        "import tensorflow as tf": "import jaxcourse.compat.v1 as tf",
        "import tensorflow.compat.v1 as tf": "import jaxcourse.compat.v1 as tf",
        "from tensorflow.examples.tutorials.mnist import input_data": (
            "from jaxcourse.data import input_data"
        ),
    },
    "tf": {
        "import tensorflow as tf": ("import tensorflow.compat.v1 as tf; tf.disable_v2_behavior()"),
        "import tensorflow.compat.v1 as tf": (
            "import tensorflow.compat.v1 as tf; tf.disable_v2_behavior()"
        ),
        # TF 2 has no tutorials package: both backends read the data with the same reader
        "from tensorflow.examples.tutorials.mnist import input_data": (
            "from jaxcourse.data import input_data"
        ),
    },
}


def options(source: str) -> dict[str, str]:
    """The `# corpus: key=value` options of a script's header."""
    found = {}
    for line in source.splitlines()[:10]:
        match = re.match(r"#\s*corpus:\s*(.*)", line)
        if match:
            found.update(item.split("=", 1) for item in match.group(1).split() if "=" in item)
    return found


def rewrite(source: str, backend: str) -> str:
    """The script with its tutorial import lines replaced by the backend's."""
    table = IMPORTS[backend]
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        lines.append(indent + table[stripped] if stripped in table else line)
    return "\n".join(lines) + "\n"


def mnist_dir() -> str | None:
    for candidate in (os.environ.get("CORPUS_MNIST_DIR"), *MNIST_CANDIDATES):
        if candidate and Path(candidate, "train-images-idx3-ubyte.gz").is_file():
            return candidate
    return None


@contextlib.contextmanager
def scratch_dir():
    """A temporary working directory with `MNIST_data` linked to the MNIST-format data."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="tf1_corpus_") as tmp:
        data = mnist_dir()
        if data:
            os.symlink(data, Path(tmp, "MNIST_data"))
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(previous)


def _forget_flags() -> None:
    """Drop the absl flags an earlier script defined (scripts define the same names)."""
    from absl import flags

    for name in list(flags.FLAGS):
        if name not in _BUILTIN_FLAGS:
            delattr(flags.FLAGS, name)
    flags.FLAGS.unparse_flags()


_BUILTIN_FLAGS: set[str] = set()


def _read_seeds_from(tf) -> None:
    """Under real TF, the shared MNIST reader takes TF's graph seed (`tf.set_random_seed`),
    as TF1's own input_data does (under the shim it reads the shim's)."""
    from jaxcourse.data import input_data

    def tf_graph_seed():
        graph = tf.get_default_graph()
        return graph.seed, max(len(graph.get_operations()) - 1, 0)

    input_data.shim_graph_seed = tf_graph_seed


@contextlib.contextmanager
def _fixed_os_seed(np):
    """h15input: `numpy.random.seed(None)` (seed from the OS, as TF1's input_data DataSet does
    without a seed) seeds with 0 instead, so such a script prints the same under both backends
    and from run to run."""
    seed = np.random.seed
    np.random.seed = lambda value=None: seed(0 if value is None else value)
    try:
        yield
    finally:
        np.random.seed = seed


def run_script(path: Path, backend: str) -> str:
    """Execute the script in this process as `__main__`; return what it printed."""
    import numpy as np

    source = rewrite(path.read_text(), backend)
    # the backend is imported before NumPy is seeded, so that its import (TF's draws from
    # NumPy's global RNG) cannot change the script's data
    if backend == "shim":
        import jaxcourse.compat.v1 as tf
    else:
        import tensorflow.compat.v1 as tf

        _read_seeds_from(tf)
    tf.reset_default_graph()
    from absl import flags

    if not _BUILTIN_FLAGS:
        _BUILTIN_FLAGS.update(flags.FLAGS)
    _forget_flags()
    out = io.StringIO()
    argv = sys.argv
    with scratch_dir(), contextlib.redirect_stdout(out), _fixed_os_seed(np):
        np.random.seed(0)
        sys.argv = [str(path)]
        main = types.ModuleType("__main__")
        main.__file__ = str(path)
        previous_main = sys.modules["__main__"]
        sys.modules["__main__"] = main  # tf.app.run() calls __main__.main
        try:
            exec(compile(source, str(path), "exec"), main.__dict__)
        except SystemExit as stop:
            if stop.code not in (None, 0):
                raise
        finally:
            sys.argv = argv
            sys.modules["__main__"] = previous_main
    return out.getvalue()


NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b")


def tokens(text: str) -> list:
    """Numbers (as floats) and the non-blank text between them."""
    result = []
    pos = 0
    for match in NUMBER.finditer(text):
        result += text[pos : match.start()].split()
        result.append(float(match.group()))
        pos = match.end()
    result += text[pos:].split()
    return result


def compare(expected: str, got: str, opts: dict[str, str]) -> str | None:
    """None if `got` matches `expected` under the options, else what differs first."""
    want, have = tokens(expected), tokens(got)
    if opts.get("compare") == "structure":
        want = [t if isinstance(t, str) else 0.0 for t in want]
        have = [t if isinstance(t, str) else 0.0 for t in have]
    if len(want) != len(have):
        return f"{len(have)} tokens printed, TF printed {len(want)}"
    rtol, atol = float(opts.get("rtol", 1e-4)), float(opts.get("atol", 1e-5))
    for i, (a, b) in enumerate(zip(want, have, strict=True)):
        if isinstance(a, str) or isinstance(b, str):
            if a != b:
                return f"token {i}: printed {b!r}, TF printed {a!r}"
        elif not (math.isclose(a, b, rel_tol=rtol, abs_tol=atol) or (a != a and b != b)):
            return f"token {i}: printed {b!r}, TF printed {a!r} (rtol={rtol}, atol={atol})"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path)
    parser.add_argument("--backend", choices=("tf", "shim"), default="shim")
    args = parser.parse_args()
    sys.stdout.write(run_script(args.script.resolve(), args.backend))


if __name__ == "__main__":
    main()
