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
    extra_of_features: Callable[[torch.Tensor], dict] | None = None  # the same numbers from the features

    def measure(self, samples: torch.Tensor) -> tuple[float, torch.Tensor]:
        """FID of samples (on any device) against the real data (lower is better), and their features."""
        features = self.features(samples.cpu()).cpu()
        return frechet_distance(Statistics.of(features), self.real), features

    def score(self, samples: torch.Tensor) -> float:
        return self.measure(samples)[0]

    def details(self, generators, weights, gen: torch.Generator,
                drawn: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
        """The further numbers of a mixture: on (samples, features) already drawn from it and measured,
        when they are as many as extra_samples; else on a fresh draw of that many."""
        if self.extra is None:
            return {}
        if drawn is not None and len(drawn[0]) == self.extra_samples:
            samples, features = drawn
            return self.extra_of_features(features) if self.extra_of_features else self.extra(samples.cpu())
        return self.extra(mixture.sample(generators, weights, generators[0].latent(self.extra_samples, gen)).cpu())
