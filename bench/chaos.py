"""Chaos: cluster runs with their services killed at random moments, and whether they survive untouched.

    python bench/chaos.py --runs 20                 # 20 runs, 2 workers, faults at random
    python bench/chaos.py --runs 3 --faults worker  # only whole-worker kills

Each run gets a Redis, an S3 server (SeaweedFS) and Celery workers of its own on loopback, a small
config (2x2 grid on the 8-Gaussian ring, seed = the run's number), and one to three faults at random
points of its progress (after a random number of its cell-generations committed, never the last
ones, so that every run meets one whatever the machine's speed), each one of:
    worker        SIGKILL of a whole worker (main process and pool); a new worker starts 1-5 s later
    redis         SIGKILL of Redis, restarted 1-10 s later with its data (append-only file)
    redis-empty   SIGKILL of Redis, restarted 1-10 s later without its data (queue and flags lost)
    s3            SIGKILL of the S3 server, restarted 5-30 s later
Nothing else is done to a run: no `lpz resume`, no manual command. Per run it reports whether the
run finished (within --timeout), whether its final checkpoints and result are byte-identical to
`lpz run` of the same config, and for each fault the seconds to the next commit; for a worker kill
also the seconds until the cell the worker held committed (its recovery time). The lease period is
--lease seconds (LPZ_LEASE_SECONDS). Not a test: minutes per run.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.cluster_fixtures import Worker  # noqa: E402
from tests.helpers import lpz, tiny  # noqa: E402
from tests.services import OwnRedis, OwnS3  # noqa: E402

FAULTS = ("worker", "redis", "redis-empty", "s3")


@dataclass
class Fault:
    kind: str
    at: float                       # seconds since the epoch
    held: tuple[int, int] | None = None  # worker kills: the (generation, cell) whose lease the worker held
    to_next_commit: float | None = None
    to_held_commit: float | None = None


@dataclass
class Outcome:
    run: int
    seconds: float
    finished: bool
    identical: bool
    faults: list[Fault] = field(default_factory=list)


def config_for(seed: int, generations: int, batches: int) -> dict:
    return tiny(**{"trainer.generations": generations, "dataloader.n_batches": batches, "general.seed": seed,
                   "general.keep_generations": 0})


def reference(config: dict, folder: Path) -> dict[str, bytes]:
    from lpz.config import validate
    from lpz.engine.local import run_local
    from lpz.runs import Run
    from lpz.store import LocalStore
    run = Run.create(LocalStore(folder), validate(config), run_id="reference")
    run_local(run, workers=1)
    return final_bytes(run)


def final_bytes(run) -> dict[str, bytes]:
    names = [run.cell_key(run.generations, c, "state.pt") for c in run.grid.cells]
    return {name.split("/", 2)[2]: run.store.get(name) for name in names + [run.key("mixture", "generators.pt")]}


def commits(run) -> dict[tuple[int, int], float]:
    """(generation, cell) -> when it committed."""
    return {(g, c): m.committed_at for g, cells in run.all_metrics().items() for c, m in cells.items()}


def held_leases(run) -> dict[str, tuple[int, int]]:
    """worker name -> the (generation, cell) whose lease it holds now."""
    held = {}
    for key in run.store.list(run.key("gen") + "/"):
        found = run.cell_file(key)
        if found and found[2] == "lease.json":
            try:
                held[run.store.get_json(key)["worker"]] = (found[0], found[1])
            except Exception:
                continue
    return held


def one_run(number: int, args, workdir: Path) -> Outcome:
    rng = random.Random(number)
    folder = workdir / f"run-{number}"
    config = config_for(number, args.generations, args.batches)
    expected = reference(config, folder / "reference")
    (folder / "config.yml").write_text(yaml.safe_dump(config))

    s3 = OwnS3(folder / "s3").start()
    broker = OwnRedis(folder / "redis", persistent=True).start()
    store_url = f"s3://chaos-{number}"
    env = {**os.environ, **s3.env, "LPZ_BROKER_URL": broker.url, "LPZ_STORE": store_url,
           "LPZ_LEASE_SECONDS": str(args.lease), "PYTHONUNBUFFERED": "1"}
    os.environ.update(s3.env)
    workers = [Worker(f"w{number}-{i}", env, folder / f"w{i}.log") for i in range(args.workers)]
    for worker in workers:
        worker.wait_ready()

    from lpz.runs import Run
    from lpz.store import open_store
    start = time.time()
    run_id = lpz("submit", folder / "config.yml", env=env).stdout.strip()
    run = Run.open(open_store(store_url), run_id)
    kinds = args.faults.split(",") if args.faults else list(FAULTS)
    # Faults fall at chosen points of the run's own progress (after so many cell-generations have
    # committed, never the last ones), so every run meets at least one, on a fast machine or a slow one.
    total = run.grid.size * run.generations
    plan = sorted(rng.sample(range(1, total - 1), rng.randint(1, 3)))
    faults: list[Fault] = []
    try:
        for after in plan:
            while not _done(run) and _safe(lambda: sum(map(len, run.committed_cells().values())), 0) < after:
                time.sleep(0.1)
            if _done(run):
                break
            faults.append(_inject(rng.choice(kinds), rng, run, workers, broker, s3, env, folder))
        deadline = start + args.timeout
        while time.time() < deadline and not _done(run):
            time.sleep(0.5)
        finished = _done(run) and not run.control()
        seconds = time.time() - start
        identical = finished and final_bytes(run) == expected
        committed = commits(run)
        for fault in faults:
            after = [t for t in committed.values() if t > fault.at]
            fault.to_next_commit = min(after) - fault.at if after else None
            if fault.held and fault.held in committed and committed[fault.held] > fault.at:
                fault.to_held_commit = committed[fault.held] - fault.at
        return Outcome(number, seconds, finished, identical, faults)
    finally:
        for worker in workers:
            worker.stop()
        broker.kill()
        s3.kill()


def _done(run) -> bool:
    try:
        return run.finished() or bool(run.control())
    except Exception:  # the store is down right now
        return False


def _inject(kind: str, rng: random.Random, run, workers: list, broker, s3, env: dict, folder: Path) -> Fault:
    fault = Fault(kind, time.time())
    if kind == "worker":
        held = _safe(lambda: held_leases(run), {})
        busy = [w for w in workers if w.name in held]
        victim = rng.choice(busy or workers)
        fault.held = held.get(victim.name)
        fault.at = time.time()
        victim.kill()
        workers.remove(victim)
        time.sleep(rng.uniform(1, 5))
        replacement = Worker(f"{victim.name}-again", env, folder / f"{victim.name}-again.log")
        replacement.wait_ready()
        workers.append(replacement)
    elif kind in ("redis", "redis-empty"):
        broker.kill(lose_data=kind == "redis-empty")
        time.sleep(rng.uniform(1, 10))
        broker.start()
    else:
        s3.kill()
        time.sleep(rng.uniform(5, 30))
        s3.start()
    return fault


def _safe(read, default):
    try:
        return read()
    except Exception:
        return default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--first", type=int, default=1, help="number (and seed) of the first run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--batches", type=int, default=120, help="batches per generation (a cell: ~1 s here)")
    parser.add_argument("--lease", type=float, default=2.0, help="LPZ_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take to finish")
    parser.add_argument("--faults", default="", help=f"comma-separated kinds (default all: {','.join(FAULTS)})")
    parser.add_argument("--csv", type=Path, default=None, help="also write one row per fault here")
    args = parser.parse_args()

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="lpz-chaos-") as tmp:
        for number in range(args.first, args.first + args.runs):
            outcome = one_run(number, args, Path(tmp))
            outcomes.append(outcome)
            shown = ", ".join(f"{f.kind} -> next commit {_s(f.to_next_commit)}"
                              + (f", its cell {_s(f.to_held_commit)}" if f.kind == "worker" else "")
                              for f in outcome.faults)
            print(f"run {number:2}: {'finished' if outcome.finished else 'NOT FINISHED'}, "
                  f"{'identical' if outcome.identical else 'DIFFERENT'}, {outcome.seconds:.0f} s; {shown}",
                  flush=True)
    report(outcomes, args)


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def report(outcomes: list[Outcome], args) -> None:
    faults = [f for o in outcomes for f in o.faults]
    tested = [o for o in outcomes if o.faults]  # a run that met no fault proves nothing: counted apart
    print(f"\n{sum(o.finished for o in tested)}/{len(tested)} runs with faults finished without a manual command, "
          f"{sum(o.identical for o in tested)}/{len(tested)} byte-identical to `lpz run`; "
          f"{len(outcomes) - len(tested)} run(s) met no fault; "
          f"lease period {args.lease:g} s, {args.workers} workers, {len(faults)} faults")
    print(f"{'fault':12}{'count':>7}{'next commit, median':>22}{'max':>8}{'its cell, median':>19}{'max':>8}")
    for kind in FAULTS:
        mine = [f for f in faults if f.kind == kind]
        if not mine:
            continue
        nxt = [f.to_next_commit for f in mine if f.to_next_commit is not None]
        held = [f.to_held_commit for f in mine if f.to_held_commit is not None]
        print(f"{kind:12}{len(mine):7}{_s(statistics.median(nxt) if nxt else None):>22}{_s(max(nxt, default=None)):>8}"
              f"{_s(statistics.median(held) if held else None):>19}{_s(max(held, default=None)):>8}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["run", "finished", "identical", "run_seconds", "fault", "to_next_commit",
                             "to_its_cell_commit"])
            for o in outcomes:
                for fault in o.faults or [Fault("none", 0)]:
                    writer.writerow([o.run, o.finished, o.identical, f"{o.seconds:.1f}", fault.kind,
                                     fault.to_next_commit, fault.to_held_commit])


if __name__ == "__main__":
    main()
