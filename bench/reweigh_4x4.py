"""Re-weigh the kept 4x4 mixtures: can other weights of the same generators balance the digits without
losing FID?

    python bench/reweigh_4x4.py

For each kept 4x4 run (bench/results/mnist-200/4x4-seed*): the shipped weights (the ES tuned them for
FID), uniform weights, the lowest-TVD weighting (bench/class_balance.py's linear program, fitted on one
draw) and half shipped, half lowest-TVD, each scored on a fresh draw of 10,000 samples. Not a test.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from class_balance import best_weighting_tvd  # noqa: E402
from lpz.algorithm import mixture  # noqa: E402
from lpz.engine.work import run_dataset  # noqa: E402
from lpz.runs import Run  # noqa: E402
from lpz.scoring import make_scorer  # noqa: E402
from lpz.scoring.classifier import class_frequencies, load_classifier, logits, real_statistics, weights_file  # noqa: E402
from lpz.seeding import generator  # noqa: E402
from lpz.store import LocalStore  # noqa: E402
from lpz.views.sampling import mixture_nets  # noqa: E402

SAMPLES = 10_000


def lowest_tvd_weights(run: Run, generators) -> np.ndarray:
    """The weighting whose class frequencies come closest to the real ones, fitted on a draw of its own."""
    dataset = run_dataset(run)
    net, info = load_classifier(weights_file(dataset.name))
    _, real = real_statistics(dataset, net, info["sha256"])
    frequencies = np.array([class_frequencies(logits(net, g(g.latent(SAMPLES, generator(7, "fit", i))).detach()))
                            for i, g in enumerate(generators)])
    _, weights = best_weighting_tvd(frequencies, real)
    weights = np.clip(weights, 0, None)  # the solver's -1e-12s
    return weights / weights.sum()


def main() -> None:
    torch.set_num_threads(2)
    for kept in sorted((ROOT / "bench" / "results" / "mnist-200").glob("4x4-seed*")):
        seed = kept.name.removeprefix("4x4-seed")
        run = Run.open(LocalStore(kept), f"mnist-4x4-seed{seed}-g200")
        generators, shipped = mixture_nets(run)
        lowest = lowest_tvd_weights(run, generators)
        scorer = make_scorer(run.config, run_dataset(run), sample_size=SAMPLES)
        z = generators[0].latent(SAMPLES, generator(99, "fresh", "noise"))
        for name, weights in [("shipped", list(shipped)), ("uniform", [1 / len(generators)] * len(generators)),
                              ("min-TVD LP", lowest.tolist()),
                              ("half shipped half LP", (0.5 * np.asarray(shipped) + 0.5 * lowest).tolist())]:
            features = scorer.features_of(mixture.sample(generators, weights, z))
            tvd = scorer.details(generators, weights, None, features=features)["tvd"]
            print(f"seed {seed} {name}: FID {scorer.distance(features):.1f} TVD {tvd:.3f}", flush=True)


if __name__ == "__main__":
    main()
