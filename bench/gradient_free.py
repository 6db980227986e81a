"""The gradient-free trainers against gradient training, at the same wall-clock budget per run.

For each toy problem and each trainer, train the circular config of configs/gradient-free/ (a 1x1 grid:
one population, as the old system's gradient-free experiments) on one process, generation after generation,
and start a generation only while it is expected to end within the budget; then score the best generator
of the last complete generation: the Frechet distance of its samples to the data (lower is better), modes
covered and the share of high-quality samples (lpz.scoring.toy). gaussian8 runs the same configs with the
dataset swapped.

    python bench/gradient_free.py                      # circular and gaussian8, 40 s per run (about 6 minutes)
    python bench/gradient_free.py --budget 120 --problems circular --trainers nes,backpropagation

Prints a Markdown table and writes it to bench/results/gradient-free.txt; its first row per problem, "untrained",
scores the networks every trainer starts from (generation 0, the same seed and network in every config).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from lpz.algorithm import nets
from lpz.seeding import generator
from lpz.config import load_config
from lpz.engine.local import run_local
from lpz.engine.work import read_state, run_dataset
from lpz.runs import Run
from lpz.scoring import make_scorer
from lpz.store import LocalStore

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "gradient-free"
TRAINERS = {"backpropagation": "circular-backpropagation.yml", "ea-alternating": "circular-ea-alternating.yml",
            "ea-parallel": "circular-ea-parallel.yml", "nes": "circular-nes.yml"}
PROBLEMS = ("circular", "gaussian8")
OUT = ROOT / "bench" / "results" / "gradient-free.txt"


class BudgetSpent(Exception):
    pass


def train_for(config, budget: float, root: str) -> tuple[Run, float]:
    """Train a run in one process until the next generation would overrun the budget; return it and the
    seconds it trained."""
    run = Run.create(LocalStore(root), config, run_id="bench")
    start = time.perf_counter()

    def on_cell(generation: int, cell: int, metrics) -> None:
        elapsed = time.perf_counter() - start
        if elapsed * (generation + 1) / generation > budget:  # the next one would end past the budget
            raise BudgetSpent

    try:
        run_local(run, workers=1, on_cell=on_cell)
    except BudgetSpent:
        pass
    return run, time.perf_counter() - start


def score_of(run: Run) -> dict:
    """The score of the best generator of the run's one cell at its last complete generation."""
    config, generation = run.config, run.last_complete_generation()
    dataset = run_dataset(run)
    scorer = make_scorer(config, dataset, sample_size=config.score.final_sample_size)
    best = read_state(run, generation, 0, public=True).best_generator()
    net = nets.loaded(config.network, dataset.shape, best.weights, "g", "cpu")
    z = net.latent(config.score.final_sample_size, generator(config.general.seed, "bench", "score-noise"))
    with torch.no_grad():
        samples = net(z)
    return {"generations": generation, "score": scorer.score(samples),
            **scorer.extra(samples[:scorer.extra_samples])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=40, help="seconds of training per run")
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--trainers", default=",".join(TRAINERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    rows = []
    for problem in args.problems.split(","):
        for trainer in ["untrained", *args.trainers.split(",")]:
            config = load_config(CONFIGS / TRAINERS.get(trainer, TRAINERS["backpropagation"]), {
                "dataloader.dataset_name": problem, "general.seed": args.seed, "trainer.generations": 100_000})
            with tempfile.TemporaryDirectory() as root:
                if trainer == "untrained":  # where every trainer starts: the networks of generation 0
                    rows.append({"problem": problem, "trainer": trainer, "seconds": 0, "batches": 0,
                                 **score_of(Run.create(LocalStore(root), config, run_id="bench"))})
                    continue
                run, seconds = train_for(config, args.budget, root)
                result = score_of(run)
            loader = config.dataloader
            batches = result["generations"] * (loader.n_batches or loader.n_samples // loader.batch_size)
            rows.append({"problem": problem, "trainer": trainer, "seconds": seconds, "batches": batches, **result})
            print(f"{problem} {trainer}: {result['generations']} generations ({batches} batches) in {seconds:.0f} s, "
                  f"score {result['score']:.3f}, {result['modes_covered']}/{result['modes']} modes, "
                  f"{100 * result['high_quality']:.1f}% high-quality", flush=True)

    lines = [f"# python bench/gradient_free.py --budget {args.budget:g} --seed {args.seed} "
             f"(one process, 1 thread, on a 2-core CPU shared with other work; {date.today()})",
             "", "| problem | trainer | generations (batches) | seconds | score (Frechet, lower is better) "
                 "| modes covered | high-quality samples |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['problem']} | {r['trainer']} | {r['generations']} ({r['batches']}) | {r['seconds']:.0f} | "
                     f"{r['score']:.3f} | {r['modes_covered']} of {r['modes']} | {100 * r['high_quality']:.1f}% |")
    table = "\n".join(lines)
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
