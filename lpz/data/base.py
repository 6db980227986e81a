"""What a dataset is, and where datasets live on this machine."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass(frozen=True)
class Dataset:
    name: str
    samples: torch.Tensor               # (N, *sample_shape), float32; images in [-1, 1]
    labels: torch.Tensor | None = None  # (N,), int64, where the data has classes


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str                                   # "points" or "images"
    sample_shape: Callable[[object], tuple]     # dataloader config -> shape of one sample
    load: Callable[[object, int], Dataset]      # (dataloader config, run seed) -> Dataset
    summary: str


def data_dir() -> Path:
    """LPZ_DATA_DIR, or ~/.cache/lpz/data."""
    return Path(os.environ.get("LPZ_DATA_DIR") or Path.home() / ".cache" / "lpz" / "data").expanduser()
