"""MNIST and Fashion-MNIST from their IDX files (gzipped or not)."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from lpz.data.base import Dataset, data_dir
from lpz.errors import UserError

SYSTEM_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset packages (dataset-fashion-mnist) install

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def folders(name: str) -> list[Path]:
    """Where the IDX files of a dataset may be, in the order looked: the data directory (in a folder of
    the dataset's name, or loose), then the system's datasets folder."""
    return [data_dir() / name, data_dir(), SYSTEM_DATASETS / name]


def find_file(folder_candidates: list[Path], stem: str, dataset: str) -> Path:
    for folder in folder_candidates:
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    looked = ", ".join(str(f) for f in folder_candidates)
    raise UserError(f"{dataset}: {stem}(.gz) not found in {looked}; run `lpz data download {dataset}` "
                    f"or set LPZ_DATA_DIR to the folder that holds it")


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
