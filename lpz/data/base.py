"""What a loaded dataset is. (Where datasets live: lpz.data.specs.data_dir, re-exported here.)"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lpz.data.specs import data_dir  # noqa: F401  (re-exported)


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
