"""The cluster transport: the engine's work sent as Celery tasks, and the supervision of what was sent.

The store decides progress and holds the list of active cluster runs (`active/<id>.json`), so a
broker that lost its data loses nothing that matters. Redis only remembers, to save work, which
tasks were sent (so that a cell is sent once however many commits make it ready):

    lpz:sent:<run>:<g>:<cell>   a cell task of generation g was sent (SET NX)
    lpz:assemble:<run>          the assembly was sent
    lpz:supervise:<run>         one supervisor per run and half lease period
    lpz:refused:<run>           hash worker -> why it refused a task of the run (a store it does not serve)
    lpz:committed:<run>:<g>     the cells that committed generation g (the engine confirms in the store)
    lpz:leases:<run>            hash lease key -> {"renewed", "period"}: the leases held (the store's are the truth)
    lpz:activity:<run>          when the run last committed or renewed a lease

The last three are hints that keep supervision and commits at a fixed cost per cell, whatever the
grid (docs/scale.md): a busy run is supervised from its held leases alone; only a quiet one (no sign
of life for two lease periods, or a broker that lost the hints) is read from the store in full.

How a run recovers (the README's "Recovery" says the same to users):
1. A task that commits a cell asks the engine what may start now and sends it.
2. A task that meets a passing error (the store or the broker down) tries again, waiting 1, 2, 4 ...
   up to 60 s between tries, for LPZ_RETRY_SECONDS (15 minutes); a user error fails the run at once.
3. A worker process that dies is replaced and its task requeued by Celery at once.
4. A whole worker that dies stops renewing its leases; after two lease periods any worker's
   supervisor sends its cell (or the assembly) again. Duplicates are harmless: tasks are idempotent.
5. A run on which nothing has committed or held a lease for a while, with none of its tasks queued,
   is stalled (its tasks were lost with a broker, or gave up in an outage): the supervisor sends
   what is due again.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import replace
from typing import NamedTuple

from lpz.engine import engine
from lpz.engine.broker import QUEUE, passing_errors, redis_client
from lpz.engine.leases import LAPSE_PERIODS, assembly_lease, cell_lease, lapsed, lease_seconds, read_lease, worker_name
from lpz.errors import UserError, excerpt
from lpz.records import LeaseRecord, Refusal
from lpz.runs import Run, check_run_id, keys
from lpz.store import StoreNotAllowed, open_served_store, served_stores

log = logging.getLogger("lpz")
SENT_TTL = 14 * 24 * 3600
# kombu's Redis transport keeps a queue in lists named after it (one per priority) and the messages
# that workers hold unacknowledged in a hash: where to look whether a run has tasks waiting.
QUEUE_LISTS = [QUEUE] + [f"{QUEUE}\x06\x16{priority}" for priority in (3, 6, 9)]
UNACKED = "unacked"
PASSING = passing_errors()


def refusals(client, run_id: str) -> list[Refusal]:
    """Why workers refused tasks of a run (the latest refusal of each worker; each text cut at 500)."""
    records = []
    for raw in client.hvals(f"lpz:refused:{run_id}"):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("reason"), str):
            bounded = {key: str(record.get(key, ""))[:500] for key in ("worker", "store", "reason")}
            records.append(Refusal(**bounded))
    return records


def _send(app, name: str, **kwargs) -> None:
    """Send a task by name; monitors (Flower) show its run, generation and cell, not the store URL."""
    shown = f"run={kwargs['run_id']}"
    if "generation" in kwargs:
        shown += f" generation={kwargs['generation'] + 1} cell={kwargs['cell']}"
    app.send_task(name, kwargs=kwargs, queue=QUEUE, kwargsrepr=shown)


class Cluster:
    def __init__(self, app, client=None):
        self.app = app
        self.redis = client or redis_client()
        self.complete: dict[str, int] = {}  # run id -> a generation seen complete: supervisors list from there
        self.set_aside: dict[str, str] = {}  # run id -> why it cannot be supervised (logged once)
        self.runs: dict[tuple[str, str], Run] = {}  # (store URL, run id) -> the active run, opened once

    # ---------------------------------------------------------------- sending work

    def send(self, run: Run, work: engine.Due, again: bool = False) -> list[int]:
        """Send what is due (cells, or the assembly) unless it was sent already; return the cells sent
        (-1 for the assembly). again: send even what was sent before."""
        sent = []
        if work.kind == "cells":
            for cell in work.cells:
                key = f"lpz:sent:{run.id}:{work.generation}:{cell}"
                if self.redis.set(key, time.time(), nx=not again, ex=SENT_TTL):
                    _send(self.app, "lpz.train_cell", store=run.store.url, run_id=run.id,
                          generation=work.generation, cell=cell)
                    sent.append(cell)
        elif work.kind == "assemble":
            if self.redis.set(f"lpz:assemble:{run.id}", time.time(), nx=not again, ex=SENT_TTL):
                _send(self.app, "lpz.assemble", store=run.store.url, run_id=run.id)
                sent.append(-1)
        return sent

    def after_commit(self, run: Run, generation: int, cell: int) -> None:
        """A cell committed generation: send what may start now (each cell once). The cells committed in
        each generation are counted in a set in Redis (a hint: the engine confirms a complete generation
        in the store; should the broker lose it, that generation's old checkpoints stay, and a quiet
        run's supervisor sends the assembly)."""
        key = f"lpz:committed:{run.id}:{generation}"
        pipe = self.redis.pipeline()
        pipe.sadd(key, cell)
        pipe.expire(key, SENT_TTL)
        pipe.scard(key)
        pipe.set(f"lpz:activity:{run.id}", time.time(), ex=SENT_TTL)
        added, _, count, _ = pipe.execute()
        self.send(run, engine.committed(run, generation, cell, count))
        if added and count == run.grid.size:  # this commit completed the generation
            self._forget_before(run, generation)

    def _forget_before(self, run: Run, generation: int) -> None:
        """A complete generation: every task that computed it is done, so its sent-flags and the set of
        the generation before are dropped (one command; the broker holds a few generations of a run)."""
        self.redis.delete(*(f"lpz:sent:{run.id}:{generation - 1}:{c}" for c in run.grid.cells),
                          f"lpz:committed:{run.id}:{generation - 1}")

    def lease_hint(self, run: Run) -> "LeaseHints":
        return LeaseHints(self.redis, run.id)

    def not_sent(self, run: Run, generation: int, cell: int) -> None:
        """Forget that a cell's task was sent (it was refused before it began): the engine sends it again
        when it is due."""
        self.redis.delete(f"lpz:sent:{run.id}:{generation}:{cell}")

    def recompute(self, run: Run, damage) -> None:
        """A task met damage deeper than it repairs by itself (lpz.engine.work.REPAIR_DEPTH): uncommit
        what it met and send what is due now, which begins where the run is sound again."""
        log.warning("run %s: %s; computing generation %d of cell %d again", run.id, damage, damage.generation,
                    damage.cell)
        run.uncommit(damage.generation, damage.cell)
        self.send(run, engine.due(run), again=True)

    # ---------------------------------------------------------------- run lifecycle

    def submit(self, run: Run) -> None:
        run.set_active(True)
        self.send(run, engine.due(run))

    def resume(self, run: Run) -> None:
        """Send a stalled, cancelled or failed run again from its last complete generation."""
        run.clear_control()
        for key in self.redis.scan_iter(f"lpz:sent:{run.id}:*"):
            self.redis.delete(key)
        self.redis.delete(f"lpz:assemble:{run.id}", f"lpz:refused:{run.id}")
        self.submit(run)

    def refuse(self, run_id, store, reason: str) -> None:
        """Record why this worker refused a task of a run, for `lpz status` (ids only if they are valid)."""
        try:
            check_run_id(run_id)
        except UserError:
            return  # not a run's id: there is no run whose status could show it
        record = {**Refusal(worker=worker_name(), store=excerpt(store, 200), reason=reason[:500]).to_json(),
                  "at": time.time()}
        self.redis.hset(f"lpz:refused:{run_id}", worker_name(), json.dumps(record))
        self.redis.expire(f"lpz:refused:{run_id}", SENT_TTL)

    # ---------------------------------------------------------------- supervision

    def active_runs(self) -> list[Run]:
        """The runs on the active list of each store this worker serves."""
        runs = []
        for url in served_stores():
            try:
                store = open_served_store(url)
                ids = [key[len(keys.ACTIVE):-len(".json")] for key in store.list(keys.ACTIVE) if key.endswith(".json")]
            except StoreNotAllowed:
                continue
            except Exception as e:  # the store is down: the next tick tries again
                log.warning("supervisor: store %s: %s", url, e)
                continue
            for gone in [k for k in self.runs if k[0] == url and k[1] not in ids]:
                del self.runs[gone]
            for run_id in ids:
                try:
                    if (url, run_id) not in self.runs:  # run.json never changes: read it once
                        self.runs[(url, run_id)] = Run.open(store, run_id)
                    runs.append(self.runs[(url, run_id)])
                except PASSING as e:  # the store is down: the next tick tries again
                    log.warning("supervisor: store %s: %s", url, e)
                except Exception as e:  # damaged or gone: the others are supervised all the same
                    self._set_aside(run_id, e)
        return runs

    def _set_aside(self, run_id: str, error: Exception) -> None:
        """A run that cannot be supervised: logged once (again only if the reason changes), tried again
        next tick; `lpz status` shows it as damaged."""
        reason = f"{error.__class__.__name__}: {error}" if not isinstance(error, UserError) else str(error)
        if self.set_aside.get(run_id) != reason:
            log.error("supervisor: run %s cannot be supervised, set aside: %s", run_id, reason[:500])
            self.set_aside[run_id] = reason

    def supervise(self, run: Run, now: float | None = None) -> list[int]:
        """Send again what a dead worker held, or what a stalled run needs; return the cells sent (-1:
        the assembly). A run that ended is taken off the active list.

        A run that shows signs of life (lpz:activity) is supervised from the leases its tasks hold
        (lpz:leases): a few requests, whatever the grid. A quiet one is read from the store in full."""
        if run.finished() or run.control():
            run.set_active(False)
            return []
        now = time.time() if now is None else now
        if sent := self._lapsed_hints(run, now):
            return sent
        activity = self.redis.get(f"lpz:activity:{run.id}")
        if activity is not None and now - _number(activity, 0.0) <= LAPSE_PERIODS * lease_seconds():
            return []
        complete = run.last_complete_generation(known=self.complete.get(run.id, 0))
        self.complete[run.id] = complete
        work = engine.due(run, complete)
        lost = self._lapsed(run, work, now)
        if lost:
            return self.send(run, replace(work, cells=tuple(c for c in lost if c >= 0)), again=True)
        if engine.standing(run, now=now, complete=complete).state == "stalled" and not self.queued(run.id):
            log.warning("run %s: stalled with none of its tasks queued; sending what is due again", run.id)
            return self.send(run, work, again=True)
        return self.send(run, work)  # due but never sent: its sender died between the commit and the send

    def _lapsed_hints(self, run: Run, now: float) -> list[int]:
        """Send again the cells (-1: the assembly) whose lease lapsed, found from the leases held in
        Redis and confirmed in the store; return them."""
        key_of = f"lpz:leases:{run.id}"
        sent = []
        for raw_key, raw in self.redis.hgetall(key_of).items():
            key = raw_key.decode(errors="replace")
            hint = _lease_hint(raw)
            if hint is not None and not lapsed(hint, now):
                continue
            found = run.cell_file(key)
            lease = read_lease(run, key) if key == assembly_lease(run) or found and found[2] == "lease.json" else None
            if lease is not None and not lapsed(lease, now):
                continue  # renewed in the store since: the hint is behind
            self.redis.hdel(key_of, raw_key)
            if lease is None:  # released (or not a lease of this run): nothing is held
                continue
            log.warning("run %s: the lease %s held by %s lapsed; sending its task again", run.id, key,
                        lease.worker)
            run.store.delete(key)
            if key == assembly_lease(run):
                sent += self.send(run, engine.Due("assemble", run.generations), again=True)
            else:
                generation, cell, _ = found
                sent += self.send(run, engine.Due("cells", generation - 1, (cell,)), again=True)
        return sent

    def _lapsed(self, run: Run, work: engine.Due, now: float | None) -> list[int]:
        """The cells (-1: the assembly) whose lease lapsed; those leases are removed."""
        held = [(cell, cell_lease(run, work.generation + 1, cell)) for cell in work.cells] if work.kind == "cells" \
            else [(-1, assembly_lease(run))] if work.kind == "assemble" else []
        lapsed_cells = []
        for cell, key in held:
            lease = read_lease(run, key)
            if lease and lapsed(lease, now):
                log.warning("run %s: the lease %s held by %s lapsed; sending its task again", run.id, key,
                            lease.worker)
                run.store.delete(key)
                lapsed_cells.append(cell)
        return lapsed_cells

    def queued(self, run_id: str) -> bool:
        """Whether a task of the run waits in the queue or is held by a worker."""
        marker = f"run={run_id}".encode()
        waiting = [raw for name in QUEUE_LISTS for raw in self.redis.lrange(name, 0, -1)]
        return any(_shows(raw, marker) for raw in waiting + self.redis.hvals(UNACKED))

    def supervise_all(self) -> None:
        period = lease_seconds()
        for run in self.active_runs():
            # One supervisor acts per run and half period, whichever worker gets there first.
            if self.redis.set(f"lpz:supervise:{run.id}", 1, nx=True, px=int(period * 500)):
                try:
                    self.supervise(run)
                except PASSING:
                    raise
                except Exception as e:  # one bad run never stops the supervision of the others
                    self._set_aside(run.id, e)
                else:
                    self.set_aside.pop(run.id, None)


class LeaseHints:
    """The leases a run's tasks hold, and its last sign of life, kept in Redis beside the store's leases
    (lpz.engine.leases.Lease tells it of each write and release). Only a hint: a broker that fails or
    lost it never stops the work, and the supervisor confirms in the store what it acts on."""

    def __init__(self, client, run_id: str):
        self.redis, self.run_id = client, run_id

    def held(self, key: str, record: LeaseRecord) -> None:
        try:
            pipe = self.redis.pipeline()
            pipe.hset(f"lpz:leases:{self.run_id}", key,
                      json.dumps({"renewed": record.renewed, "period": record.period}))
            pipe.expire(f"lpz:leases:{self.run_id}", SENT_TTL)
            pipe.set(f"lpz:activity:{self.run_id}", record.renewed, ex=SENT_TTL)
            pipe.execute()
        except PASSING as e:
            log.warning("run %s: could not note the lease %s in the broker: %s", self.run_id, key, e)

    def released(self, key: str) -> None:
        try:
            self.redis.hdel(f"lpz:leases:{self.run_id}", key)
        except PASSING as e:
            log.warning("run %s: could not note the release of %s in the broker: %s", self.run_id, key, e)


def _number(raw, default: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


class LeaseHint(NamedTuple):
    """What the broker holds of a lease: when it was last renewed, and its period (lpz.engine.leases.lapsed)."""
    renewed: float
    period: float


def _lease_hint(raw) -> LeaseHint | None:
    """A lease hint read from the broker (untrusted): {"renewed", "period"} as finite numbers, or None."""
    try:
        hint = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(hint, dict):
        return None
    renewed, period = _number(hint.get("renewed"), -1.0), _number(hint.get("period"), -1.0)
    return LeaseHint(renewed, period) if renewed >= 0 and 0 < period <= 24 * 3600 else None


def _shows(raw: bytes, marker: bytes) -> bool:
    """Whether a queued message is a task of the run (its headers show `run=<id>` then a space or the end)."""
    at = raw.find(marker)
    return at >= 0 and raw[at + len(marker):at + len(marker) + 1] in (b" ", b'"', b"\\")


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
            time.sleep(lease_seconds() / 2)

    thread = threading.Thread(target=loop, daemon=True, name="lpz supervisor")
    thread.start()
    return thread
