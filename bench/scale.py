"""How lpz's coordination grows with the grid and the workers (issue 24; docs/scale.md).

Real Redis, real SeaweedFS S3 and real Celery workers on loopback, all started here on free ports;
cells whose computation is negligible (bench/scale-cell.yml: the smallest mlp2d networks, one batch,
no scoring), so that what is measured is coordination. For each grid and worker count it trains one run
and prints, per cell-generation: S3 requests by kind and the keys listings returned (counted in the
store layer of every worker process: bench/scale_worker.py), Redis commands (`INFO commandstats`
deltas on our own Redis: everything Celery, kombu and lpz send), the supervisor's share of the S3
requests, the coordination time of a task (its wall time less its cell's computation) and the latency
from the last commit a cell waits for to its start (p50 / p99), and cell-generations per second.

    python bench/scale.py                     # the table: grids 4..32, workers 2, 8, 32 (about an hour here)
    python bench/scale.py --quick             # 4x4 grid, 2 workers: a check that it runs (CI)
    python bench/scale.py --throughput        # 16x16, cells that wait 0.5 s: 2 against 32 workers

"Workers" are Celery pool processes: W workers are min(W, 4) worker instances (each with its own
supervisor) of W / instances prefork processes, so that 32 of them share one copy of torch's memory.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpz.config import validate  # noqa: E402
from tests.services import OwnRedis, OwnS3  # noqa: E402

CELL = ROOT / "bench" / "scale-cell.yml"
KINDS = ("GET", "PUT", "HEAD", "LIST", "DELETE")


def start_workers(count: int, env: dict, folder: Path) -> list[subprocess.Popen]:
    instances = min(count, 4)
    workers = []
    for i in range(instances):
        log = folder / f"worker{i}.log"
        command = [sys.executable, "-m", "celery", "-A", "bench.scale_worker", "worker", "-Q", "gpu",
                   "-c", str(count // instances), "-n", f"scale{i}@%h", "--loglevel=WARNING",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        workers.append(subprocess.Popen(command, env={**env, "LPZ_WORKER_NAME": f"scale{i}"}, cwd=ROOT,
                                        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
    return workers


def wait_ready(client: redis.Redis, expected: int, timeout: float = 300) -> None:
    """Until every pool process has asked the broker for work once (each holds a BRPOP)."""
    deadline = time.time() + timeout
    while sum(1 for c in client.client_list() if c.get("cmd") in ("brpop", "blpop")) < 1:
        if time.time() > deadline:
            raise SystemExit("the workers did not connect to the broker")
        time.sleep(0.5)
    time.sleep(3 + expected / 8)  # the rest of the pool


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        try:
            os.killpg(worker.pid, 15)
        except ProcessLookupError:
            pass
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)


def cluster_cpu_seconds() -> float:
    """CPU seconds spent so far by this bench and every process under it, alive now (the workers and
    their pool processes, Redis, the S3 server), from /proc: other work on the machine is not counted."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = int(fields[11]) + int(fields[12])  # utime, stime
    ours, found = {os.getpid()}, True
    while found:
        found = {pid for pid, parent in parents.items() if parent in ours and pid not in ours}
        ours |= found
    return sum(times.get(pid, 0) for pid in ours) / os.sysconf("SC_CLK_TCK")


def commandstats(client: redis.Redis) -> Counter:
    return Counter({name: stats["calls"] for name, stats in client.info("commandstats").items()})


def counted(folder: Path) -> tuple[Counter, list[list[float]]]:
    total, tasks = Counter(), []
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        for who, kind, n in record["counted"]:
            total[(who, kind)] += n
        tasks += record["tasks"]
    return total, tasks


def _after(tasks: list[list[float]], before: list[list[float]]) -> list[list[float]]:
    """The tasks recorded since `before` (each process's list only grows: remove what was there)."""
    remaining = Counter(map(tuple, before))
    later = []
    for task in map(tuple, tasks):
        if remaining[task]:
            remaining[task] -= 1
        else:
            later.append(list(task))
    return later


def latencies(run) -> list[float]:
    """For each cell-generation after the first: its start less the last commit of its neighbourhood's
    generation before (what it waited for)."""
    metrics = run.all_metrics()
    waits = []
    for g in range(2, run.generations + 1):
        for cell, m in metrics.get(g, {}).items():
            before = [metrics[g - 1][c].committed_at for c in run.grid.neighbourhood(cell) if c in metrics.get(g - 1, {})]
            if before and m.started_at:
                waits.append(m.started_at - max(before))
    return waits


def measure(rows: int, workers: int, generations: int, cell_seconds: float, services: dict, folder: Path) -> dict:
    from lpz.celery import app
    from lpz.engine.cluster import Cluster
    from lpz.runs import Run
    from lpz.store import open_store

    counts = folder / f"counts-{rows}-{workers}"
    counts.mkdir()
    env = {**os.environ, **services, "LPZ_BENCH_COUNTS": str(counts), "LPZ_BENCH_CELL_SECONDS": str(cell_seconds),
           "PYTHONPATH": str(ROOT)}
    client = redis.Redis.from_url(services["LPZ_BROKER_URL"])
    client.flushall()
    pool = start_workers(workers, env, folder)
    store = open_store(services["LPZ_STORE"])
    app.conf.broker_url = services["LPZ_BROKER_URL"]

    def train(run_id: str, rows: int, generations: int):
        cell = yaml.safe_load(CELL.read_text())
        config = validate({**cell, "grid": {"rows": rows}, "trainer": {**cell["trainer"], "generations": generations}})
        run = Run.create(store, config, run_id=run_id, executor="cluster")
        Cluster(app, client).submit(run)
        while not run.finished():
            if run.control():
                raise SystemExit(f"run {run.id} failed: {run.control()}")
            time.sleep(0.2)
        time.sleep(1)  # the last task's counts reach their file
        return run

    try:
        wait_ready(client, workers)
        # Every pool process's first task sets itself up (imports, the dataset, the networks' shapes):
        # a run of one generation on enough cells for each of them comes first, and is not counted.
        train(f"warm-up-{rows}-{workers}", max(4, math.ceil(math.sqrt(2 * workers))), 1)
        warm_requests, warm_tasks = counted(counts)
        before, cpu_before = commandstats(client), cluster_cpu_seconds()
        start = time.perf_counter()
        run = train(f"scale-{rows}-{workers}", rows, generations)
        seconds = time.perf_counter() - start - 1
        redis_calls, cpu = commandstats(client) - before, cluster_cpu_seconds() - cpu_before
    finally:
        stop(pool)
    requests, tasks = counted(counts)
    requests, tasks = requests - warm_requests, _after(tasks, warm_tasks)
    n = rows * rows * generations
    coordination = [wall - compute for wall, compute in tasks]
    waits = sorted(latencies(run))
    per = lambda value: value / n  # noqa: E731
    return {
        "grid": f"{rows}x{rows}", "workers": workers, "cell_generations": n,
        "per_second": n / seconds,
        "cpu_ms": 1000 * cpu / n, "cores_busy": cpu / (seconds + 1),
        **{kind: per(requests[("task", kind)] + requests[("supervisor", kind)]) for kind in KINDS},
        "keys_listed": per(requests[("task", "keys listed")] + requests[("supervisor", "keys listed")]),
        "supervisor_s3": per(sum(requests[("supervisor", kind)] for kind in KINDS)),
        "redis": per(sum(redis_calls.values())),
        "coordination_ms": 1000 * statistics.median(coordination) if coordination else float("nan"),
        "wait_p50_ms": 1000 * waits[len(waits) // 2] if waits else float("nan"),
        "wait_p99_ms": 1000 * waits[int(len(waits) * 0.99)] if waits else float("nan"),
    }


COLUMNS = [("grid", "{}"), ("workers", "{}"), ("per_second", "{:.1f}"), ("cpu_ms", "{:.0f}"), ("cores_busy", "{:.2f}"),
           ("GET", "{:.1f}"), ("PUT", "{:.1f}"),
           ("HEAD", "{:.1f}"), ("LIST", "{:.2f}"), ("DELETE", "{:.1f}"), ("keys_listed", "{:.1f}"),
           ("supervisor_s3", "{:.2f}"), ("redis", "{:.1f}"), ("coordination_ms", "{:.0f}"),
           ("wait_p50_ms", "{:.0f}"), ("wait_p99_ms", "{:.0f}")]


def table(rows: list[dict]) -> str:
    head = "| " + " | ".join(name.replace("_", " ") for name, _ in COLUMNS) + " |"
    line = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(form.format(row[name]) for name, form in COLUMNS) + " |" for row in rows]
    return "\n".join([head, line, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4x4 grid, 2 workers, 2 generations")
    parser.add_argument("--throughput", action="store_true", help="16x16 grid, cells of 0.5 s, 2 and 32 workers")
    parser.add_argument("--grids", default="4,8,16,32", help="sides of the square grids")
    parser.add_argument("--workers", default="2,8,32")
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.quick:
        plan, generations, cell_seconds = [(4, 2)], 2, 0.0
    elif args.throughput:
        plan, generations, cell_seconds = [(16, 2), (16, 32)], args.generations, 0.5
    else:
        plan = [(int(g), int(w)) for g in args.grids.split(",") for w in args.workers.split(",")]
        generations, cell_seconds = args.generations, 0.0

    with tempfile.TemporaryDirectory(prefix="lpz-scale-") as scratch:
        folder = Path(scratch)
        broker, s3 = OwnRedis(folder / "redis").start(), OwnS3(folder / "s3").start()
        services = {**s3.env, "LPZ_BROKER_URL": broker.url, "LPZ_STORE": "s3://scale", "LPZ_LEASE_SECONDS": "2"}
        os.environ.update(services)
        try:
            results = []
            for rows, workers in plan:
                result = measure(rows, workers, generations, cell_seconds, services, folder)
                results.append(result)
                print(f"{result['grid']} grid, {workers} workers: {result['per_second']:.1f} cell-generations/s",
                      file=sys.stderr, flush=True)
        finally:
            broker.kill()
            s3.kill()
    print(table(results))
    if args.throughput and len(results) == 2:
        print(f"\nthroughput, 32 workers against 2: {results[1]['per_second'] / results[0]['per_second']:.1f}x "
              f"(ideal 16x)")
        cores, cpu = os.cpu_count(), results[1]["cpu_ms"] / 1000
        print(f"this machine's {cores} cores, at {1000 * cpu:.0f} ms of CPU (workers, Redis, S3 server and this "
              f"bench) per cell-generation, serve at most {cores / cpu:.1f} cell-generations/s: "
              f"{cores / cpu / results[0]['per_second']:.1f}x the 2 workers' rate")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
