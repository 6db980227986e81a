"""Real Celery workers on the real Redis and S3 server that `make test` started."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEST_DB, wait_until


class Worker:
    """`celery -A lpz worker -Q gpu` in its own process group."""

    def __init__(self, name: str, env: dict, log: Path, concurrency: int = 1):
        self.name, self.log = name, log
        command = [sys.executable, "-m", "celery", "-A", "lpz", "worker", "-Q", "gpu", "-c", str(concurrency),
                   "-n", f"{name}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle"]
        self.process = subprocess.Popen(command, env={**env, "LPZ_WORKER_NAME": name}, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
            return "ready." in self.log.read_text()
        wait_until(ready, timeout, lambda: f"worker {self.name} to be ready:\n{self.log.read_text()[-3000:]}")

    def returned(self, task_id: str = "") -> list[str]:
        """What each task the worker has ended (or the one of task_id) returned, as Celery logged it at its
        end: a task listed here has done all it will do."""
        task = re.escape(task_id) if task_id else r"[^\]]+"
        return re.findall(rf"Task lpz\.\w+\[{task}\] succeeded in \S+: (.*)", self.log.read_text())

    def ended(self, count: int = 1, task_id: str = "", timeout: float = 60) -> list[str]:
        """What the worker's tasks (or the one of task_id) returned, once count of them have ended."""
        def returned() -> list[str]:
            found = self.returned(task_id)
            return found if len(found) >= count else []
        which = f"task {task_id}" if task_id else f"{count} task(s)"
        return wait_until(returned, timeout,
                          lambda: f"worker {self.name} to end {which}:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker, main process and pool children, as a power loss would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()


@pytest.fixture
def cluster_env(redis_url, s3_settings, data_env, s3_bucket, tmp_path) -> dict:
    """Environment for workers and `lpz submit`: a test broker database, short leases, and the test's
    bucket as the store (the only one the workers serve)."""
    import redis
    broker = f"{redis_url}/{TEST_DB}"
    redis.Redis.from_url(broker).flushdb()
    env = {**os.environ, **s3_settings, "LPZ_BROKER_URL": broker, "LPZ_LEASE_SECONDS": "1",
           "LPZ_DATA_DIR": str(data_env), "LPZ_S3_SECURE": "false", "PYTHONUNBUFFERED": "1",
           "LPZ_STORE": f"s3://{s3_bucket}"}
    env.pop("LPZ_ALLOWED_STORES", None)
    return env


@pytest.fixture
def start_workers(cluster_env, tmp_path):
    started: list[Worker] = []

    def start(count: int = 1, env: dict | None = None, prefix: str = "w") -> list[Worker]:
        workers = [Worker(f"{prefix}{len(started) + i + 1}", env or cluster_env,
                          tmp_path / f"{prefix}{len(started) + i + 1}.log") for i in range(count)]
        started.extend(workers)
        for w in workers:
            w.wait_ready()
        return workers

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def cluster(redis_url):
    """lpz's Cluster on the test broker database, in this process (no workers)."""
    import redis
    from lpz.celery import app
    from lpz.engine.cluster import Cluster
    broker = redis.Redis.from_url(f"{redis_url}/{TEST_DB}")
    broker.flushdb()
    app.conf.broker_url = f"{redis_url}/{TEST_DB}"  # this process imported lpz.celery with the default URL
    return Cluster(app, broker)
