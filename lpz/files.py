"""Bytes on disk and over HTTP, done one way everywhere: checksums, atomic writes, resumable downloads."""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable

from lpz.errors import Portable

CHUNK_BYTES = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write path whole or not at all: into a temporary file beside it, renamed into place. data is the
    bytes, or a function that writes them to the open file. A crash leaves no half file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


class DownloadFailed(Portable):
    """The server could not be reached, refused, or the transfer broke off; `str` says which, in words."""

    def __init__(self, message: str, reachable: bool):
        super().__init__(message)
        self.reachable = reachable


def download(url: str, part: Path, timeout: float, progress: Callable[[int, int | None], None] | None = None) -> None:
    """Bring part up to the whole file at url, continuing from where it ends (an HTTP Range request);
    progress(done, total) is called as bytes arrive. Raises DownloadFailed."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # part already holds the whole file
            return
        raise DownloadFailed(f"the server answered {e.code} {e.reason}", reachable=True) from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadFailed(f"cannot reach {urllib.parse.urlsplit(url).hostname} ({e.__class__.__name__})",
                             reachable=False) from None
    with response:
        resumed = response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
        if not resumed:
            offset = 0  # the server sent the whole file
        remaining = response.headers.get("Content-Length")
        total = offset + int(remaining) if remaining and remaining.isdigit() else None
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "ab" if resumed else "wb") as out:
            try:
                while block := response.read(CHUNK_BYTES):
                    out.write(block)
                    if progress:
                        progress(out.tell(), total)
            except (OSError, http.client.HTTPException) as e:
                raise DownloadFailed(f"the download broke off after {out.tell()} bytes ({e.__class__.__name__})",
                                     reachable=True) from None
