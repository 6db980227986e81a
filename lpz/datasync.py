"""Datasets through the store: pushed once with `lpz data push`, pulled by workers that lack them.

    data/<name>/manifest.json        {"files": {relative path: {"sha256", "size"}}, "pushed": ...}
    data/<name>/files/<relative>     the files, as they sit under <data dir>/<name>/

A worker that cannot load a run's dataset from its own LPZ_DATA_DIR pulls it
into that directory, checking every file's sha256, and loads it from there.
"""
from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

from lpz.data import cifar, idx, images
from lpz.data.base import data_dir
from lpz.errors import CorruptObject, ObjectMissing, UserError
from lpz.store.base import Store

log = logging.getLogger("lpz")
PUSHABLE = ("mnist", "fashion-mnist", "cifar10", "celeba")


def manifest_key(name: str) -> str:
    return f"data/{name}/manifest.json"


def local_files(name: str) -> dict[str, Path]:
    """The files of a dataset on this machine, by their path relative to <data dir>/<name>/."""
    if name in ("mnist", "fashion-mnist"):
        stems = [stem for pair in idx.FILES.values() for stem in pair]
        found = [idx.find_file([data_dir() / name, data_dir()], stem, name) for stem in stems]
        return {path.name: path for path in found}
    if name == "cifar10":
        located = cifar.locate()
        if located is None:
            raise UserError(f"cifar10 is not in {data_dir()}; run `lpz data download cifar10` first")
        if located.is_file():
            return {located.name: located}
        return {f"{located.name}/{p.name}": p for p in sorted(located.iterdir()) if p.is_file()}
    if name == "celeba":
        folder = images.celeba_folder()
        files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not files:
            raise UserError(f"celeba is not in {folder}; see `lpz data download celeba`")
        return {f"{folder.name}/{p.name}": p for p in files}
    raise UserError(f"{name!r} cannot be pushed; datasets that can: {', '.join(PUSHABLE)}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def push(store: Store, name: str, on_file=None) -> dict:
    """Upload a dataset's files and then its manifest (the manifest marks the upload complete)."""
    files = {}
    for relative, path in local_files(name).items():
        data = path.read_bytes()
        store.put(f"data/{name}/files/{relative}", data)
        files[relative] = {"sha256": _sha256(data), "size": len(data)}
        if on_file:
            on_file(relative, len(data))
    manifest = {"files": files, "pushed": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    store.put_json(manifest_key(name), manifest)
    return manifest


def pull(store: Store, name: str) -> Path:
    """Bring the pushed dataset into <data dir>/<name>/, verified; files already there are kept."""
    try:
        manifest = store.get_json(manifest_key(name))
    except ObjectMissing:
        raise UserError(f"{name} is neither in {data_dir()} nor pushed to {store.url}; "
                        f"put it there or run `lpz data push {name} --store {store.url}`") from None
    folder = data_dir() / name
    for relative, entry in manifest["files"].items():
        target = folder / relative
        if target.is_file() and target.stat().st_size == entry["size"] and \
                _sha256(target.read_bytes()) == entry["sha256"]:
            continue
        data = store.get(f"data/{name}/files/{relative}")
        if _sha256(data) != entry["sha256"]:
            raise CorruptObject(f"data/{name}/files/{relative}", "its sha256 differs from the manifest's")
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(data)
        os.replace(part, target)
    log.info("pulled %s (%d files) from %s into %s", name, len(manifest["files"]), store.url, folder)
    return folder
