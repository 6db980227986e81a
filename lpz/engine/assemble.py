"""The end of a run: the mixture of generators that is its result.

By default (final_mixture: neighbourhood) every cell's neighbourhood mixture is
scored on final_sample_size samples and the best becomes the run's mixture;
with final_mixture: grid, the best generator of every cell forms one mixture
over the whole grid, uniform to start. With final_average N each generator is
its weights' mean over the last N generations. Optionally (optimize_mixture) an
evolution strategy then tunes the weights: each step perturbs them and keeps
the result only when it scores strictly better, as the old system did.

    runs/<id>/mixture/generators.pt   the mixture's generator weights and mixture weights
    runs/<id>/mixture/mixture.json    every cell's mixture and score, the result, and the sha256 of
                                      generators.pt; written last, it marks the run finished
"""
from __future__ import annotations

from datetime import datetime, timezone

import torch

from lpz.algorithm import mixture, nets
from lpz.records import Candidate, MixtureResult, Optimised
from lpz.runs import Run
from lpz.scoring import make_scorer
from lpz.seeding import generator
from lpz.engine.work import final_states, run_dataset


def assemble(run: Run, device: str = "cpu") -> MixtureResult:
    """Score the cells' final mixtures, keep the best as the run's result (written last: the run is then
    finished), and return it."""
    if run.finished():
        return run.read_result()
    config, grid = run.config, run.grid
    torch.set_num_threads(config.general.threads)
    seed, n = config.general.seed, config.score.final_sample_size
    dataset = run_dataset(run)
    shape = dataset.shape
    scorer = make_scorer(config, dataset, device, sample_size=n)
    publics = final_states(run, device)
    best = {c: publics[c].best_generator() for c in grid.cells}
    generator_nets = {c: nets.loaded(config.network, shape, best[c].weights, "g", device) for c in grid.cells}

    def judge(cells: list[int], weights: list[float]) -> tuple[float | None, dict]:
        if scorer is None:
            return None, {}
        members = [generator_nets[c] for c in cells]
        z = members[0].latent(n, generator(seed, "final", "score-noise"))
        return (scorer.score(mixture.sample(members, weights, z)),
                scorer.details(members, weights, generator(seed, "final", "details-noise")))

    candidates = []
    for c in grid.cells:
        hood = grid.neighbourhood(c)
        score, details = judge(hood, publics[c].mixture_weights)
        candidates.append(Candidate(cell=c, cells=hood, weights=publics[c].mixture_weights, score=score,
                                    details=details, origins=[tuple(best[m].origin) for m in hood]))
    chosen = best_candidate(candidates)
    source = config.trainer.params.final_mixture
    if source == "grid":
        cells = list(grid.cells)
        weights = [1.0 / len(cells)] * len(cells)
        score, details = judge(cells, weights)
        best_cell = None
    else:
        best_cell, cells, weights = chosen.cell, grid.neighbourhood(chosen.cell), publics[chosen.cell].mixture_weights
        score, details = chosen.score, chosen.details

    optimized = {}
    es = config.trainer.params.optimize_mixture
    if es.enabled and scorer is not None and len(cells) > 1:
        members = [generator_nets[c] for c in cells]
        es_weights, es_score, accepted = optimise_weights(members, weights, scorer, es, seed)
        # Judged again on the run's own measure: the ES can fit the noise of its sample bank.
        after, after_details = judge(cells, es_weights)
        kept = after < score
        optimized = {"optimized": Optimised(generations=es.generations, sigma=es.sigma, samples=es.samples,
                                            accepted=accepted, es_score=es_score, score_before=score,
                                            score_after=after, kept=kept)}
        if kept:
            weights, score, details = es_weights, after, after_details

    result = MixtureResult(source=source, best_cell=best_cell, cells_mixed=cells, weights=weights, score=score,
                           details=details, **optimized, cells=candidates, sample_size=n,
                           scorer=scorer.name if scorer else None,
                           finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    run.write_result({"cells": cells, "weights": weights, "generators": [best[c].weights for c in cells]}, result)
    return run.read_result()


def best_candidate(candidates: list[Candidate]) -> Candidate:
    """The best-scoring neighbourhood mixture (the lowest cell on a tie; unscored ones last)."""
    return min(candidates, key=lambda e: (e.score is None, e.score or 0, e.cell))


def optimise_weights(members, weights: list[float], scorer, es, seed: int) -> tuple[list[float], float, int]:
    """An ES over the mixture weights, each step kept only when it scores strictly better.

    The weightings share their samples (mixture.Draws): every generator's samples and their features
    are computed once, on fixed noise, so a step costs one Frechet distance and at most a few more
    samples through the scoring network. Returns (weights, their score, steps accepted).
    """
    draws = mixture.Draws(members, [net.latent(es.samples, generator(seed, "optimize-mixture", "noise", i))
                                    for i, net in enumerate(members)], scorer.features_of)

    def score(w: list[float]) -> float:
        return scorer.distance(draws.take(w))

    gen = generator(seed, "optimize-mixture", "steps")
    current, current_score, accepted = list(weights), score(weights), 0
    for _ in range(es.generations):
        current, current_score, took = mixture.one_plus_one(current, es.sigma, score, gen, current_score)
        accepted += took
    return current, current_score, accepted
