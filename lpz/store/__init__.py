"""The object store: one interface, a local directory or S3 behind it.

Keys are '/'-separated paths such as runs/<id>/gen/3/cell/0/state.pt. The S3
implementation lives at the edge (lpz.store.s3) and is imported only when an
s3:// URL is opened, so the core never needs the minio SDK.
"""
from __future__ import annotations

import os

from lpz.errors import UserError
from lpz.store.base import Store
from lpz.store.local import LocalStore

DEFAULT_STORE = "./lpz-store"


def store_url(explicit: str | None = None, configured: str | None = None) -> str:
    """--store, else LPZ_STORE, else the config's general.store, else ./lpz-store."""
    return explicit or os.environ.get("LPZ_STORE") or configured or DEFAULT_STORE


def open_store(url: str) -> Store:
    if url.startswith("s3://"):
        from lpz.store.s3 import S3Store
        return S3Store.from_url(url)
    if url.startswith("file://"):
        return LocalStore(url[len("file://"):])
    if "://" in url:
        raise UserError(f"store {url!r}: unknown scheme; use file:///path, a plain path, or s3://bucket")
    return LocalStore(url)


__all__ = ["Store", "LocalStore", "open_store", "store_url", "DEFAULT_STORE"]
