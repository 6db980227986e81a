"""MNIST and Fashion-MNIST from their IDX files (gzipped or not)."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from lpz.data.base import Dataset
from lpz.data.places import IDX_FILES, SYSTEM_DATASETS, find_file, idx_folders  # noqa: F401  (re-exported)
from lpz.errors import UserError

FILES = IDX_FILES  # the names the loaders have always used
folders = idx_folders


def read_idx(path: Path) -> np.ndarray:
    """One IDX file as an array of unsigned bytes, with its header checked."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, OSError, zlib.error) as e:
        raise UserError(f"{path}: not a readable gzip file ({e}); download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path}: not an IDX file of unsigned bytes (bad magic number); download it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated IDX header; download it again")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(f"{path}: holds {len(raw)} bytes, its header promises {expected} "
                        f"(a truncated or damaged file); download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_dataset(name: str, split: str = "train", folder: Path | None = None) -> Dataset:
    candidates = [folder] if folder else folders(name)
    images_stem, labels_stem = FILES[split]
    images = read_idx(find_file(candidates, images_stem, name))
    labels = read_idx(find_file(candidates, labels_stem, name))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(f"{name}: {split} images {images.shape} and labels {labels.shape} do not match; "
                        f"download the dataset again")
    pixels = torch.from_numpy(images.copy()).unsqueeze(1)  # copy: frombuffer arrays are read-only
    return Dataset(name, pixels, torch.from_numpy(labels.astype(np.int64)))


def load_mnist(dataloader=None, seed: int = 0) -> Dataset:
    return load_idx_dataset("mnist", "train")


def load_fashion_mnist(dataloader=None, seed: int = 0) -> Dataset:
    return load_idx_dataset("fashion-mnist", "train")
