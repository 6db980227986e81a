"""Celery tasks: thin wrappers that pass ids and call into lpz.

Each task reads what it needs from the store and writes its result there;
the messages carry only the store URL, the run id, the generation and the
cell. Re-running a task whose cell-generation is committed changes nothing.

A message is untrusted input (anyone who can write to the broker can send
one): a task for a store this worker does not serve, or with ids that are
not a run's, is refused (logged, acknowledged, never executed) and the
refusal is recorded in the broker, where `lpz status` shows it.
"""
from __future__ import annotations

import logging
import time

from lpz.engine import work
from lpz.celery import app, process_device
from lpz.engine.cluster import Cluster
from lpz.errors import StoreError, UserError
from lpz.engine.leases import Lease, assembly_lease, cell_lease, worker_name
from lpz.runs import Run
from lpz.store import open_served_store

log = logging.getLogger("lpz")
MAX_RETRIES = 3


def _backoff(retries: int) -> float:
    return min(60.0, 2.0 ** retries)


def _open(task, store, run_id) -> Run | None:
    """The run a message names, or None when the message is refused. A store that does not answer
    is retried like any other failure."""
    try:
        return Run.open(open_served_store(store), run_id)
    except StoreError as error:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=error, countdown=_backoff(task.request.retries))
        raise
    except UserError as refused:
        log.error("refused a task for run %r: %s", run_id if isinstance(run_id, str) else "?", refused)
        Cluster(app).refuse(run_id, store, str(refused))
        return None


@app.task(name="lpz.train_cell", bind=True, max_retries=MAX_RETRIES)
def train_cell(self, store: str, run_id: str, generation: int, cell: int) -> dict:
    """Compute generation+1 of one cell from generation, commit it, and send what is due next."""
    run = _open(self, store, run_id)
    if run is None:
        return {"refused": True}
    try:
        work.check_cell_generation(run, generation, cell)
    except UserError as refused:
        log.error("refused a task for run %s: %s", run.id, refused)
        Cluster(app).refuse(run.id, store, str(refused))
        return {"refused": True}
    if run.control():
        return {"skipped": run.control()["state"]}
    start = time.perf_counter()
    log.info("run %s generation %d cell %d: start on %s", run_id, generation + 1, cell, process_device["device"])
    try:
        with Lease(run, cell_lease(run, generation + 1, cell), task=self.request.id or ""):
            metrics = work.train_cell(run.store, run_id, generation, cell, process_device["device"])
        Cluster(app).advance(run, generation + 1)
    except Exception as error:
        if self.request.retries < self.max_retries:
            log.warning("run %s generation %d cell %d: %s; retrying", run_id, generation + 1, cell, error)
            raise self.retry(exc=error, countdown=_backoff(self.request.retries))
        log.error("run %s generation %d cell %d failed: %s", run_id, generation + 1, cell, error)
        Cluster(app).fail(run, error, generation + 1, cell, worker_name())
        raise RuntimeError(f"run {run_id} generation {generation + 1} cell {cell}: {error}") from error
    seconds = time.perf_counter() - start
    log.info("run %s generation %d cell %d: done in %.1f s, score %s", run_id, generation + 1, cell, seconds,
             metrics.get("score"))
    return {"run": run_id, "generation": generation + 1, "cell": cell, "score": metrics.get("score"),
            "seconds": seconds}


@app.task(name="lpz.engine.assemble", bind=True, max_retries=MAX_RETRIES)
def assemble(self, store: str, run_id: str) -> dict:
    """Score every cell's final mixture and keep the best as the run's result."""
    from lpz.engine.assemble import assemble as assemble_mixture

    run = _open(self, store, run_id)
    if run is None:
        return {"refused": True}
    try:
        with Lease(run, assembly_lease(run), task=self.request.id or ""):
            result = assemble_mixture(run.store, run_id, process_device["device"])
    except Exception as error:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=error, countdown=_backoff(self.request.retries))
        Cluster(app).fail(run, error, run.generations, -1, worker_name())
        raise RuntimeError(f"run {run_id} assembly: {error}") from error
    Cluster(app).finished(run)
    log.info("run %s: finished, mixture of cell %s scores %s", run_id, result["best_cell"], result["score"])
    return {"run": run_id, "best_cell": result["best_cell"], "score": result["score"]}
