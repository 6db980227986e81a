"""Forged work messages and poisoned active runs never stop a run (issue 21; real Redis, real S3, real
Celery workers). A message is untrusted: work whose inputs are not committed is refused and recorded,
a message of the wrong shape is refused and recorded, and a run is failed only by its own errors."""
from __future__ import annotations

import time

import pytest

from lpz.runs import Run
from lpz.store import open_store
from tests.helpers import wait_until
from tests.test_cluster import (final_states, lease_holder, reference_states, submit, wait_until_ended,
                                write_config)
from tests.test_cluster_trust import wait_for_refusals

pytestmark = pytest.mark.cluster


def started(store: str, run_id: str, timeout: float = 60) -> Run:
    """The run, once its first generation is complete (the run is training, not yet finished)."""
    run = Run.open(open_store(store), run_id)
    wait_until(lambda: run.last_complete_generation() >= 1, timeout, f"run {run_id} to complete a generation",
               interval=0.1)
    return run


def refusal_saying(client, run_id: str, text: str) -> dict:
    """The refusal record of a run once it says text. A worker keeps one record per run (its latest), so
    each forged message is sent only after the one before it was refused."""
    def saying() -> dict | None:
        return next((r for r in wait_for_refusals(client, run_id) if text in r["reason"]), None)
    return wait_until(saying, 60, f"a refusal of run {run_id} saying {text!r}")


def test_forged_assembly_and_future_generation_leave_the_run_to_finish_with_its_own_bytes(
        tmp_path, cluster_env, start_workers, cluster):
    start_workers(1)
    config = write_config(tmp_path / "tiny.yml", **{"trainer.generations": 6, "dataloader.n_batches": 40})
    store = cluster_env["LPZ_STORE"]
    run_id = submit(config, store, cluster_env)
    run = started(store, run_id)
    assert not run.finished()

    cluster.app.send_task("lpz.assemble", kwargs={"store": store, "run_id": run_id}, queue="gpu")
    refusal_saying(cluster.redis, run_id, "an assembly came before the last generation")
    # generation 6 from 5: the run is at generation 2 or 3 when the worker reads it (one worker, in order)
    cluster.app.send_task("lpz.train_cell", kwargs={"store": store, "run_id": run_id, "generation": 5, "cell": 0},
                          queue="gpu")
    refusal_saying(cluster.redis, run_id, "generation 5 of cell(s)")

    run = wait_until_ended(store, run_id)
    assert run.finished() and not run.control(), run.control()
    assert final_states(run) == reference_states(tmp_path, config)


@pytest.mark.parametrize("kwargs, why", [
    ({"generation": 0, "cell": 0, "colour": "red"}, "unexpected"),
    ({"generation": 0}, "missing"),
])
def test_a_message_of_the_wrong_shape_is_refused_and_recorded(tmp_path, cluster_env, start_workers, cluster,
                                                               kwargs, why):
    worker = start_workers(1)[0]
    store = cluster_env["LPZ_STORE"]
    run_id = submit(write_config(tmp_path / "tiny.yml", **{"trainer.generations": 1}), store, cluster_env)
    wait_until_ended(store, run_id)

    cluster.app.send_task("lpz.train_cell", kwargs={"store": store, "run_id": run_id, **kwargs}, queue="gpu")

    records = wait_for_refusals(cluster.redis, run_id)
    assert why in records[0]["reason"]
    assert "Traceback" not in worker.log.read_text()


def test_a_poisoned_active_run_does_not_stop_the_supervision_of_another(tmp_path, cluster_env, start_workers):
    import yaml

    from lpz.config import validate
    workers = start_workers(2)
    store = cluster_env["LPZ_STORE"]
    the_store = open_store(store)
    poisoned = "poisoned"
    Run.create(the_store, validate(yaml.safe_load(write_config(tmp_path / "p.yml").read_text())), run_id=poisoned,
               executor="cluster")
    info = the_store.get_json(f"runs/{poisoned}/run.json")
    the_store.put_json(f"runs/{poisoned}/run.json", {**info, "created": "yesterday"})
    the_store.put_json(f"active/{poisoned}.json", {"run": poisoned, "since": time.time()})

    config = write_config(tmp_path / "healthy.yml", **{"dataloader.n_batches": 150})
    run_id = submit(config, store, cluster_env)
    run = Run.open(the_store, run_id)
    victim = wait_until(lambda: lease_holder(run, workers, 2), 240,  # generous: a loaded machine trains slowly
                        "a cell task of generation 2 to run", interval=0.05)
    victim.kill()

    run = wait_until_ended(store, run_id, timeout=120)  # leases of 1 s: the supervisor acts within seconds
    assert run.finished() and not run.control()
    assert final_states(run) == reference_states(tmp_path, config)
    survivor = next(w for w in workers if w is not victim)
    assert survivor.log.read_text().count(f"run {poisoned} cannot be supervised") == 1



def test_damage_deeper_than_a_task_repairs_is_recomputed_not_failed(tmp_path, cluster_env, start_workers):
    """Cell 0 lost generations 5 and 6, and generations 1-4 were pruned: recomputing reaches back to
    generation 0, further than a task repairs by itself, or in its retries. The task that meets it
    uncommits what it met and sends what is due, until the run is sound again (it never fails the run)."""
    import yaml

    from lpz.config import validate
    from lpz.engine import engine
    from tests.helpers import lpz
    config = write_config(tmp_path / "tiny.yml", **{"trainer.generations": 7, "general.keep_generations": 2})
    store = open_store(cluster_env["LPZ_STORE"])
    run = Run.create(store, validate(yaml.safe_load(config.read_text())), run_id="deep", executor="cluster")
    for generation in range(6):
        for cell in run.grid.cells:
            engine.run_cell(run, generation, cell)
        engine.committed(run, generation + 1, 0)
    for generation in (5, 6):
        store.put(run.cell_key(generation, 0, "state.pt"), b"damaged")
    start_workers(1)

    lpz("resume", "deep", "--store", cluster_env["LPZ_STORE"], env=cluster_env)

    run = wait_until_ended(cluster_env["LPZ_STORE"], "deep")
    assert run.finished() and not run.control(), run.control()
    assert final_states(run) == reference_states(tmp_path, config)
