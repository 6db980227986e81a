"""What each dataset is, without loading it: the config and the command line read this, and it
imports no torch, so a bad config is reported at once."""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str                                # "points" or "images"
    sample_shape: Callable[[object], tuple]  # dataloader config -> shape of one sample
    loader: str                              # "module:function" taking (dataloader config, run seed)
    summary: str

    def load(self, dataloader, seed: int):
        """The whole dataset (a lpz.data.base.Dataset), read from this machine's data directory."""
        module, function = self.loader.split(":")
        return getattr(importlib.import_module(module), function)(dataloader, seed)


def data_dir() -> Path:
    """LPZ_DATA_DIR, or ~/.cache/lpz/data."""
    return Path(os.environ.get("LPZ_DATA_DIR") or Path.home() / ".cache" / "lpz" / "data").expanduser()


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in [
    DatasetSpec("gaussian8", "points", lambda d: (2,), "lpz.data.toy:load_gaussian8",
                "8 Gaussians on a circle of radius 2, std 0.02"),
    DatasetSpec("gaussian25", "points", lambda d: (2,), "lpz.data.toy:load_gaussian25",
                "25 Gaussians on a 5x5 grid with spacing 2, std 0.05"),
    DatasetSpec("mnist", "images", lambda d: (1, 28, 28), "lpz.data.idx:load_mnist",
                "MNIST handwritten digits, 60,000 training images, 1x28x28"),
    DatasetSpec("fashion-mnist", "images", lambda d: (1, 28, 28), "lpz.data.idx:load_fashion_mnist",
                "Fashion-MNIST clothing, 60,000 training images, 1x28x28"),
    DatasetSpec("cifar10", "images", lambda d: (3, 32, 32), "lpz.data.cifar:load_for_run",
                "CIFAR-10 objects in 10 classes, 50,000 training images, 3x32x32"),
    DatasetSpec("celeba", "images", lambda d: (3, 64, 64), "lpz.data.images:load_celeba",
                "CelebA aligned faces, 202,599 images, centre 178x178 resized to 3x64x64"),
    DatasetSpec("imagefolder", "images", lambda d: (3, d.image_size, d.image_size), "lpz.data.images:load_imagefolder",
                "your own images under dataloader.path (jpg, png, bmp, webp), 3 x image_size x image_size"),
]}
