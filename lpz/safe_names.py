"""Names from untrusted places (the store, the broker) that become keys or file paths.

A name read from a dataset manifest or a store listing must never take a write outside the folder
it is meant for: no absolute paths, no '..', no hidden or empty parts, no characters a shell or a
file system treats specially. The rule is narrow on purpose: the names lpz itself writes (dataset
files, keys of a run) all fit it.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from lpz.errors import UserError, excerpt

PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}")
MAX_PARTS = 32
MAX_LENGTH = 1024


class UnsafeName(UserError):
    """A name that could leave the folder it belongs to."""


def check_relative(name: object, what: str = "name") -> str:
    """name itself when it is a plain relative path ('a/b.gz'); else UnsafeName saying why."""
    if not isinstance(name, str):
        raise UnsafeName(f"{what} {excerpt(name)} is not text")
    if not name or len(name) > MAX_LENGTH:
        raise UnsafeName(f"{what} is empty or longer than {MAX_LENGTH} characters")
    if name.startswith("/") or "\\" in name:
        raise UnsafeName(f"{what} {excerpt(name)} is absolute or holds a backslash; it must be a relative path")
    parts = name.split("/")
    if len(parts) > MAX_PARTS:
        raise UnsafeName(f"{what} {excerpt(name)} has more than {MAX_PARTS} parts")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeName(f"{what} {excerpt(name)} holds an empty part, '.' or '..'; it must stay inside its folder")
        if not PART.fullmatch(part):
            raise UnsafeName(f"{what} {excerpt(name)} holds characters other than letters, digits and ._+- "
                             f"(or a part that starts with '.')")
    return name


def path_inside(folder: Path, name: str, what: str = "name") -> Path:
    """folder/name for a checked relative name, refusing to follow any symbolic link below folder
    (a link there could point anywhere) or to land on anything but a regular file."""
    parts = check_relative(name, what).split("/")
    target = folder
    for depth, part in enumerate(parts, start=1):
        target = target / part
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            break  # nothing below it exists either
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeName(f"{what} {excerpt(name)}: {target} is a symbolic link; lpz writes only real files "
                             f"inside {folder}")
        expected, kind = (stat.S_ISREG, "a regular file") if depth == len(parts) else (stat.S_ISDIR, "a folder")
        if not expected(info.st_mode):
            raise UnsafeName(f"{what} {excerpt(name)}: {target} exists and is not {kind}")
    return folder / name
