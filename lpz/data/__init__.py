"""Datasets: what each one is (lpz.data.specs, no torch) and how to load it into one tensor.

A dataset is all of its samples in memory as one tensor (images as uint8
pixels, 2-D points as floats); training batches by indexing it and scales
only the batch, so no per-item Python runs on the hot path.

Other packages add datasets through the entry point group lpz.datasets (see lpz.data.specs).
"""
from __future__ import annotations

from lpz.data.specs import DATASETS, DatasetSpec, data_dir

_loaded: dict[tuple, object] = {}


def load_dataset(dataloader, seed: int):
    """The dataset a run trains on (a lpz.data.base.Dataset), loaded once per process."""
    key = (dataloader.dataset_name, repr(dataloader), seed, str(data_dir()))
    if key not in _loaded:
        from lpz.data.base import check_loaded  # torch: not for the config and the command line
        spec = DATASETS[dataloader.dataset_name]
        _loaded[key] = check_loaded(spec.load(dataloader, seed), spec, dataloader)
    return _loaded[key]


__all__ = ["DATASETS", "DatasetSpec", "data_dir", "load_dataset"]
