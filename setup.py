"""Build of the optional oneDNN extension (metadata lives in pyproject.toml).

`jaxcourse.kernels._onednn` (oneDNN convolutions, max-pooling and LSTM for XLA, csrc/) is
compiled when a C++17 compiler, oneDNN's headers and library (Debian/Ubuntu: `apt install
libdnnl-dev`) and jaxlib's XLA FFI headers are found; otherwise it is skipped and jaxcourse
runs XLA's kernels.
`JAXCOURSE_ONEDNN_ROOT` points at a oneDNN installed elsewhere (its include/ and lib/).
"""

import importlib.util
import os

from setuptools import Extension, setup


def ffi_include_dirs() -> list[str]:
    """XLA's FFI headers: `jax.ffi.include_dir()`, or the same folder of an installed jaxlib
    that cannot be imported in the build environment."""
    try:
        import jax.ffi

        return [jax.ffi.include_dir()]
    except ImportError:
        spec = importlib.util.find_spec("jaxlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    include = os.path.join(list(spec.submodule_search_locations)[0], "include")
    return [include] if os.path.isdir(os.path.join(include, "xla", "ffi")) else []


def onednn_extension() -> list[Extension]:
    ffi = ffi_include_dirs()
    if not ffi:
        print("jaxcourse: no jaxlib (XLA FFI headers) while building: oneDNN extension skipped")
        return []
    root = os.environ.get("JAXCOURSE_ONEDNN_ROOT")
    include = [os.path.join(root, "include")] if root else []
    lib = [os.path.join(root, "lib")] if root else []
    return [
        Extension(
            "jaxcourse.kernels._onednn",
            sources=[
                "csrc/module.cc",
                "csrc/onednn_conv.cc",
                "csrc/onednn_lstm.cc",
                "csrc/onednn_pool.cc",
            ],
            depends=["csrc/onednn_common.h"],
            include_dirs=[*ffi, *include],
            library_dirs=lib,
            runtime_library_dirs=lib,
            libraries=["dnnl"],
            extra_compile_args=["-std=c++17", "-O2", "-fvisibility=hidden"],
            language="c++",
            optional=True,
        )
    ]


setup(ext_modules=onednn_extension())
