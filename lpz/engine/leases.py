"""Leases: a running cell task says so in the store, and keeps saying it.

    runs/<id>/gen/<g>/cell/<c>/lease.json   {"worker", "task", "started", "renewed", "period"}
    runs/<id>/mixture/lease.json            the same, while the final mixture is assembled

The task renews its lease every few seconds while it works. A lease that has
not been renewed for LAPSE_PERIODS periods belongs to a task that died with
its worker; the cluster's supervisor then sends the cell again (idempotence
makes a duplicate harmless). Times are seconds since the epoch, so any
machine can judge a lease with its own clock (clocks are assumed roughly in
sync, as for any lease).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Protocol

from lpz.errors import CorruptObject, ObjectMissing
from lpz.records import InvalidRecord, LeaseRecord, checked
from lpz.runs import Run

log = logging.getLogger("lpz")
LAPSE_PERIODS = 2  # a lease not renewed for this many periods lapsed: its holder died


def lease_seconds() -> float:
    """How often a lease is renewed (LPZ_LEASE_SECONDS, default 5)."""
    return float(os.environ.get("LPZ_LEASE_SECONDS", "5"))


def cell_lease(run: Run, generation: int, cell: int) -> str:
    return run.cell_key(generation, cell, "lease.json")


def assembly_lease(run: Run) -> str:
    return run.key("mixture", "lease.json")


def read_lease(run: Run, key: str) -> LeaseRecord | None:
    """The lease at key, None when there is none; a damaged lease reads as one that lapsed long ago
    (its cell is then sent again, which is harmless)."""
    try:
        return checked(LeaseRecord, run.store.get_json(key, max_bytes=64 * 1024))
    except ObjectMissing:
        return None
    except (CorruptObject, InvalidRecord):
        return LeaseRecord(worker="unknown (its lease is damaged)", task="", started=0.0, renewed=0.0, period=1.0)


class Renewal(Protocol):
    """What tells whether a lease lapsed: a LeaseRecord, or the broker's hint of one (lpz.engine.cluster)."""
    renewed: float
    period: float


def lapsed(lease: Renewal, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return now - lease.renewed > LAPSE_PERIODS * lease.period


def worker_name() -> str:
    return os.environ.get("LPZ_WORKER_NAME") or f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """Hold a lease (a cell-generation's, or the assembly's) while the block runs; renew it in a thread.
    hint: told of every write and of the release (lpz.engine.cluster keeps the leases held in Redis, so
    that its supervisor need not read every cell's lease from the store to find the lapsed ones)."""

    def __init__(self, run: Run, key: str, task: str = "", period: float | None = None, hint=None):
        self.run, self.key, self.hint = run, key, hint
        self.period = period or lease_seconds()
        # Written as given (a record not valid, such as an overlong worker name, reads back as damaged).
        self.record = LeaseRecord.model_construct(worker=worker_name(), task=task, started=time.time(), renewed=0.0,
                                                  period=self.period)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name=f"lease {self.key}")

    def _write(self) -> None:
        record = self.record.model_copy(update={"renewed": time.time()})
        self.run.store.put_json(self.key, record.to_json())
        if self.hint is not None:
            self.hint.held(self.key, record)

    def _renew(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self._write()
            except Exception as e:  # a missed renewal is not fatal; many in a row lapse the lease
                log.warning("could not renew %s: %s", self.key, e)

    def __enter__(self) -> "Lease":
        self._write()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.run.store.delete(self.key)
        if self.hint is not None:
            self.hint.released(self.key)
