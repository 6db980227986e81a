"""A run trained through Celery by a worker started for it (for the bench scripts; Redis and S3 from
infra/services.sh, their settings in the environment)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path


def train_on_celery(config, workers: int, workdir: Path, warm_up: float = 10.0):
    """Train config to its end through a fresh Celery worker with `workers` processes, in a new bucket;
    return the finished Run. The worker's log goes to workdir/worker.log."""
    from lpz.celery import app
    from lpz.engine.broker import check_broker
    from lpz.engine.cluster import Cluster
    from lpz.runs import Run
    from lpz.store import open_store

    check_broker()
    url = f"s3://lpz-bench-{uuid.uuid4().hex[:8]}"
    with open(workdir / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "lpz", "worker", "-Q", "gpu",
                                   "-c", str(workers), "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
                                  stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "LPZ_DEVICE": "cpu", "LPZ_STORE": url})
        try:
            time.sleep(warm_up)  # the worker imports torch and connects before the clock starts
            run = Run.create(open_store(url), config, executor="cluster")
            Cluster(app).submit(run)
            while not run.finished():
                if run.control():
                    raise SystemExit(f"the cluster run failed: {run.control()}")
                time.sleep(0.5)
            return run
        finally:
            worker.terminate()
            worker.wait()
