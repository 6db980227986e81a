"""Datasets: what each one is (its spec) and how to load it into one tensor.

A dataset is all of its samples in memory as one tensor (images as uint8
pixels, 2-D points as floats); training batches by indexing it and scales
only the batch, so no per-item Python runs on the hot path.
"""
from __future__ import annotations

from lpz.data import cifar, idx, images, toy
from lpz.data.base import Dataset, DatasetSpec, data_dir

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in [*toy.SPECS, *idx.SPECS, *cifar.SPECS, *images.SPECS]}

_loaded: dict[tuple, Dataset] = {}


def load_dataset(dataloader, seed: int) -> Dataset:
    """The dataset a run trains on, loaded once per process."""
    key = (dataloader.dataset_name, repr(dataloader), seed, str(data_dir()))
    if key not in _loaded:
        _loaded[key] = DATASETS[dataloader.dataset_name].load(dataloader, seed)
    return _loaded[key]


__all__ = ["DATASETS", "Dataset", "DatasetSpec", "data_dir", "load_dataset"]
