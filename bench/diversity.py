"""How alike a grid's generators become over a run: weights and class balance at every kept generation.

    python bench/diversity.py bench/out/runs mnist-3x3-seed1-g200

Reads the public states a run keeps every general.keep_every generations (bench/quality_mnist.py keeps
every 10th; a run still training is read as far as it got) and prints, per kept generation, over the
first generator of every cell:

- weights: the mean distance between two cells' generators (L2 over all parameters), as a fraction of
  that distance at generation 0, where every cell's networks are independent draws. Near 1: independent
  lineages; near 0: copies of one lineage that selection has spread over the grid.
- class balance (image datasets with a classifier): each generator's TVD against the real class
  frequencies (mean), the mean TVD between two generators' class frequencies, over all pairs and by
  how many steps apart their cells are, and the lowest TVD any weighting of all the grid's generators
  could reach (bench/class_balance.py's linear program).

Generators an odd number of steps apart that make disjoint digits (TVD near 1) while those an even
number apart make the same ones (near 0) are a grid of two kinds of generator, coloured like a
chessboard: what a von Neumann neighbourhood on a torus of even sides (2x2, 4x4) settles into
(docs/grid-scaling.md, "Two kinds of generator").

Not a test.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from class_balance import best_weighting_tvd, between_generators  # noqa: E402  (bench/ is on the path when run as a script)
from lpz.algorithm import nets  # noqa: E402
from lpz.seeding import generator  # noqa: E402
from lpz.data import load_dataset  # noqa: E402
from lpz.engine.work import read_state  # noqa: E402
from lpz.runs import Run  # noqa: E402
from lpz.scoring.classifier import DATASETS, class_frequencies, load_classifier, logits, real_statistics, tvd, weights_file  # noqa: E402
from lpz.store import LocalStore  # noqa: E402


def flat(weights: dict) -> torch.Tensor:
    return torch.cat([t.flatten().double() for t in weights.values()])


def mean_distance(vectors: list[torch.Tensor]) -> float:
    return float(np.mean([float((a - b).norm()) for a, b in itertools.combinations(vectors, 2)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("run_id")
    parser.add_argument("--samples", type=int, default=5000, help="samples per generator for class frequencies")
    args = parser.parse_args()
    torch.set_num_threads(1)

    run = Run.open(LocalStore(args.store), args.run_id)
    cells = list(run.grid.cells)
    every = run.config.general.keep_every
    if not every:
        raise SystemExit(f"run {run.id} keeps no generations (general.keep_every is 0)")
    dataset = load_dataset(run.config.dataloader, run.config.general.seed)
    classifier = None
    if dataset.name in DATASETS:
        classifier, info = load_classifier(weights_file(dataset.name))
        _, real = real_statistics(dataset, classifier, info["sha256"])

    start = mean_distance([flat(read_state(run, 0, c, public=True).generators[0].weights) for c in cells])
    print(f"{run.id}: {len(cells)} cells; generation 0: mean distance between two cells' generators {start:.1f}")
    print("generation | weights: distance / generation 0 | TVD to real (mean) | TVD between generators | "
          "lowest TVD of any weighting")
    generation = every
    while generation <= run.last_complete_generation():
        states = [read_state(run, generation, c, public=True) for c in cells]
        weights = [s.generators[0].weights for s in states]
        line = f"{generation:10d} | {mean_distance([flat(w) for w in weights]) / start:32.3f}"
        if classifier is not None:
            frequencies = []
            for c, w in zip(cells, weights):
                g = nets.loaded(run.config.network, run.sample_shape, w, "g")
                z = g.latent(args.samples, generator(run.config.general.seed, "diversity", generation, c))
                frequencies.append(class_frequencies(logits(classifier, g(z).detach())))
            lowest, _ = best_weighting_tvd(np.array(frequencies), real)
            line += (f" | {np.mean([tvd(f, real) for f in frequencies]):18.3f} | "
                     f"{between_generators(run.grid, cells, frequencies)} | {lowest:.3f}")
        print(line, flush=True)
        generation += every


if __name__ == "__main__":
    main()
