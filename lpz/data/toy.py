"""The two 2-D Gaussian mixtures of the GAN mode-collapse literature."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lpz.data.base import Dataset
from lpz.algorithm.seeding import generator


@dataclass(frozen=True)
class GaussianMixture:
    modes: torch.Tensor  # (K, 2) centres
    std: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        which = torch.randint(len(self.modes), (n,), generator=gen)
        return self.modes[which] + self.std * torch.randn(n, 2, generator=gen)


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    modes = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)
    return GaussianMixture(modes.float(), std)


def square_grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    modes = torch.cartesian_prod(ticks, ticks)
    return GaussianMixture(modes, std)


MIXTURES = {"gaussian8": ring(), "gaussian25": square_grid()}


def _load(name: str, dataloader, seed: int) -> Dataset:
    points = MIXTURES[name].sample(dataloader.n_samples, generator(seed, "dataset", name))
    return Dataset(name, points)


def load_gaussian8(dataloader, seed: int) -> Dataset:
    return _load("gaussian8", dataloader, seed)


def load_gaussian25(dataloader, seed: int) -> Dataset:
    return _load("gaussian25", dataloader, seed)
