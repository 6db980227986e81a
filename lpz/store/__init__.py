"""The object store: one interface, a local directory or S3 behind it.

Keys are '/'-separated paths such as runs/<id>/gen/3/cell/0/state.pt. The S3
implementation lives at the edge (lpz.store.s3) and is imported only when an
s3:// URL is opened, so the core never needs the minio SDK.
"""
from __future__ import annotations

import os

from lpz.errors import UserError, excerpt
from lpz.store.base import Store
from lpz.store.local import LocalStore

DEFAULT_STORE = "./lpz-store"


def store_url(explicit: str | None = None, configured: str | None = None) -> str:
    """--store, else LPZ_STORE, else the config's general.store, else ./lpz-store."""
    return explicit or os.environ.get("LPZ_STORE") or configured or DEFAULT_STORE


def normalised(url: str) -> str:
    """One spelling per store: file:///absolute/path, or s3://bucket[/prefix] without stray slashes."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        root = "/".join(part for part in prefix.split("/") if part)
        return f"s3://{bucket}/{root}" if root else f"s3://{bucket}"
    path = url[len("file://"):] if url.startswith("file://") else url
    return "file://" + os.path.normpath(os.path.abspath(os.path.expanduser(path)))


class StoreNotAllowed(UserError):
    """A store that this worker was not configured to serve."""


def served_stores() -> list[str]:
    """The stores a worker serves: LPZ_STORE (else ./lpz-store) and those listed in LPZ_ALLOWED_STORES."""
    listed = os.environ.get("LPZ_ALLOWED_STORES", "").replace(",", " ").split()
    return [normalised(url) for url in [store_url(), *listed]]


def open_served_store(url) -> Store:
    """The store a message names, if this worker serves it; anyone who can write to the broker can
    name any store, and a worker must not write a run wherever a message says."""
    if not isinstance(url, str) or len(url) > 1024 or "://" in url and not url.startswith(("file://", "s3://")):
        raise StoreNotAllowed(f"store {excerpt(url)} is not a store URL this worker serves")
    if normalised(url) not in served_stores():
        raise StoreNotAllowed(f"store {excerpt(url, 100)} is not served by this worker (it serves "
                              f"{', '.join(served_stores())}): set LPZ_STORE or LPZ_ALLOWED_STORES on the workers")
    return open_store(url)


def open_store(url: str) -> Store:
    if url.startswith("s3://"):
        from lpz.store.s3 import S3Store
        return S3Store.from_url(url)
    if url.startswith("file://"):
        return LocalStore(url[len("file://"):])
    if "://" in url:
        raise UserError(f"store {url!r}: unknown scheme; use file:///path, a plain path, or s3://bucket")
    return LocalStore(url)


__all__ = ["Store", "LocalStore", "open_store", "open_served_store", "store_url", "served_stores", "DEFAULT_STORE",
           "StoreNotAllowed"]
