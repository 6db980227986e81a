"""What averaging each cell's generator over its last generations does to a finished run's result.

    python bench/averaged.py STORE RUN_ID [--windows 1,2,5,10,20] [--emas 0.95,0.98]

For each window K, every cell's generator becomes the plain average of its weights at the last K
generations (its own lineage: runs without selection, population 1), and the run's final scoring is
repeated on those generators: every cell's neighbourhood mixture, with its final mixture weights, on
final_sample_size samples of the same noise as the run's assembly (K=1 of a run without averaging,
and K=final_average of one with, give back the run's own numbers), and the mixture of the whole grid
with weights tuned by the ES (the optimised ensemble of bench/quality_mnist.py, kept only where it
judges better than uniform, as the assembly does). The run must have kept every generation's public
state over the windows (general.keep_every=1).

--emas B,...: the same with each generator an exponential moving average over the generations instead,
e_g = B e_(g-1) + (1 - B) w_g from e_1 = w_1 (the weights at the end of each generation; a per-step EMA
inside training would average within generations too). B = 0.98 weighs the last 50 generations by 64%.

A test of the cause found for issue 22 (docs/grid-scaling.md): with a constant learning rate the
generators oscillate to the last generation, and a run's result is whatever point it lands on.
Averaging over generations is the offline form of a moving average of the weights kept in training.
Not a test.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpz.algorithm import mixture, nets  # noqa: E402
from lpz.engine.assemble import optimise_weights  # noqa: E402
from lpz.engine.work import read_state, repaired, run_dataset  # noqa: E402
from lpz.runs import Run  # noqa: E402
from lpz.scoring import make_scorer  # noqa: E402
from lpz.seeding import generator  # noqa: E402
from lpz.store import LocalStore  # noqa: E402


def public_states(run: Run, generation: int) -> dict:
    return repaired(run, lambda: {c: read_state(run, generation, c, public=True) for c in run.grid.cells},
                    attempts=run.grid.size + 1)


def averaged_states(run: Run, window: int, last: int) -> dict:
    """Every cell's public state at generation last, each generator the mean of its weights over the
    window's generations (summed in float64 in the order of lpz.algorithm.averaging)."""
    sums = None
    for g in range(last - window + 1, last + 1):  # one generation in memory at a time
        states = public_states(run, g)
        sums = {c: [{k: v.double() + (sums[c][i][k] if sums else 0) for k, v in ind.weights.items()}
                    for i, ind in enumerate(s.generators)] for c, s in states.items()}
    return {c: with_generators(s, [{k: v / window for k, v in total.items()} for total in sums[c]])
            for c, s in states.items()}


def with_generators(state, weights: list[dict]):
    """The state with its generators' weights replaced (float64 sums back to float32)."""
    return replace(state, generators=[replace(ind, weights={k: w[k].to(torch.float32) for k in ind.weights})
                                      for w, ind in zip(weights, state.generators)])


def ema_states(run: Run, betas: list[float], last: int) -> dict[float, dict]:
    """For each B, every cell's public state at generation last, each generator the exponential moving
    average of its weights over generations 1 to last (one pass, one generation in memory at a time)."""
    emas = {b: None for b in betas}
    for g in range(1, last + 1):
        states = public_states(run, g)
        for b in betas:
            emas[b] = {c: [{k: v.double() if emas[b] is None else b * emas[b][c][i][k] + (1 - b) * v.double()
                            for k, v in ind.weights.items()} for i, ind in enumerate(s.generators)]
                       for c, s in states.items()}
    return {b: {c: with_generators(s, emas[b][c]) for c, s in states.items()} for b in betas}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("run_id")
    parser.add_argument("--windows", default="1,2,5,10,20")
    parser.add_argument("--emas", default="", help="exponential moving averages over generations, e.g. 0.95,0.98")
    parser.add_argument("--generation", type=int, help="end the windows at this generation (default: the last)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    run = Run.open(LocalStore(args.store), args.run_id)
    config, grid = run.config, run.grid
    if config.trainer.params.population_size != 1 or config.trainer.params.enable_selection:
        raise SystemExit("averaging follows one lineage per cell: a run without selection, population 1")
    last = args.generation or run.generations
    dataset = run_dataset(run)
    n, seed = config.score.final_sample_size, config.general.seed
    scorer = make_scorer(config, dataset, "cpu", sample_size=n)

    def judge(members: list[torch.nn.Module], weights: list[float]) -> tuple[float, float]:
        z = members[0].latent(n, generator(seed, "final", "score-noise"))
        score = scorer.score(mixture.sample(members, weights, z))
        details = scorer.details(members, weights, generator(seed, "final", "details-noise"))
        return score, details.get("tvd", float("nan"))

    def ensemble(members: list[torch.nn.Module]) -> tuple[float, float]:
        uniform = [1 / len(members)] * len(members)
        tuned, _, _ = optimise_weights(members, uniform, scorer, config.trainer.params.optimize_mixture, seed)
        return min(judge(members, uniform), judge(members, tuned))

    print(f"{args.run_id}, generation {last}, {n} samples: best neighbourhood mixture (cell) | "
          f"optimised mixture of all {grid.size} cells | neighbourhood scores")

    def report(label: str, averaged: dict) -> None:
        members = {c: nets.loaded(config.network, dataset.shape, averaged[c].generators[0].weights, "g", "cpu")
                   for c in grid.cells}
        hoods = {c: judge([members[m] for m in grid.neighbourhood(c)], averaged[c].mixture_weights) for c in grid.cells}
        best = min(hoods, key=lambda c: hoods[c][0])
        whole = ensemble([members[c] for c in grid.cells])
        print(f"{label}: FID {hoods[best][0]:6.1f} TVD {hoods[best][1]:.3f} (cell {best}) | "
              f"FID {whole[0]:6.1f} TVD {whole[1]:.3f} | " + " ".join(f"{hoods[c][0]:.0f}" for c in grid.cells),
              flush=True)

    for window in (int(w) for w in args.windows.split(",") if w):
        report(f"K={window:3d}", averaged_states(run, window, last))
    betas = [float(b) for b in args.emas.split(",") if b]
    if betas:
        for beta, averaged in ema_states(run, betas, last).items():
            report(f"EMA {beta}", averaged)

if __name__ == "__main__":
    main()
