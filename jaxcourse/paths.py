"""Output paths: one check before a command writes anything, and one translation of the
operating system's write errors (full disk, read-only filesystem, ...) into an `OutputError`
naming the path and what to do."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from jaxcourse.errors import JaxcourseError, OutputError

_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space (what was written so far is kept, a "
    "checkpointed run resumes from its last checkpoint)",
    errno.EDQUOT: "the disk quota is used up; free some space",
    errno.EROFS: "it is on a read-only filesystem; choose a writable place",
    errno.EACCES: "permission denied; choose a place you may write to",
    errno.EPERM: "permission denied; choose a place you may write to",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another path",
    errno.EISDIR: "it is a directory where a file was expected",
    errno.EEXIST: "it already exists as a file; choose another path or remove it",
    errno.ENAMETOOLONG: "the name is too long for the filesystem; choose a shorter one",
}


def describe_os_error(err: OSError) -> JaxcourseError:
    """The message for an OSError that reached the command line: an `OutputError` for the
    write errors users can fix, a plain `JaxcourseError` naming the file for any other."""
    where = err.filename if err.filename is not None else "an output file"
    advice = _ADVICE.get(err.errno)
    if advice is None:
        return JaxcourseError(f"'{where}': {err.strerror or err}")
    return OutputError(f"cannot write '{where}': {advice}")


def check_output_dir(path: str | Path, what: str) -> Path:
    """Raise an `OutputError` unless `path` is, or can be created as, a writable directory.

    `what` names the option the path came from (e.g. "--out"). Nothing is created here."""
    path = Path(path)
    for part in path.parts:
        if len(os.fsencode(part)) > 255:
            raise OutputError(
                f"{what} '{path}': the name '{part[:40]}...' has {len(os.fsencode(part))} "
                "bytes, more than filesystems allow (255); choose a shorter one"
            )
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} '{path}' is a file, expected a directory")
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise OutputError(f"{what} '{path}': '{existing}' is a broken symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what} '{path}' lies below '{existing}', which is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "a read-only filesystem" if _read_only(existing) else "not writable for you"
        raise OutputError(f"{what} '{path}' cannot be written: '{existing}' is {why}")
    return path


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
