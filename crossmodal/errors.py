"""Errors the product reports to users as one clear line.

The command lines catch these and file errors only: anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input from the user: a config value, a data file, a network or a weights file that does not fit."""


class ConfigError(UserError):
    """A configuration problem; the message names the key (and file) and what was expected."""


class NetworkError(UserError):
    """A network named in the config cannot be built, tapped or loaded; the message names the key and the fix."""


def check(cond: bool, key: str, expected: str, value: object) -> None:
    """Raise ConfigError naming `key` unless `cond` holds."""
    if not cond:
        raise ConfigError(f"config key '{key}' must be {expected}, got {value!r}")


class NonFiniteLossError(UserError):
    """A training stage produced a non-finite loss.

    The message names the stage, epoch, step and loss terms, and the last good checkpoint, which is kept.
    """


class Preempted(Exception):
    """The run was stopped by SIGTERM/SIGUSR1 after writing a step checkpoint.

    The command line exits with `exit_status`, 128 + the signal number, as if killed by it; the message says how to
    resume.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_status = 128 + signum
