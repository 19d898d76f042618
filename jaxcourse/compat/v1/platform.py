"""TF1's platform helpers: `tf.app.run`, `tf.app.flags` / `tf.flags`, `tf.logging`,
`tf.gfile` and `tf.io.gfile`.

Flags are absl's (as in TF1), read on first use from `sys.argv` (unknown arguments are left
to the script, as TF1's `tf.app.run` does). `tf.logging` writes `INFO:tensorflow:...` lines
through the standard `logging` module (logger "tensorflow", verbosity WARN by default). The
file helpers work on local paths with `os`, `shutil` and `glob`.
"""

from __future__ import annotations

import glob as glob_module
import logging as std_logging
import os
import shutil
import sys

import jax
from absl import app as absl_app
from absl import flags as absl_flags

from jaxcourse.compat.v1.errors import NotFoundError, OpError

# ---------------------------------------------------------------------------------------------
# flags and app.run


class _AutoParsedFlags:
    """absl's FLAGS, parsed from `sys.argv` the first time a flag is read (TF1's wrapper)."""

    def _parsed(self):
        flags = absl_flags.FLAGS
        if not flags.is_parsed():
            flags(sys.argv[:1] + sys.argv[1:], known_only=True)
        return flags

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._parsed(), name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._parsed(), name, value)

    def __contains__(self, name: str) -> bool:
        return name in absl_flags.FLAGS

    def __call__(self, argv, known_only: bool = True):
        return absl_flags.FLAGS(argv, known_only=known_only)


FLAGS = _AutoParsedFlags()


def _parse_tolerating_unknown(argv):
    return absl_flags.FLAGS(argv, known_only=True)


def run(main=None, argv=None):
    """Parse the flags and call `main(argv)` (default: `__main__.main`), then exit with its
    return value, as TF1's `tf.app.run`."""
    main = main or sys.modules["__main__"].main
    jax.devices()  # JAX's start-up messages come before absl's log handler is installed
    absl_app.run(main, argv=argv, flags_parser=_parse_tolerating_unknown)


# ---------------------------------------------------------------------------------------------
# tf.logging

DEBUG, INFO, WARN, ERROR, FATAL = (
    std_logging.DEBUG,
    std_logging.INFO,
    std_logging.WARN,
    std_logging.ERROR,
    std_logging.FATAL,
)
_logger = std_logging.getLogger("tensorflow")


def _tf_logger() -> std_logging.Logger:
    if not _logger.handlers:
        handler = std_logging.StreamHandler(sys.stderr)
        handler.setFormatter(std_logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
        _logger.addHandler(handler)
        _logger.propagate = False
        if _logger.level == std_logging.NOTSET:
            _logger.setLevel(WARN)
    return _logger


def set_verbosity(level) -> None:
    _tf_logger().setLevel(level)


def get_verbosity() -> int:
    return _tf_logger().getEffectiveLevel()


def log(level, msg, *args, **kwargs) -> None:
    _tf_logger().log(level, msg, *args, **kwargs)


def debug(msg, *args, **kwargs) -> None:
    log(DEBUG, msg, *args, **kwargs)


def info(msg, *args, **kwargs) -> None:
    log(INFO, msg, *args, **kwargs)


def warning(msg, *args, **kwargs) -> None:
    log(WARN, msg, *args, **kwargs)


warn = warning


def error(msg, *args, **kwargs) -> None:
    log(ERROR, msg, *args, **kwargs)


def fatal(msg, *args, **kwargs) -> None:
    log(FATAL, msg, *args, **kwargs)


def vlog(level, msg, *args, **kwargs) -> None:
    log(level, msg, *args, **kwargs)


def log_if(level, msg, condition, *args) -> None:
    if condition:
        log(level, msg, *args)


_counts: dict[tuple, int] = {}


def log_every_n(level, msg, n, *args) -> None:
    """Log on the 1st, (n+1)th, ... call from the same place."""
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno)
    count = _counts.get(key, 0)
    _counts[key] = count + 1
    log_if(level, msg, count % n == 0, *args)


def log_first_n(level, msg, n, *args) -> None:
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno, "first")
    count = _counts.get(key, 0)
    _counts[key] = count + 1
    log_if(level, msg, count < n, *args)


def flush() -> None:
    for handler in _tf_logger().handlers:
        handler.flush()


# ---------------------------------------------------------------------------------------------
# gfile


class GFile:
    """TF's file object (`tf.gfile.GFile`, `FastGFile`, `tf.io.gfile.GFile`): a local file
    with TF's extra `size()`; text modes read str, binary modes bytes."""

    def __init__(self, name, mode: str = "r"):
        self.name, self.mode = os.fspath(name), mode
        try:
            self._file = open(self.name, mode)  # noqa: SIM115  (closed by close/__exit__)
        except FileNotFoundError:
            raise NotFoundError(f"{self.name}; No such file or directory") from None

    def size(self) -> int:
        return os.path.getsize(self.name)

    def __getattr__(self, name: str):
        return getattr(self._file, name)

    def __iter__(self):
        return iter(self._file)

    def __enter__(self) -> GFile:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()


FastGFile = Open = GFile


def exists(path) -> bool:
    return os.path.exists(path)


def isdir(path) -> bool:
    return os.path.isdir(path)


def listdir(path) -> list[str]:
    if not os.path.isdir(path):
        raise NotFoundError(f"could not find directory {path}")
    return os.listdir(path)


def makedirs(path) -> None:
    os.makedirs(path, exist_ok=True)


def mkdir(path) -> None:
    """Create one directory (its parent must exist); an existing one is fine, as in TF."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    except FileNotFoundError:
        raise NotFoundError(f"{path}: the parent directory does not exist") from None


def rmtree(path) -> None:
    if not os.path.exists(path):
        raise NotFoundError(f"{path}: No such file or directory")
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def remove(path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: No such file or directory") from None


def _check_target(new, overwrite: bool) -> None:
    if os.path.exists(new) and not overwrite:
        raise OpError(f"{new} already exists (pass overwrite=True)")


def rename(old, new, overwrite: bool = False) -> None:
    _check_target(new, overwrite)
    os.replace(old, new)


def copy(old, new, overwrite: bool = False) -> None:
    _check_target(new, overwrite)
    shutil.copyfile(old, new)


def glob(pattern) -> list[str]:
    patterns = [pattern] if isinstance(pattern, str | os.PathLike) else list(pattern)
    return sorted(p for pat in patterns for p in glob_module.glob(os.fspath(pat)))


class FileStatistics:
    """`stat`'s result: `length`, `mtime_nsec`, `is_directory`."""

    def __init__(self, path):
        st = os.stat(path)
        self.length, self.mtime_nsec = st.st_size, st.st_mtime_ns
        self.is_directory = os.path.isdir(path)


def stat(path) -> FileStatistics:
    if not os.path.exists(path):
        raise NotFoundError(f"{path}: No such file or directory")
    return FileStatistics(path)


def walk(top, topdown: bool = True, onerror=None):
    """(directory, subdirectories, files) for every directory under `top`."""
    yield from os.walk(top, topdown=topdown, onerror=onerror)


def _walk_in_order(top, in_order: bool = True):
    return walk(top, topdown=in_order)


# TF1's CamelCase spellings (tf.gfile.*)
CAMEL_CASE = {
    "GFile": GFile,
    "FastGFile": FastGFile,
    "Open": Open,
    "Exists": exists,
    "IsDirectory": isdir,
    "ListDirectory": listdir,
    "MakeDirs": makedirs,
    "MkDir": mkdir,
    "DeleteRecursively": rmtree,
    "Remove": remove,
    "Rename": rename,
    "Copy": copy,
    "Glob": glob,
    "Stat": stat,
    "Walk": _walk_in_order,
}
# TF 1.13+'s tf.io.gfile.*
SNAKE_CASE = {
    "GFile": GFile,
    "exists": exists,
    "isdir": isdir,
    "listdir": listdir,
    "makedirs": makedirs,
    "mkdir": mkdir,
    "rmtree": rmtree,
    "remove": remove,
    "rename": rename,
    "copy": copy,
    "glob": glob,
    "stat": stat,
    "walk": walk,
}
