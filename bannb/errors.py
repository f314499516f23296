"""The one exception type a user sees: a message that says what was wrong and how to fix it."""


class BannbError(Exception):
    """Bad input or a broken file: the message names the input and the fix.

    The message is the one it was raised with: fastai rewrites the arguments of an exception raised in a callback
    to say where ("Exception occured in `RunRecorder` when calling event `after_epoch`:" and the message on a
    second line), and a user's error stays one line."""

    def __init__(self, *args):
        super().__init__(*args)
        self.message = super().__str__()

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # across processes (a plan's workers), the message it was raised with
        return type(self), (self.message,)


class DataError(BannbError):
    """A dataset is missing, truncated or corrupt."""


class ConfigError(BannbError):
    """A parameter is unknown or out of range."""


def unknown_choice(kind: str, value, valid, plural: str | None = None) -> ConfigError:
    """The standard message for a name that is not one of the valid ones; `plural` is the kind's plural where
    adding "s" (or "es" after an s, x, ch or sh: "losses") does not make it."""
    listed = ", ".join(sorted(valid))
    plural = plural or kind + ("es" if kind.endswith(("s", "x", "ch", "sh")) else "s")
    return ConfigError(f"unknown {kind} {value!r}; valid {plural} are: {listed}")
