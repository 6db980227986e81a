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

    def features_of(self, samples: torch.Tensor) -> torch.Tensor:
        """The features of samples on any device, on the CPU."""
        return self.features(samples.cpu()).cpu()

    def distance(self, features: torch.Tensor) -> float:
        """FID of the samples these are the features of, against the real data (lower is better)."""
        return frechet_distance(Statistics.of(features), self.real)

    def score(self, samples: torch.Tensor) -> float:
        return self.distance(self.features_of(samples))

    def details(self, generators, weights, gen: torch.Generator, features: torch.Tensor | None = None) -> dict:
        """The further numbers of a mixture: from the features of samples already drawn from it, when
        they are extra_samples many and the numbers can be had from features; else on a fresh draw."""
        if self.extra is None:
            return {}
        if features is not None and len(features) == self.extra_samples and self.extra_of_features:
            return self.extra_of_features(features)
        return self.extra(mixture.sample(generators, weights, generators[0].latent(self.extra_samples, gen)).cpu())
