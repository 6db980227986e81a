"""The supervisor every worker runs: it sends again what a dead worker held (real Redis, no workers)."""
import base64
import json
import time

import pytest

from lpz.config import validate
from lpz.engine import engine
from lpz.engine.local import run_local
from lpz.engine.leases import assembly_lease, cell_lease
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import TEST_DB, tiny

pytestmark = pytest.mark.cluster


def queued(broker) -> list[tuple[str, dict]]:
    messages = [json.loads(raw) for raw in broker.lrange("gpu", 0, -1)]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1]) for m in messages]


def lapsed_lease(run: Run, key: str) -> None:
    long_ago = time.time() - 600
    run.store.put_json(key, {"worker": "dead-node", "task": "t", "started": long_ago, "renewed": long_ago,
                             "period": 1})


def finished_run(tmp_path) -> Run:
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="supervised")
    run_local(run, workers=1)
    return run


def test_a_cell_whose_lease_lapsed_is_sent_again(tmp_path, cluster):
    run = finished_run(tmp_path)
    run.store.delete(run.key("mixture", "mixture.json"))
    run.uncommit(2, 3)                                  # generation 2 of cell 3 was in flight...
    lapsed_lease(run, cell_lease(run, 2, 3))            # ...on a worker that died
    cluster.redis.set("lpz:sent:supervised:1:3", 1)     # and it had been sent

    assert cluster.supervise(run) == [3]
    assert queued(cluster.redis) == [("lpz.train_cell", {"store": run.store.url, "run_id": "supervised",
                                                          "generation": 1, "cell": 3})]
    assert not run.store.exists(cell_lease(run, 2, 3))  # the stale lease is gone
    assert cluster.supervise(run) == []                 # and the cell is not sent twice


def test_a_live_lease_is_left_alone(tmp_path, cluster):
    run = finished_run(tmp_path)
    run.store.delete(run.key("mixture", "mixture.json"))
    run.uncommit(2, 0)
    now = time.time()
    run.store.put_json(cell_lease(run, 2, 0), {"worker": "busy-node", "started": now, "renewed": now, "period": 5})
    cluster.redis.set("lpz:sent:supervised:1:0", 1)
    assert cluster.supervise(run) == [] and queued(cluster.redis) == []


def test_an_assembly_whose_lease_lapsed_is_sent_again(tmp_path, cluster):
    run = finished_run(tmp_path)
    run.store.delete(run.key("mixture", "mixture.json"))
    cluster.redis.set("lpz:assemble:supervised", 1)
    lapsed_lease(run, assembly_lease(run))
    cluster.supervise(run)
    assert queued(cluster.redis) == [("lpz.assemble", {"store": run.store.url, "run_id": "supervised"})]


def test_a_generation_complete_but_never_advanced_is_advanced(tmp_path, cluster):
    """The task that committed the last cell died before sending the next generation."""
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="stalled")
    from lpz.engine.work import compute_cell
    for cell in run.grid.cells:
        compute_cell(run, 0, cell)
    cluster.supervise(run)
    assert sorted(kwargs["cell"] for task, kwargs in queued(cluster.redis) if kwargs["generation"] == 1) == [0, 1, 2, 3]


def half_done(tmp_path) -> Run:
    """Generation 1 complete, generation 2 sent but none of it committed."""
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="lost", executor="cluster")
    from lpz.engine.work import compute_cell
    for cell in run.grid.cells:
        compute_cell(run, 0, cell)
    return run


def test_a_stalled_run_whose_tasks_were_lost_is_sent_again(tmp_path, cluster):
    """A broker that restarted without its data lost the queued tasks: nothing runs, nothing commits."""
    run = half_done(tmp_path)
    for cell in run.grid.cells:
        cluster.redis.set(f"lpz:sent:lost:1:{cell}", 1)  # sent before the broker lost them
    assert cluster.supervise(run) == []                   # recent commits: not stalled yet
    later = time.time() + 3600
    assert cluster.supervise(run, now=later) == [0, 1, 2, 3]
    assert sorted(kwargs["cell"] for _, kwargs in queued(cluster.redis)) == [0, 1, 2, 3]


def test_a_stalled_run_with_tasks_waiting_in_the_queue_is_left_alone(tmp_path, cluster):
    """Workers busy with another run: this run's tasks wait in the queue and must not pile up."""
    run = half_done(tmp_path)
    cluster.send(run, engine.due(run))                    # its tasks wait in the queue
    assert len(queued(cluster.redis)) == 4
    assert cluster.supervise(run, now=time.time() + 3600) == []
    assert len(queued(cluster.redis)) == 4


def test_a_worker_that_loses_the_broker_with_tasks_in_flight_lives_on(redis_url):
    """Celery closes a lost broker connection after collecting it; putting the messages in flight back
    then fails on the collected connection, which must not kill the worker (lpz resends lost work)."""
    import kombu
    from kombu.transport import redis as kombu_redis

    import lpz.celery  # noqa: F401  (installs lpz's QoS)
    with kombu.Connection(f"{redis_url}/{TEST_DB}") as connection:
        channel = connection.channel()
        assert isinstance(channel.qos, kombu_redis.Channel.QoS) and channel.qos.__class__.__module__ == "lpz.celery"
        channel.qos._delivered["tag-1"] = object()  # a message in flight
        connection.collect()                        # what Celery does first when the broker is lost
        channel.qos.restore_unacked()               # then closing restores: the collected connection fails
        assert not channel.qos._delivered


class CountingStore(LocalStore):
    """A local store that counts its listings and reads (what supervision costs)."""

    def __init__(self, root):
        super().__init__(root)
        self.lists = self.gets = 0

    def list(self, prefix: str) -> list[str]:
        self.lists += 1
        return super().list(prefix)

    def get(self, key: str, max_bytes: int = 2**30) -> bytes:
        self.gets += 1
        return super().get(key, max_bytes)


def busy_run(tmp_path, cluster, rows: int = 4) -> Run:
    """Generation 1 complete on a rows x rows grid, generation 2 in flight: every cell holds a live lease,
    noted in Redis as a worker's task notes it, and the run shows signs of life."""
    store = CountingStore(tmp_path)
    run = Run.create(store, validate(tiny(**{"grid.rows": rows})), run_id="busy", executor="cluster")
    from lpz.engine.work import compute_cell
    from lpz.engine.leases import Lease
    for cell in run.grid.cells:
        compute_cell(run, 0, cell)
    hints = cluster.lease_hint(run)
    for cell in run.grid.cells:
        Lease(run, cell_lease(run, 2, cell), hint=hints)._write()
    return run


def test_a_busy_run_is_supervised_without_reading_its_cells(tmp_path, cluster):
    run = busy_run(tmp_path, cluster, rows=4)
    run.store.lists = run.store.gets = 0
    assert cluster.supervise(run) == []
    assert run.store.lists == 0 and run.store.gets <= 1  # control.json, whatever the grid's size


def test_a_lease_that_lapsed_is_found_from_the_broker_and_confirmed_in_the_store(tmp_path, cluster):
    run = busy_run(tmp_path, cluster)
    lapsed_lease(run, cell_lease(run, 2, 5))                               # its worker died...
    stale = json.dumps({"renewed": time.time() - 600, "period": 1})
    cluster.redis.hset("lpz:leases:busy", cell_lease(run, 2, 5), stale)    # ...after its last renewal
    cluster.redis.hset("lpz:leases:busy", cell_lease(run, 2, 6), stale)    # the broker is behind: the store's
    cluster.redis.hset("lpz:leases:busy", "runs/busy/../x", "not json")    # lease is live; and a forged entry
    assert cluster.supervise(run) == [5]
    assert queued(cluster.redis) == [("lpz.train_cell", {"store": run.store.url, "run_id": "busy",
                                                          "generation": 1, "cell": 5})]
    assert not run.store.exists(cell_lease(run, 2, 5))
    assert cluster.redis.hexists("lpz:leases:busy", cell_lease(run, 2, 6))
    assert not cluster.redis.hexists("lpz:leases:busy", "runs/busy/../x")
