"""Errors a user can act on.

Everything raised as a UserError reaches the terminal as one line and exit
code 2; anything else is a bug and keeps its traceback.
"""


class Portable(Exception):
    """An exception that crosses process boundaries intact (a pool process's error reaches the parent as
    itself): pickle rebuilds it from the arguments it was made with, whatever its __init__ takes."""

    def __new__(cls, *args, **kwargs):
        error = super().__new__(cls, *args)
        error._made_with = (args, kwargs)
        return error

    def __reduce__(self):
        args, kwargs = self._made_with
        return _rebuilt, (type(self), args, kwargs), self.__dict__


def _rebuilt(cls, args, kwargs):
    return cls(*args, **kwargs)


class UserError(Portable):
    """Bad input from the user (config, ids, flags, data): one line, exit code 2."""


class ConfigError(UserError):
    def __init__(self, source: str, key: str, message: str):
        if len(key) > 100 or not key.isprintable():  # a key path from a hostile file
            key = excerpt(key, 100)
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


class RunNotFound(UserError):
    pass


class StoreError(UserError):
    """The store cannot be used: it refuses us (bad credentials), or it is down (StoreUnavailable)."""


class StoreUnavailable(StoreError):
    """The store does not answer, or answers that it cannot serve now: may pass (a restart)."""


class ObjectMissing(KeyError):
    """A key that is not in the store. Not a UserError: callers decide what it means."""

    def __str__(self):
        return f"no object {self.args[0]!r} in the store"


class CorruptObject(Portable):
    """An object whose bytes do not match the checksum recorded when it was written."""

    def __init__(self, key: str, detail: str = ""):
        self.key = key
        super().__init__(f"{key} is corrupt{': ' + detail if detail else ''}")


class ObjectTooLarge(CorruptObject):
    """An object larger than the reader allows for it (a size taken from untrusted input)."""


def excerpt(value, limit: int = 40) -> str:
    """A short, escaped rendering of an untrusted value for an error message.

    Never longer than limit characters however big the value is (an alias bomb of a config, a
    megabyte of text), and never more work than that: containers are rendered item by item until
    the budget runs out, and non-printable characters are escaped by repr."""
    text = _bounded_repr(value, limit + 1)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _bounded_repr(value, budget: int) -> str:
    if isinstance(value, str):
        return repr(value[:budget])
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10 ** 30 else "a number of more than 30 digits"
    if isinstance(value, (list, tuple, dict)):
        items = value.items() if isinstance(value, dict) else value
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        parts, used = [], 1
        for item in items:
            if used >= budget:
                parts.append("...")
                break
            if isinstance(value, dict):
                key, inner = item
                shown = f"{_bounded_repr(key, budget - used)}: {_bounded_repr(inner, budget - used)}"
            else:
                shown = _bounded_repr(item, budget - used)
            parts.append(shown)
            used += len(shown) + 2
        return opening + ", ".join(parts) + closing
    return f"a value of type {type(value).__name__}"


def first_sentence(error: BaseException, limit: int = 200) -> str:
    """An error's first sentence on one line. Torch's further advice on a refused pickle (retry with
    weights_only=False) is exactly what lpz must never suggest."""
    text = " ".join(str(error).split()).split(". ")[0]
    return text if len(text) <= limit else text[:limit] + "..."
