"""Speed settings applied before JAX starts: XLA CPU flags, host memory reuse and the persistent
compilation cache.

`configure()` is called by the command line before anything is compiled. Each setting can be
switched off or redirected with environment variables:

- `JAXCOURSE_XLA_TUNING=0` leaves `XLA_FLAGS` as the user set it (default: append the flags in
  `CPU_FLAGS` whose names the user has not set; their measured effect is in
  docs/performance.md);
- `JAXCOURSE_HOST_MEMORY_REUSE=0` leaves glibc's allocator as it is (default: `keep_host_memory`,
  so the buffer XLA allocates for every compiled call is reused instead of being mapped and
  page-faulted afresh each time);
- `JAXCOURSE_COMPILATION_CACHE=DIR` keeps compiled programs in DIR, `=off` disables the cache
  (default: `$XDG_CACHE_HOME/jaxcourse/xla`, i.e. `~/.cache/jaxcourse/xla`), so a second run of
  the same config skips XLA compilation.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import warnings
from pathlib import Path

# Flags measured on the course models (docs/performance.md has the numbers). With jax 0.10:
# YNNPACK for dots only. YNNPACK's convolutions run on one thread, XLA's own (Eigen) ones on
# all cores, so on an idle 2-core x86 machine the course CNN trains 11-19 % faster with
# convolutions left to XLA (`dot`) than with YNNPACK convolutions (XLA's default), and
# the dense models and the LSTM about equally fast. (`dot,eltwise,reduce`, which helped older
# versions, now costs the CNN ~20 %.)
CPU_FLAGS: tuple[str, ...] = ("--xla_cpu_experimental_ynn_fusion_type=dot",)

# glibc `mallopt` settings for `keep_host_memory` (values from <malloc.h>): every thread
# allocates from the main heap, never with mmap, and up to 256 MiB freed at the heap's top is
# kept. XLA's CPU runtime mallocs each call's temporary buffer (the course CNN's 72 MB, the
# LSTM's 34 MB) and frees it after the call; with glibc's defaults such a buffer is mmap'd
# (above 32 MiB) or gets a fresh per-thread heap, is returned to the kernel when freed, and
# every page of it faults again on the next call: ~3,700 faults per CNN step, ~10 % of its CPU
# time. TensorFlow's allocator keeps such memory for reuse too.
M_TOP_PAD, M_MMAP_MAX, M_ARENA_MAX = -2, -4, -8
HOST_MEMORY_OPTIONS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TOP_PAD, 256 << 20))

CACHE_ENV = "JAXCOURSE_COMPILATION_CACHE"
TUNING_ENV = "JAXCOURSE_XLA_TUNING"
MEMORY_ENV = "JAXCOURSE_HOST_MEMORY_REUSE"
OFF = ("0", "off", "false", "no", "")


def with_cpu_flags(xla_flags: str, flags=CPU_FLAGS) -> str:
    """`xla_flags` plus each of `flags` whose name (the part before '=') it does not set yet."""
    present = {f.split("=", 1)[0] for f in xla_flags.split()}
    extra = [f for f in flags if f.split("=", 1)[0] not in present]
    return " ".join([xla_flags.strip(), *extra]).strip()


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/jaxcourse/xla` (`~/.cache/jaxcourse/xla` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxcourse" / "xla"


def cache_dir_from_env() -> Path | None:
    """The compilation cache directory the environment asks for; None when it is switched off."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return default_cache_dir()
    return None if value.strip().lower() in OFF else Path(value).expanduser()


def _backend_started() -> bool:
    if "jax" not in sys.modules:  # not even imported: nothing started (and keep it unimported)
        return False
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", {}))


def _switched_off(env: str) -> bool:
    return os.environ.get(env, "1").strip().lower() in OFF


def _too_late(setting: str) -> bool:
    """True, with a warning naming `setting`, once JAX's backend is running."""
    if not _backend_started():
        return False
    warnings.warn(
        f"jaxcourse.perf: JAX's backend is already running, so {setting} cannot be applied "
        "any more; call configure() before the first computation",
        stacklevel=3,
    )
    return True


def configure_xla_flags() -> bool:
    """Append `CPU_FLAGS` to XLA_FLAGS unless switched off; True if XLA will see them."""
    if _switched_off(TUNING_ENV) or _too_late("XLA CPU flags"):
        return False
    os.environ["XLA_FLAGS"] = with_cpu_flags(os.environ.get("XLA_FLAGS", ""))
    return True


def keep_host_memory() -> bool:
    """Have glibc keep freed host memory for reuse (`HOST_MEMORY_OPTIONS`) unless switched off;
    True if applied. Only threads started afterwards share the main heap, so it warns and does
    nothing once JAX's backend (and its thread pools) is running; no-op without glibc."""
    if _switched_off(MEMORY_ENV) or platform.libc_ver()[0] != "glibc":
        return False
    if _too_late("host memory reuse"):
        return False
    libc = ctypes.CDLL(None)
    return all(libc.mallopt(option, value) == 1 for option, value in HOST_MEMORY_OPTIONS)


def enable_compilation_cache(cache_dir: str | Path | None, min_compile_time_s: float = 0.5):
    """Keep compiled programs that took over `min_compile_time_s` to compile in `cache_dir`
    (None: leave the cache off); returns the directory used."""
    if cache_dir is None:
        return None
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "jax_compilation_cache_dir": str(cache_dir),
        "jax_persistent_cache_min_compile_time_secs": min_compile_time_s,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    if "jax" not in sys.modules:  # JAX reads them when it is imported: commands that never
        for name, value in settings.items():  # compute never import it
            os.environ[name.upper()] = str(value)
        return cache_dir
    import jax

    for name, value in settings.items():
        jax.config.update(name, value)
    return cache_dir


def configure() -> dict:
    """Apply the XLA flags, host memory reuse and the compilation cache the environment asks
    for (see above)."""
    flags = configure_xla_flags()
    memory = keep_host_memory()
    cache = enable_compilation_cache(cache_dir_from_env())
    return {
        "xla_flags": flags,
        "host_memory_reuse": memory,
        "compilation_cache": str(cache) if cache else None,
    }
