"""The one exception type a user sees: a message that says what was wrong and how to fix it."""


class BannbError(Exception):
    """Bad input or a broken file: the message names the input and the fix."""


class DataError(BannbError):
    """A dataset is missing, truncated or corrupt."""


class ConfigError(BannbError):
    """A parameter is unknown or out of range."""


def unknown_choice(kind: str, value, valid) -> ConfigError:
    """The standard message for a name that is not one of the valid ones."""
    listed = ", ".join(sorted(valid))
    return ConfigError(f"unknown {kind} {value!r}; valid {kind}s are: {listed}")
