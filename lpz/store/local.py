"""A store in a local directory: the embedded default, no server needed.

Everything below the root is reached one folder at a time from an open handle of the folder above
(`openat`), never by a path the kernel resolves: a symbolic link or a file where a folder should be,
at any depth, is refused for reads, writes and deletes, and skipped by listings, so nothing in the
store can lead a read or a write outside it. (The root itself may be a link: the user chose it.)
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from lpz.errors import CorruptObject, ObjectMissing, ObjectTooLarge, StoreError
from lpz.store.base import MAX_OBJECT_BYTES, Store, check_key, check_prefix, is_key

FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeEntry(StoreError):
    """A link, or a file where a folder should be, below a local store's root: never followed."""


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(os.path.normpath(Path(root).expanduser().absolute()))
        self.url = f"file://{self.root}"

    # ------------------------------------------------------------- folders, one at a time

    def _unsafe(self, parts: list[str], what: str) -> UnsafeEntry:
        return UnsafeEntry(f"store {self.url}: {'/'.join(parts)} is {what}; lpz writes only real folders and "
                           f"files in a store and never follows a link there: remove it, or use another store")

    def _entry_kind(self, folder: int, name: str) -> str:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        return "a symbolic link" if stat.S_ISLNK(info.st_mode) else \
            "a folder" if stat.S_ISDIR(info.st_mode) else "not a folder"

    def _folder(self, parts: list[str], create: bool = False) -> int | None:
        """An open handle of root/parts, every part a real folder; None when one is absent (unless create)."""
        if create:
            os.makedirs(self.root, exist_ok=True)
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            for depth, part in enumerate(parts, start=1):
                try:
                    child = os.open(part, FOLDER, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    try:
                        os.mkdir(part, dir_fd=fd)
                    except FileExistsError:  # made meanwhile by another writer, or a dangling link
                        pass
                    child = self._open_folder(fd, parts[:depth])
                except (NotADirectoryError, OSError) as e:
                    if isinstance(e, NotADirectoryError) or e.errno == errno.ELOOP:
                        raise self._unsafe(parts[:depth], self._entry_kind(fd, part)) from None
                    raise
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _open_folder(self, fd: int, parts: list[str]) -> int:
        try:
            return os.open(parts[-1], FOLDER, dir_fd=fd)
        except (NotADirectoryError, OSError) as e:
            if isinstance(e, NotADirectoryError) or e.errno == errno.ELOOP:
                raise self._unsafe(parts, self._entry_kind(fd, parts[-1])) from None
            raise

    def _split(self, key: str) -> tuple[list[str], str]:
        *folders, name = check_key(key).split("/")
        return folders, name

    # ------------------------------------------------------------- objects

    def put(self, key: str, data: bytes) -> None:
        """Written whole into a hidden file beside it, then renamed into place: never half an object."""
        folders, name = self._split(key)
        fd = self._folder(folders, create=True)
        part = f".{name}.{secrets.token_hex(4)}.part"
        try:
            out = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
            try:
                with os.fdopen(out, "wb") as f:
                    f.write(data)
                os.replace(part, name, src_dir_fd=fd, dst_dir_fd=fd)
            except IsADirectoryError:
                raise self._unsafe(folders + [name], "a folder") from None
            finally:
                try:
                    os.unlink(part, dir_fd=fd)
                except FileNotFoundError:
                    pass
        finally:
            os.close(fd)

    def get(self, key: str, max_bytes: int = MAX_OBJECT_BYTES) -> bytes:
        folders, name = self._split(key)
        fd = self._folder(folders)
        if fd is None:
            raise ObjectMissing(key)
        try:
            try:
                handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                raise ObjectMissing(key) from None
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise CorruptObject(key, "it is a symbolic link, not an object lpz wrote") from None
                raise
        finally:
            os.close(fd)
        with os.fdopen(handle, "rb") as f:
            info = os.fstat(handle)
            if stat.S_ISDIR(info.st_mode):
                raise ObjectMissing(key)
            if not stat.S_ISREG(info.st_mode):
                raise CorruptObject(key, "it is not a regular file")
            if info.st_size > max_bytes:
                raise ObjectTooLarge(key, f"{info.st_size:,} bytes, more than the {max_bytes:,} allowed")
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:  # it grew while we read it
            raise ObjectTooLarge(key, f"more than the {max_bytes:,} bytes allowed")
        return data

    def exists(self, key: str) -> bool:
        folders, name = self._split(key)
        fd = self._folder(folders)
        if fd is None:
            return False
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return False
        finally:
            os.close(fd)

    def list(self, prefix: str) -> list[str]:
        # "runs/a" must also find "runs/ab/...": walk the folder the prefix ends in, then filter.
        check_prefix(prefix)
        parts = [p for p in prefix.split("/") if p]
        folder = parts if prefix.endswith("/") else parts[:-1]
        fd = self._folder(folder)
        if fd is None:
            return []
        keys: list[str] = []
        self._walk(fd, "/".join(folder), prefix, keys)  # closes fd
        return sorted(keys)

    def _walk(self, fd: int, path: str, prefix: str, keys: list[str]) -> None:
        """Every regular file below the open folder fd whose key starts with prefix; links are skipped,
        never followed. Closes fd."""
        try:
            with os.scandir(fd) as entries:
                found = [(entry.name, entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False))
                         for entry in entries if not entry.name.startswith(".")]
            for name, is_folder, is_file in found:
                key = f"{path}/{name}" if path else name
                if is_file and key.startswith(prefix) and is_key(key):  # anything else was not written by lpz
                    keys.append(key)
                elif is_folder and (key.startswith(prefix) or prefix.startswith(key + "/")):
                    try:
                        child = os.open(name, FOLDER, dir_fd=fd)
                    except OSError:  # replaced by a link or removed since the scan: not lpz's
                        continue
                    self._walk(child, key, prefix, keys)
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        folders, name = self._split(key)
        fd = self._folder(folders)
        if fd is None:
            return
        try:
            os.unlink(name, dir_fd=fd)  # a link itself is removed, never what it points to
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise self._unsafe(folders + [name], "a folder") from None
        finally:
            os.close(fd)

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
