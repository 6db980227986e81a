"""What distribution costs: seconds per generation through `lpz run` (one process) and through
Celery (one worker, Redis, S3), on the same config, measured in one run of this script.

    infra/services.sh start && . .services/env
    python bench/cluster_overhead.py                      # MNIST 2x2, 50 batches per generation
    python bench/cluster_overhead.py --generations 6 --batches 50

Prints seconds per generation for both, their ratio (the distribution overhead), and per cell
task the seconds in store I/O (reading inputs, writing checkpoints) and in messaging (from one
task's commit to the start of the next on the same worker: dispatch, broker, the task's preamble).
Not a test.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def per_generation(run) -> dict:
    """Seconds per generation, I/O and messaging per task, from the committed metrics."""
    metrics = run.all_metrics()
    gens = sorted(metrics)
    starts = [m.started_at for m in metrics[gens[0]].values()]
    barrier = {g: max(m.committed_at for m in metrics[g].values()) for g in gens}
    io = [m.seconds["io"] for g in gens for m in metrics[g].values()]
    # One worker runs one task at a time: the gap between a task's commit and the next one's start is
    # what it costs to get the next task to it (dispatch, broker, the task's own preamble).
    tasks = sorted((m for g in gens for m in metrics[g].values()), key=lambda m: m.started_at)
    messaging = [b.started_at - a.committed_at for a, b in zip(tasks, tasks[1:])]
    compute = [m.compute_seconds for g in gens for m in metrics[g].values()]
    return {"seconds_per_generation": (barrier[gens[-1]] - min(starts)) / len(gens),
            "io_per_task": statistics.fmean(io), "messaging_per_task": statistics.fmean(messaging),
            "compute_per_task": statistics.fmean(compute)}


def embedded(config, workdir: Path) -> dict:
    from lpz.engine.local import run_local
    from lpz.runs import Run
    from lpz.store import LocalStore

    store = LocalStore(workdir / "embedded")
    run = Run.create(store, config)
    run_local(run, workers=1)
    return per_generation(run)


def celery_one_worker(config, workdir: Path) -> dict:
    from bench.celery_runs import train_on_celery
    return per_generation(train_on_celery(config, 1, workdir, warm_up=8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "mnist.yml")
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--batches", type=int, default=50)
    args = parser.parse_args()

    from lpz.config import load_config
    config = load_config(args.config, {"trainer.generations": args.generations,
                                       "dataloader.n_batches": args.batches})
    with tempfile.TemporaryDirectory() as tmp:
        local = embedded(config, Path(tmp))
        cluster = celery_one_worker(config, Path(tmp))
    print(f"{config.name}: {config.rows}x{config.cols} grid, {args.batches} batches per generation, "
          f"{args.generations} generations, CPU")
    print(f"{'':24}{'s/generation':>14}{'compute/task':>14}{'store I/O/task':>16}{'messaging/task':>16}")
    for name, r in (("lpz run, 1 process", local), ("Celery, 1 worker", cluster)):
        print(f"{name:24}{r['seconds_per_generation']:14.2f}{r['compute_per_task']:14.2f}"
              f"{r['io_per_task']:16.3f}{r['messaging_per_task']:16.3f}")
    ratio = cluster["seconds_per_generation"] / local["seconds_per_generation"]
    print(f"distribution overhead: {100 * (ratio - 1):+.1f}% (Celery / lpz run = {ratio:.3f})")


if __name__ == "__main__":
    main()
