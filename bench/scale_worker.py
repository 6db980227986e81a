"""lpz's Celery app, counted: what bench/scale.py starts its workers with (`celery -A bench.scale_worker`).

Nothing here changes what lpz does; it only watches it (and, for the throughput measurement, lets each
cell wait a fixed time as if it computed):

- every request to the S3 store, by kind (GET, PUT, HEAD, LIST, DELETE) and the keys its listings
  return, counted in the store layer (lpz.store.s3.S3Store's methods, wrapped), apart for the
  supervisor's thread and for tasks;
- each task's wall time and the part of it spent in the cell's computation (lpz.algorithm.cell.step);
- LPZ_BENCH_CELL_SECONDS: a cell waits that long instead of computing, its networks carried over unchanged,
  as if a GPU computed it: the throughput measurement's stand-in for many GPUs on two cores.

Each process writes what it counted to LPZ_BENCH_COUNTS/<pid>.json after every task and every
supervisor tick; bench/scale.py adds them up.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

from dataclasses import replace

from celery import signals

import lpz.engine.cluster as cluster
import lpz.algorithm.cell as cell
from lpz.celery import app  # noqa: F401  (what `celery -A bench.scale_worker` runs)
from lpz.config.grid import Grid
from lpz.records import CellMetrics, IndividualSummary, Losses, MixtureRecord
from lpz.store import s3

COUNTS = Path(os.environ["LPZ_BENCH_COUNTS"])
CELL_SECONDS = float(os.environ.get("LPZ_BENCH_CELL_SECONDS", "0"))
counted: Counter = Counter()   # (who, kind) -> requests; (who, "keys listed") -> keys
tasks: list[list[float]] = []  # [wall seconds, compute seconds] of each task
_lock = threading.Lock()
_compute = threading.local()


def _who() -> str:
    return "supervisor" if threading.current_thread().name == "lpz supervisor" else "task"


def _count(kind: str, keys: int = 0) -> None:
    with _lock:
        counted[(_who(), kind)] += 1
        if keys:
            counted[(_who(), "keys listed")] += keys


def _wrap(name: str, kind: str) -> None:
    real = getattr(s3.S3Store, name)

    def counting(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        _count(kind, len(result) if kind == "LIST" else 0)
        return result
    setattr(s3.S3Store, name, counting)


for _name, _kind in (("get", "GET"), ("put", "PUT"), ("exists", "HEAD"), ("list", "LIST"), ("delete", "DELETE")):
    _wrap(_name, _kind)

_real_step = cell.step


def _timed_step(*args, **kwargs):
    start = time.perf_counter()
    try:
        return _waiting_step(*args, **kwargs) if CELL_SECONDS else _real_step(*args, **kwargs)
    finally:
        _compute.seconds = getattr(_compute, "seconds", 0.0) + time.perf_counter() - start


def _waiting_step(config, cell_index, generation, own, neighbours, dataset, scorer, device="cpu"):
    """A cell that waits CELL_SECONDS instead of computing and carries its networks over unchanged: what a
    worker then does is only lpz's coordination (the reads, the commit, the sends), so two cores can stand
    in for many GPUs."""
    time.sleep(CELL_SECONDS)
    hood = Grid.from_config(config).neighbourhood(cell_index)
    summary = lambda i: IndividualSummary(fitness=0.0, lr=i.lr, origin=i.origin, loss=i.loss or "bce")  # noqa: E731
    metrics = CellMetrics(cell=cell_index, generation=generation + 1, score=None,
                          mixture=MixtureRecord(cells=hood, weights=list(own.mixture_weights), accepted=False),
                          losses=Losses(generator=None, discriminator=None),
                          generators=[summary(i) for i in own.generators],
                          discriminators=[summary(i) for i in own.discriminators],
                          seconds={"waiting": CELL_SECONDS})
    return replace(own, generation=generation + 1), metrics, None


cell.step = _timed_step


def _write() -> None:
    with _lock:
        record = {"counted": [[who, kind, n] for (who, kind), n in counted.items()], "tasks": tasks}
        part = COUNTS / f".{os.getpid()}.json.part"
        part.write_text(json.dumps(record))
        part.replace(COUNTS / f"{os.getpid()}.json")


@signals.task_prerun.connect
def _task_started(**_):
    _compute.seconds, _compute.started = 0.0, time.perf_counter()


@signals.task_postrun.connect
def _task_ended(**_):
    with _lock:
        tasks.append([time.perf_counter() - _compute.started, _compute.seconds])
    _write()


_real_supervise_all = cluster.Cluster.supervise_all


def _supervise_all(self):
    try:
        return _real_supervise_all(self)
    finally:
        _write()


cluster.Cluster.supervise_all = _supervise_all
