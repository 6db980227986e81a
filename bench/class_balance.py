"""Class balance of finished runs' mixtures, generator by generator: is the TVD in the weights or in the generators?

    python bench/class_balance.py bench/results/mnist-200/*-seed*

For each finished run in each store: every generator of its final mixture draws --samples samples, which
lpz's classifier labels; printed per generator are its weight, its TVD against the real training set's
class frequencies and its most over- and under-represented classes; then the mixture's TVD with its own
weights, and the lowest TVD any weighting of the same generators could reach (a linear program over the
weights), and the generators grouped into kinds that make the same digits. When that lowest TVD is far
above 0, no mixture weighting, by FID or by anything else, can fix the class balance: the modes are
missing from every generator. Not a test.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linprog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpz.seeding import generator  # noqa: E402
from lpz.data import load_dataset  # noqa: E402
from lpz.runs import Run  # noqa: E402
from lpz.scoring.classifier import class_frequencies, load_classifier, logits, real_statistics, tvd, weights_file  # noqa: E402
from lpz.store import LocalStore  # noqa: E402
from lpz.views.sampling import mixture_nets  # noqa: E402


def best_weighting_tvd(frequencies: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """min over simplex weights w of 0.5 * |w @ frequencies - target|_1, as a linear program:
    variables w (k) and slacks s (classes), minimise sum(s)/2 with -s <= w @ F - target <= s."""
    k, classes = frequencies.shape
    cost = np.concatenate([np.zeros(k), np.full(classes, 0.5)])
    upper = np.block([[frequencies.T, -np.eye(classes)], [-frequencies.T, -np.eye(classes)]])
    bound = np.concatenate([target, -target])
    equal = np.concatenate([np.ones(k), np.zeros(classes)])[None]
    solved = linprog(cost, A_ub=upper, b_ub=bound, A_eq=equal, b_eq=[1.0], bounds=[(0, None)] * (k + classes))
    return float(solved.fun), solved.x[:k]


def steps(grid, a: int, b: int) -> int:
    """How many steps apart two cells are: along the ring for the ring topology (cells in row-major
    order), else on the torus, moving a row or a column at a time."""
    if grid.topology == "ring":
        return min(abs(a - b), grid.size - abs(a - b))
    (r1, c1), (r2, c2) = grid.position(a), grid.position(b)
    return min(abs(r1 - r2), grid.rows - abs(r1 - r2)) + min(abs(c1 - c2), grid.cols - abs(c1 - c2))


def between_generators(grid, cells: list[int], frequencies) -> str:
    """The mean TVD between two generators' class frequencies, over all pairs and by how many steps apart
    their cells are. Near 1 at odd steps and near 0 at even ones: the grid holds two kinds of generator,
    coloured like a chessboard."""
    by_steps: dict[int, list[float]] = {}
    for a, b in itertools.combinations(range(len(cells)), 2):
        by_steps.setdefault(steps(grid, cells[a], cells[b]), []).append(tvd(frequencies[a], frequencies[b]))
    every = [t for pairs in by_steps.values() for t in pairs]
    return (f"{np.mean(every):.3f} on average; by steps apart "
            + ", ".join(f"{k}: {np.mean(v):.3f}" for k, v in sorted(by_steps.items())))


def kinds(cells: list[int], frequencies, alike: float = 0.5) -> list[list[int]]:
    """The generators grouped into kinds: each joins the first kind whose first member's class
    frequencies are within TVD `alike` of its own, else starts a kind. Generators of one kind make the
    same digits; neighbours that push each other apart leave as many kinds as colouring the grid takes."""
    groups: list[list[int]] = []
    for i in range(len(cells)):
        home = next((g for g in groups if tvd(frequencies[g[0]], frequencies[i]) < alike), None)
        (home.append(i) if home is not None else groups.append([i]))
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    for store in args.stores:
        local = LocalStore(store)
        for key in local.list("runs/"):
            if not key.endswith("/run.json"):
                continue
            run = Run.open(local, key.split("/")[1])
            dataset = load_dataset(run.config.dataloader, run.config.general.seed)
            net, info = load_classifier(weights_file(dataset.name))
            _, real = real_statistics(dataset, net, info["sha256"])
            generators, weights = mixture_nets(run)
            cells = run.read_result().cells_mixed
            print(f"{store} ({run.id}): real class frequencies {np.round(100 * real, 1).tolist()} %")
            frequencies = []
            for i, (g, w) in enumerate(zip(generators, weights)):
                samples = g(g.latent(args.samples, generator(run.config.general.seed, "class-balance", i)))
                f = class_frequencies(logits(net, samples.detach()))
                frequencies.append(f)
                excess = f - real
                print(f"  generator of cell {cells[i]}: weight {w:.3f}, TVD {tvd(f, real):.3f}, "
                      f"most over {int(excess.argmax())} ({100 * excess.max():+.1f} points), "
                      f"most under {int(excess.argmin())} ({100 * excess.min():+.1f} points)")
            frequencies = np.array(frequencies)
            lowest, best = best_weighting_tvd(frequencies, real)
            if len(cells) > 1:
                print(f"  TVD between two generators: {between_generators(run.grid, cells, frequencies)}")
                for group in kinds(cells, frequencies):
                    mean = frequencies[group].mean(axis=0)
                    print(f"  kind of cells {[cells[i] for i in group]}: makes "
                          + ", ".join(f"{d} ({100 * mean[d]:.0f}%)" for d in np.argsort(-mean)[:5]))
            print(f"  mixture with its weights: TVD {tvd(np.asarray(weights) @ frequencies, real):.3f}; "
                  f"lowest any weighting reaches: {lowest:.3f} (weights {np.round(best, 3).tolist()}); "
                  f"classes under-represented in every generator: "
                  f"{[c for c in range(len(real)) if (frequencies[:, c] < real[c]).all()]}")


if __name__ == "__main__":
    main()
