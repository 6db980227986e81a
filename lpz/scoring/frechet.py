"""The Frechet distance between two Gaussians fitted to features (FID's formula).

    d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

The trace of the root, Tr (S1 S2)^(1/2), is the sum of the square roots of
the eigenvalues of S1 S2, which are those of the symmetric R2 S1 R2 (R2 the
square root of S2, from scipy's eigh, computed once per Statistics: the real
data's serves every score). pytorch-fid takes scipy's sqrtm of the product
instead: the same number (tests/test_classifier.py checks it against sqrtm),
but a general square root cost 6 to 14 times as much here (192 to 2048
features) and needs a ridge when the product is singular. With fewer samples
than features the trace comes from the samples' own n x n matrix instead (see
_trace_root_low_rank).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import linalg


@dataclass(frozen=True)
class Statistics:
    mean: np.ndarray
    cov: np.ndarray
    # Fewer samples than features: the samples minus their mean, over sqrt(n - 1), so cov = low.T @ low.
    low: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, features) -> "Statistics":
        x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        with np.errstate(invalid="ignore", over="ignore"):  # samples that are not finite: frechet_distance
            mean = x.mean(axis=0)
            low = (x - mean) / np.sqrt(len(x) - 1) if 1 < len(x) < x.shape[1] else None
            return cls(mean, np.atleast_2d(np.cov(x, rowvar=False)), low)

    @cached_property
    def root(self) -> np.ndarray:
        """The symmetric square root of cov (its round-off negative eigenvalues taken as 0)."""
        eigenvalues, vectors = linalg.eigh(self.cov)
        return (vectors * np.sqrt(eigenvalues.clip(min=0))) @ vectors.T


def frechet_distance(a: Statistics, b: Statistics) -> float:
    """The distance; infinite when a sample's features are not all finite (a diverged generator's NaN),
    so that a mixture holding such samples scores worst and every comparison of scores stays ordered."""
    if not (np.isfinite(a.mean).all() and np.isfinite(a.cov).all()):
        return math.inf
    diff = a.mean - b.mean
    trace_root = _trace_root_low_rank(a.low, b.cov) if a.low is not None else _trace_root(a.cov, b.root)
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_root)


def _trace_root(cov: np.ndarray, other_root: np.ndarray) -> float:
    """Tr sqrt(cov @ other), other_root the square root of other: cov @ other = (cov @ other_root) @
    other_root has the eigenvalues of other_root @ cov @ other_root, symmetric and positive semi-definite."""
    eigenvalues = np.linalg.eigvalsh(other_root @ cov @ other_root)
    return float(np.sqrt(eigenvalues.clip(min=0)).sum())


def _trace_root_low_rank(low: np.ndarray, cov: np.ndarray) -> float:
    """Tr sqrt(low.T @ low @ cov) from an n x n matrix instead of a d x d square root: the nonzero
    eigenvalues of low.T @ (low @ cov) are those of low @ cov @ low.T, which is symmetric and positive
    semi-definite, so their square roots sum to the trace. With n samples of d = 2048 Inception features,
    n in the hundreds, this takes milliseconds where scipy's sqrtm takes tens of seconds."""
    eigenvalues = np.linalg.eigvalsh(low @ cov @ low.T)
    return float(np.sqrt(eigenvalues.clip(min=0)).sum())
