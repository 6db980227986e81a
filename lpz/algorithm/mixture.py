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


class Draws:
    """The features of a mixture's samples, each generator's drawn once from its own noise.

    A weighting of n samples takes the first allocate(weights, n)[i] samples of generator i (the same
    stratified draw as `sample`), so the weightings an evolution strategy compares share most of their
    samples: each sample is generated and measured once, however many weightings are scored, and the
    weightings are compared on common random numbers. A generator turns its noise into samples in
    fixed chunks (batch statistics make a convolutional generator's samples depend on the batch they
    are drawn in, so the chunks must not depend on the weightings); only features are kept.
    """

    def __init__(self, generators: Sequence[torch.nn.Module], noise: Sequence[torch.Tensor],
                 features: Callable[[torch.Tensor], torch.Tensor], chunk: int = 500):
        self.generators, self.noise, self.features, self.chunk = list(generators), list(noise), features, chunk
        self.measured: list[torch.Tensor | None] = [None] * len(self.generators)  # features of the first samples
        self.unmeasured: list[torch.Tensor | None] = [None] * len(self.generators)  # rest of the last chunk

    def take(self, weights: Sequence[float]) -> torch.Tensor:
        """The features of a weighting's samples (n of them, n the length of each generator's noise)."""
        parts = []
        for i, count in enumerate(allocate(weights, len(self.noise[0]))):
            if count:
                self._measure(i, count)
                parts.append(self.measured[i][:count])
        return torch.cat(parts)

    @torch.no_grad()
    def _measure(self, i: int, count: int) -> None:
        """Extend the measured samples of generator i to at least count."""
        have = 0 if self.measured[i] is None else len(self.measured[i])
        more = []
        while have < count:
            if self.unmeasured[i] is None or not len(self.unmeasured[i]):
                # have is a multiple of chunk here: a chunk is generated only when the last is used up
                self.unmeasured[i] = self.generators[i](self.noise[i][have:have + self.chunk])
            samples = self.unmeasured[i][:count - have]
            self.unmeasured[i] = self.unmeasured[i][len(samples):]
            more.append(self.features(samples).cpu())
            have += len(samples)
        if more:  # joined once per extension, not at every take
            self.measured[i] = torch.cat(more if self.measured[i] is None else [self.measured[i], *more])


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
