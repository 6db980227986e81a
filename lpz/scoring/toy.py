"""Mode coverage on the 2-D Gaussian mixtures (and the circular points).

A sample is high-quality when it lies within 3 standard deviations of its
nearest mode (for the circular points, which have no spread: within 0.1); a
mode is covered when at least 20 high-quality samples are nearest to it (the
measure of Srivastava et al. 2017, VEEGAN).
"""
from __future__ import annotations

import torch

from lpz.data.toy import GaussianMixture

TOY_SAMPLES = 2500
MIN_PER_MODE = 20


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
