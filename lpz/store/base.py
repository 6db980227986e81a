"""What every store does, and the typed reads and writes built on it."""
from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod

from lpz.errors import CorruptObject
from lpz.safe_names import UnsafeName, check_relative

MAX_JSON_BYTES = 64 * 2**20  # a JSON record lpz writes is a few KB; a dataset manifest a few MB
MAX_OBJECT_BYTES = 2**30  # any read without a tighter bound: readers that know the size to expect pass it


def check_key(key: str) -> str:
    """A key is a plain relative path: no '..', nothing absolute (a key may come from a listing)."""
    return check_relative(key, "store key")


def is_key(name: str) -> bool:
    try:
        check_key(name)
    except UnsafeName:
        return False
    return True


def check_prefix(prefix: str) -> str:
    if prefix.strip("/"):
        check_relative(prefix.strip("/"), "store prefix")
    return prefix


class Store(ABC):
    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write an object whole; a reader sees the old object or the new one, never a part."""

    @abstractmethod
    def get(self, key: str, max_bytes: int = MAX_OBJECT_BYTES) -> bytes:
        """The object's bytes; raises ObjectMissing, or CorruptObject when they fail their checksum
        or (ObjectTooLarge) are more than max_bytes (every object's size is untrusted: a larger one is
        refused before it is read)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key that starts with prefix (recursively), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object; no error if it is absent."""

    def check(self) -> None:
        """Raise StoreError with one line if the store cannot be used (unreachable, refused)."""

    def put_json(self, key: str, value) -> None:
        self.put(key, json.dumps(value, indent=1, sort_keys=True).encode())

    def get_json(self, key: str, max_bytes: int = MAX_JSON_BYTES):
        """A JSON document; CorruptObject when it is not JSON (or not UTF-8) or larger than max_bytes."""
        data = self.get(key, max_bytes)
        try:
            return json.loads(data)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise CorruptObject(key, "it is not JSON") from None

    def put_tensors(self, key: str, value) -> bytes:
        data = tensor_bytes(value)
        self.put(key, data)
        return data

    def get_tensors(self, key: str, max_bytes: int = MAX_OBJECT_BYTES):
        return tensors_from(self.get(key, max_bytes))


def tensor_bytes(value) -> bytes:
    import torch
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def tensors_from(data: bytes):
    """Plain tensors and containers only: nothing is unpickled."""
    import torch
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
