"""Mixtures of generators: drawing samples by weight, and the weights' (1+1)-ES."""
from __future__ import annotations

from typing import Callable, Sequence

import torch


def allocate(weights: Sequence[float], n: int) -> list[int]:
    """How many of n samples each generator draws: n * weight, rounded by largest remainder."""
    total = float(sum(weights))
    exact = [n * w / total for w in weights]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


@torch.no_grad()
def sample(generators: Sequence[torch.nn.Module], weights: Sequence[float], z: torch.Tensor,
           batch: int = 2000) -> torch.Tensor:
    """len(z) samples: generator i turns its share of the rows of z into samples."""
    counts = allocate(weights, len(z))
    parts, start = [], 0
    for net, count in zip(generators, counts):
        for lo in range(start, start + count, batch):
            parts.append(net(z[lo:min(lo + batch, start + count)]))
        start += count
    return torch.cat(parts)


def perturb(weights: Sequence[float], sigma: float, gen: torch.Generator) -> list[float]:
    """Add N(0, sigma) to each weight, clip at 0, renormalise; unchanged if all would vanish."""
    noisy = (torch.tensor(weights, dtype=torch.float64)
             + sigma * torch.randn(len(weights), generator=gen, dtype=torch.float64)).clamp(min=0)
    if noisy.sum() <= 0:
        return list(weights)
    return (noisy / noisy.sum()).tolist()


def one_plus_one(weights: list[float], sigma: float, score: Callable[[list[float]], float],
                 gen: torch.Generator, current_score: float | None = None) -> tuple[list[float], float, bool]:
    """One (1+1)-ES step on the weights: keep the perturbed weights only if they score strictly better.

    Lower scores are better (FID). Returns (weights, their score, whether the candidate was accepted).
    """
    if current_score is None:
        current_score = score(weights)
    candidate = perturb(weights, sigma, gen)
    if candidate == list(weights):
        return list(weights), current_score, False
    candidate_score = score(candidate)
    if candidate_score < current_score:
        return candidate, candidate_score, True
    return list(weights), current_score, False
