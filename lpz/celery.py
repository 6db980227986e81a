"""The Celery app: `celery -A lpz worker -Q gpu` finds it here.

Broker: LPZ_BROKER_URL (default redis://localhost:6379/0); no result backend unless LPZ_RESULT_BACKEND
names one (results live in the store).
Messages are JSON only (pickle is refused both ways) and carry ids, never
tensors. Tasks are acknowledged late and re-queued when their worker process
dies; each worker process takes one task at a time (prefetch 1), and a
worker runs one process per GPU by default (one per core without a GPU).
"""
from __future__ import annotations

import logging
import os

import redis
from celery import Celery, signals
from kombu.transport import redis as kombu_redis

from lpz.devices import default_concurrency, worker_device
from lpz.engine.broker import QUEUE, broker_url
from lpz.views.printable import guard_logging

BROKER_URL = broker_url()
# Redis re-delivers an unacknowledged task only after this many seconds. lpz does not rely on it (a
# dead worker's leases lapse in seconds and the supervisor sends its cells again), so it is long.
VISIBILITY_TIMEOUT = int(os.environ.get("LPZ_VISIBILITY_TIMEOUT", str(6 * 3600)))

# No result backend by default: results live in the store, and nobody waits on a task's return value.
app = Celery("lpz", broker=BROKER_URL, backend=os.environ.get("LPZ_RESULT_BACKEND") or None,
             include=["lpz.tasks.cells"])
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    result_expires=24 * 3600,
    task_ignore_result=not os.environ.get("LPZ_RESULT_BACKEND"),
    task_routes={"lpz.*": {"queue": QUEUE}},
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

log = logging.getLogger("lpz")
guard_logging()  # a message's ids and a store's names are logged escaped and bounded, Celery's lines too
process_device = {"device": "cpu"}


class _BrokerLossSafeQoS(kombu_redis.QoS):
    """kombu's Redis QoS, surviving the loss of the broker with tasks in flight.

    When the connection to Redis drops, Celery (5.7) collects the connection and then closes it, and
    closing tries to put the messages in flight back into the queue through the connection it has
    just collected: an AttributeError that kills the whole worker ("Unrecoverable error"). Those
    messages are still in Redis's set of unacknowledged messages (or were lost with Redis itself), and
    lpz resends lost work by itself (lpz/engine/cluster.py), so here the worker gives up putting them
    back and lives on to reconnect."""

    def restore_unacked(self, client=None):
        try:
            super().restore_unacked(client)
        except (AttributeError, redis.ConnectionError, redis.TimeoutError) as e:
            log.warning("could not put %d messages in flight back in the queue (%s): lpz sends lost work "
                        "again by itself", len(self._delivered), e.__class__.__name__)
            self._delivered.clear()


kombu_redis.Channel.QoS = _BrokerLossSafeQoS


def worker_concurrency(given=None) -> int:
    """Cell tasks a worker runs at once: its -c, else LPZ_WORKER_CONCURRENCY, else one per GPU (one per core
    on a CPU-only worker)."""
    if isinstance(given, int) and given > 0:
        return given
    return int(os.environ.get("LPZ_WORKER_CONCURRENCY", "0") or 0) or default_concurrency()


@signals.celeryd_init.connect
def _set_concurrency(conf=None, options=None, **_):
    """Decided as a worker starts, not when this module is imported: counting GPUs imports torch (2-3 s),
    which `lpz submit`, `resume` and the dashboard, sending messages only, do without. The worker's pool
    and the memory check (lpz.tasks.cells) both read it."""
    conf.worker_concurrency = worker_concurrency((options or {}).get("concurrency"))


@signals.worker_process_init.connect
def _choose_device(**_):
    """Each pool process takes its own GPU (process i -> GPU i mod the GPUs)."""
    from billiard.process import current_process
    index = getattr(current_process(), "index", 0) or 0
    process_device["device"] = worker_device(index)
    log.info("worker process %s trains on %s", index, process_device["device"])


@signals.worker_ready.connect
def _start_supervisor(sender=None, **_):
    """Every worker also watches the active runs: dead workers' cells are sent again."""
    from lpz.engine.cluster import start_supervisor
    start_supervisor(app)
