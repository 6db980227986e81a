"""What a scorer is: features of samples, the real data's statistics, and further numbers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lpz.algorithm import mixture
from lpz.scoring.frechet import Statistics, frechet_distance


@dataclass
class Scorer:
    name: str
    features: Callable[[torch.Tensor], torch.Tensor]
    real: Statistics
    extra: Callable[[torch.Tensor], dict] | None = None  # samples -> further numbers
    extra_samples: int = 0                                 # how many samples `extra` is drawn on; 0: as
                                                           # many as the run scores (make_scorer sets it)

    def score(self, samples: torch.Tensor) -> float:
        """FID of samples (on any device) against the real data; lower is better."""
        return frechet_distance(Statistics.of(self.features(samples.cpu()).cpu()), self.real)

    def details(self, generators, weights, gen: torch.Generator, drawn: torch.Tensor | None = None) -> dict:
        """The further numbers of a mixture: on samples already drawn from it when they are as many as
        extra_samples, else on a fresh draw of that many."""
        if self.extra is None:
            return {}
        if drawn is None or len(drawn) != self.extra_samples:
            drawn = mixture.sample(generators, weights, generators[0].latent(self.extra_samples, gen))
        return self.extra(drawn.cpu())
