"""The dataset `rings` for lpz: its samples."""
import math

import torch

from lpz.data.base import Dataset

RADII = (1.0, 2.0)
NOISE = 0.05


def load_rings(dataloader, seed: int) -> Dataset:
    """dataloader.n_samples points, half on each ring, drawn from the run's seed: every worker of a
    run gets the same points."""
    generator = torch.Generator().manual_seed(seed)
    n = dataloader.n_samples
    radius = torch.tensor(RADII)[torch.arange(n) % len(RADII)]
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    points = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    points += NOISE * torch.randn(n, 2, generator=generator)
    return Dataset("rings", points.float())  # points are float32; images would be uint8 pixels
