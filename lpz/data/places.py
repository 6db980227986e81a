"""Where a dataset's files are on this machine: paths only, no torch, so that `lpz submit` and `lpz data`
(which check that a dataset is here or pushed) do not wait for torch's import (2-3 s). The loaders
(lpz.data.idx, cifar, images) read the files found here."""
from __future__ import annotations

from pathlib import Path

from lpz.data.specs import data_dir
from lpz.errors import UserError

SYSTEM_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset packages (dataset-fashion-mnist) install

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-bin"


def idx_folders(name: str) -> list[Path]:
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


def locate_cifar(folder: Path | None = None) -> Path | None:
    """CIFAR-10's extracted batch folder or its archive, whichever is found first."""
    for base in [folder] if folder else [data_dir() / "cifar10", data_dir()]:
        if (base / CIFAR_FOLDER).is_dir():
            return base / CIFAR_FOLDER
        if (base / CIFAR_ARCHIVE).is_file():
            return base / CIFAR_ARCHIVE
    return None


def celeba_folder() -> Path:
    return data_dir() / "celeba" / "img_align_celeba"
