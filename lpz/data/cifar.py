"""CIFAR-10 from its binary distribution, read with tarfile and numpy (nothing unpickled).

cifar-10-binary.tar.gz holds cifar-10-batches-bin/ with data_batch_1..5.bin
(the training split) and test_batch.bin, 10,000 records each: one label byte,
then the 32x32 red, green and blue planes. The loader reads the archive as it
is, or the folder it extracts to.
"""
from __future__ import annotations

import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from lpz.data.base import Dataset, data_dir
from lpz.data.images import to_tensor
from lpz.data.places import CIFAR_ARCHIVE, CIFAR_FOLDER, locate_cifar
from lpz.errors import UserError

ARCHIVE, FOLDER = CIFAR_ARCHIVE, CIFAR_FOLDER
BATCHES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
RECORDS_PER_BATCH = 10_000
AGAIN = "download it again (lpz data download cifar10)"


locate = locate_cifar


def read_folder(folder: Path, names: list[str]) -> dict[str, bytes]:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder / missing[0]} is missing; {AGAIN}")
    return {name: (folder / name).read_bytes() for name in names}


def read_archive(path: Path, names: list[str]) -> dict[str, bytes]:
    """The named members of the tar.gz, read in one pass over the stream."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if member.isfile() and name in names and name not in found:
                    found[name] = tar.extractfile(member).read()
                    if len(found) == len(names):
                        break
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise UserError(f"{path}: not a complete tar.gz archive ({e}); {AGAIN}") from None
    missing = [name for name in names if name not in found]
    if missing and found:
        raise UserError(f"{path}: ends before {missing[0]} (a truncated download); {AGAIN}")
    if missing:
        raise UserError(f"{path}: holds no {missing[0]} (not the CIFAR-10 binary archive?); {AGAIN}")
    return found


def parse_batch(raw: bytes, where: str, records: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as uint8 images (records, 3, 32, 32) and their labels."""
    expected = records * RECORD_BYTES
    if len(raw) != expected:
        raise UserError(f"{where}: holds {len(raw)} bytes, expected {expected} ({records} records of "
                        f"{RECORD_BYTES} bytes): a truncated or damaged file; {AGAIN}")
    table = np.frombuffer(raw, dtype=np.uint8).reshape(records, RECORD_BYTES)
    labels = table[:, 0]
    if labels.max() > 9:
        raise UserError(f"{where}: has label {labels.max()}, CIFAR-10 labels are 0-9: a damaged file; {AGAIN}")
    return table[:, 1:].reshape(records, *SHAPE), labels


def load_cifar10(folder: Path | None = None, split: str = "train",
                 records_per_batch: int = RECORDS_PER_BATCH) -> Dataset:
    source = locate(folder)
    if source is None:
        looked = folder or f"{data_dir() / 'cifar10'} and {data_dir()}"
        raise UserError(f"cifar10: neither {ARCHIVE} nor {FOLDER}/ found in {looked}; "
                        f"run `lpz data download cifar10` or set LPZ_DATA_DIR to the folder that holds it")
    names = BATCHES[split]
    raw = read_folder(source, names) if source.is_dir() else read_archive(source, names)
    batches = [parse_batch(raw[name], f"{source}: {name}" if source.is_file() else str(source / name),
                           records_per_batch) for name in names]
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return Dataset("cifar10", to_tensor(images), torch.from_numpy(labels.astype(np.int64)))


def load_for_run(dataloader=None, seed: int = 0) -> Dataset:
    return load_cifar10()
