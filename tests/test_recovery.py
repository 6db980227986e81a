"""Cluster runs that outlive their services: the store down for a minute, the broker restarted empty.

Each test has a Redis and an S3 server of its own (tests/services.py) that it kills and restarts, real
Celery workers on them, and checks that the run finishes by itself with the bytes of `lpz run`.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from lpz.config import validate
from lpz.engine.local import run_local
from lpz.runs import Run
from lpz.store import LocalStore, open_store
from tests.cluster_fixtures import Worker
from tests.helpers import lpz, tiny, wait_until
from tests.services import OwnRedis, OwnS3

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.long]
GENERATIONS = 4


def final_states(run: Run) -> dict[int, bytes]:
    return {c: run.store.get(run.cell_key(run.generations, c, "state.pt")) for c in run.grid.cells}


@pytest.fixture
def own_cluster(tmp_path, data_env):
    """A Redis, an S3 server and two workers of this test's own; yields (env, redis, s3)."""
    import os
    s3 = OwnS3(tmp_path / "s3").start()
    broker = OwnRedis(tmp_path / "redis").start()
    env = {**os.environ, **s3.env, "LPZ_BROKER_URL": broker.url, "LPZ_STORE": "s3://lpz-recovery",
           "LPZ_LEASE_SECONDS": "1", "LPZ_DATA_DIR": str(data_env), "PYTHONUNBUFFERED": "1"}
    workers = [Worker(f"w{i}", env, tmp_path / f"w{i}.log") for i in (1, 2)]
    for worker in workers:
        worker.wait_ready()
    yield env, broker, s3, workers
    for worker in workers:
        worker.stop()
    broker.kill()
    s3.kill()


def submit(tmp_path: Path, env: dict) -> tuple[str, Path]:
    config = tmp_path / "tiny.yml"
    config.write_text(yaml.safe_dump(tiny(**{"trainer.generations": GENERATIONS, "dataloader.n_batches": 40})))
    return lpz("submit", config, env=env).stdout.strip(), config


def wait_for(condition, timeout: float, what: str) -> None:
    def looked() -> bool:
        try:
            return condition()
        except Exception:  # a service down in the middle of a look
            return False
    wait_until(looked, timeout, what)


def generation_started(run: Run, generation: int) -> bool:
    return bool(run.files_in(generation).get("lease.json"))


def reference(tmp_path: Path, config: Path) -> dict[int, bytes]:
    store = LocalStore(tmp_path / "reference")
    run = Run.create(store, validate(yaml.safe_load(config.read_text())), run_id="reference")
    run_local(run, workers=1)
    return final_states(run)


def submitted_and_into_generation_2(tmp_path: Path, env: dict, s3: OwnS3, monkeypatch) -> tuple[Run, Path]:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    run_id, config = submit(tmp_path, env)
    run = Run.open(open_store("s3://lpz-recovery"), run_id)
    wait_for(lambda: generation_started(run, 2), 120, "generation 2 starting")
    return run, config


def finishes_by_itself_with_the_bytes_of_lpz_run(run: Run, tmp_path: Path, config: Path) -> None:
    wait_for(run.finished, 300, "the run finishing by itself")
    assert not run.control()
    assert final_states(run) == reference(tmp_path, config)


def test_a_store_down_for_a_minute_at_a_generation_start_does_not_stall_the_run(tmp_path, own_cluster, monkeypatch):
    env, broker, s3, workers = own_cluster
    run, config = submitted_and_into_generation_2(tmp_path, env, s3, monkeypatch)
    s3.kill()
    time.sleep(60)
    s3.start()
    finishes_by_itself_with_the_bytes_of_lpz_run(run, tmp_path, config)


def test_a_broker_restarted_without_its_data_does_not_stall_the_run(tmp_path, own_cluster, monkeypatch):
    env, broker, s3, workers = own_cluster
    run, config = submitted_and_into_generation_2(tmp_path, env, s3, monkeypatch)
    broker.kill(lose_data=True)  # the queue, the sent flags, everything in Redis: gone
    time.sleep(3)
    broker.start()
    finishes_by_itself_with_the_bytes_of_lpz_run(run, tmp_path, config)
