"""Scores of generated samples; lower is better (FID-like).

A scorer turns samples into features, compares their statistics with the
real data's (computed once per process and dataset), and may add details
such as modes covered or class-frequency TVD.
"""
from __future__ import annotations

from dataclasses import replace

from lpz.scoring.base import Scorer
from lpz.scoring.frechet import Statistics


_scorers: dict[tuple, Scorer] = {}


def make_scorer(config, dataset, device: str = "cpu", sample_size: int | None = None) -> Scorer | None:
    """The scorer a run trains with, built once per process; None when scoring is off.

    Details a scorer does not fix the size of (TVD) are measured on sample_size samples, by
    default the run's score_sample_size."""
    if config.score.type == "none":
        return None
    scorer = scorer_for(dataset, device, random_inception=config.score.inception == "random-init")
    if scorer.extra is not None and scorer.extra_samples == 0:
        return replace(scorer, extra_samples=sample_size or config.score.score_sample_size)
    return scorer


def scorer_for(dataset, device: str = "cpu", inception_weights=None, random_inception: bool = False) -> Scorer:
    """The scorer of a dataset: toy coverage, the MNIST classifier, or InceptionV3 for RGB images (with
    the published weights, or random ones when random_inception)."""
    key = (dataset.name, id(dataset), device, inception_weights, random_inception)
    if key not in _scorers:
        _scorers[key] = _build(dataset, device, inception_weights, random_inception)
    return _scorers[key]


def _build(dataset, device: str, inception_weights, random_inception: bool) -> Scorer:
    from lpz.data.toy import MIXTURES
    if dataset.name in MIXTURES:
        from lpz.scoring.toy import TOY_SAMPLES, coverage, kernel_features
        toy_mixture, features = MIXTURES[dataset.name], kernel_features()
        return Scorer("frechet-kernel-2d", features, Statistics.of(features(dataset.samples())),
                      lambda x: coverage(x, toy_mixture), TOY_SAMPLES)
    if len(dataset.shape) == 1:  # points from a dataset plugin: the distance of the points themselves
        return Scorer(f"frechet-{dataset.shape[0]}d", lambda x: x, Statistics.of(dataset.samples()))
    from lpz.scoring.classifier import SAMPLE_SHAPE, classifier_scorer
    if dataset.shape == SAMPLE_SHAPE:
        return classifier_scorer(dataset)
    from lpz.scoring.inception import inception_scorer
    return inception_scorer(dataset, device, inception_weights, random_init=random_inception)
