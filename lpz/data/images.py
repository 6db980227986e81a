"""Datasets of image files: CelebA and any folder of the user's own images.

Decoding is slow (CelebA has 202,599 JPEGs), so a folder is decoded once,
centre-cropped and resized into one uint8 array cached as an .npy under
data_dir()/.cache/; the cache's name hashes the file list with every file's
size and mtime, so adding, removing or editing an image decodes again.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from lpz.data.base import Dataset, data_dir
from lpz.data.places import celeba_folder
from lpz.errors import UserError
from lpz.files import write_atomically

log = logging.getLogger(__name__)

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CELEBA_CROP = 178  # the aligned faces are 178x218: a centred square, then 64x64 as DCGAN does
CELEBA_SIZE = 64
CACHE_VERSION = 1  # bump when decoding changes, so old caches are not reused
DECODE_CHUNK = 1024


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 images (N, C, H, W) as a tensor sharing their memory (a memory-mapped cache stays mapped)."""
    with warnings.catch_warnings():  # a read-only memory map: lpz never writes to it
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.asarray(pixels, dtype=np.uint8))


def list_images(folder: Path, recursive: bool) -> list[Path]:
    """The image files in folder (or below it), sorted; hidden files and folders skipped."""
    if recursive:
        found = []
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [Path(root, f) for f in files if _is_image_name(f)]
    else:
        found = [Path(entry.path) for entry in os.scandir(folder) if entry.is_file() and _is_image_name(entry.name)]
    return sorted(found)


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(EXTENSIONS)


def decode(path: Path, size: int, crop: int | None) -> np.ndarray:
    """One image as uint8 (3, size, size): RGB, centre square of side crop (default the shorter side), resized."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError(f"{path}: cannot read it as an image ({e}); replace or remove the file") from None
    width, height = image.size
    side = crop or min(width, height)
    if side > min(width, height):
        raise UserError(f"{path}: {width}x{height} is smaller than dataloader.crop {crop}; "
                        f"lower crop or remove the image")
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))  # resize(box=) would blend in pixels outside it
    resized = square.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)


def cache_path(name: str, folder: Path, files: list[Path], size: int, crop: int | None) -> Path:
    digest = hashlib.sha256(f"{CACHE_VERSION} {folder.resolve()} {size} {crop}\n".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return data_dir() / ".cache" / f"{name}-{digest.hexdigest()[:20]}.npy"


def decode_all(files: list[Path], size: int, crop: int | None) -> np.ndarray:
    """Every image decoded into one array; Pillow releases the GIL while decoding, so threads run in parallel."""
    pixels = np.empty((len(files), 3, size, size), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # a chunk at a time, so that a bad file stops the work within one chunk
        for start in range(0, len(files), DECODE_CHUNK):
            chunk = files[start:start + DECODE_CHUNK]
            pixels[start:start + len(chunk)] = list(pool.map(lambda path: decode(path, size, crop), chunk))
    return pixels


def write_cache(path: Path, pixels: np.ndarray) -> None:
    """Atomically: a crash mid-write leaves no half cache behind."""
    try:
        write_atomically(path, lambda f: np.save(f, pixels))
    except OSError as e:
        log.warning("could not cache the decoded images in %s (%s); the next load decodes them again", path, e)


def read_cache(path: Path, shape: tuple) -> np.ndarray | None:
    try:
        pixels = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("ignoring the unreadable cache %s (%s)", path, e)
        return None
    return pixels if pixels.shape == shape and pixels.dtype == np.uint8 else None


def load_folder(name: str, folder: Path, size: int, crop: int | None, recursive: bool) -> Dataset:
    """The images of folder as a Dataset (N, 3, size, size), decoded once and cached."""
    files = list_images(folder, recursive)
    if not files:
        where = "in it or below it" if recursive else "in it"
        raise UserError(f"{folder}: no images ({', '.join(EXTENSIONS)}) {where}")
    cache = cache_path(name, folder, files, size, crop)
    pixels = read_cache(cache, (len(files), 3, size, size))
    if pixels is None:
        log.warning("%s: decoding %d images once (later loads read %s)", name, len(files), cache)
        pixels = decode_all(files, size, crop)
        write_cache(cache, pixels)
    return Dataset(name, to_tensor(pixels))


def load_celeba(dataloader=None, seed: int = 0) -> Dataset:
    folder = celeba_folder()
    if not folder.is_dir():
        raise UserError(f"celeba: {folder} not found; run `lpz data download celeba` to see where to get it")
    return load_folder("celeba", folder, CELEBA_SIZE, CELEBA_CROP, recursive=False)


def load_imagefolder(dataloader, seed: int = 0) -> Dataset:
    if not dataloader.path:
        raise UserError("imagefolder: set dataloader.path to the folder that holds your images")
    folder = Path(dataloader.path).expanduser()
    if not folder.is_dir():
        raise UserError(f"imagefolder: dataloader.path {folder} is not a folder")
    return load_folder("imagefolder", folder, dataloader.image_size, dataloader.crop, recursive=True)
