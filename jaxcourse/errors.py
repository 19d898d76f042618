"""Exceptions users see: each names the thing at fault and what was expected."""


class JaxcourseError(Exception):
    """Base class of errors that the CLI reports as one clear message, without a traceback."""

    exit_code = 1


class ConfigError(JaxcourseError):
    """A config is invalid; carries every problem found, one message per line."""

    exit_code = 2

    def __init__(self, problems: list[str] | str, source: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid config{where}:\n{lines}")


class NonFiniteLossError(JaxcourseError):
    """The training loss became NaN or Inf."""

    exit_code = 3

    def __init__(self, step: int, value: float):
        self.step, self.value = step, value
        super().__init__(
            f"loss became {value} at step {step}; stopped "
            "(set train.nan_policy=warn to keep going). Metrics written so far are kept."
        )


class DataError(JaxcourseError):
    """A dataset cannot be found or read (missing, corrupt or truncated files)."""

    exit_code = 4


class OutputError(JaxcourseError):
    """A file or directory cannot be written (not a directory, read-only, full disk, ...)."""

    exit_code = 5
