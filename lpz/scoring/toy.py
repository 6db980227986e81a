"""Scores on the 2-D Gaussian mixtures (and the circular points): a distance and mode coverage.

The distance is the Frechet distance of random Fourier features of the points (Rahimi and Recht
2007), at three length scales. The mean term of that distance is the kernel two-sample distance
(MMD) with Gaussian kernels, so it sees the whole shape of a distribution. The Frechet distance of
the raw 2-D points, which lpz used before, sees only their mean and covariance: a Gaussian blob
over the ring scores close to 0 while it covers no mode (measured on the quickstart: the best raw
score of a run fell at generation 3-4, a blob with 4-6 of 8 modes and 3-15% high-quality samples),
so the mixture's weights and the run's best cell were chosen for the wrong thing.

A sample is high-quality when it lies within 3 standard deviations of its nearest mode (for the
circular points, which have no spread: within 0.1); a mode is covered when at least 20 high-quality
samples are nearest to it (the measure of Srivastava et al. 2017, VEEGAN).
"""
from __future__ import annotations

import math

import torch

from lpz.data.toy import GaussianMixture
from lpz.seeding import generator

TOY_SAMPLES = 2500
MIN_PER_MODE = 20
# Length scales of the kernels: one narrower than the modes' spacing (sees the modes' sharpness),
# one about the spacing, one the size of the whole mixture.
SCALES = (0.1, 0.5, 2.0)
FREQUENCIES = 32  # per scale; each gives a cosine and a sine feature


def kernel_features(dim: int = 2) -> "KernelFeatures":
    """The fixed random Fourier features of every toy score (the same for every run)."""
    gen = generator("toy-score", "kernel-features", dim)
    omegas = torch.cat([torch.randn(FREQUENCIES, dim, generator=gen, dtype=torch.float64) / scale
                        for scale in SCALES])
    return KernelFeatures(omegas)


class KernelFeatures:
    def __init__(self, omegas: torch.Tensor):
        self.omegas = omegas  # (F, dim)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        projected = points.double() @ self.omegas.T
        return torch.cat([projected.cos(), projected.sin()], dim=1) / math.sqrt(len(self.omegas))


def coverage(samples: torch.Tensor, mixture: GaussianMixture) -> dict:
    distances = torch.cdist(samples.double(), mixture.modes.double())
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= mixture.high_quality_radius
    per_mode = torch.bincount(nearest[good], minlength=len(mixture.modes))
    return {
        "modes_covered": int((per_mode >= MIN_PER_MODE).sum()),
        "modes": len(mixture.modes),
        "high_quality": float(good.double().mean()),
    }
