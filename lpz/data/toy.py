"""The toy datasets: the two 2-D Gaussian mixtures of the GAN mode-collapse literature, and the old
system's `circular` points and `gaussian` vectors (its gradient-free experiments)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lpz.data.base import Dataset
from lpz.seeding import generator


@dataclass(frozen=True)
class GaussianMixture:
    modes: torch.Tensor  # (K, 2) centres
    std: float
    weights: torch.Tensor | None = None  # (K,) how often each mode is drawn; None: uniformly
    quality_radius: float | None = None  # how close to a mode a high-quality sample lies; None: 3 std

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        if self.weights is None:
            which = torch.randint(len(self.modes), (n,), generator=gen)
        else:
            which = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        return self.modes[which] + self.std * torch.randn(n, 2, generator=gen)

    @property
    def high_quality_radius(self) -> float:
        return self.quality_radius if self.quality_radius is not None else 3 * self.std


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    modes = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)
    return GaussianMixture(modes.float(), std)


def square_grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    modes = torch.cartesian_prod(ticks, ticks)
    return GaussianMixture(modes, std)


def circle(points: int = 12, radius: float = 4.0) -> GaussianMixture:
    """The old system's `circular` data: exact points (no noise) at `points` angles from 0 to 2 pi, both
    included, so the first and last coincide: 11 distinct points, the one at angle 0 drawn twice as often.
    The points have no spread, so a sample counts as high-quality within 0.1 of one (about 1/20 of their
    spacing, as 3 std is for gaussian8)."""
    angles = torch.linspace(0, 2 * math.pi, points, dtype=torch.float64)[:-1]
    modes = torch.stack([radius * torch.sin(angles), radius * torch.cos(angles)], dim=1)
    weights = torch.ones(points - 1, dtype=torch.float64)
    weights[0] = 2
    return GaussianMixture(modes.float(), 0.0, weights / points, quality_radius=0.1)


MIXTURES = {"gaussian8": ring(), "gaussian25": square_grid(), "circular": circle()}


def _load(name: str, dataloader, seed: int) -> Dataset:
    points = MIXTURES[name].sample(dataloader.n_samples, generator(seed, "dataset", name))
    return Dataset(name, points)


def load_gaussian8(dataloader, seed: int) -> Dataset:
    return _load("gaussian8", dataloader, seed)


def load_gaussian25(dataloader, seed: int) -> Dataset:
    return _load("gaussian25", dataloader, seed)


def load_circular(dataloader, seed: int) -> Dataset:
    return _load("circular", dataloader, seed)


GAUSSIAN_MEAN, GAUSSIAN_STD, GAUSSIAN_SIZE = 5.0, 2.0, 1000


def load_gaussian(dataloader, seed: int) -> Dataset:
    """The old system's `gaussian` data: vectors of data_size values (default 1000), each drawn
    independently from N(5, 2^2)."""
    size = dataloader.data_size or GAUSSIAN_SIZE
    values = torch.randn(dataloader.n_samples, size, generator=generator(seed, "dataset", "gaussian"))
    return Dataset("gaussian", GAUSSIAN_MEAN + GAUSSIAN_STD * values)
