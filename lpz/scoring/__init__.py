"""Scores of generated samples; lower is better (FID-like).

A scorer turns samples into features, compares their statistics with the
real data's (computed once per process and dataset), and may add details
such as modes covered or class-frequency TVD.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lpz import mixture
from lpz.scoring.frechet import Statistics, frechet_distance


@dataclass
class Scorer:
    name: str
    features: Callable[[torch.Tensor], torch.Tensor]
    real: Statistics
    extra: Callable[[torch.Tensor], dict] | None = None  # samples -> further numbers
    extra_samples: int = 0                                 # how many samples `extra` is defined on

    def score(self, samples: torch.Tensor) -> float:
        return frechet_distance(Statistics.of(self.features(samples)), self.real)

    def details(self, generators, weights, gen: torch.Generator) -> dict:
        """The further numbers of a mixture, on a fresh draw of extra_samples samples."""
        if self.extra is None:
            return {}
        z = generators[0].latent(self.extra_samples, gen)
        return self.extra(mixture.sample(generators, weights, z))


_scorers: dict[tuple, Scorer] = {}


def make_scorer(config, dataset) -> Scorer | None:
    """The scorer for a run's dataset, built once per process; None when scoring is off."""
    if config.score.type == "none":
        return None
    key = (dataset.name, id(dataset))
    if key not in _scorers:
        _scorers[key] = _build(dataset)
    return _scorers[key]


def _build(dataset) -> Scorer:
    from lpz.data.toy import MIXTURES
    if dataset.name in MIXTURES:
        from lpz.scoring.toy import TOY_SAMPLES, coverage
        toy_mixture = MIXTURES[dataset.name]
        return Scorer("frechet-2d", lambda x: x, Statistics.of(dataset.samples),
                      lambda x: coverage(x, toy_mixture), TOY_SAMPLES)
    flat = lambda x: x.reshape(len(x), -1)
    return Scorer("frechet-pixels", flat, Statistics.of(flat(dataset.samples[:10_000])))
