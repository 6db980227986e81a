"""Datasets through the store: pushed once with `lpz data push`, pulled by workers that lack them.

    data/<name>/manifest.json        {"files": {relative path: {"sha256", "size"}}, "pushed": ...}
    data/<name>/files/<relative>     the files, as they sit under <data dir>/<name>/

A worker that cannot load a run's dataset from its own LPZ_DATA_DIR pulls it
into that directory, checking every file's sha256, and loads it from there.
The manifest is untrusted input: its names must be plain relative paths and
its sizes are bounded (lpz.safe_names).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lpz.data.places import IDX_FILES, celeba_folder, find_file, idx_folders, locate_cifar
from lpz.data.specs import data_dir
from lpz.errors import CorruptObject, ObjectMissing, UserError, excerpt
from lpz.files import sha256, write_atomically
from lpz.runs import keys
from lpz.safe_names import UnsafeName, check_relative, path_inside
from lpz.store.base import Store

log = logging.getLogger("lpz")
PUSHABLE = ("mnist", "fashion-mnist", "cifar10", "celeba")


def local_files(name: str) -> dict[str, Path]:
    """The files of a dataset on this machine, by their path relative to <data dir>/<name>/."""
    if name in ("mnist", "fashion-mnist"):
        stems = [stem for pair in IDX_FILES.values() for stem in pair]
        found = [find_file(idx_folders(name), stem, name) for stem in stems]
        return {path.name: path for path in found}
    if name == "cifar10":
        located = locate_cifar()
        if located is None:
            raise UserError(f"cifar10 is not in {data_dir()}; run `lpz data download cifar10` first")
        if located.is_file():
            return {located.name: located}
        return {f"{located.name}/{p.name}": p for p in sorted(located.iterdir()) if p.is_file()}
    if name == "celeba":
        folder = celeba_folder()
        files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not files:
            raise UserError(f"celeba is not in {folder}; see `lpz data download celeba`")
        return {f"{folder.name}/{p.name}": p for p in files}
    raise UserError(f"{name!r} cannot be pushed; datasets that can: {', '.join(PUSHABLE)}")


MAX_FILES = 1_000_000           # CelebA, the largest, has 202,599
MAX_FILE_BYTES = 8 * 2**30      # one file of a dataset (CIFAR-10's archive: 170 MB)
MAX_TOTAL_BYTES = 512 * 2**30   # a whole dataset
SHA256 = re.compile(r"[0-9a-f]{64}")


class BadManifest(UserError):
    pass


class DamagedDataset(UserError):
    pass


@dataclass(frozen=True)
class Entry:
    sha256: str
    size: int


def push(store: Store, name: str, on_file=None) -> dict:
    """Upload a dataset's files and then its manifest (the manifest marks the upload complete)."""
    files = {}
    for relative, path in local_files(name).items():
        check_relative(relative, "file name")
        data = path.read_bytes()
        store.put(keys.dataset_file(name, relative), data)
        files[relative] = {"sha256": sha256(data), "size": len(data)}
        if on_file:
            on_file(relative, len(data))
    manifest = {"files": files, "pushed": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    store.put_json(keys.manifest(name), manifest)
    return manifest


def read_manifest(store: Store, name: str) -> dict[str, Entry]:
    """The pushed files of a dataset, every name and size checked (the store is untrusted input)."""
    key = keys.manifest(name)
    try:
        manifest = store.get_json(key)
    except ObjectMissing:
        raise UserError(f"{name} is neither in {data_dir()} nor pushed to {store.url}; "
                        f"put it there or run `lpz data push {name} --store {store.url}`") from None
    except CorruptObject as e:
        raise BadManifest(f"{_manifest_problem(store, key, name)}: {e}") from None

    def bad(why: str) -> BadManifest:
        return BadManifest(f"{_manifest_problem(store, key, name)}: {why}")

    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise bad("it has no files")
    if len(files) > MAX_FILES:
        raise bad(f"it lists {len(files):,} files, more than the {MAX_FILES:,} a dataset may have")
    entries, total = {}, 0
    for relative, entry in files.items():
        try:
            check_relative(relative, "file name")
        except UnsafeName as e:
            raise bad(str(e)) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not SHA256.fullmatch(entry["sha256"]):
            raise bad(f"file {excerpt(relative)} has no valid sha256")
        size = entry.get("size")
        if type(size) is not int or not 0 <= size <= MAX_FILE_BYTES:
            raise bad(f"file {excerpt(relative)} has a size of {excerpt(size)}; sizes are 0 to {MAX_FILE_BYTES:,} bytes")
        total += size
        entries[relative] = Entry(entry["sha256"], size)
    if total > MAX_TOTAL_BYTES:
        raise bad(f"its files add up to {total:,} bytes, more than the {MAX_TOTAL_BYTES:,} a dataset may have")
    return entries


def _manifest_problem(store: Store, key: str, name: str) -> str:
    return (f"store {store.url}: {key} cannot be trusted (push {name} again with `lpz data push {name}`, "
            f"or put it in each worker's LPZ_DATA_DIR)")


def pull(store: Store, name: str) -> Path:
    """Bring the pushed dataset into <data dir>/<name>/, verified; files already there are kept.

    Every file is written whole (through a temporary file) and only inside that folder, never
    through a symbolic link: a manifest naming '../x' or '/etc/x' is refused before anything is
    written."""
    if name not in PUSHABLE:
        raise UserError(f"{excerpt(name)} cannot be pulled; datasets that can: {', '.join(PUSHABLE)}")
    entries = read_manifest(store, name)
    folder = data_dir() / name
    targets = {relative: path_inside(folder, relative, "file name") for relative in entries}
    for relative, entry in entries.items():
        target = targets[relative]
        if target.is_file() and target.stat().st_size == entry.size and \
                sha256(target.read_bytes()) == entry.sha256:
            continue
        key = keys.dataset_file(name, relative)
        try:
            data = store.get(key, max_bytes=entry.size)
        except (ObjectMissing, CorruptObject) as e:
            raise DamagedDataset(f"{_manifest_problem(store, key, name)}: {e}") from None
        if len(data) != entry.size or sha256(data) != entry.sha256:
            raise DamagedDataset(f"{_manifest_problem(store, key, name)}: its size or sha256 differs from "
                                 f"the manifest's")
        target.parent.mkdir(parents=True, exist_ok=True)
        path_inside(folder, relative, "file name")  # again: nothing may have changed below folder meanwhile
        write_atomically(target, data)
    log.info("pulled %s (%d files) from %s into %s", name, len(entries), store.url, folder)
    return folder


def require_available(dataloader, store: Store, for_workers: bool = False) -> None:
    """Before a run is created: its dataset must be on this machine or pushed to its store; else one
    line saying how to get it there. (A generated dataset is always available, and so is a plugin's: its
    loader finds its data.) A pushed dataset's manifest is checked now; for a run on this machine (not
    for_workers) it is pulled now."""
    from lpz.data import DATASETS
    from lpz.data.download import local_copy

    name = dataloader.dataset_name
    if DATASETS[name].kind == "points" or DATASETS.package(name):
        return
    trust = " (or, if every worker has it in its own LPZ_DATA_DIR, pass --workers-have-data)" if for_workers else ""
    if name == "imagefolder":
        if dataloader.path and Path(dataloader.path).expanduser().is_dir():
            return
        raise UserError(f"dataloader.path {excerpt(dataloader.path, 200)} is not a folder on this machine; "
                        f"set it to the folder of your images{trust}")
    if local_copy(name) is not None:
        return
    if store.exists(keys.manifest(name)):
        if for_workers:
            read_manifest(store, name)
        else:
            pull(store, name)
        return
    get = "see `lpz data download celeba` for how to get it" if name == "celeba" else f"run `lpz data download {name}`"
    push_hint = f", then `lpz data push {name} --store {store.url}` so that the workers can pull it" if for_workers else ""
    raise UserError(f"dataset {name} is neither in {data_dir() / name} nor pushed to {store.url}: "
                    f"{get}{push_hint}{trust}")
