"""Runs on the cluster: sending generations to the workers, the barrier, and recovery.

The store decides progress: generation g is complete when every cell's
commit marker is there. Redis (the broker) only remembers which runs are
active and which cell tasks were already sent, so that a generation is sent
once however many workers notice it is due:

    lpz:active                  set of {"store", "run"} JSON strings
    lpz:sent:<run>:<g>:<cell>   a cell task of generation g was sent (SET NX)
    lpz:assemble:<run>          the mixture assembly was sent
    lpz:generation:<run>        the last complete generation seen (a hint: listing starts there)
    lpz:supervise:<run>         one supervisor per run per lease period
    lpz:refused:<run>           hash worker -> why it refused a task of the run (a store it does not serve)

After every commit, the task that committed calls advance(): when its
generation is complete, the next one is sent. Every worker also runs a
supervisor thread that, for each active run, sends again the cells whose
lease lapsed (their worker died) and does what advance() would have done if
the process that should have done it died first.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import traceback

from lpz.errors import UserError, excerpt
from lpz.engine.leases import assembly_lease, cell_lease, lapsed, lease_seconds, read_lease, worker_name
from lpz.runs import Run, check_run_id
from lpz.store import StoreNotAllowed, open_served_store

log = logging.getLogger("lpz")
ACTIVE = "lpz:active"
SENT_TTL = 14 * 24 * 3600


def broker_url() -> str:
    from lpz.celery import BROKER_URL
    return BROKER_URL


def redis_client():
    import redis
    url = broker_url()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UserError(f"LPZ_BROKER_URL={url}: lpz needs a Redis broker (redis://host:port/db)")
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)


def check_broker() -> None:
    """One line and exit code 2 when the broker does not answer."""
    import redis
    try:
        redis_client().ping()
    except redis.RedisError as e:
        raise UserError(f"broker {broker_url()} does not answer ({e.__class__.__name__}): "
                        f"is Redis running? check LPZ_BROKER_URL") from None


def refusals(client, run_id: str) -> list[dict]:
    """Why workers refused tasks of a run (the latest refusal of each worker)."""
    records = []
    for raw in client.hvals(f"lpz:refused:{run_id}"):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("reason"), str):
            records.append({key: str(record.get(key, ""))[:500] for key in ("worker", "store", "reason")})
    return records


def _entry(run: Run) -> str:
    return json.dumps({"store": run.store.url, "run": run.id}, sort_keys=True)


def _send(app, name: str, **kwargs) -> None:
    """Send a task by name; monitors (Flower) show its run, generation and cell, not the store URL."""
    from lpz.celery import QUEUE
    shown = f"run={kwargs['run_id']}"
    if "generation" in kwargs:
        shown += f" generation={kwargs['generation'] + 1} cell={kwargs['cell']}"
    app.send_task(name, kwargs=kwargs, queue=QUEUE, kwargsrepr=shown)


class Cluster:
    def __init__(self, app=None, client=None):
        if app is None:
            from lpz.celery import app
        self.app = app
        self.redis = client or redis_client()

    # ---------------------------------------------------------------- sending work

    def send_cell(self, run: Run, generation: int, cell: int, again: bool = False) -> bool:
        """Send the task that computes generation+1 of a cell, unless it was sent already."""
        key = f"lpz:sent:{run.id}:{generation}:{cell}"
        if not self.redis.set(key, time.time(), nx=not again, ex=SENT_TTL):
            return False
        _send(self.app, "lpz.train_cell", store=run.store.url, run_id=run.id, generation=generation, cell=cell)
        return True

    def advance(self, run: Run, committed_generation: int | None = None) -> None:
        """Send whatever is due: the cells of the first incomplete generation, or the assembly.

        A task that has just committed a cell of committed_generation passes it, so only that
        generation is listed (a run's full listing grows with its length)."""
        if run.control() or run.finished():
            return
        if committed_generation is None:
            complete = self.complete_generation(run)
        elif len(run.committed_in(committed_generation)) < run.grid.size:
            return  # the barrier has not fallen; the generation's other cells were sent with it
        else:
            complete = committed_generation
        self.redis.set(f"lpz:generation:{run.id}", complete, ex=SENT_TTL)
        if complete >= run.generations:
            if self.redis.set(f"lpz:assemble:{run.id}", time.time(), nx=True, ex=SENT_TTL):
                _send(self.app, "lpz.engine.assemble", store=run.store.url, run_id=run.id)
            return
        done = run.committed_in(complete + 1)
        for cell in run.grid.cells:
            if cell not in done:
                self.send_cell(run, complete, cell)

    def complete_generation(self, run: Run) -> int:
        """The run's last complete generation, listing from the last one Redis remembers."""
        hint = int(self.redis.get(f"lpz:generation:{run.id}") or 0)
        if hint and len(run.committed_in(hint)) < run.grid.size:
            return run.last_complete_generation()  # the hint is stale: list everything once
        complete = hint
        while complete < run.generations and len(run.committed_in(complete + 1)) == run.grid.size:
            complete += 1
        return complete

    # ---------------------------------------------------------------- run lifecycle

    def submit(self, run: Run) -> None:
        self.redis.sadd(ACTIVE, _entry(run))
        self.advance(run)

    def cancel(self, run: Run) -> None:
        run.set_control("cancelled")
        self.redis.srem(ACTIVE, _entry(run))

    def resume(self, run: Run) -> None:
        """Send a stalled, cancelled or failed run again from its last complete generation."""
        run.clear_control()
        for key in self.redis.scan_iter(f"lpz:sent:{run.id}:*"):
            self.redis.delete(key)
        self.redis.delete(f"lpz:assemble:{run.id}", f"lpz:generation:{run.id}", f"lpz:refused:{run.id}")
        self.submit(run)

    def fail(self, run: Run, error: BaseException, generation: int, cell: int, worker: str) -> None:
        message = f"{error.__class__.__name__}: {error}".splitlines()[0][:500]
        run.set_control("failed", error=message, generation=generation, cell=cell, worker=worker,
                        traceback=traceback.format_exception(error)[-3:])
        self.redis.srem(ACTIVE, _entry(run))

    def finished(self, run: Run) -> None:
        self.redis.srem(ACTIVE, _entry(run))

    def refuse(self, run_id, store, reason: str) -> None:
        """Record why this worker refused a task of a run, for `lpz status` (ids only if they are valid)."""
        try:
            check_run_id(run_id)
        except UserError:
            return  # not a run's id: there is no run whose status could show it
        record = {"worker": worker_name(), "store": excerpt(store, 200), "reason": reason[:500], "at": time.time()}
        self.redis.hset(f"lpz:refused:{run_id}", worker_name(), json.dumps(record))
        self.redis.expire(f"lpz:refused:{run_id}", SENT_TTL)

    # ---------------------------------------------------------------- supervision

    def active_runs(self) -> list[Run]:
        """The active runs in the stores this worker serves (the set is in the broker: untrusted)."""
        runs = []
        for raw in self.redis.smembers(ACTIVE):
            try:
                entry = json.loads(raw)
                runs.append(Run.open(open_served_store(entry["store"]), entry["run"]))
            except StoreNotAllowed:
                continue  # another worker's store
            except Exception as e:  # not an entry lpz wrote, its store is unreachable, or the run is gone
                log.warning("active run %s: %s", excerpt(raw, 200), e)
        return runs

    def supervise(self, run: Run, now: float | None = None) -> list[int]:
        """Send again the cells whose task died; return them. Also retires ended runs."""
        if run.control() or run.finished():
            self.redis.srem(ACTIVE, _entry(run))
            return []
        complete = self.complete_generation(run)
        resent = []
        if complete < run.generations:
            done = run.committed_in(complete + 1)
            for cell in run.grid.cells:
                if cell in done:
                    continue
                if self._lapsed(run, cell_lease(run, complete + 1, cell), now):
                    self.send_cell(run, complete, cell, again=True)
                    resent.append(cell)
        elif self._lapsed(run, assembly_lease(run), now):
            self.redis.delete(f"lpz:assemble:{run.id}")  # advance() below sends the assembly again
        self.advance(run)
        return resent

    def _lapsed(self, run: Run, key: str, now: float | None) -> bool:
        """Whether the lease at key lapsed (its holder died); a lapsed lease is removed."""
        lease = read_lease(run, key)
        if not (lease and lapsed(lease, now)):
            return False
        log.warning("run %s: the lease %s held by %s lapsed; sending its task again", run.id, key, lease.get("worker"))
        run.store.delete(key)
        return True

    def supervise_all(self) -> None:
        period = lease_seconds()
        for run in self.active_runs():
            # One supervisor acts per run and period, whichever worker gets there first.
            if self.redis.set(f"lpz:supervise:{run.id}", 1, nx=True, px=int(period * 1000)):
                self.supervise(run)


def start_supervisor(app) -> threading.Thread:
    def loop():
        cluster = None
        while True:
            try:
                cluster = cluster or Cluster(app)
                cluster.supervise_all()
            except Exception as e:  # the broker or a store may be down for a while: keep watching
                log.warning("supervisor: %s", e)
                cluster = None
            time.sleep(lease_seconds())

    thread = threading.Thread(target=loop, daemon=True, name="lpz supervisor")
    thread.start()
    return thread
