"""Ensembles built from a finished run: every generator its last generation holds is a candidate.

    build(run, method, name, max_size) -> the ensemble's record

The search (lpz.algorithm.ensemble_search) scores candidate weightings on a bank of samples that each
generator draws once (mixture.Draws), so a weighting costs one Frechet distance. The ensemble it finds
is then judged like the run's own mixture, on the same noise and number of samples (the run's
final_sample_size), so the two scores compare. It is kept beside the run's mixture, never over it:

    runs/<id>/ensembles/<name>/generators.pt, ensemble.json   (lpz.runs.keys)
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import torch

from lpz.algorithm import ensemble_search, mixture, nets
from lpz.seeding import generator
from lpz.engine.work import final_states, run_dataset
from lpz.errors import UserError
from lpz.records import EnsembleMember, EnsembleRecord, EnsembleSearch
from lpz.runs import Run, keys
from lpz.runs.ensembles import check_ensemble_name
from lpz.scoring import make_scorer

METHODS = ("greedy-iterative", "greedy-random", "ga-reo", "ga-nreo")


def check_request(run: Run, method: str, name: str, replace: bool) -> None:
    """A UserError unless an ensemble of this method and name can be built from the run."""
    if method not in METHODS:
        raise UserError(f"{method!r} is not an ensemble method; use one of {', '.join(METHODS)}")
    check_ensemble_name(name)
    if not run.finished():
        raise UserError(f"run {run.id} has not finished; build ensembles from a finished run "
                        f"(see `lpz status {run.id}`)")
    if run.config.score.type == "none":
        raise UserError(f"run {run.id} has score.type none: an ensemble is chosen by its score, so there is "
                        f"nothing to build it by")
    if not replace and run.store.exists(keys.ensemble(run.id, name, "ensemble.json")):
        raise UserError(f"run {run.id} already has an ensemble {name}; choose another --name, or --replace it")


def candidates(run: Run) -> list[tuple[int, int, object]]:
    """(cell, index in its population, individual) of every generator of the run's last generation (as
    the run's result has them: averaged with trainer.params.final_average)."""
    publics = final_states(run)
    return [(c, i, ind) for c in run.grid.cells for i, ind in enumerate(publics[c].generators)]


def search(method: str, objective, n: int, max_size: int, seed: int) -> ensemble_search.Found:
    gen = generator(seed, "ensemble", method)
    if method == "greedy-iterative":
        return ensemble_search.greedy(objective, n, max_size)
    if method == "greedy-random":
        return ensemble_search.greedy(objective, n, max_size, shuffle=gen)
    return ensemble_search.genetic(objective, n, max_size, restricted=method == "ga-reo", gen=gen)


def build(run: Run, method: str, name: str, max_size: int, samples: int, replace: bool = False,
          device: str = "cpu", progress=None) -> EnsembleRecord:
    """Search an ensemble with the method, judge it as the run's mixture is judged, keep it; return its record."""
    check_request(run, method, name, replace)
    config, seed = run.config, run.config.general.seed
    torch.set_num_threads(config.general.threads)
    dataset = run_dataset(run)
    scorer = make_scorer(config, dataset, device, sample_size=config.score.final_sample_size)
    found_at = candidates(run)
    members = [nets.loaded(config.network, dataset.shape, ind.weights, "g", device) for _, _, ind in found_at]

    started = time.perf_counter()
    draws = mixture.Draws(members, [net.latent(samples, generator(seed, "ensemble", "noise", i))
                                    for i, net in enumerate(members)], scorer.features_of)

    def objective(weights: list[float]) -> float:
        value = scorer.distance(draws.take(weights))
        if progress:
            progress()
        return value

    found = search(method, objective, len(members), max_size, seed)
    chosen = [i for i, w in enumerate(found.weights) if w > 0]
    weights = [found.weights[i] / sum(found.weights[i] for i in chosen) for i in chosen]
    mixed = [members[i] for i in chosen]
    # Judged as assemble judges the run's mixture: the same noise, the same number of samples.
    n = config.score.final_sample_size
    z = mixed[0].latent(n, generator(seed, "final", "score-noise"))
    score = scorer.score(mixture.sample(mixed, weights, z))
    details = scorer.details(mixed, weights, generator(seed, "final", "details-noise"))
    record = EnsembleRecord(
        name=name, method=method, max_size=max_size, score=score, details=details, weights=weights,
        members=[EnsembleMember(cell=found_at[i][0], index=found_at[i][1], origin=tuple(found_at[i][2].origin))
                 for i in chosen],
        search=EnsembleSearch(score=found.score, evaluations=found.evaluations, history=found.history,
                              samples=samples, candidates=len(members),
                              seconds=round(time.perf_counter() - started, 2)),
        sample_size=n, scorer=scorer.name, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    run.write_ensemble(name, {"members": [[found_at[i][0], found_at[i][1]] for i in chosen], "weights": weights,
                              "generators": [found_at[i][2].weights for i in chosen]}, record)
    return run.read_ensemble(name)
