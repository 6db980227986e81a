"""Celery tasks: thin wrappers that pass ids and call the engine (lpz.engine.engine).

Each task reads what it needs from the store and writes its result there; the messages carry only
the store URL, the run id, the generation and the cell. Running a task twice changes nothing.

Errors, three kinds (lpz/engine/cluster.py tells the whole recovery story):
- passing (the store or the broker down): tried again with waits of 1, 2, 4 ... 60 s, for
  LPZ_RETRY_SECONDS; if the outage outlasts that, the supervisor sends the work again later;
- a user error (bad data, a missing dataset): the run fails at once, with the reason;
- anything else: tried again a few times, then the run fails.
A message is untrusted input: one naming a store this worker does not serve, ids that are not the
run's, keyword arguments other than the task's, or work whose inputs are not committed (a cell whose
neighbourhood has not committed its generation, an assembly before the last generation) is refused
(logged, acknowledged, never executed), and the refusal is recorded in the broker. A run is failed
only by its own errors, never by a message; work a worker cannot hold (a config needing more memory
than it has) is refused too, for another worker to take.
"""
from __future__ import annotations

import logging
import time

from lpz.celery import app, process_device, worker_concurrency
from lpz.engine import engine
from lpz.engine.broker import RETRY_CAP_S, passing_errors, retries_within, retry_seconds
from lpz.engine.cluster import Cluster
from lpz.engine.leases import worker_name
from lpz.engine.work import check_cell_generation
from lpz.errors import UserError, excerpt
from lpz.config.models import beyond_this_machine
from lpz.runs import DamagedCheckpoint, Run
from lpz.store import open_served_store

log = logging.getLogger("lpz")
PASSING = passing_errors()
FAILURE_RETRIES = 2  # tries again of a task that failed for no passing reason, before the run fails
RETRY = dict(autoretry_for=PASSING, retry_backoff=1, retry_backoff_max=RETRY_CAP_S, retry_jitter=False,
             max_retries=retries_within(retry_seconds()))


def _open(args: tuple, kwargs: dict, names: tuple[str, ...]) -> Run | None:
    """The run a message names, or None when the message is refused: its arguments must be exactly the
    task's, as keywords, and name a run of a store this worker serves and a cell-generation of it."""
    store, run_id = kwargs.get("store"), kwargs.get("run_id")
    try:
        if args or set(kwargs) != set(names):
            raise UserError(_misshapen(args, kwargs, names))
        run = Run.open(open_served_store(store), run_id)
        check_cell_generation(run, kwargs.get("generation", 0), kwargs.get("cell", 0))
        return run
    except PASSING:
        raise
    except UserError as refused:
        _refuse(run_id, store, str(refused))
        return None


def _misshapen(args: tuple, kwargs: dict, names: tuple[str, ...]) -> str:
    if args:
        return f"the message has {len(args)} positional argument(s); lpz sends keyword arguments only"
    missing, unexpected = [n for n in names if n not in kwargs], [k for k in kwargs if k not in names]
    return "; ".join(([f"missing argument(s) {', '.join(missing)}"] if missing else [])
                     + ([f"unexpected argument(s) {excerpt(unexpected, 100)}"] if unexpected else []))


def _refuse(run_id, store, reason: str) -> None:
    log.error("refused a task for run %s: %s", excerpt(run_id, 100), reason)
    Cluster(app).refuse(run_id, store, reason)


def _failed(task, run: Run, error: Exception, generation: int, cell: int, what: str):
    """Try again, or (a user error, or tries used up) mark the run failed; raise either way."""
    if not isinstance(error, UserError) and task.request.retries < FAILURE_RETRIES:
        log.warning("run %s %s: %s; trying again", run.id, what, error)
        raise task.retry(exc=error, countdown=2.0 ** task.request.retries)
    log.error("run %s %s failed: %s", run.id, what, error)
    engine.fail(run, error, generation, cell, worker_name())
    raise RuntimeError(f"run {run.id} {what}: {error}") from error


@app.task(name="lpz.train_cell", bind=True, **RETRY)
def train_cell(self, *args, **kwargs) -> dict:
    """Compute generation+1 of one cell from generation, commit it, and send what is due next
    (keyword arguments store, run_id, generation, cell)."""
    run = _open(args, kwargs, ("store", "run_id", "generation", "cell"))
    if run is None:
        return {"refused": True}
    if control := run.control():
        return {"skipped": control.state}
    generation, cell = kwargs["generation"], kwargs["cell"]
    what = f"generation {generation + 1} cell {cell}"
    if why := engine.unready(run, generation, cell):
        _refuse(run.id, kwargs["store"], f"a task for {what} came before its inputs: {why}; it is sent when they are")
        Cluster(app).not_sent(run, generation, cell)
        return {"refused": True}
    if why := beyond_this_machine(run.config, app.conf.worker_concurrency or worker_concurrency()):
        _refuse(run.id, kwargs["store"], f"{what}: {why} (LPZ_WORKER_CONCURRENCY sets the processes per worker)")
        return {"refused": True}
    start = time.perf_counter()
    log.info("run %s %s: start on %s", run.id, what, process_device["device"])
    try:
        cluster = Cluster(app)
        metrics = engine.run_cell(run, generation, cell, process_device["device"], task=self.request.id or "",
                                  hint=cluster.lease_hint(run))
        cluster.after_commit(run, generation + 1, cell)
    except PASSING:
        raise
    except DamagedCheckpoint as damage:
        Cluster(app).recompute(run, damage)
        return {"recomputing": [damage.generation, damage.cell]}
    except Exception as error:
        _failed(self, run, error, generation + 1, cell, what)
    seconds = time.perf_counter() - start
    log.info("run %s %s: done in %.1f s, score %s", run.id, what, seconds, metrics.score)
    return {"run": run.id, "generation": generation + 1, "cell": cell, "score": metrics.score, "seconds": seconds}


@app.task(name="lpz.assemble", bind=True, **RETRY)
def assemble(self, *args, **kwargs) -> dict:
    """Score every cell's final mixture and keep the best as the run's result (keyword arguments store,
    run_id)."""
    run = _open(args, kwargs, ("store", "run_id"))
    if run is None:
        return {"refused": True}
    if control := run.control():
        return {"skipped": control.state}
    if why := engine.assembly_unready(run):
        _refuse(run.id, kwargs["store"], f"an assembly came before the last generation: {why}; it is sent then")
        return {"refused": True}
    try:
        result = engine.finish(run, process_device["device"], task=self.request.id or "",
                               hint=Cluster(app).lease_hint(run))
    except PASSING:
        raise
    except Exception as error:
        _failed(self, run, error, run.generations, -1, "assembly")
    log.info("run %s: finished, mixture of cell %s scores %s", run.id, result.best_cell, result.score)
    return {"run": run.id, "best_cell": result.best_cell, "score": result.score}
