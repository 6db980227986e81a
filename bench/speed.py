"""Speed: seconds per generation of `lpz run` against the bare floor of its gradient steps, in one run.

    python bench/speed.py                                # MNIST 2x2, 100 batches/generation, 2 workers
    python bench/speed.py --batches 600                  # one epoch per generation, the papers' setting
    python bench/speed.py --grids 1,2,3,4 --workers 1,2  # the scaling table
    python bench/speed.py --celery                       # also through Celery (needs infra/services.sh)

The floor is a minimal training loop written here without any lpz code: the same networks (the
config's four-layer perceptrons), the same losses, Adam with the same betas, the same batches and
discriminator skips, one thread, as many loops at once as lpz has workers, each training its share
of the cells. lpz and the floor alternate, --repeat times, and each repetition's ratio is taken from
the pair measured side by side (the machine is shared: read ratios and minima). Per generation means
from the end of one generation to the end of the next, so start-up and the final assembly are not in
it. lpz draws its pictures of the mixture on the schedule of the config's full run (every tenth of its
generations, not every generation of the few measured here), and its last generation, which always
draws one, is left out of the measurement. Not a test.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("fitness", "selection", "training", "replacement", "mixture", "io")


# ------------------------------------------------------------------ the floor: no lpz code

def _floor_loop(cells: int, generations: int, batches: int, batch_size: int, skip: int, latent: int,
                data_path: str, seed: int, queue) -> None:
    import numpy as np
    import torch
    from torch import nn
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = torch.from_numpy(np.load(data_path)).float().div_(127.5).sub_(1.0).reshape(-1, 784)
    nets = []
    for _ in range(cells):
        g = nn.Sequential(nn.Linear(latent, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                          nn.Linear(256, 784), nn.Tanh())
        d = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                          nn.Linear(256, 1))
        nets.append((g, d, torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),
                     torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))))
    ends = []
    for _ in range(generations):
        for g, d, g_opt, d_opt in nets:
            order = torch.randperm(len(data))
            for b in range(batches):
                real = data[order[b * batch_size:(b + 1) * batch_size]]
                g_opt.zero_grad(set_to_none=True)
                F.softplus(-d(g(torch.randn(batch_size, latent)))).mean().backward(inputs=list(g.parameters()))
                g_opt.step()
                if skip and b % (skip + 1) != 0:
                    continue
                with torch.no_grad():
                    fake = g(torch.randn(batch_size, latent))
                d_opt.zero_grad(set_to_none=True)
                (F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()).backward(inputs=list(d.parameters()))
                d_opt.step()
        ends.append(time.time())
    queue.put(ends)


def floor(config, cells: int, workers: int, generations: int, data_path: str) -> float:
    """Seconds per generation of the bare loops (all cells, `workers` loops at once)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    shares = [cells // workers + (1 if k < cells % workers else 0) for k in range(workers)]
    loader, params = config.dataloader, config.trainer.params
    processes = [context.Process(target=_floor_loop, args=(share, generations, loader.n_batches, loader.batch_size,
                                                           params.discriminator_skip_each_nth_step,
                                                           config.network.latent_size or 64, data_path, k, queue))
                 for k, share in enumerate(shares) if share]
    for process in processes:
        process.start()
    ends = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    barrier = [max(loop[g] for loop in ends) for g in range(generations)]  # each generation ends with its slowest loop
    return (barrier[-1] - barrier[0]) / (generations - 1)


# ------------------------------------------------------------------ lpz

def lpz_run(config, workers: int, folder: Path) -> tuple[float, dict[str, float]]:
    """Seconds per generation of `lpz run`, and the median seconds of each phase of a cell-generation."""
    from lpz.engine.local import run_local
    from lpz.runs import Run
    from lpz.store import LocalStore
    run = Run.create(LocalStore(folder), config)
    run_local(run, workers=workers)
    return _per_generation(run)


def celery_run(config, workers: int, folder: Path) -> tuple[float, dict[str, float]]:
    """The same through Celery workers (Redis and S3 from .services/env)."""
    from bench.celery_runs import train_on_celery
    return _per_generation(train_on_celery(config, workers, folder))


def pictures_every(config) -> int:
    """How often a run of the config draws a picture of its mixture (general.sample_every)."""
    every = config.general.sample_every
    return max(1, config.trainer.generations // 10) if every is None else every


def _per_generation(run) -> tuple[float, dict[str, float]]:
    """Seconds per generation and the median seconds of each phase, the last generation (which always
    draws a picture) left out."""
    metrics = run.all_metrics()
    metrics.pop(max(metrics))
    ends = [max(m.committed_at for m in metrics[g].values()) for g in sorted(metrics)]
    phases = {phase: statistics.median(m.seconds.get(phase, 0.0) for cells in metrics.values()
                                       for m in cells.values()) for phase in PHASES}
    return (ends[-1] - ends[0]) / (len(ends) - 1), phases


# ------------------------------------------------------------------ the table

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "mnist.yml")
    parser.add_argument("--batches", type=int, default=100, help="batches per generation")
    parser.add_argument("--generations", type=int, default=5, help="generations per measurement (>= 3)")
    parser.add_argument("--grids", default="2", help="grid sizes (rows = cols), comma-separated")
    parser.add_argument("--workers", default="2", help="worker counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--celery", action="store_true", help="also through Celery (infra/services.sh running)")
    args = parser.parse_args()
    if args.generations < 3:
        parser.error("--generations must be at least 3 (the first and last are not measured)")

    import numpy as np
    from lpz.config import load_config
    from lpz.data import load_dataset

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for grid in map(int, args.grids.split(",")):
            full_run = load_config(args.config)
            overrides = {"trainer.generations": args.generations, "dataloader.n_batches": args.batches,
                         "grid.rows": grid, "general.sample_every": pictures_every(full_run)}
            if grid == 1:  # a neighbourhood of one: tournaments of one
                overrides["trainer.params.tournament_size"] = 1
            config = load_config(args.config, overrides)
            data_path = f"{tmp}/data.npy"
            np.save(data_path, load_dataset(config.dataloader, config.general.seed).stored.numpy())
            for workers in map(int, args.workers.split(",")):
                for rep in range(args.repeat):
                    base = floor(config, grid * grid, workers, args.generations, data_path)
                    mine, phases = lpz_run(config, workers, Path(tmp) / f"lpz-{grid}-{workers}-{rep}")
                    row = {"grid": f"{grid}x{grid}", "workers": workers, "floor": base, "lpz run": mine, **phases}
                    if args.celery:
                        row["celery"], _ = celery_run(config, workers, Path(tmp))
                    rows.append(row)
                    print(_line(row), flush=True)
    print("\nbest of the repetitions:")
    for key in dict.fromkeys((r["grid"], r["workers"]) for r in rows):
        mine = [r for r in rows if (r["grid"], r["workers"]) == key]
        print(_line(min(mine, key=lambda r: r["lpz run"] / r["floor"])))


def _line(row: dict) -> str:
    ratio = row["lpz run"] / row["floor"]
    celery = f", Celery {row['celery']:.2f} s ({row['celery'] / row['floor']:.2f}x)" if "celery" in row else ""
    phases = " ".join(f"{phase} {row[phase]:.2f}" for phase in PHASES)
    return (f"{row['grid']} grid, {row['workers']} workers: floor {row['floor']:.2f} s/generation, lpz run "
            f"{row['lpz run']:.2f} s ({ratio:.2f}x){celery}; per cell-generation: {phases}")


if __name__ == "__main__":
    main()
