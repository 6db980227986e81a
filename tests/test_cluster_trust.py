"""What a worker takes from the broker is untrusted: it serves only its own stores, and refuses
messages whose ids are not a run's, writing nothing (real Redis, real S3, real Celery workers)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redis

from lpz.config import validate
from lpz.runs import Run
from lpz.store import open_store
from tests.helpers import lpz, one_line_error, tiny, wait_until
from tests.test_cluster import submit, write_config

pytestmark = pytest.mark.cluster


def wait_for_refusals(client: redis.Redis, run_id: str, count: int = 1, timeout: float = 60) -> list[dict]:
    """The refusal records of a run once count workers have refused it (one record per worker)."""
    def refusals() -> list[dict]:
        records = [json.loads(raw) for raw in client.hvals(f"lpz:refused:{run_id}")]
        return records if len(records) >= count else []
    return wait_until(refusals, timeout, f"{count} worker(s) to refuse run {run_id}")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


def test_a_run_in_a_store_the_workers_do_not_serve_is_refused_and_status_says_why(tmp_path, cluster_env,
                                                                                   start_workers):
    workers = start_workers(1)  # serves LPZ_STORE, the test's bucket, only
    other = tmp_path / "elsewhere"
    config = write_config(tmp_path / "tiny.yml")
    run_id = submit(config, str(other), cluster_env)
    before = files_under(other)

    records = wait_for_refusals(redis.Redis.from_url(cluster_env["LPZ_BROKER_URL"]), run_id)
    assert records[0]["worker"] == workers[0].name and "is not served by this worker" in records[0]["reason"]
    assert "LPZ_ALLOWED_STORES" in records[0]["reason"]
    assert workers[0].ended(4) == ["{'refused': True}"] * 4  # every task lpz submit sent has ended
    assert files_under(other) == before  # the worker wrote nothing there: no lease, no checkpoint
    assert "refused a task for run" in workers[0].log.read_text()

    status = lpz("status", run_id, "--store", other, env=cluster_env).stdout
    assert "refused by 1 worker(s)" in status and "is not served by this worker" in status


def test_a_store_in_the_allow_list_is_served(tmp_path, cluster_env, start_workers):
    other = tmp_path / "allowed"
    start_workers(1, env={**cluster_env, "LPZ_ALLOWED_STORES": f"s3://nothing-here, file://{other}"})
    run_id = submit(write_config(tmp_path / "tiny.yml", **{"trainer.generations": 1}), str(other), cluster_env)
    run = Run.open(open_store(str(other)), run_id)
    wait_until(run.finished, 120, f"run {run_id} in the allowed store to finish", interval=0.3)


@pytest.mark.parametrize("kwargs, why", [
    ({"store": "file:///tmp/lpz-hostile-store", "run_id": "x", "generation": 0, "cell": 0}, "is not served"),
    ({"store": ["not", "a", "url"], "run_id": "x", "generation": 0, "cell": 0}, "is not a store URL"),
    ({"store": "gopher://host/x", "run_id": "x", "generation": 0, "cell": 0}, "is not a store URL"),
    ({"store": None, "run_id": "../../etc", "generation": 0, "cell": 0}, "is not a store URL"),
])
def test_hostile_messages_are_refused_and_write_nothing(tmp_path, cluster_env, start_workers, cluster, kwargs, why):
    worker = start_workers(1)[0]
    kwargs = {**kwargs, "store": kwargs["store"] if kwargs["store"] is not None else cluster_env["LPZ_STORE"]}
    if kwargs["run_id"] == "../../etc":
        why = "is malformed"
    task = cluster.app.send_task("lpz.train_cell", kwargs=kwargs, queue="gpu")
    assert worker.ended(task_id=task.id) == ["{'refused': True}"]
    log = worker.log.read_text()
    assert "refused a task" in log and why in log, log[-2000:]
    assert not Path("/tmp/lpz-hostile-store").exists()
    assert open_store(cluster_env["LPZ_STORE"]).list("") == []


@pytest.mark.parametrize("generation, cell, why", [
    (-1, 0, "generation -1 is not one of 0..2"),
    (3, 0, "generation 3 is not one of 0..2"),
    (0, 4, "cell 4 is not one of the grid's 4"),
    ("0", 0, "generation '0' is not one of"),
])
def test_a_task_for_a_cell_or_generation_the_run_does_not_have_is_refused(tmp_path, cluster_env, start_workers,
                                                                         cluster, generation, cell, why):
    worker = start_workers(1)[0]
    store = open_store(cluster_env["LPZ_STORE"])
    run = Run.create(store, validate(tiny(**{"trainer.generations": 3})), run_id="victim")
    task = cluster.app.send_task("lpz.train_cell", kwargs={"store": store.url, "run_id": run.id,
                                                           "generation": generation, "cell": cell}, queue="gpu")
    assert worker.ended(task_id=task.id) == ["{'refused': True}"]
    records = wait_for_refusals(cluster.redis, run.id)
    assert why in records[0]["reason"]
    assert store.list("") == ["runs/victim/run.json"]
    assert "refused a task for run" in worker.log.read_text()


def test_submit_of_a_config_whose_dataset_is_missing_creates_and_sends_nothing(tmp_path, cluster_env, cluster):
    env = {**cluster_env, "LPZ_DATA_DIR": str(tmp_path / "no-data")}  # neither here nor pushed
    config = write_config(tmp_path / "mnist.yml", **{"dataloader.dataset_name": "mnist",
                                                       "network.name": "four_layer_perceptron"})
    result = lpz("submit", config, env=env, check=False)
    line = one_line_error(result.returncode, result.stderr)
    assert "dataset mnist is neither in" in line and "lpz data push mnist" in line and "--workers-have-data" in line
    assert open_store(cluster_env["LPZ_STORE"]).list("") == []
    assert cluster.redis.llen("gpu") == 0

    trusted = lpz("submit", config, "--workers-have-data", env=env)  # the workers have it: sent as asked
    run_id = trusted.stdout.strip()
    assert Run.open(open_store(cluster_env["LPZ_STORE"]), run_id).generations == 3
    assert cluster.redis.llen("gpu") == 4


RAW_CONTROLS = ("\x1b", "\x07", "\u202e", "\x9b")


def test_a_message_with_a_run_id_of_10_mb_is_logged_as_short_escaped_lines(cluster_env, start_workers, cluster):
    """The worker's log quotes a message's ids as a short excerpt, its control characters escaped: lpz's
    own line and Celery's (which names the task id the message chose) alike."""
    worker = start_workers(1)[0]
    run_id = "\x1b]52;c;SGVsbG8=\x07\u202e" + "r" * 10_000_000
    task_id = "\x1b[2J\x9b" + "t" * 100_000
    cluster.app.send_task("lpz.train_cell", kwargs={"store": cluster_env["LPZ_STORE"], "run_id": run_id,
                                                    "generation": 0, "cell": 0},
                          queue="gpu", task_id=task_id, kwargsrepr="\x1b[8m" + "k" * 100_000)
    wait_until(lambda: "succeeded in" in worker.log.read_text(), 90,
               lambda: f"the worker to end the task:\n{worker.log.read_text()[-2000:]}")
    log = worker.log.read_text()
    longest = max(log.splitlines(), key=len)
    assert len(longest) < 2000, f"a log line of {len(longest):,} characters: {longest[:200]}..."
    assert not any(raw in log for raw in RAW_CONTROLS), [line[:200] for line in log.splitlines() if "\x1b" in line]
    assert "refused a task for run '\\x1b]52;c;SGVsbG8=\\x07\\u202errr" in log
    assert f"run id is {len(run_id)} characters long; ids have at most 80" in log
    assert "lpz.train_cell[\\x1b[2J\\x9btttt" in log
    assert cluster.redis.keys("lpz:refused:*") == []  # as before: an id that is no run's has no status to show


def test_status_shows_a_hostile_refusal_record_escaped(tmp_path, redis_url):
    """A refusal record in the broker (written by anyone who can write to Redis) reaches `lpz status`
    with its control characters escaped and its markup shown as written."""
    from lpz.store import LocalStore
    from tests.helpers import TEST_DB
    broker = f"{redis_url}/{TEST_DB}"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    store = LocalStore(tmp_path / "store")
    Run.create(store, validate(tiny()), run_id="refused", executor="cluster")
    record = {"worker": "w1\x1b]0;owned\x07[red]", "store": "s3://x",
              "reason": "no \x1b]52;c;SGVsbG8=\x07\x1b[2J\u202e\x9b[link=https://evil.example]x[/link]"}
    client.hset("lpz:refused:refused", "w1", json.dumps(record))

    shown = lpz("status", "refused", "--store", tmp_path / "store", env={**os.environ, "LPZ_BROKER_URL": broker}).stdout
    assert not any(raw in shown for raw in RAW_CONTROLS), repr(shown)
    assert ("refused by 1 worker(s), e.g. w1\\x1b]0;owned\\x07[red]: no \\x1b]52;c;SGVsbG8=\\x07\\x1b[2J\\u202e\\x9b"
            "[link=https://evil.example]x[/link]") in shown
