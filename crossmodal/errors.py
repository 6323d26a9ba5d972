"""Errors the product reports to users as one clear line."""


class ConfigError(ValueError):
    """A configuration problem; the message names the key (and file) and what was expected."""


def check(cond: bool, key: str, expected: str, value: object) -> None:
    """Raise ConfigError naming `key` unless `cond` holds."""
    if not cond:
        raise ConfigError(f"config key '{key}' must be {expected}, got {value!r}")
