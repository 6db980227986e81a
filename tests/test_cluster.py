"""Distributed runs: `lpz submit` to real Celery workers on a real Redis and S3 server."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lpz.config import validate
from lpz.engine import engine
from lpz.engine.local import run_local
from lpz.runs import Run
from lpz.store import LocalStore, open_store
from tests.helpers import lpz, one_line_error, shipped_grid_scheme, tiny, wait_until

pytestmark = pytest.mark.cluster

GENERATIONS = 3


def write_config(path: Path, **overrides) -> Path:
    path.write_text(yaml.safe_dump(tiny(**{"trainer.generations": GENERATIONS, **overrides})))
    return path


def submit(config: Path, store: str, env: dict, *flags) -> str:
    result = lpz("submit", config, "--store", store, *flags, env=env)
    return result.stdout.strip().splitlines()[0]


def wait_until_ended(store: str, run_id: str, timeout: float = 180) -> Run:
    run = Run.open(open_store(store), run_id)
    wait_until(lambda: run.finished() or run.control(), timeout,
               lambda: f"run {run_id} to end (at generation {run.last_complete_generation()})", interval=0.3)
    return run


def committed_count(run: Run) -> int:
    return sum(len(cells) for cells in run.committed_cells().values())


def lease_holder(run: Run, workers: list, generation: int):
    """The worker holding the lease of a cell of that generation (at work on it), or None."""
    for key in run.store.list(run.key("gen", generation) + "/"):
        if key.endswith("lease.json"):
            return next(w for w in workers if w.name == run.store.get_json(key)["worker"])
    return None


def final_states(run: Run) -> dict[int | str, bytes]:
    """The last generation's state of every cell, and the result's generators."""
    return {**{c: run.store.get(run.cell_key(run.generations, c, "state.pt")) for c in run.grid.cells},
            "result": run.store.get(run.key("mixture", "generators.pt"))}


def reference_states(tmp_path: Path, config: Path) -> dict[int, bytes]:
    """The same config through `lpz run`'s code path, in one process, on a local store."""
    store = LocalStore(tmp_path / "reference")
    run = Run.create(store, validate(yaml.safe_load(config.read_text())), run_id="reference")
    run_local(run, workers=1)
    return final_states(run)


def test_submit_completes_and_matches_lpz_run(tmp_path, cluster_env, start_workers, s3_bucket):
    workers = start_workers(2)
    config = write_config(tmp_path / "tiny.yml")
    store = f"s3://{s3_bucket}"
    run_id = submit(config, store, cluster_env)  # the submitting process exits here; the run goes on

    run = wait_until_ended(store, run_id)
    assert run.finished() and not run.control()
    status = lpz("status", run_id, "--store", store, env=cluster_env)
    assert "finished" in status.stdout and f"{GENERATIONS}/{GENERATIONS} generations" in status.stdout
    # The broker keeps a run's flags for the generations in progress only, not for every one it had.
    import redis
    broker = redis.Redis.from_url(cluster_env["LPZ_BROKER_URL"])
    assert list(broker.scan_iter(f"lpz:sent:{run_id}:*")) == []
    assert len(list(broker.scan_iter(f"lpz:committed:{run_id}:*"))) <= 1
    lpz("sample", run_id, "-n", 200, "-o", tmp_path / "samples", "--store", store, env=cluster_env)
    assert (tmp_path / "samples" / "samples.png").is_file() and (tmp_path / "samples" / "samples.npy").is_file()

    assert final_states(run) == reference_states(tmp_path, config)

    # Workers log one line as each task starts and one as it ends, with run, generation, cell, seconds, score.
    logs = "".join(w.log.read_text() for w in workers)
    for cell in range(4):
        assert f"run {run_id} generation 1 cell {cell}: start on cpu" in logs
        assert f"run {run_id} generation {GENERATIONS} cell {cell}: done in " in logs
    assert f"run {run_id}: finished, mixture of cell" in logs


@pytest.mark.parametrize("scheme", [None, "mnist-3x3", "mnist-4x4"],
                         ids=["selection", "shipped 3x3 scheme", "shipped 4x4 scheme"])
def test_a_worker_killed_mid_task_costs_only_time(tmp_path, cluster_env, start_workers, s3_bucket, scheme):
    workers = start_workers(2)
    # Long enough cells that a worker is caught in the middle of one.
    grid = shipped_grid_scheme(scheme) if scheme else {}
    config = write_config(tmp_path / "tiny.yml", **{"dataloader.n_batches": 150, **grid})
    store = f"s3://{s3_bucket}"
    run_id = submit(config, store, cluster_env)

    run = Run.open(open_store(store), run_id)
    victim = wait_until(lambda: lease_holder(run, workers, 2), 120, "a cell task of generation 2 to run",
                        interval=0.05)
    victim.kill()

    run = wait_until_ended(store, run_id, timeout=240)
    assert run.finished() and not run.control()
    assert final_states(run) == reference_states(tmp_path, config)


def test_two_runs_at_once_each_match_their_solo_run(tmp_path, cluster_env, start_workers, s3_bucket):
    start_workers(2)
    store = f"s3://{s3_bucket}"
    configs = [write_config(tmp_path / "a.yml", **{"general.seed": 11}),
               write_config(tmp_path / "b.yml", **{"general.seed": 12, "grid.rows": 1, "grid.cols": 3})]
    run_ids = [submit(c, store, cluster_env) for c in configs]
    for run_id, config, name in zip(run_ids, configs, "ab"):
        run = wait_until_ended(store, run_id)
        assert run.finished()
        assert final_states(run) == reference_states(tmp_path / name, config)


@pytest.mark.parametrize("broken, expected", [
    ({"LPZ_BROKER_URL": "redis://127.0.0.1:1/0"}, "broker redis://127.0.0.1:1/0 does not answer"),
    ({"LPZ_S3_ENDPOINT": "127.0.0.1:1"}, "127.0.0.1:1"),
    ({"LPZ_S3_SECRET_KEY": "not-the-secret"}, "credentials"),
])
def test_submit_refuses_cleanly_when_a_service_is_unusable(tmp_path, cluster_env, s3_bucket, broken, expected):
    config = write_config(tmp_path / "tiny.yml")
    store = f"s3://{s3_bucket}"
    result = lpz("submit", config, "--store", store, env={**cluster_env, **broken}, check=False)
    assert expected in one_line_error(result.returncode, result.stderr)
    assert open_store(store).list("") == []  # nothing half-created


def test_a_damaged_checkpoint_is_detected_and_recomputed(tmp_path, cluster_env, start_workers, s3_bucket):
    from minio import Minio

    start_workers(1)
    config = write_config(tmp_path / "tiny.yml")
    store = f"s3://{s3_bucket}"
    run = wait_until_ended(store, submit(config, store, cluster_env))
    good = run.store.get(run.cell_key(2, 0, "state.pt"))

    # Flip bytes of generation 2's state of cell 0 behind lpz's back, keeping its recorded checksum,
    # then make generation 3 of that cell (and the result) due again.
    raw = Minio(cluster_env["LPZ_S3_ENDPOINT"], cluster_env["LPZ_S3_ACCESS_KEY"], cluster_env["LPZ_S3_SECRET_KEY"],
                secure=False)
    key = run.cell_key(2, 0, "state.pt")
    meta = raw.stat_object(s3_bucket, key).metadata
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    import io
    raw.put_object(s3_bucket, key, io.BytesIO(bytes(damaged)), len(damaged),
                   metadata={"sha256": meta["x-amz-meta-sha256"]})
    run.uncommit(3, 0)
    run.store.delete(run.key("mixture", "mixture.json"))

    resumed = lpz("resume", run.id, "--store", store, "--wait", env=cluster_env)
    assert "finished: 3/3 generations" in resumed.stdout  # --wait follows the run to its end
    run = Run.open(open_store(store), run.id)
    assert run.finished()
    assert run.store.get(key) == good  # recomputed, byte for byte
    assert final_states(run) == reference_states(tmp_path, config)


def test_cancel_then_resume(tmp_path, cluster_env, start_workers, s3_bucket, cluster):
    start_workers(1)  # one process: one task at a time
    # Long enough that `lpz cancel` lands well before the end, even on a loaded machine.
    config = write_config(tmp_path / "tiny.yml", **{"trainer.generations": 8, "dataloader.n_batches": 40})
    store = f"s3://{s3_bucket}"
    run_id = submit(config, store, cluster_env)
    run = Run.open(open_store(store), run_id)
    wait_until(lambda: run.last_complete_generation() >= 1, 120, f"run {run_id} to complete generation 1", interval=0.1)
    lpz("cancel", run_id, "--store", store, env=cluster_env)
    at_cancel = committed_count(run)
    # The task in flight when the cancel landed finishes; those queued (and any it sends) are dropped.
    wait_until(lambda: not cluster.queued(run_id), 60, f"the tasks of run {run_id} to leave the queue and the worker")
    assert committed_count(run) <= at_cancel + 1 and not run.finished()
    assert "cancelled" in lpz("status", run_id, "--store", store, env=cluster_env).stdout

    lpz("resume", run_id, "--store", store, env=cluster_env)
    run = wait_until_ended(store, run_id)
    assert run.finished()


def test_work_queued_for_a_cancelled_run_is_dropped_by_the_worker(tmp_path, cluster_env, start_workers, s3_bucket):
    """The four tasks `lpz submit` queued wait for a worker; the run is cancelled meanwhile. The worker that
    comes takes each from the queue and ends it without training: nothing of the run is written."""
    store = f"s3://{s3_bucket}"
    run_id = submit(write_config(tmp_path / "tiny.yml"), store, cluster_env)  # no worker yet
    lpz("cancel", run_id, "--store", store, env=cluster_env)
    worker = start_workers(1)[0]
    assert worker.ended(4, timeout=120) == ["{'skipped': 'cancelled'}"] * 4
    run = Run.open(open_store(store), run_id)
    assert run.store.list(run.key("gen") + "/") == []  # no lease, no checkpoint, no commit
    assert "cancelled" in lpz("status", run_id, "--store", store, env=cluster_env).stdout


def test_a_task_that_keeps_failing_marks_the_run_failed(tmp_path, cluster_env, start_workers, s3_bucket):
    empty = tmp_path / "no-data"
    empty.mkdir()
    start_workers(1, env={**cluster_env, "LPZ_DATA_DIR": str(empty)})  # workers without MNIST
    config = write_config(tmp_path / "mnist.yml", **{"dataloader.dataset_name": "mnist",
                                                       "network.name": "four_layer_perceptron",
                                                       "score.type": "none"})
    store = f"s3://{s3_bucket}"
    run = wait_until_ended(store, submit(config, store, cluster_env), timeout=120)
    control = run.control()
    assert control.state == "failed" and "train-images-idx3-ubyte" in control.error
    status = lpz("status", run.id, "--store", store, env=cluster_env).stdout
    assert "failed" in status and "train-images-idx3-ubyte" in status


def test_messages_are_json_and_show_run_generation_and_cell_to_monitors(s3_bucket, cluster):
    """What Flower shows of a task: its name and a readable line of its arguments; the body is JSON."""
    import base64
    import json

    store = open_store(f"s3://{s3_bucket}")
    run = Run.create(store, validate(tiny()), run_id="shown")
    cluster.send(run, engine.Due("cells", 2, (1,)))
    message = json.loads(cluster.redis.lpop("gpu"))
    assert message["content-type"] == "application/json"
    headers = message["headers"]
    assert headers["task"] == "lpz.train_cell"
    assert headers["kwargsrepr"] == "run=shown generation=3 cell=1"
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert kwargs == {"store": store.url, "run_id": "shown", "generation": 2, "cell": 1}


def test_cluster_runs_keep_the_checkpoints_of_the_last_keep_generations(tmp_path, cluster_env, start_workers,
                                                                         s3_bucket):
    start_workers(2)
    config = write_config(tmp_path / "tiny.yml", **{"trainer.generations": 5, "general.keep_generations": 2})
    run = wait_until_ended(f"s3://{s3_bucket}", submit(config, f"s3://{s3_bucket}", cluster_env))
    assert run.finished()
    kept = {found[0] for key in run.store.list(run.key("gen") + "/")
            if (found := run.cell_file(key)) and found[2] == "state.pt"}
    assert kept == {4, 5}
    assert set(run.committed_cells()) == {1, 2, 3, 4, 5}
    assert run.store.list("active/") == []  # off the active list once finished
