"""What a loaded dataset is. (Where datasets live: lpz.data.specs.data_dir, re-exported here.)"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lpz.data.specs import DatasetSpec, data_dir  # noqa: F401  (data_dir: re-exported)
from lpz.errors import UserError


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


STORED_DTYPES = {"points": torch.float32, "images": torch.uint8}


def check_loaded(dataset: object, spec: DatasetSpec, dataloader) -> Dataset:
    """dataset itself when it is what spec promises; else one line saying what its loader got wrong
    (a plugin's loader is not ours: it gets no traceback deep inside training)."""
    fix = f"dataset {spec.name}: its loader {spec.loader}"
    if not isinstance(dataset, Dataset):
        raise UserError(f"{fix} returned a {type(dataset).__name__}; it must return a lpz.data.base.Dataset")
    if not isinstance(dataset.stored, torch.Tensor):
        raise UserError(f"{fix} stored a {type(dataset.stored).__name__}; Dataset.stored must be a torch.Tensor")
    dtype = STORED_DTYPES[spec.kind]
    if dataset.stored.dtype != dtype:
        raise UserError(f"{fix} stored {spec.kind} as {dataset.stored.dtype}; store them as {dtype}")
    shape = tuple(spec.sample_shape(dataloader))
    if dataset.shape != shape:
        raise UserError(f"{fix} returned samples of shape {dataset.shape}; its DatasetSpec promises {shape}")
    if len(dataset) == 0:
        raise UserError(f"{fix} returned no samples")
    return dataset
