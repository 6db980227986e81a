"""The run's result averaged over its last generations (trainer.params.final_average N).

The result's generator of a cell is the mean of that cell's generator over the run's last N
generations (its own lineage: a cell trained without selection keeps the i-th generator's). Each cell
carries the sum so far in its private state, from the window's first generation on, in float64: the
mean costs one generator's sum a cell, whatever N, and a damaged generation in the window is
recomputed from the one before it like any other.
"""
from __future__ import annotations

from dataclasses import replace

import torch


def window(config) -> range:
    """The generations the result averages each generator over; empty: the last generation's alone."""
    generations = config.trainer.generations
    n = config.trainer.params.averaged_generations(generations)
    return range(generations - n + 1, generations + 1) if n > 1 else range(0)


def summed(config, generation: int, before: list[dict] | None, generators: list) -> list[dict] | None:
    """The sums a cell's state at generation holds: the sums before it plus its generators' weights,
    the weights alone at the window's first generation, None outside the window."""
    span = window(config)
    if generation not in span:
        return None
    if generation == span.start:
        return [{k: v.double() for k, v in g.weights.items()} for g in generators]
    return [{k: total[k] + v.double() for k, v in g.weights.items()} for total, g in zip(before, generators)]


def as_result(state, config):
    """A cell's state as the run's result uses it: its public part, each generator averaged over the
    window (state: the private state at the last generation where there is a window)."""
    span = window(config)
    generators = state.generators
    if span:
        generators = [replace(g, weights={k: (total[k] / len(span)).to(torch.float32) for k in g.weights})
                      for total, g in zip(state.generator_sums, generators)]
    return replace(state, generators=[replace(g, adam=None) for g in generators],
                   discriminators=[replace(d, adam=None) for d in state.discriminators], generator_sums=None)
