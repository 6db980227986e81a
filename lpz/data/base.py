"""What a dataset is, and where datasets live on this machine."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass(frozen=True)
class Dataset:
    """All of a dataset, as stored: images as uint8 pixels (a quarter of float32's memory, and a
    memory-mapped cache shares its pages between processes), 2-D points as float32."""
    name: str
    stored: torch.Tensor                # (N, *sample_shape): uint8 pixels, or float32 points
    labels: torch.Tensor | None = None  # (N,), int64, where the data has classes

    def __len__(self) -> int:
        return len(self.stored)

    @property
    def shape(self) -> tuple:
        """The shape of one sample."""
        return tuple(self.stored.shape[1:])

    def samples(self, index=None) -> torch.Tensor:
        """The samples at index (all by default) as float32, images scaled to [-1, 1]."""
        chosen = self.stored if index is None else self.stored[index]
        if chosen.dtype == torch.uint8:
            return chosen.float().div_(127.5).sub_(1.0)
        return chosen

    def chunks(self, size: int = 1000):
        """All samples, as float32 tensors of at most size samples each."""
        for start in range(0, len(self), size):
            yield self.samples(slice(start, start + size))


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
