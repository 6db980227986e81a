"""A store in a local directory: the embedded default, no server needed."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from lpz.errors import CorruptObject, ObjectMissing, ObjectTooLarge, StoreError
from lpz.files import write_atomically
from lpz.store.base import Store, check_key, check_prefix, is_key


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(os.path.normpath(Path(root).expanduser().absolute()))
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        write_atomically(self._path(key), data)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        try:  # never through a symbolic link: every object lpz writes is a regular file
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(key) from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise CorruptObject(key, "it is a symbolic link, not an object lpz wrote") from None
            raise
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise ObjectMissing(key)
            if not stat.S_ISREG(info.st_mode):
                raise CorruptObject(key, "it is not a regular file")
            if max_bytes is not None and info.st_size > max_bytes:
                raise ObjectTooLarge(key, f"{info.st_size:,} bytes, more than the {max_bytes:,} allowed")
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:  # it grew while we read it
            raise ObjectTooLarge(key, f"more than the {max_bytes:,} bytes allowed")
        return data

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        # "runs/a" must also find "runs/ab/...": walk the folder the prefix ends in, then filter.
        check_prefix(prefix)
        folder = self.root / prefix if prefix.endswith("/") else (self.root / prefix).parent
        if not folder.is_dir():
            return []
        keys = []
        for dirpath, _, files in os.walk(folder):
            for name in files:
                if name.startswith("."):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix) and is_key(key):  # anything else was not written by lpz
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        """Whether the store can be written, creating nothing: its folder, or the nearest one above it
        that exists, must be a writable folder."""
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise StoreError(f"store {self.url}: {existing} is not a folder; choose another with --store or LPZ_STORE")
        if not os.access(existing, os.W_OK):
            raise StoreError(f"store {self.url}: {existing} is not writable; choose another with --store or LPZ_STORE")
