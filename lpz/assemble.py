"""The end of a run: every cell's neighbourhood mixture is scored on the
final sample size, and the best becomes the run's mixture.

    runs/<id>/mixture/generators.pt   the best mixture's generator weights and mixture weights
    runs/<id>/mixture/mixture.json    every cell's mixture and score; written last, it marks the run finished
"""
from __future__ import annotations

from datetime import datetime, timezone

from lpz import mixture, nets
from lpz.runs import Run
from lpz.scoring import make_scorer
from lpz.seeding import generator
from lpz.store.base import Store
from lpz.work import repaired, run_dataset


def assemble(store: Store, run_id: str, device: str = "cpu") -> dict:
    run = Run.open(store, run_id)
    if run.finished():
        return store.get_json(run.key("mixture", "mixture.json"))
    config, grid, last = run.config, run.grid, run.generations
    seed = config.general.seed
    dataset = run_dataset(run)
    shape = dataset.shape
    scorer = make_scorer(config, dataset, device)
    publics = repaired(run, lambda: {c: run.read_public(last, c, shape) for c in grid.cells},
                       device, attempts=grid.size + 1)

    candidates = []
    for c in grid.cells:
        hood = grid.neighbourhood(c)
        members = [publics[m].best_generator() for m in hood]
        weights = publics[c].mixture_weights
        entry = {"cell": c, "cells": hood, "weights": weights, "score": None, "details": {},
                 "origins": [list(m.origin) for m in members]}
        if scorer is not None:
            members_nets = [nets.loaded(config.network, shape, m.weights, "g", device) for m in members]
            z = members_nets[0].latent(config.score.final_sample_size, generator(seed, "final", "score-noise"))
            entry["score"] = scorer.score(mixture.sample(members_nets, weights, z))
            entry["details"] = scorer.details(members_nets, weights, generator(seed, "final", "details-noise"))
        candidates.append((entry, members))

    entry, members = min(candidates, key=lambda em: (em[0]["score"] is None, em[0]["score"] or 0, em[0]["cell"]))
    store.put_tensors(run.key("mixture", "generators.pt"), {
        "cells": entry["cells"], "weights": entry["weights"], "generators": [m.weights for m in members]})
    result = {
        "best_cell": entry["cell"],
        "score": entry["score"],
        "details": entry["details"],
        "weights": entry["weights"],
        "cells": [e for e, _ in candidates],
        "sample_size": config.score.final_sample_size,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.put_json(run.key("mixture", "mixture.json"), result)
    return result
