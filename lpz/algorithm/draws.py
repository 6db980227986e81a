"""The seeded choices of a cell's generation that gradient training (lpz.algorithm.cell) and gradient-free
training (lpz.algorithm.gradient_free) share: the data a cell trains on, its mini-batches, tournaments."""
from __future__ import annotations

from typing import Iterator

import torch

from lpz.seeding import generator


def tournament(fitness: list[float], size: int, picks: int, gen: torch.Generator) -> list[int]:
    """Indices of `picks` winners, each the fittest of `size` contestants drawn without replacement."""
    winners = []
    for _ in range(picks):
        contestants = torch.randperm(len(fitness), generator=gen)[:size].tolist()
        winners.append(min(contestants, key=lambda i: (fitness[i], i)))
    return winners


def cell_share(config, cell: int, n_data: int) -> torch.Tensor:
    """Indices of the data this cell trains on: all of it, or with sampling_ratio < 1 a fixed
    random subset of its own ("data dieting")."""
    ratio = config.dataloader.sampling_ratio
    if ratio >= 1:
        return torch.arange(n_data)
    keep = max(config.dataloader.batch_size, int(n_data * ratio))
    return torch.randperm(n_data, generator=generator(config.general.seed, cell, "subset"))[:keep].sort().values


def batch_indices(config, cell: int, generation: int, n_data: int) -> Iterator[torch.Tensor]:
    """The mini-batches of one generation: index tensors into the data, one epoch's shuffle at a time
    (built lazily: n_batches may be large)."""
    seed, loader = config.general.seed, config.dataloader
    own = cell_share(config, cell, n_data)
    per_epoch = max(1, len(own) // loader.batch_size)
    shuffle = generator(seed, cell, generation, "batches")
    pending = own[:0]
    for _ in range(loader.n_batches or per_epoch):
        while len(pending) < loader.batch_size:
            pending = torch.cat([pending, own[torch.randperm(len(own), generator=shuffle)]])
        yield pending[:loader.batch_size]
        pending = pending[loader.batch_size:]
