"""The arithmetic of one cell-generation: how low can lpz / floor go without changing the algorithm?

    python bench/speed_flops.py                  # configs/mnist.yml, 2x2, 100 batches per generation
    python bench/speed_flops.py --batches 600    # one epoch per generation

Counts the floating-point operations of each phase of one cell-generation (torch's FlopCounterMode
around `lpz.algorithm.cell.step`, generation 0 of cell 0 of the grid; the counts do not depend on the
weights), times the same step without counting, and times this machine's best one-thread matrix
product of the evaluation's own shape (1,000 samples through a 784 x 256 layer). The bare floor of
bench/speed.py does the training phase's work and nothing else, so no implementation of the same
algorithm can beat

    lpz / floor >= (training seconds + evaluation FLOPs / best matrix-product rate) / training seconds

(evaluation: fitness, replacement and mixture; reading checkpoints comes on top). Not a test.
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpz.algorithm import cell as cell_module  # noqa: E402
from lpz.algorithm.cell import Timer, initial_state, step  # noqa: E402
from lpz.config.grid import Grid  # noqa: E402
from lpz.config import load_config  # noqa: E402
from lpz.data import load_dataset  # noqa: E402
from lpz.scoring import make_scorer  # noqa: E402

EVALUATION = ("fitness", "replacement", "mixture")


class CountingTimer(Timer):
    """A Timer that also counts each phase's floating-point operations."""

    flops: dict[str, int] = {}

    @contextmanager
    def phase(self, name: str):
        counter = FlopCounterMode(display=False)
        with counter, super().phase(name):
            yield
        CountingTimer.flops[name] = CountingTimer.flops.get(name, 0) + counter.get_total_flops()


def one_step(config, dataset, scorer) -> dict[str, float]:
    hood = Grid.from_config(config).neighbourhood(0)
    own = initial_state(config, 0, dataset.shape)
    neighbours = {c: initial_state(config, c, dataset.shape) for c in hood[1:]}
    _, metrics, _ = step(config, 0, 0, own, neighbours, dataset, scorer)
    return metrics.seconds


def best_matmul_rate(repeat: int = 50) -> float:
    """FLOP/s of the fastest of `repeat` [1000 x 784] @ [784 x 256] products on this thread."""
    a, b = torch.randn(1000, 784), torch.randn(784, 256)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 1000 * 784 * 256 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "mnist.yml")
    parser.add_argument("--batches", type=int, default=100, help="batches per generation")
    parser.add_argument("--grid", type=int, default=2, help="rows = cols")
    parser.add_argument("--repeat", type=int, default=3, help="timed steps (the fastest counts)")
    args = parser.parse_args()

    config = load_config(args.config, {"dataloader.n_batches": args.batches, "grid.rows": args.grid})
    torch.set_num_threads(1)
    dataset = load_dataset(config.dataloader, config.general.seed)
    scorer = make_scorer(config, dataset, "cpu")

    cell_module.Timer = CountingTimer
    try:
        one_step(config, dataset, scorer)
    finally:
        cell_module.Timer = Timer
    flops = CountingTimer.flops
    timed = [one_step(config, dataset, scorer) for _ in range(args.repeat)]
    seconds = {phase: min(t.get(phase, 0.0) for t in timed) for phase in flops}
    rate = best_matmul_rate()

    print(f"{args.grid}x{args.grid} grid, {args.batches} batches per generation, one thread; "
          f"best matrix product here: {rate / 1e9:.1f} GFLOP/s")
    for phase in flops:
        achieved = flops[phase] / seconds[phase] / 1e9 if seconds[phase] else 0.0
        print(f"  {phase:12s} {flops[phase] / 1e9:7.2f} GFLOP  {seconds[phase]:6.3f} s  ({achieved:5.1f} GFLOP/s)")
    train_seconds = seconds["training"]
    evaluation = sum(flops[p] for p in EVALUATION)
    measured = sum(seconds[p] for p in seconds) / train_seconds
    bound = (train_seconds + evaluation / rate) / train_seconds
    print(f"evaluation {evaluation / 1e9:.2f} GFLOP against training's {flops['training'] / 1e9:.2f} GFLOP")
    print(f"lpz / floor, this step measured: {measured:.2f}x (without reading checkpoints)")
    print(f"lpz / floor, lowest possible with this evaluation: {bound:.2f}x "
          f"(training as the floor, evaluation at the best matrix-product rate)")


if __name__ == "__main__":
    main()
