"""Errors a user can act on.

Everything raised as a UserError reaches the terminal as one line and exit
code 2; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user (config, ids, flags, data): one line, exit code 2."""


class ConfigError(UserError):
    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


class RunNotFound(UserError):
    pass


class StoreError(UserError):
    """The store cannot be reached or refuses us (endpoint down, bad credentials)."""


class ObjectMissing(KeyError):
    """A key that is not in the store. Not a UserError: callers decide what it means."""

    def __str__(self):
        return f"no object {self.args[0]!r} in the store"


class CorruptObject(Exception):
    """An object whose bytes do not match the checksum recorded when it was written."""

    def __init__(self, key: str, detail: str = ""):
        self.key = key
        super().__init__(f"{key} is corrupt{': ' + detail if detail else ''}")
