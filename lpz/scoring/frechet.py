"""The Frechet distance between two Gaussians fitted to features (FID's formula).

    d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

as in pytorch-fid: scipy's sqrtm, with a small ridge when the product is
singular and the imaginary round-off of the root dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg


@dataclass(frozen=True)
class Statistics:
    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def of(cls, features) -> "Statistics":
        x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        return cls(x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False)))


def frechet_distance(a: Statistics, b: Statistics, eps: float = 1e-6) -> float:
    diff = a.mean - b.mean
    root = linalg.sqrtm(a.cov @ b.cov)
    if not np.isfinite(root).all():
        ridge = np.eye(len(a.cov)) * eps
        root = linalg.sqrtm((a.cov + ridge) @ (b.cov + ridge))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(root.imag))} in the covariance root")
        root = root.real
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * np.trace(root))
